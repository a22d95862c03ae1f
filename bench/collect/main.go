// Command collect is the QoS collector benchmark (`make bench`): the real
// `rewind sched` binary on a loopback port, driven from this process over
// keep-alive HTTP/1.1 connections with what players send it: CMCD records
// in the query and in CMCD-* headers (v1 and v2, as hls.js 1.7.4 encodes
// them), CMCD v2 event bodies (application/cmcd, ten reports a body) and
// JSON beacons (ten events each). Each round prints requests and reports
// a second, the server's CPU over the round and so its reports per
// CPU-second (per core: the figure the issue asks for, at least 50,000),
// the load generator's and the rest of the machine's CPU, latency, 429s
// and the server's RSS, and checks from /metrics that the server
// accepted and aggregated exactly what was sent.
//
// A floor round comes first: the CORS preflight of the query request,
// which the server answers in front of the collector, so the server CPU
// a request costs without any collector work; each CMCD round is read
// against it (the collector's own share of a request's CPU).
//
// A flood round follows against a fresh server with a small --qos-queue:
// many more connections, every report a new CMCD v2 session, as fast as
// they go; it prints the 429 share and the server's RSS over time, which
// should not grow with the flood.
//
// The server and the load generator share this machine's CPUs, so the
// per-CPU-second ratios are the figures to read, not the absolute rates.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// cdns are the bench's CDNs; the reports name the first two.
var cdns = []string{"cdn-a", "cdn-b", "cdn-c"}

type config struct {
	rewind      string
	dur         time.Duration
	conns       int
	queue       int
	floodConns  int
	floodDur    time.Duration
	floodQueue  int
	logLevel    string
	rounds      string
	aimPerCore  float64
	showSamples bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.rewind, "rewind", "bin/rewind", "rewind binary (make build)")
	flag.DurationVar(&cfg.dur, "duration", 5*time.Second, "load time per round")
	flag.IntVar(&cfg.conns, "conns", 64, "keep-alive connections of the rounds")
	flag.IntVar(&cfg.queue, "queue", 0, "--qos-queue of the rounds' server (0: its default)")
	flag.IntVar(&cfg.floodConns, "flood-conns", 512, "connections of the flood round (0: no flood round)")
	flag.DurationVar(&cfg.floodDur, "flood-duration", 10*time.Second, "load time of the flood round")
	flag.IntVar(&cfg.floodQueue, "flood-queue", 64, "--qos-queue of the flood round's server")
	flag.StringVar(&cfg.logLevel, "log-level", "warn", "--log-level of the server (its output is shown when it fails)")
	flag.StringVar(&cfg.rounds, "rounds", "floor,query,headers,events,beacon", "rounds to run, of floor, query, headers, events, beacon")
	flag.Float64Var(&cfg.aimPerCore, "aim", 50000, "reports per server CPU-second the rounds are held to (printed, not enforced)")
	flag.BoolVar(&cfg.showSamples, "samples", false, "flood: print every RSS sample")
	flag.Parse()
	if cfg.conns <= 0 || cfg.dur <= 0 || cfg.floodConns < 0 || cfg.floodDur <= 0 || cfg.floodQueue <= 0 || cfg.queue < 0 {
		fmt.Fprintln(os.Stderr, "bench: -conns, -duration, -flood-duration and -flood-queue must be positive")
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		slog.Error("collector bench failed", "err", err)
		os.Exit(1)
	}
}

// server is one `rewind sched` process.
type server struct {
	p    *testproc.Proc
	cmd  *exec.Cmd
	addr string
	pid  string
}

func startServer(bin, dir string, queue int, logLevel string) (*server, error) {
	var last error
	for range 3 { // a free port can be taken before the server binds it
		addr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		var cdnFlag []string
		for _, c := range cdns {
			cdnFlag = append(cdnFlag, c+";hls=https://"+c+".example.net")
		}
		args := []string{"sched", "--cdns", strings.Join(cdnFlag, " "), "--regions", "eu=127.0.0.0/24 us=127.0.1.0/24",
			"--http-addr", addr, "--steer-public-url", "http://" + addr, "--store", "file://" + dir, "--log-level", logLevel}
		if queue > 0 {
			args = append(args, "--qos-queue", strconv.Itoa(queue))
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
		p, err := testproc.Start(cmd, 20*time.Second, testproc.HTTPCheck("http://"+addr+"/metrics", func(s int) bool { return s == 200 }))
		if err == nil {
			return &server{p: p, cmd: cmd, addr: addr, pid: strconv.Itoa(cmd.Process.Pid)}, nil
		}
		last = err
	}
	return nil, fmt.Errorf("start rewind sched: %w", last)
}

func (s *server) cpu() (float64, error) {
	v, err := benchkit.CPUSeconds(s.pid)
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w (it may have died; its last output:\n%s)", err, s.p.Output())
	}
	return v, nil
}

func (s *server) mem(field string) (int64, error) {
	v, err := benchkit.StatusBytes(s.pid, field)
	if err != nil {
		return 0, fmt.Errorf("server %s: %w", field, err)
	}
	return v, nil
}

func (s *server) metrics(ctx context.Context) (map[string]float64, error) {
	m, err := benchkit.Scrape(ctx, "http://"+s.addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("server metrics: %w (its last output:\n%s)", err, s.p.Output())
	}
	return m, nil
}

func run(ctx context.Context, cfg config) error {
	bin, err := filepath.Abs(cfg.rewind)
	if err != nil {
		return fmt.Errorf("rewind binary: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("rewind binary (make build): %w", err)
	}
	names, err := roundNames(cfg.rounds)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rewind-collect-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	srv, err := startServer(bin, filepath.Join(dir, "store"), cfg.queue, cfg.logLevel)
	if err != nil {
		return err
	}
	defer srv.p.Kill()
	queue := "its default"
	if cfg.queue > 0 {
		queue = strconv.Itoa(cfg.queue)
	}
	fmt.Printf("collector benchmark: `rewind sched` (--qos-queue %s), %d CDNs, 2 regions; %d CPUs shared by server and load generator; %d keep-alive conns x %s per round\n",
		queue, len(cdns), runtime.NumCPU(), cfg.conns, cfg.dur)
	fmt.Printf("  %-26s %8s %9s %7s %7s %9s %13s %7s %8s %8s %6s %7s  %s\n", "round", "req/s", "reports/s", "srv cpu", "gen cpu",
		"req/cpu-s", "reports/cpu-s", "other", "p50 ms", "p99 ms", "429", "RSS MiB", "counted")
	var failed []error
	var rows []roundRow
	for _, name := range names {
		rd := rounds[name]
		row, err := runRound(ctx, srv, cfg.conns, cfg.dur, rd)
		if err != nil {
			return fmt.Errorf("round %s: %w", rd.title, err)
		}
		row.print()
		rows = append(rows, row)
		if row.countErr != nil {
			failed = append(failed, fmt.Errorf("round %s: %w", rd.title, row.countErr))
		}
	}
	if hwm, err := srv.mem("VmHWM"); err == nil {
		fmt.Printf("  server max RSS (VmHWM) over the rounds: %.1f MiB\n", mib(hwm))
	}
	printNotes(rows, cfg.aimPerCore)
	srv.p.Kill()

	if cfg.floodConns > 0 {
		if err := flood(ctx, bin, filepath.Join(dir, "flood-store"), cfg); err != nil {
			failed = append(failed, fmt.Errorf("flood: %w", err))
		}
	}
	return errors.Join(failed...)
}

// round is one kind of report and how its requests are built.
type round struct {
	title  string
	format string // the rewind_qos_reports_total label; "" for none (the floor)
	chk    checked
	build  func(host string, w, n int) request
}

// ring64 is how many distinct requests each connection cycles through: built
// once, so that the load generator spends its CPU on the wire, not on
// formatting.
const ring64 = 64

var rounds = map[string]round{
	"floor": {title: "floor: CORS preflight", build: func(host string, w, n int) request {
		return preflight(host, cdns[w%2], sidOf(w, n/8), n)
	}},
	"query": {title: "CMCD query (v1+v2)", format: "cmcd", chk: checked{bytes: true, stalls: true},
		build: func(host string, w, n int) request {
			return cmcdQuery(host, cdns[w%2], sidOf(w, n/8), n)
		}},
	"headers": {title: "CMCD headers (v1+v2)", format: "cmcd", chk: checked{bytes: true, stalls: true},
		build: func(host string, w, n int) request {
			return cmcdHeaders(host, cdns[w%2], sidOf(w+1000, n/8), n)
		}},
	// A session's reports repeat as each connection cycles: the counters
	// that need session memory (first frame, bsa/bsd) are not compared.
	"events": {title: "CMCD v2 events (10/body)", format: "cmcd", chk: checked{latency: true, errors: true},
		build: func(host string, w, n int) request {
			sid := sidOf(w+2000, n)
			return cmcdEvents(host, cdns[w%2], func(int) string { return sid }, 1764638400000+int64(n)*40000, n)
		}},
	"beacon": {title: "JSON beacons (10 events)", format: "beacon", chk: checked{bytes: true, stalls: true, latency: true, firstFrame: true, errors: true, pushFrames: true},
		build: func(host string, w, n int) request {
			return beacon(host, cdns[w%2], sidOf(w+3000, n), 1764638400000+int64(n)*30000, w*ring64+n)
		}},
}

func roundNames(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if _, ok := rounds[f]; !ok {
			return nil, fmt.Errorf("unknown round %q (floor, query, headers, events, beacon)", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// ringSource prebuilds ring64 requests per connection on first use.
func ringSource(host string, conns int, build func(host string, w, n int) request) source {
	rings := make([][]request, conns)
	return func(w, n int) request {
		if rings[w] == nil {
			rings[w] = make([]request, ring64)
			for i := range rings[w] {
				rings[w][i] = build(host, w, i)
			}
		}
		return rings[w][n%ring64]
	}
}

type roundRow struct {
	title, format         string
	res                   *loadResult
	srvCPU, genCPU, other float64
	rss                   int64
	countErr              error
	countNote             string
}

func (r roundRow) reportsPerSec() float64 {
	return float64(r.res.exp.reports) / r.res.elapsed.Seconds()
}

func (r roundRow) reqPerCPU() float64 {
	if r.srvCPU <= 0 {
		return 0
	}
	return float64(r.res.sent) / r.srvCPU
}

func (r roundRow) perCPU() float64 {
	if r.srvCPU <= 0 {
		return 0
	}
	return float64(r.res.exp.reports) / r.srvCPU
}

func (r roundRow) print() {
	counted := "ok"
	if r.countErr != nil {
		counted = "MISMATCH"
	}
	fmt.Printf("  %-26s %8.0f %9.0f %7.2f %7.2f %9.0f %13.0f %7.2f %8.3f %8.3f %6d %7.1f  %s\n",
		r.title, float64(r.res.sent)/r.res.elapsed.Seconds(), r.reportsPerSec(), r.srvCPU, r.genCPU, r.reqPerCPU(), r.perCPU(), r.other,
		ms(r.res.pct(0.5)), ms(r.res.pct(0.99)), r.res.shed, mib(r.rss), counted)
	fmt.Printf("  %-26s %s\n", "", r.countNote)
	if r.countErr != nil {
		fmt.Printf("  %-26s %v\n", "", r.countErr)
	}
}

func printNotes(rows []roundRow, aim float64) {
	fmt.Println("  srv cpu / gen cpu: CPU-seconds of the server / this process over the round; other: the rest of the machine's busy")
	fmt.Println("  CPU then (softirq of loopback, other processes); reports/cpu-s: reports accepted per server CPU-second, the per-core rate.")
	var floor *roundRow
	for i := range rows {
		if rows[i].format == "" {
			floor = &rows[i]
		}
	}
	for _, r := range rows {
		if r.format == "" {
			continue
		}
		verdict := "meets"
		if r.perCPU() < aim {
			verdict = "BELOW"
		}
		line := fmt.Sprintf("  %-26s %8.0f reports/s/core: %s the aim of %.0f", r.title, r.perCPU(), verdict, aim)
		if floor != nil && floor.reqPerCPU() > 0 && r.reqPerCPU() > 0 {
			// Server CPU per request against the floor's: what the
			// collector adds to an HTTP request that never reaches it.
			us, floorUS := 1e6/r.reqPerCPU(), 1e6/floor.reqPerCPU()
			line += fmt.Sprintf("; %.1f us server CPU a request, the floor %.1f us (the collector's own share %.0f%%)",
				us, floorUS, 100*(1-floorUS/us))
		}
		fmt.Println(line)
	}
}

// cpuWindow is the three CPU figures of a timed window.
type cpuWindow struct{ srv, self, host float64 }

func readCPU(s *server) (cpuWindow, error) {
	var w cpuWindow
	var err error
	if w.srv, err = s.cpu(); err != nil {
		return w, err
	}
	if w.self, err = benchkit.CPUSeconds("self"); err != nil {
		return w, fmt.Errorf("own cpu: %w", err)
	}
	if w.host, err = benchkit.HostBusySeconds(); err != nil {
		return w, err
	}
	return w, nil
}

func runRound(ctx context.Context, s *server, conns int, dur time.Duration, rd round) (roundRow, error) {
	row := roundRow{title: rd.title, format: rd.format}
	before, err := settle(ctx, s)
	if err != nil {
		return row, err
	}
	src := ringSource(s.addr, conns, rd.build)
	p, warm, err := newPool(ctx, s.addr, conns, src)
	if err != nil {
		return row, err
	}
	defer p.close()
	c0, err := readCPU(s)
	if err != nil {
		return row, err
	}
	res, err := p.run(ctx, src, dur)
	if err != nil {
		return row, err
	}
	c1, err := readCPU(s)
	if err != nil {
		return row, err
	}
	row.res = res
	row.srvCPU, row.genCPU = c1.srv-c0.srv, c1.self-c0.self
	row.other = max(0, (c1.host-c0.host)-row.srvCPU-row.genCPU)
	if row.rss, err = s.mem("VmRSS"); err != nil {
		return row, err
	}
	total := *res
	total.sent += warm.sent
	total.accepted += warm.accepted
	total.shed += warm.shed
	total.exp.add(warm.exp)
	row.countNote, row.countErr = checkCounts(ctx, s, before, rd.format, rd.chk, &total)
	return row, nil
}

// settle waits until the server's counters stop moving (the aggregator has
// drained what an earlier round queued) and returns them.
func settle(ctx context.Context, s *server) (map[string]float64, error) {
	prev, err := s.metrics(ctx)
	if err != nil {
		return nil, err
	}
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m, err := s.metrics(ctx)
		if err != nil {
			return nil, err
		}
		if sameQoS(prev, m) {
			return m, nil
		}
		prev = m
	}
	return nil, errors.New("the server's QoS counters do not settle")
}

func sameQoS(a, b map[string]float64) bool {
	for _, k := range countedFamilies {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

var countedFamilies = []string{"rewind_qos_reports_total", "rewind_qos_bytes_total", "rewind_qos_stalls_total",
	"rewind_qos_latency_seconds_count", "rewind_qos_first_frame_seconds_count", "rewind_qos_errors_total",
	"rewind_qos_push_frames_total", `rewind_qos_reports_dropped_total{reason="overload"}`}

// checkCounts compares the server's counters, once its aggregator has
// drained, with what the load generator had accepted: one
// rewind_qos_reports_total per accepted request (the counter counts
// requests, whatever the reports in them), one overload drop per 429, and
// the aggregated contents (bytes, stalls, latency samples, ...) of the
// accepted reports.
func checkCounts(ctx context.Context, s *server, before map[string]float64, format string, chk checked, r *loadResult) (string, error) {
	type want struct {
		key string
		v   float64
	}
	wants := []want{
		{`rewind_qos_reports_total{format="` + format + `"}`, float64(r.accepted)},
		{`rewind_qos_reports_dropped_total{reason="overload"}`, float64(r.shed)},
	}
	if format == "" { // nothing reaches the collector
		wants[0] = want{"rewind_qos_reports_total", 0}
	}
	add := func(on bool, key string, v int64) {
		if on {
			wants = append(wants, want{key, float64(v)})
		}
	}
	add(chk.bytes, "rewind_qos_bytes_total", r.exp.bytes)
	add(chk.stalls, "rewind_qos_stalls_total", r.exp.stalls)
	add(chk.latency, "rewind_qos_latency_seconds_count", r.exp.latency)
	add(chk.firstFrame, "rewind_qos_first_frame_seconds_count", r.exp.firstFrame)
	add(chk.errors, "rewind_qos_errors_total", r.exp.errors)
	add(chk.pushFrames, "rewind_qos_push_frames_total", r.exp.pushFrames)

	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := s.metrics(ctx)
		if err != nil {
			return "", err
		}
		got = m
		ok := true
		for _, w := range wants {
			if !near(m[w.key]-before[w.key], w.v) {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var note []string
	var bad []string
	for _, w := range wants {
		d := got[w.key] - before[w.key]
		short := strings.TrimPrefix(w.key, "rewind_qos_")
		note = append(note, fmt.Sprintf("%s +%.0f", short, d))
		if !near(d, w.v) {
			bad = append(bad, fmt.Sprintf("%s grew by %.0f, want %.0f", w.key, d, w.v))
		}
	}
	head := fmt.Sprintf("sent %d requests (%d reports accepted), %d accepted, %d shed; server: %s",
		r.sent, r.exp.reports, r.accepted, r.shed, strings.Join(note, ", "))
	if len(bad) > 0 {
		return head, errors.New(strings.Join(bad, "; "))
	}
	return head, nil
}

// near: the counters are float64 sums of integers, exact well past these.
func near(a, b float64) bool {
	d := a - b
	return d < 0.5 && d > -0.5
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
