package collect

import "testing"

// TestAggregateBytes: CMCD v1 media objects (ot a, v, av, or none, as
// hls.js sends for a variant without CODECS) count br x d, everything else
// (no br or d, a manifest, an init segment, an event report, an absurd
// object) counts nothing; beacon heartbeats add their bytes.
func TestAggregateBytes(t *testing.T) {
	a, reg := testAggregator(t, 10)
	var reps []Report
	for _, s := range []string{
		`br=3200,d=4000,ot=v,sid="s1"`, // 3200 kbps x 4 s = 1 600 000 bytes
		`br=128,d=4000,ot=a,sid="s1"`,  // 64 000
		`br=3328,d=2000,ot=av`,         // 832 000
		`br=3000,d=1000,sid="s1"`,      // 375 000: hls.js, a variant without CODECS
		`br=3200,ot=v`,                 // no duration
		`d=4000,ot=v`,                  // no bitrate
		`br=3200,d=4000,ot=m`,          // a manifest
		`br=3200,d=4000,ot=i`,          // an init segment
		`br=3200,d=4000,ot=v,e=ps,v=2`, // an event report, not a request
		`br=20000000,d=4000,ot=v`,      // 20 Gbit/s: a bug
	} {
		r, err := ParseCMCD(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		reps = append(reps, r)
	}
	a.AddCMCD("cdn-a", "eu", reps)
	if s := findSnapshot(t, a, "cdn-a", "eu"); s.Bytes != 1_600_000+64_000+832_000+375_000 {
		t.Fatalf("CMCD bytes %d, want 2871000", s.Bytes)
	}

	b, err := ParseBeacon([]byte(`{"sid":"s2","cdn":"cdn-b","events":[
		{"t":"heartbeat","ts":1,"watched_ms":30000,"bytes":12000000},
		{"t":"heartbeat","ts":2,"watched_ms":30000},
		{"t":"heartbeat","ts":3,"watched_ms":30000,"bytes":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a.AddBeacon(testLabels(t), "eu", b)
	if s := findSnapshot(t, a, "cdn-b", "eu"); s.Bytes != 12_000_000 || s.WatchedSeconds != 90 {
		t.Fatalf("beacon bytes %d watched %v", s.Bytes, s.WatchedSeconds)
	}
	for cdn, want := range map[string]float64{"cdn-a": 2_871_000, "cdn-b": 12_000_000} {
		if got := metricValue(t, reg, "rewind_qos_bytes_total", map[string]string{"cdn": cdn, "region": "eu"}); got != want {
			t.Errorf("rewind_qos_bytes_total{%s,eu} = %v, want %v", cdn, got, want)
		}
	}
}
