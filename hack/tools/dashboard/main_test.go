package main

import (
	"os"
	"testing"
)

const checkedIn = "../../../config/grafana/flotilla-dashboard.json"

// The checked-in dashboard is what this program writes: `make dashboard` after a change.
func TestDashboardUpToDate(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: run `make dashboard`", checkedIn)
	}
}
