package backoff

import (
	"context"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	p := Policy{Min: time.Second, Max: 30 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 100: 30 * time.Second} {
		if got := p.Step(n); got != want {
			t.Errorf("Step(%d) = %v, want %v", n, got, want)
		}
		for range 200 {
			if w := p.Wait(n); w < want/2 || w > want {
				t.Fatalf("Wait(%d) = %v, want in [%v, %v]", n, w, want/2, want)
			}
		}
	}
	if got := (Policy{Min: 5 * time.Millisecond}).Step(3); got != 5*time.Millisecond {
		t.Errorf("Max below Min: %v", got)
	}
	// Jitter spreads: 200 waits are not all the same.
	seen := map[time.Duration]bool{}
	for range 200 {
		seen[p.Wait(4)] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits of 200", len(seen))
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("a plain sleep was cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) || time.Since(start) > time.Second {
		t.Error("a cancelled sleep waited")
	}
}
