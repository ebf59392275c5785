package controller

import "testing"

func TestSubsetAndPrune(t *testing.T) {
	desired := prune(map[string]any{
		"metadata": map[string]any{"name": "x", "creationTimestamp": nil, "labels": map[string]any{"a": "1"}},
		"spec": map[string]any{
			"resources": map[string]any{},
			"ports":     []any{map[string]any{"port": int64(80), "name": "tcp-80"}},
		},
		"status": map[string]any{},
	}).(map[string]any)
	if _, ok := desired["status"]; ok {
		t.Errorf("empty status survived pruning: %v", desired)
	}
	if _, ok := desired["spec"].(map[string]any)["resources"]; ok {
		t.Errorf("empty resources survived pruning: %v", desired)
	}
	live := map[string]any{
		"metadata": map[string]any{"name": "x", "uid": "u", "labels": map[string]any{"a": "1", "other": "2"}},
		"spec": map[string]any{
			"ports":           []any{map[string]any{"port": int64(80), "name": "tcp-80", "protocol": "TCP"}},
			"sessionAffinity": "None",
		},
	}
	if !subset(desired, live) {
		t.Fatal("live object with extra (defaulted) fields must contain desired")
	}
	live["metadata"].(map[string]any)["labels"].(map[string]any)["a"] = "2"
	if subset(desired, live) {
		t.Error("an edited label is drift")
	}
	live["metadata"].(map[string]any)["labels"].(map[string]any)["a"] = "1"
	live["spec"].(map[string]any)["ports"] = append(live["spec"].(map[string]any)["ports"].([]any), map[string]any{"port": int64(81)})
	if subset(desired, live) {
		t.Error("an added list entry is drift")
	}
}
