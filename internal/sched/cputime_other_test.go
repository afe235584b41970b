//go:build !linux

package sched_test

import "time"

// threadCPU is not available here; CPU-time metrics read zero.
func threadCPU() time.Duration { return 0 }
