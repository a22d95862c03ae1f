package ratemeter

import (
	"math"
	"testing"
	"time"
)

func TestRateMeter(t *testing.T) {
	var m Meter
	t0 := time.Unix(1_800_000_000, 0)
	if r := m.Rate(t0); r != 0 {
		t.Fatalf("empty meter: %v", r)
	}
	// 100 events per second for 10 s.
	for s := range 10 {
		for i := range 100 {
			m.Add(t0.Add(time.Duration(s)*time.Second+time.Duration(i)*10*time.Millisecond), 1)
		}
	}
	if r := m.Rate(t0.Add(10 * time.Second)); math.Abs(r-100) > 0.01 {
		t.Errorf("steady rate %v, want 100", r)
	}
	// Young meter, started mid-second: the partial first second is left
	// out; two whole seconds at 50/s follow.
	var y Meter
	for i := range 125 {
		y.Add(t0.Add(500*time.Millisecond+time.Duration(i)*20*time.Millisecond), 1)
	}
	if r := y.Rate(t0.Add(3 * time.Second)); math.Abs(r-50) > 0.01 {
		t.Errorf("young meter %v, want 50", r)
	}
	// Silence empties the window.
	if r := m.Rate(t0.Add(30 * time.Second)); r != 0 {
		t.Errorf("after silence %v", r)
	}
}
