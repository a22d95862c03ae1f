package collect

import (
	"reflect"
	"testing"
)

func TestAddRelay(t *testing.T) {
	c, reg := newTestCollector(t, Config{})
	c.AddRelay("cdn-a", RelayDelta{ConnectFailures: 2, Reconnects: 1, DroppedFrames: 30})
	c.AddRelay("cdn-a", RelayDelta{ConnectFailures: 1, DroppedFrames: -5})
	c.AddRelay("cdn-unknown", RelayDelta{Reconnects: 4})
	want := []RelaySnapshot{
		{CDN: "cdn-a", RelayDelta: RelayDelta{ConnectFailures: 3, Reconnects: 1, DroppedFrames: 30}},
		{CDN: Other, RelayDelta: RelayDelta{Reconnects: 4}},
	}
	if got := c.Aggregator().Relay(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Relay() = %+v, want %+v", got, want)
	}
	for name, v := range map[string]float64{
		"rewind_qos_relay_connect_failures_total": 3,
		"rewind_qos_relay_reconnects_total":       1,
		"rewind_qos_relay_dropped_frames_total":   30,
	} {
		if got := metricValue(t, reg, name, map[string]string{"cdn": "cdn-a"}); got != v {
			t.Errorf("%s{cdn-a} = %v, want %v", name, got, v)
		}
	}
	if got := metricValue(t, reg, "rewind_qos_relay_reconnects_total", map[string]string{"cdn": Other}); got != 4 {
		t.Errorf("reconnects{other} = %v", got)
	}
}
