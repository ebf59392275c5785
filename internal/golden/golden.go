// Package golden is the test helper behind Flotilla's golden files: compare an output with
// testdata, or rewrite testdata with `go test ./... -update`, and show the lines that differ.
package golden

import (
	"bytes"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Update rewrites golden files from the current output instead of comparing.
var Update = flag.Bool("update", false, "rewrite golden files from the current output")

// Check compares got with the golden file at path, or rewrites the file under -update.
func Check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run the test with -update and review the diff:\n%s", path, Diff(want, got))
	}
}

// Diff shows the first differing lines (at most 20) of two texts.
func Diff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "line "+strconv.Itoa(i+1)+":\n  - "+wl+"\n  + "+gl)
		}
	}
	return strings.Join(out, "\n")
}
