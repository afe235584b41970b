package sim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gigafactory/gigafactory/internal/sim"
)

// A replay stops when its context is done (gf simulate's on ^C or
// SIGTERM), with the context's error, rather than running to the end.
func TestReplayStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sim.Replay(sim.ReplayConfig{Context: ctx, Policy: sim.PolicyLive, Sites: liveSites(), Jobs: sim.NewSliceStream(liveWorkload())})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("replay with a cancelled context: %v, want context.Canceled", err)
	}
	res, err := sim.Replay(sim.ReplayConfig{Context: context.Background(), Policy: sim.PolicyLive, Sites: liveSites(), Jobs: sim.NewSliceStream(liveWorkload())})
	if err != nil || res.Completed != len(liveWorkload()) {
		t.Fatalf("replay with a live context: %v, %+v: want every job completed", err, res)
	}
}
