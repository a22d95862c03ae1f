package steer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafov/m3u8"

	"github.com/rewind-vod/rewind/catalog"
)

// The multivariant playlist: the steering tag names this server's manifest
// with the session's state and the region's first pathway; one variant per
// pathway, in the region's order, each the replay API's media playlist on
// that CDN with the request's query verbatim.
func TestMultivariantPlaylist(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.rk.set("eu", []string{"cdn.c_1", "unknown-cdn", "cdn-a"}, nil)
	const query = "start=2026-01-01T00:00:00Z&end=1767229200&exp=1767230000&sig=a%2Bb~c"
	for _, tc := range []struct{ path, media string }{
		{"/v1/steer/hls/live/cam/index.m3u8", "/hls/live/cam/index.m3u8"},
		{"/v1/steer/hls/live/cam/runs/20260101T000000.000Z-node1-0a1b/index.m3u8", "/hls/live/cam/runs/20260101T000000.000Z-node1-0a1b/index.m3u8"},
		{"/v1/steer/hls/live/cam/recordings/20260101T000000.000Z-node1-0a1b/index.m3u8", "/hls/live/cam/recordings/20260101T000000.000Z-node1-0a1b/index.m3u8"},
	} {
		w := ts.get(t, tc.path+"?"+query, "eu")
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.path, w.Code, w.Body)
		}
		if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/vnd.apple.mpegurl" || cc != "private, max-age=5" {
			t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
		}
		body := w.Body.String()
		if p, _, err := m3u8.DecodeFrom(strings.NewReader(body), true); err != nil || len(p.(*m3u8.MasterPlaylist).Variants) != 3 {
			t.Fatalf("grafov/m3u8 reads it as: %v %v", p, err)
		}
		steering, vs := parseMultivariant(t, body)
		if len(steering) != 2 || steering["PATHWAY-ID"] != `"cdn.c_1"` {
			t.Errorf("steering tag %v: want SERVER-URI and PATHWAY-ID=\"cdn.c_1\" only", steering)
		}
		su, err := url.Parse(strings.Trim(steering["SERVER-URI"], `"`))
		if err != nil || su.Scheme != "https" || su.Host != "steer.example.net" || su.Path != "/v1/steer/manifest" {
			t.Fatalf("SERVER-URI %s: %v", steering["SERVER-URI"], err)
		}
		st, err := ParseQuery(su.RawQuery)
		if err != nil {
			t.Fatal(err)
		}
		if st.Stream != (catalog.Stream{App: "live", Name: "cam"}) || !slices.Equal(st.Pathways, []string{"cdn.c_1", "cdn-a", "cdn-b"}) || !validSession(st.Session) {
			t.Errorf("state %+v", st)
		}
		want := []struct{ id, base string }{{"cdn.c_1", "https://c.example.net"}, {"cdn-a", "https://a.example.net"}, {"cdn-b", "https://b.example.net/rw"}}
		if len(vs) != len(want) {
			t.Fatalf("%d variants", len(vs))
		}
		for i, v := range vs {
			if len(v.attrs) != 2 || v.attrs["BANDWIDTH"] != "3000000" || v.attrs["PATHWAY-ID"] != `"`+want[i].id+`"` {
				t.Errorf("variant %d: %v", i, v.attrs)
			}
			if v.uri != want[i].base+tc.media+"?"+query {
				t.Errorf("variant %d URI %q", i, v.uri)
			}
		}
	}
	if got := ts.answers(SourceRanker); got != 3 {
		t.Errorf("answers{ranker} = %v, want 3", got)
	}
	if got := ts.requests(routePlaylist, "200"); got != 3 {
		t.Errorf("requests{playlist,200} = %v", got)
	}

	// No query: no '?'; a fresh session per playlist.
	a, b := ts.get(t, "/v1/steer/hls/live/cam/index.m3u8", "eu"), ts.get(t, "/v1/steer/hls/live/cam/index.m3u8", "eu")
	_, va := parseMultivariant(t, a.Body.String())
	sa, _ := parseMultivariant(t, b.Body.String())
	if va[0].uri != "https://c.example.net/hls/live/cam/index.m3u8" {
		t.Errorf("URI without query: %q", va[0].uri)
	}
	if strings.Contains(a.Body.String(), sa["SERVER-URI"]) {
		t.Error("two playlists share a session")
	}
}

func TestPlaylistRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.Enabled = func(s catalog.Stream) bool { return s.App != "off" }
	ts := newTestServer(t, cfg)
	for _, tc := range []struct {
		target string
		code   int
		msg    string
	}{
		{"/v1/steer/hls/li.ve/cam/index.m3u8", 400, "invalid stream"},
		{"/v1/steer/hls/live/c%2Fam/index.m3u8", 400, "invalid stream"},
		{"/v1/steer/hls/live/" + strings.Repeat("x", 65) + "/index.m3u8", 400, "invalid stream"},
		{"/v1/steer/hls/live/cam/runs/notarun/index.m3u8", 400, "run id"},
		{"/v1/steer/hls/live/cam/recordings/..%2F..%2Fx/index.m3u8", 400, "run id"},
		{"/v1/steer/hls/live/cam/index.m3u8?" + strings.Repeat("a", MaxPlaylistQuery+1), 400, "query"},
		{"/v1/steer/hls/off/cam/index.m3u8", 404, "steering is off"},
		{"/v1/steer/nothing", 404, "no such route"},
		{"/v1/addresses/live/cam/x", 404, "no such route"},
	} {
		w := ts.get(t, tc.target, "")
		if w.Code != tc.code || !strings.Contains(strings.ToLower(w.Body.String()), tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.target, w.Code, w.Body, tc.code, tc.msg)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: error Content-Type %q", tc.target, w.Header().Get("Content-Type"))
		}
	}
}

// The steering manifest: VERSION, TTL, a RELOAD-URI with the same state,
// and PATHWAY-PRIORITY the region's order restricted to the session's
// pathways.
func TestManifest(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.rk.set("eu", []string{"cdn.c_1", "cdn-b", "gone", "cdn-a"}, nil)
	state := State{Stream: catalog.Stream{App: "live", Name: "cam"}, Pathways: []string{"cdn-a", "cdn-b"}, Session: strings.Repeat("ab", 16)}
	w := ts.get(t, "/v1/steer/manifest?"+state.Encode()+"&_HLS_pathway=cdn-a&_HLS_throughput=5000000", "eu")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if ct, cc, cors := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), w.Header().Get("Access-Control-Allow-Origin"); ct != "application/json" || cc != "no-store" || cors != "*" {
		t.Errorf("Content-Type %q, Cache-Control %q, CORS %q", ct, cc, cors)
	}
	raw := decode[map[string]json.RawMessage](t, w)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"PATHWAY-PRIORITY", "RELOAD-URI", "TTL", "VERSION"}) {
		t.Errorf("keys %v", keys)
	}
	var m Manifest
	for k, dst := range map[string]any{"VERSION": &m.Version, "TTL": &m.TTL, "RELOAD-URI": &m.Reload, "PATHWAY-PRIORITY": &m.Priority} {
		if err := json.Unmarshal(raw[k], dst); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if m.Version != 1 || m.TTL != 10 || !slices.Equal(m.Priority, []string{"cdn-b", "cdn-a"}) {
		t.Errorf("manifest %+v", m)
	}
	if m.Reload != "https://steer.example.net/v1/steer/manifest?"+state.Encode() {
		t.Errorf("RELOAD-URI %q", m.Reload)
	}
	// A ranker that lists none of the session's pathways: the static order
	// of those it has.
	ts.rk.set("us", []string{"cdn.c_1"}, nil)
	m = decode[Manifest](t, ts.get(t, "/v1/steer/manifest?"+state.Encode(), "us"))
	if !slices.Equal(m.Priority, []string{"cdn-b", "cdn-a"}) {
		t.Errorf("priority with no usable ranked pathway: %v", m.Priority)
	}
}

func TestManifestStatuses(t *testing.T) {
	cfg := testConfig()
	cfg.Enabled = func(s catalog.Stream) bool { return s.App != "off" }
	ts := newTestServer(t, cfg)
	sess := strings.Repeat("0", 32)
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"v=1&stream=live/cam&pathways=cdn-a&session=" + sess, 200},
		{"v=1&stream=live/cam&pathways=cdn-a&session=" + sess + "&_HLS_pathway=.&_HLS_throughput=0&_HLS_future=x", 200},
		{"", 400},
		{"v=1&stream=live/cam&pathways=cdn-a", 400},
		{"v=1&stream=live/cam&pathways=cdn-a&session=" + sess + "&x=1", 400},
		{"v=2&stream=live/cam&pathways=cdn-a&session=" + sess, 410},
		{"v=1&stream=off/cam&pathways=cdn-a&session=" + sess, 410},
		{"v=1&stream=live/cam&pathways=removed-cdn,other-cdn&session=" + sess, 410},
	} {
		w := ts.get(t, "/v1/steer/manifest?"+tc.query, "eu")
		if w.Code != tc.code {
			t.Errorf("%q: %d %s, want %d", tc.query, w.Code, w.Body, tc.code)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%q: Cache-Control %q", tc.query, cc)
		}
	}
	if ts.requests(routeManifest, "200") != 2 || ts.requests(routeManifest, "400") != 3 || ts.requests(routeManifest, "410") != 3 {
		t.Errorf("requests: 200 %v, 400 %v, 410 %v", ts.requests(routeManifest, "200"), ts.requests(routeManifest, "400"), ts.requests(routeManifest, "410"))
	}
}

// Over MaxConcurrent requests at once: 429 with Retry-After and no-store,
// answered at once; the held requests still answer 200 after the deadline.
func TestOverload(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrent = 2
	cfg.RankerDeadline = 300 * time.Millisecond
	ts := newTestServer(t, cfg)
	ts.rk.mode(true, false)
	target := "/v1/steer/manifest?v=1&stream=live/cam&pathways=cdn-a&session=" + strings.Repeat("0", 32)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i] = ts.get(t, target, "eu").Code })
	}
	if !eventually(t, time.Second, func() bool { return len(ts.s.sem) == 2 }) {
		t.Fatal("the two requests never held their slots")
	}
	t0 := time.Now()
	w := ts.get(t, target, "eu")
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || w.Header().Get("Cache-Control") != "no-store" ||
		w.Header().Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Errorf("over the bound: %d, Retry-After %q, Cache-Control %q", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Cache-Control"))
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Errorf("the 429 took %s", d)
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("held requests: %v", codes)
	}
	if ts.requests(routeManifest, "429") != 1 {
		t.Errorf("requests{429} = %v", ts.requests(routeManifest, "429"))
	}
	if w := ts.get(t, target, "eu"); w.Code != 200 {
		t.Errorf("after the load: %d", w.Code)
	}
}

// A Ranker that errors or blocks past the deadline: the last order it gave
// for the region, else the static order, within the deadline.
func TestDegradation(t *testing.T) {
	cfg := testConfig()
	cfg.RankerDeadline = 50 * time.Millisecond
	ts := newTestServer(t, cfg)
	sess := strings.Repeat("1", 32)
	target := "/v1/steer/manifest?v=1&stream=live/cam&pathways=cdn-a,cdn-b,cdn.c_1&session=" + sess
	priority := func(region string) ([]string, time.Duration) {
		t0 := time.Now()
		w := ts.get(t, target, region)
		d := time.Since(t0)
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return decode[Manifest](t, w).Priority, d
	}
	static := []string{"cdn-b", "cdn-a", "cdn.c_1"}

	ts.rk.set("eu", []string{"cdn.c_1", "cdn-a"}, nil)
	if p, _ := priority("eu"); !slices.Equal(p, []string{"cdn.c_1", "cdn-a"}) || ts.answers(SourceRanker) != 1 {
		t.Fatalf("ranker: %v", p)
	}
	ts.rk.set("eu", []string{"gone-cdn"}, nil) // an answer naming no configured pathway is no answer
	if p, _ := priority("eu"); !slices.Equal(p, []string{"cdn.c_1", "cdn-a"}) || ts.answers(SourceLast) != 1 {
		t.Errorf("ranker naming unknown pathways: %v", p)
	}
	ts.rk.mode(false, true)
	if p, _ := priority("eu"); !slices.Equal(p, []string{"cdn.c_1", "cdn-a"}) || ts.answers(SourceLast) != 2 {
		t.Errorf("erroring ranker, known region: %v (last %v)", p, ts.answers(SourceLast))
	}
	if p, _ := priority("us"); !slices.Equal(p, static) || ts.answers(SourceStatic) != 1 {
		t.Errorf("erroring ranker, new region: %v", p)
	}
	ts.rk.mode(true, false)
	for _, tc := range []struct {
		region string
		want   []string
		source string
	}{{"eu", []string{"cdn.c_1", "cdn-a"}, SourceLast}, {"us", static, SourceStatic}} {
		before := ts.answers(tc.source)
		p, d := priority(tc.region)
		if !slices.Equal(p, tc.want) || ts.answers(tc.source) != before+1 {
			t.Errorf("blocking ranker, %s: %v from %s", tc.region, p, tc.source)
		}
		if d < cfg.RankerDeadline || d > cfg.RankerDeadline+250*time.Millisecond {
			t.Errorf("blocking ranker, %s: answered in %s, want just past the %s deadline", tc.region, d, cfg.RankerDeadline)
		}
	}
	// Concurrent requests of one region share one Ranker call.
	ts.rk.mu.Lock()
	ts.rk.calls = 0
	ts.rk.mu.Unlock()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { priority("asia") })
	}
	wg.Wait()
	ts.rk.mu.Lock()
	calls := ts.rk.calls
	ts.rk.mu.Unlock()
	if calls > 2 {
		t.Errorf("8 concurrent requests made %d Ranker calls", calls)
	}
	// A panicking Ranker is an error like any other.
	ts.rk.mode(false, false)
	ts.s.rank.ranker = panicRanker{}
	if p, _ := priority("eu"); !slices.Equal(p, []string{"cdn.c_1", "cdn-a"}) {
		t.Errorf("panicking ranker: %v", p)
	}
	ts.s.rank.ranker = ts.rk
	// Back: the ranker's order again.
	ts.rk.mode(false, false)
	ts.rk.set("eu", []string{"cdn-a"}, nil)
	if !eventually(t, time.Second, func() bool { p, _ := priority("eu"); return slices.Equal(p, []string{"cdn-a"}) }) {
		t.Error("the ranker's order never came back")
	}
}

// A pathway added after a session's playlist was handed out is offered to
// it as a clone of its base; new playlists list it as a variant.
func TestClonesAddedAtRunTime(t *testing.T) {
	cfg := testConfig()
	cfg.Pathways = cfg.Pathways[:2]
	cfg.StaticOrder = nil
	ts := newTestServer(t, cfg)
	steering, _ := parseMultivariant(t, ts.get(t, "/v1/steer/hls/live/cam/index.m3u8", "eu").Body.String())
	su, _ := url.Parse(strings.Trim(steering["SERVER-URI"], `"`))

	added := append(slices.Clone(cfg.Pathways),
		Pathway{ID: "cdn-d", HLSBase: "https://d.example.net", CloneOf: "cdn-a", CloneParams: map[string]string{"cdn": "d"}},
		Pathway{ID: "cdn-e", HLSBase: "https://b.example.net/rw", CloneOf: "cdn-b", CloneParams: map[string]string{"via": "e"}})
	if err := ts.s.SetPathways(added, nil); err != nil {
		t.Fatal(err)
	}
	ts.rk.set("eu", []string{"cdn-d", "cdn-b", "cdn-a"}, nil)
	w := ts.get(t, su.RequestURI()+"&_HLS_pathway=cdn-a&_HLS_throughput=100", "eu")
	m := decode[Manifest](t, w)
	want := []Clone{
		{BaseID: "cdn-a", ID: "cdn-d", Replace: URIReplacement{Host: "d.example.net", Params: map[string]string{"cdn": "d"}}},
		{BaseID: "cdn-b", ID: "cdn-e", Replace: URIReplacement{Params: map[string]string{"via": "e"}}},
	}
	if !reflect.DeepEqual(m.Clones, want) || !slices.Equal(m.Priority, []string{"cdn-d", "cdn-b", "cdn-a"}) {
		t.Errorf("clones %+v, priority %v", m.Clones, m.Priority)
	}
	// The JSON a player reads.
	if !bytes.Contains(w.Body.Bytes(), []byte(`"PATHWAY-CLONES":[{"BASE-ID":"cdn-a","ID":"cdn-d","URI-REPLACEMENT":{"HOST":"d.example.net","PARAMS":{"cdn":"d"}}}`)) {
		t.Errorf("JSON %s", w.Body)
	}

	// A new playlist has cdn-d as a variant, and its manifest no clone.
	steering, vs := parseMultivariant(t, ts.get(t, "/v1/steer/hls/live/cam/index.m3u8", "eu").Body.String())
	if len(vs) != 4 || vs[0].attrs["PATHWAY-ID"] != `"cdn-d"` || vs[0].uri != "https://d.example.net/hls/live/cam/index.m3u8" {
		t.Errorf("new playlist variants %v", vs)
	}
	su, _ = url.Parse(strings.Trim(steering["SERVER-URI"], `"`))
	if m := decode[Manifest](t, ts.get(t, su.RequestURI(), "eu")); len(m.Clones) != 0 || !slices.Equal(m.Priority, []string{"cdn-d", "cdn-b", "cdn-a"}) {
		t.Errorf("new session: %+v", m)
	}

	// The base removed: the old session neither gets the clone nor the
	// removed pathway.
	if err := ts.s.SetPathways([]Pathway{cfg.Pathways[1], added[2]}, nil); err == nil {
		t.Error("a clone whose base is gone was accepted")
	}
	if err := ts.s.SetPathways([]Pathway{cfg.Pathways[1]}, nil); err != nil {
		t.Fatal(err)
	}
	m = decode[Manifest](t, ts.get(t, "/v1/steer/manifest?v=1&stream=live/cam&pathways=cdn-a,cdn-b&session="+strings.Repeat("2", 32), "eu"))
	if len(m.Clones) != 0 || !slices.Equal(m.Priority, []string{"cdn-b"}) {
		t.Errorf("after removing cdn-a: %+v", m)
	}
}

// The address API lists pull and push URLs in the Ranker's order, only
// those configured.
func TestAddresses(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.rk.set("eu", []string{"cdn.c_1", "cdn-a"}, []string{"cdn.c_1", "cdn-b", "cdn-a"})
	w := ts.get(t, "/v1/addresses/live/cam", "eu")
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got := decode[Addresses](t, w)
	want := Addresses{Stream: "live/cam", Region: "eu", TTL: 10,
		Pull: []PullAddress{
			{CDN: "cdn.c_1", HLS: "https://c.example.net/hls/live/cam/index.m3u8", RTMP: "rtmp://c.example.net/live/cam"},
			{CDN: "cdn-a", HLS: "https://a.example.net/hls/live/cam/index.m3u8", FLV: "https://a.example.net/live/cam.flv", RTMP: "rtmp://a.example.net/live/cam"},
		},
		Push: []PushAddress{
			{CDN: "cdn-b", RTMP: "rtmps://push-b.example.net:443/live/live/cam"},
			{CDN: "cdn-a", RTMP: "rtmp://push-a.example.net/live/cam"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Flipped ranking, flipped lists.
	ts.rk.set("eu", []string{"cdn-a", "cdn.c_1", "cdn-b"}, []string{"cdn-a", "cdn-b"})
	got = decode[Addresses](t, ts.get(t, "/v1/addresses/live/cam", "eu"))
	var pulls, pushes []string
	for _, p := range got.Pull {
		pulls = append(pulls, p.CDN)
	}
	for _, p := range got.Push {
		pushes = append(pushes, p.CDN)
	}
	if !slices.Equal(pulls, []string{"cdn-a", "cdn.c_1", "cdn-b"}) || !slices.Equal(pushes, []string{"cdn-a", "cdn-b"}) {
		t.Errorf("flipped: pull %v push %v", pulls, pushes)
	}
	// A region the mapping gives no valid name for is "other"; a Ranker
	// without an answer for it: static order.
	got = decode[Addresses](t, ts.get(t, "/v1/addresses/live/cam", "eu west!"))
	if got.Region != OtherRegion || got.Pull[0].CDN != "cdn-b" || got.Push[0].CDN != "cdn-b" {
		t.Errorf("other region: %+v", got)
	}
	for _, target := range []string{"/v1/addresses/live/ca.m", "/v1/addresses/live/" + strings.Repeat("n", 65), "/v1/addresses/l%20ive/cam"} {
		w := ts.get(t, target, "eu")
		var e struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || !strings.Contains(e.Error, "invalid stream") {
			t.Errorf("%s: %d %s", target, w.Code, w.Body)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	base := func(f func(*Config)) Config {
		c := testConfig()
		c.Pathways = slices.Clone(c.Pathways)
		f(&c)
		return c
	}
	for name, cfg := range map[string]Config{
		"no pathway":       base(func(c *Config) { c.Pathways = nil }),
		"bad id":           base(func(c *Config) { c.Pathways[0].ID = "cdn a" }),
		"long id":          base(func(c *Config) { c.Pathways[0].ID = strings.Repeat("a", 65) }),
		"duplicate id":     base(func(c *Config) { c.Pathways[1].ID = "cdn-a" }),
		"relative base":    base(func(c *Config) { c.Pathways[0].HLSBase = "/cdn" }),
		"base with query":  base(func(c *Config) { c.Pathways[0].HLSBase = "https://a.example.net/?x=1" }),
		"ftp base":         base(func(c *Config) { c.Pathways[0].HLSBase = "ftp://a.example.net" }),
		"no public base":   base(func(c *Config) { c.PublicBase = "" }),
		"flv no name":      base(func(c *Config) { c.Pathways[0].FLV = "https://a.example.net/{app}.flv" }),
		"flv rtmp scheme":  base(func(c *Config) { c.Pathways[0].FLV = "rtmp://a.example.net/{app}/{name}" }),
		"push other hole":  base(func(c *Config) { c.Pathways[0].Push = "rtmp://a/{app}/{name}/{key}" }),
		"push http":        base(func(c *Config) { c.Pathways[0].Push = "http://a/{app}/{name}" }),
		"static unknown":   base(func(c *Config) { c.StaticOrder = []string{"nope"} }),
		"static twice":     base(func(c *Config) { c.StaticOrder = []string{"cdn-a", "cdn-a"} }),
		"ttl fraction":     base(func(c *Config) { c.TTL = 1500 * time.Millisecond }),
		"clone unknown":    base(func(c *Config) { c.Pathways[2].CloneOf = "nope" }),
		"clone other port": base(func(c *Config) { c.Pathways[2].CloneOf = "cdn-a"; c.Pathways[2].HLSBase = "https://c.example.net:8443" }),
		"clone other path": base(func(c *Config) { c.Pathways[2].CloneOf = "cdn-b" }),
		"clone same":       base(func(c *Config) { c.Pathways[2].CloneOf = "cdn-a"; c.Pathways[2].HLSBase = "https://a.example.net" }),
		"clone params key": base(func(c *Config) {
			c.Pathways[2].CloneOf = "cdn-a"
			c.Pathways[2].CloneParams = map[string]string{"_HLS_x": "1"}
		}),
		"params, no clone": base(func(c *Config) { c.Pathways[2].CloneParams = map[string]string{"a": "1"} }),
		"too many pathways": base(func(c *Config) {
			for i := range MaxPathways {
				c.Pathways = append(c.Pathways, Pathway{ID: "x" + string(rune('a'+i)), HLSBase: "https://x.example.net"})
			}
		}),
	} {
		if _, err := New(cfg, newRanker(), nil, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(testConfig(), nil, nil, nil, nil); err == nil {
		t.Error("no Ranker: accepted")
	}
}

type panicRanker struct{}

func (panicRanker) Pull(context.Context, string) ([]string, error) { panic("policy bug") }
func (panicRanker) Push(context.Context, string) ([]string, error) { panic("policy bug") }

// Other methods: a CORS preflight on a known path, else 405 or 404.
func TestMethods(t *testing.T) {
	ts := newTestServer(t, testConfig())
	do := func(method, target string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		ts.h.ServeHTTP(w, r)
		return w
	}
	w := do("OPTIONS", "/v1/steer/manifest", map[string]string{"Origin": "https://player.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-token"})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Allow-Methods") != "GET, HEAD" || w.Header().Get("Access-Control-Allow-Headers") != "x-token" {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
	if w := do("POST", "/v1/steer/hls/live/cam/index.m3u8", nil); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("POST: %d %v", w.Code, w.Header())
	}
	if w := do("POST", "/v1/nothing", nil); w.Code != 404 {
		t.Errorf("POST elsewhere: %d", w.Code)
	}
	w = do("HEAD", "/v1/steer/hls/live/cam/index.m3u8", nil)
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, %v", w.Code, w.Body.Len(), w.Header())
	}
	if ts.requests(routeOther, "204") != 1 || ts.requests(routeOther, "405") != 1 || ts.requests(routeOther, "404") != 1 {
		t.Error("other-route requests not counted by code")
	}
}
