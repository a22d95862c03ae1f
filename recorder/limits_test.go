package recorder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
)

// With the store unreachable the spool grows up to its limit; past it new
// segments are dropped and counted, never the ones already spooled. Once a
// store is back, everything spooled is stored and indexed.
func TestSpoolLimit(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 12, Size: "640x360"})
	spool := filepath.Join(dir, "spool")
	// A real S3 client aimed at a port nobody listens on: every put fails.
	// Static credentials: the SDK must not go looking for instance ones.
	dead, err := s3store.New(context.Background(), s3store.Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", Region: "us-east-1", PathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "testtesttest", "")})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 150 << 10
	cfg := Config{Spool: spool, SegmentDuration: 2 * time.Second, SpoolLimit: limit, RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond}
	rec, err := New(cfg, dead, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	run := catalog.NewRunID(time.Now(), "test")
	s, err := rec.Open(media.StreamInfo{App: testStream.App, Name: testStream.Name, Run: run, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	feed(s, readTags(t, src), 0)
	s.Close()
	hits := testutil.ToFloat64(rec.m.spoolLimitHits)
	spooled := rec.spoolBytes.get()
	cancel()
	<-done
	if hits == 0 {
		t.Fatal("spool limit never hit")
	}
	if testutil.ToFloat64(rec.m.segmentsDropped) != hits {
		t.Errorf("dropped %v segments, %v limit hits", testutil.ToFloat64(rec.m.segmentsDropped), hits)
	}
	// The limit is checked when a segment opens: at most one segment over.
	var biggest int64
	files, _ := os.ReadDir(runDir(spool, testStream, run))
	kept := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), extTS) {
			kept++
			fi, _ := f.Info()
			biggest = max(biggest, fi.Size())
		}
	}
	if spooled < limit || spooled > limit+biggest {
		t.Errorf("spool holds %d bytes with a %d limit", spooled, limit)
	}

	// The store is back (here: a local one); the spool is drained.
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	h := newHarness(t, spool, st, Config{})
	h.idle()
	entries, _ := checkRun(t, st, run, catalog.StateEnded)
	if len(entries) != kept {
		t.Errorf("%d segments indexed, %d were spooled", len(entries), kept)
	}
}

// The bandwidth cap holds uploads to the configured rate.
func TestBandwidthCap(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 6, Size: "640x360"})
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	const capBPS = 400 << 10
	h := newHarness(t, filepath.Join(dir, "spool"), st, Config{BandwidthLimit: capBPS})
	run := catalog.NewRunID(time.Now(), "test")
	s := h.open(run)
	start := time.Now()
	feed(s, readTags(t, src), 0)
	s.Close()
	h.idle()
	took := time.Since(start)
	entries, _ := checkRun(t, st, run, catalog.StateEnded)
	var total int64
	for _, e := range entries {
		total += int64(e.Size)
	}
	// A lower bound only: a slow machine may take longer, never shorter.
	minTime := time.Duration(float64(total-int64(h.rec.agent.limiter.Burst())) / capBPS * float64(time.Second))
	if took < minTime {
		t.Errorf("%d bytes uploaded in %v; a %d B/s cap needs at least %v", total, took, capBPS, minTime)
	}
}
