package replaywarm

import (
	"context"
	"path/filepath"
	"testing"
)

// TestRunLeavesNothing: the warm-up answers every playlist it asks (Run
// fails otherwise) and removes its store.
func TestRunLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if err := Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	left, err := filepath.Glob(filepath.Join(tmp, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestRunCancelled: a cancelled start is an error, not a hang.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx); err == nil {
		t.Fatal("a cancelled warm-up reported success")
	}
}

func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		if err := Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
