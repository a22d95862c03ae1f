package collect

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const benchCMCD = `bl=21300,br=3200,cid="live/cam1",d=4004,dl=21300,mtp=25400,nor="seg-0002.ts",ot=v,rtp=15000,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=l,su,tb=6000`

func BenchmarkParseCMCD(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCMCD)))
	for b.Loop() {
		if _, err := ParseCMCD(benchCMCD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBeacon(b *testing.B) {
	body := []byte(goodBeacon)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseBeacon(body); err != nil {
			b.Fatal(err)
		}
	}
}

// benchHandler measures a report through the handler and the aggregator
// goroutine; the queue is large enough that nothing is shed.
func benchHandler(b *testing.B, method, target, ctype, body string) {
	reg := prometheus.NewRegistry()
	c, err := New(Config{CDNs: []string{"cdn-a", "cdn-b"}, Regions: testRegions, QueueSize: 1 << 16},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := c.Handler()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = "10.1.2.3:4000"
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 429 {
			for len(c.queue) > 0 { // let the aggregator catch up
				runtime.Gosched()
			}
		} else if w.Code != 204 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkHandlerCMCDQuery(b *testing.B) {
	benchHandler(b, "GET", "/v1/qos/cmcd?cdn=cdn-a&CMCD="+strings.ReplaceAll(strings.ReplaceAll(benchCMCD, ",", "%2C"), `"`, "%22"), "", "")
}

func BenchmarkHandlerBeacon(b *testing.B) {
	benchHandler(b, "POST", "/v1/qos/beacon", "application/json", goodBeacon)
}
