package offline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Source is the content of one file (or of standard input).
type Source struct {
	// Name is the path given (or "-" for standard input), for messages.
	Name string
	// Dir is where Secret stringData "@file" references are read from.
	Dir  string
	Data []byte
}

// manifestExts are the file name extensions read from a directory.
var manifestExts = []string{".yaml", ".yml", ".json"}

// ReadSources reads what -f names, in order: files, directories (their *.yaml, *.yml and *.json
// files, sorted by name, not recursively) and "-" for stdin (at most once).
func ReadSources(paths []string, stdin io.Reader) ([]Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("no input: give -f FILE, -f DIR or -f - (standard input)")
	}
	var out []Source
	usedStdin := false
	for _, p := range paths {
		if p == "-" {
			if usedStdin {
				return nil, errors.New("-f - (standard input) given twice")
			}
			usedStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			dir, _ := os.Getwd()
			out = append(out, Source{Name: "-", Dir: dir, Data: data})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if !fi.IsDir() {
			s, err := readFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			s, err := readFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func readFile(path string) (Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Source{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return Source{Name: path, Dir: filepath.Dir(path), Data: data}, nil
}

// manifestFiles lists a directory's manifest files, sorted.
func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("directory %s has no .yaml, .yml or .json file", dir)
	}
	return out, nil // os.ReadDir sorts by name
}
