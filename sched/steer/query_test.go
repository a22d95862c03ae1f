package steer

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/catalog"
)

func TestParseQuery(t *testing.T) {
	sess := "0123456789abcdef0123456789abcdef"
	s, err := ParseQuery("v=1&stream=live/cam&pathways=cdn-a,cdn.b_2&session=" + sess + "&_HLS_pathway=cdn.b_2&_HLS_throughput=4810000&_HLS_new=x&CMCD=sid%3D%226e2fb550%22")
	if err != nil {
		t.Fatal(err)
	}
	want := State{Stream: catalog.Stream{App: "live", Name: "cam"}, Pathways: []string{"cdn-a", "cdn.b_2"}, Session: sess, Pathway: "cdn.b_2", Throughput: 4810000}
	if s.Stream != want.Stream || !slices.Equal(s.Pathways, want.Pathways) || s.Session != want.Session || s.Pathway != want.Pathway || s.Throughput != want.Throughput {
		t.Errorf("got %+v", s)
	}
	// Escaped forms and any order read the same; Encode round-trips.
	s2, err := ParseQuery("session=" + sess + "&pathways=cdn-a%2Ccdn.b_2&stream=live%2Fcam&v=1")
	if err != nil || s2.Encode() != s.Encode() {
		t.Errorf("escaped: %+v %v", s2, err)
	}
	if s3, err := ParseQuery(s.Encode()); err != nil || s3.Encode() != s.Encode() || s3.Pathway != "" || s3.Throughput != 0 {
		t.Errorf("round trip: %+v %v", s3, err)
	}

	good := "v=1&stream=live/cam&pathways=cdn-a&session=" + sess
	many := make([]string, MaxPathways+1)
	for i := range many {
		many[i] = "p" + strings.Repeat("x", i)
	}
	for _, raw := range []string{
		"",
		"v=1",
		strings.Repeat("a", MaxQueryLen+1),
		good + "&x=1",
		good + "&CMCD=a&CMCD=b",
		good + "&cmcd=a",
		good + "&v=1",
		good + "&stream=live/cam",
		good + "&_HLS_pathway=a&_HLS_pathway=b",
		good + "&novalue",
		good + "&_HLS_pathway=a%zz",
		good + "&_HLS_pathway=" + strings.Repeat("a", 65),
		good + "&_HLS_pathway=a%20b",
		good + "&_HLS_pathway=",
		good + "&_HLS_throughput=-1",
		good + "&_HLS_throughput=1.5",
		good + "&_HLS_throughput=1e6",
		good + "&_HLS_throughput=" + strings.Repeat("9", 16),
		good + "&_HLS_throughput=",
		good + strings.Repeat("&_HLS_x=1", MaxQueryFields),
		"v=1&stream=live/cam&pathways=cdn-a",
		"v=1&stream=live/cam&session=" + sess,
		"v=1&pathways=cdn-a&session=" + sess,
		"stream=live/cam&pathways=cdn-a&session=" + sess,
		"v=one&stream=live/cam&pathways=cdn-a&session=" + sess,
		"v=&stream=live/cam&pathways=cdn-a&session=" + sess,
		"v=1&stream=live&pathways=cdn-a&session=" + sess,
		"v=1&stream=live/cam/x&pathways=cdn-a&session=" + sess,
		"v=1&stream=li.ve/cam&pathways=cdn-a&session=" + sess,
		"v=1&stream=live/cam&pathways=&session=" + sess,
		"v=1&stream=live/cam&pathways=cdn-a,,cdn-b&session=" + sess,
		"v=1&stream=live/cam&pathways=cdn-a,cdn-a&session=" + sess,
		"v=1&stream=live/cam&pathways=cdn+a&session=" + sess,
		"v=1&stream=live/cam&pathways=" + strings.Join(many, ",") + "&session=" + sess,
		"v=1&stream=live/cam&pathways=cdn-a&session=" + strings.ToUpper(sess),
		"v=1&stream=live/cam&pathways=cdn-a&session=" + sess[:31],
		"v=1&stream=live/cam&pathways=cdn-a&session=" + sess + "0",
	} {
		if _, err := ParseQuery(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.80q: %v, want ErrMalformed", raw, err)
		}
	}
	for _, raw := range []string{"v=2&stream=live/cam&pathways=cdn-a&session=" + sess, "v=0&stream=live/cam&pathways=cdn-a&session=" + sess} {
		if _, err := ParseQuery(raw); !errors.Is(err, ErrGone) {
			t.Errorf("%q: %v, want ErrGone", raw, err)
		}
	}
}

// FuzzParseQuery: no input panics or is accepted unbounded, and whatever
// parses encodes back to a query that parses to the same state.
func FuzzParseQuery(f *testing.F) {
	f.Add("v=1&stream=live/cam&pathways=cdn-a,cdn-b&session=0123456789abcdef0123456789abcdef&_HLS_pathway=cdn-a&_HLS_throughput=5000000")
	f.Add("v=1&stream=live%2Fcam&pathways=a&session=0123456789abcdef0123456789abcdef")
	f.Add("v=2&stream=a/b&pathways=x&session=00000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseQuery(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrGone) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrGone", err)
			}
			return
		}
		if len(raw) > MaxQueryLen || len(s.Pathways) == 0 || len(s.Pathways) > MaxPathways || s.Stream.Validate() != nil || !validSession(s.Session) || s.Throughput < 0 {
			t.Fatalf("accepted %q as %+v", raw, s)
		}
		for _, p := range append(slices.Clone(s.Pathways), s.Pathway) {
			if p != "" && !ValidID(p) {
				t.Fatalf("pathway %q accepted", p)
			}
		}
		s2, err := ParseQuery(s.Encode())
		if err != nil || s2.Encode() != s.Encode() {
			t.Fatalf("%q: re-encoded %q: %+v %v", raw, s.Encode(), s2, err)
		}
	})
}

// FuzzManifest sends any query to the manifest route: the answer is a
// 200 with a well-formed manifest, a 400 or a 410, never anything else.
func FuzzManifest(f *testing.F) {
	f.Add("v=1&stream=live/cam&pathways=cdn-a,cdn-b&session=0123456789abcdef0123456789abcdef&_HLS_pathway=cdn-a&_HLS_throughput=5000000")
	f.Add("v=1&stream=live/cam&pathways=gone&session=0123456789abcdef0123456789abcdef")
	f.Add("v=1&stream=off/cam&pathways=cdn-a&session=0123456789abcdef0123456789abcdef")
	cfg := testConfig()
	cfg.Pathways = append(cfg.Pathways, Pathway{ID: "cdn-d", HLSBase: "https://d.example.net", CloneOf: "cdn-a"})
	cfg.Enabled = func(s catalog.Stream) bool { return s.App != "off" }
	s, err := New(cfg, newRanker(), regionHeader, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	s.rank.ranker.(*fakeRanker).set("eu", []string{"cdn-d", "cdn-a", "cdn-b"}, nil)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/v1/steer/manifest", nil)
		r.URL.RawQuery = raw
		r.Header.Set("X-Region", "eu")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 400, 410:
			return
		case 200:
		default:
			t.Fatalf("%q: %d %s", raw, w.Code, w.Body)
		}
		var m Manifest
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Version != 1 || m.TTL != 10 || len(m.Priority) == 0 {
			t.Fatalf("%q: %s (%v)", raw, w.Body, err)
		}
		seen := map[string]bool{}
		for _, id := range m.Priority {
			if seen[id] || !ValidID(id) {
				t.Fatalf("%q: priority %v", raw, m.Priority)
			}
			seen[id] = true
		}
		u, err := url.Parse(m.Reload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseQuery(u.RawQuery); err != nil {
			t.Fatalf("RELOAD-URI %q: %v", m.Reload, err)
		}
	})
}
