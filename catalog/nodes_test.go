package catalog

import (
	"testing"
	"time"
)

func TestValidHostPort(t *testing.T) {
	for _, ok := range []string{"10.0.0.1:1935", "[fd00::1]:8080", "origin-1.internal:1935", "localhost:1"} {
		if err := ValidHostPort(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "10.0.0.1", ":1935", "0.0.0.0:1935", "[::]:1935", "h:0", "h:65536", "h:01935", "h:x",
		"evil/path:80", "user@h:80", "-h:80", "h..i:80", "h_1:80"} {
		if err := ValidHostPort(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestNodeKeys(t *testing.T) {
	if k := NodeKey("node1"); k != "nodes/node1.json" {
		t.Errorf("NodeKey = %q", k)
	}
	if n, ok := NodeFromKey("nodes/node_1.json"); !ok || n != "node_1" {
		t.Errorf("NodeFromKey = %q %v", n, ok)
	}
	for _, bad := range []string{"nodes/a-b.json", "nodes/.json", "nodes/a.txt", "other/a.json", "nodes/a/b.json"} {
		if n, ok := NodeFromKey(bad); ok {
			t.Errorf("NodeFromKey(%q) = %q", bad, n)
		}
	}
}

func TestNodeAlive(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{now.Add(-9 * time.Second), true},
		{now.Add(-11 * time.Second), false},
		{now.Add(9 * time.Second), true},
		{now.Add(11 * time.Second), false},
	} {
		n := Node{Time: c.at}
		if got := n.Alive(now, 10*time.Second); got != c.want {
			t.Errorf("heartbeat %s from now: alive %v, want %v", c.at.Sub(now), got, c.want)
		}
	}
}
