//go:build !unix

package server

import (
	"testing"
	"time"
)

// needFiles: no open-files limit to check.
func needFiles(testing.TB, uint64) {}

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
