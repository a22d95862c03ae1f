package main

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The report shapes are hls.js 1.7.4's (sched/collect/testdata/hlsjs):
// keys sorted, v2 numbers as inner lists, the same session and content
// keys. The values vary per request so the collector does real work (no
// two sids, segment names or bitrates in a row alike), and each request
// carries what it must add to the server's metrics.

// userAgent is what a browser player's beacon carries.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// expect is what one accepted request adds to the server's counters.
type expect struct {
	reports    int64 // CMCD records or beacon events
	bytes      int64 // rewind_qos_bytes_total
	stalls     int64 // rewind_qos_stalls_total
	latency    int64 // rewind_qos_latency_seconds_count
	firstFrame int64 // rewind_qos_first_frame_seconds_count
	errors     int64 // rewind_qos_errors_total
	pushFrames int64 // rewind_qos_push_frames_total
}

func (e *expect) add(o expect) {
	e.reports += o.reports
	e.bytes += o.bytes
	e.stalls += o.stalls
	e.latency += o.latency
	e.firstFrame += o.firstFrame
	e.errors += o.errors
	e.pushFrames += o.pushFrames
}

// request is one prebuilt HTTP/1.1 request and what it adds when accepted.
type request struct {
	raw []byte
	exp expect
}

// checked names, per round, the server counters its requests' expect is
// compared with. Counters that depend on CMCD v2 session memory (first
// frame once per sid, bsa/bsd deltas) are left out where sids repeat.
type checked struct {
	bytes, stalls, latency, firstFrame, errors, pushFrames bool
}

// kv is one CMCD key and its encoded value ("" for a true boolean).
type kv struct{ k, v string }

// record encodes keys sorted, as hls.js does.
func record(kvs []kv) string {
	slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	var b strings.Builder
	for i, p := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteByte('=')
			b.WriteString(p.v)
		}
	}
	return b.String()
}

// headerOf is the CMCD-* header hls.js puts a key in.
var headerOf = map[string]string{
	"bl": "CMCD-Request", "dl": "CMCD-Request", "mtp": "CMCD-Request", "nor": "CMCD-Request", "su": "CMCD-Request",
	"br": "CMCD-Object", "d": "CMCD-Object", "ot": "CMCD-Object", "tb": "CMCD-Object",
	"bs": "CMCD-Status", "pr": "CMCD-Status", "rtp": "CMCD-Status",
	"cid": "CMCD-Session", "sf": "CMCD-Session", "sid": "CMCD-Session", "st": "CMCD-Session", "v": "CMCD-Session",
}

// ladder is the bitrates (kbit/s) of the segment records.
var ladder = []int64{800, 1600, 3200, 6000}

// segmentRecord is the i-th CMCD request record of session sid: a
// manifest, a video segment, a starved audio+video segment or an audio
// segment, v1 or v2 as hls.js encodes each.
func segmentRecord(sid string, i int, v2 bool) ([]kv, expect) {
	num := func(n int64) string {
		if v2 {
			return "(" + strconv.FormatInt(n, 10) + ")"
		}
		return strconv.FormatInt(n, 10)
	}
	str := func(s string) string {
		if v2 {
			return `("` + s + `")`
		}
		return `"` + s + `"`
	}
	sidKV := kv{"sid", `"` + sid + `"`}
	br := ladder[(i/4)%len(ladder)]
	var kvs []kv
	exp := expect{reports: 1}
	switch i % 4 {
	case 0: // the live playlist at startup
		kvs = []kv{{"cid", `"live/cam1"`}, {"ot", "m"}, {"sf", "h"}, sidKV, {"st", "l"}, {"su", ""}}
	case 1: // a video segment
		d := int64(4004)
		kvs = []kv{{"bl", num(21300)}, {"br", num(br)}, {"cid", `"live/cam1"`}, {"d", strconv.FormatInt(d, 10)},
			{"dl", "21300"}, {"mtp", num(25400)}, {"nor", str(fmt.Sprintf("seg-%04d.ts", i/4+2))}, {"ot", "v"},
			{"rtp", "15000"}, {"sf", "h"}, sidKV, {"st", "l"}, {"tb", num(6000)}}
		exp.bytes = br * d / 8
	case 2: // a muxed segment after a starvation, played fast to catch up
		d := int64(4000)
		kvs = []kv{{"bl", num(800)}, {"br", num(br)}, {"bs", ""}, {"d", strconv.FormatInt(d, 10)}, {"dl", "600"},
			{"mtp", num(9100)}, {"ot", "av"}, {"pr", "1.25"}, {"rtp", "15000"}, {"sf", "h"}, sidKV, {"st", "v"}}
		exp.bytes, exp.stalls = br*d/8, 1
	default: // an audio segment
		d, abr := int64(2000), int64(128)
		kvs = []kv{{"bl", num(15000)}, {"br", num(abr)}, {"d", strconv.FormatInt(d, 10)}, {"ot", "a"}, {"sf", "h"}, sidKV, {"st", "v"}}
		exp.bytes = abr * d / 8
	}
	if v2 {
		kvs = append(kvs, kv{"v", "2"})
	}
	return kvs, exp
}

// reqHead is the start of a request to host, with a browser's headers.
func reqHead(method, target, host string) *strings.Builder {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nOrigin: https://player.example.com\r\n",
		method, target, host, userAgent)
	return &b
}

// cmcdQuery is a GET with the record in the CMCD= query parameter.
func cmcdQuery(host, cdn, sid string, i int) request {
	kvs, exp := segmentRecord(sid, i, i%8 >= 4)
	b := reqHead("GET", "/v1/qos/cmcd?cdn="+cdn+"&CMCD="+url.QueryEscape(record(kvs)), host)
	b.WriteString("\r\n")
	return request{raw: []byte(b.String()), exp: exp}
}

// preflight is the CORS preflight of the query request (same target,
// same headers): the server answers it in front of the collector, so it
// is the HTTP floor a CMCD request is read against.
func preflight(host, cdn, sid string, i int) request {
	kvs, _ := segmentRecord(sid, i, i%8 >= 4)
	b := reqHead("OPTIONS", "/v1/qos/cmcd?cdn="+cdn+"&CMCD="+url.QueryEscape(record(kvs)), host)
	b.WriteString("Access-Control-Request-Method: GET\r\n\r\n")
	return request{raw: []byte(b.String())}
}

// cmcdHeaders is a GET with the record in CMCD-* headers, the CDN named by
// X-Rewind-CDN as a CDN forwarding its players' headers would.
func cmcdHeaders(host, cdn, sid string, i int) request {
	kvs, exp := segmentRecord(sid, i, i%8 >= 4)
	byHeader := map[string][]kv{}
	for _, p := range kvs {
		h := headerOf[p.k]
		byHeader[h] = append(byHeader[h], p)
	}
	b := reqHead("GET", "/v1/qos/cmcd", host)
	fmt.Fprintf(b, "X-Rewind-CDN: %s\r\n", cdn)
	for _, h := range []string{"CMCD-Request", "CMCD-Object", "CMCD-Status", "CMCD-Session"} {
		if len(byHeader[h]) > 0 {
			fmt.Fprintf(b, "%s: %s\r\n", h, record(byHeader[h]))
		}
	}
	b.WriteString("\r\n")
	return request{raw: []byte(b.String()), exp: exp}
}

// eventLines is n CMCD v2 event reports (n <= 10) of one session's 40
// seconds from t0: start, playing with the startup delay, time-interval
// reports with latency, a rebuffer and its recovery, an error.
func eventLines(sid func(line int) string, t0 int64, seq int) ([]string, expect) {
	lat := int64(2800 + 150*(seq%8))
	msd := int64(900 + 50*(seq%10))
	type line struct {
		kvs  []kv
		ltc  bool
		errs int64
	}
	common := func(j int, ts int64, extra ...kv) []kv {
		return append([]kv{{"sf", "h"}, {"sid", `"` + sid(j) + `"`}, {"st", "l"}, {"ts", strconv.FormatInt(ts, 10)}, {"v", "2"}}, extra...)
	}
	ltc := func(ms int64) kv { return kv{"ltc", "(" + strconv.FormatInt(ms, 10) + ")"} }
	lines := []line{
		{kvs: common(0, t0, kv{"e", "ps"}, kv{"sta", "s"})},
		{kvs: common(1, t0+msd, kv{"e", "ps"}, kv{"sta", "p"}, kv{"msd", strconv.FormatInt(msd, 10)}, ltc(lat)), ltc: true},
		{kvs: common(2, t0+10000, kv{"e", "t"}, ltc(lat+100)), ltc: true},
		{kvs: common(3, t0+20000, kv{"e", "t"}, ltc(lat+200)), ltc: true},
		{kvs: common(4, t0+24000, kv{"e", "ps"}, kv{"sta", "r"})},
		{kvs: common(5, t0+25200, kv{"e", "ps"}, kv{"sta", "p"}, kv{"bsa", "(1)"}, kv{"bsd", "(1200)"}, kv{"dfa", "4"})},
		{kvs: common(6, t0+30000, kv{"e", "t"}, ltc(lat+1300), kv{"bsa", "(1)"}, kv{"bsd", "(1200)"}, kv{"dfa", "9"}), ltc: true},
		{kvs: common(7, t0+35000, kv{"e", "t"}, ltc(lat+900)), ltc: true},
		{kvs: common(8, t0+38000, kv{"e", "e"}, kv{"sta", "e"}, kv{"ec", `("NET-404")`}), errs: 1},
		{kvs: common(9, t0+40000, kv{"e", "t"}, ltc(lat+600), kv{"bsa", "(1)"}, kv{"bsd", "(1200)"}, kv{"dfa", "12"}), ltc: true},
	}
	out := make([]string, 0, len(lines))
	var exp expect
	for _, l := range lines {
		out = append(out, record(l.kvs))
		exp.reports++
		exp.errors += l.errs
		if l.ltc {
			exp.latency++
		}
	}
	return out, exp
}

// cmcdEvents is a POST of one application/cmcd body of ten v2 event
// reports of one session (sid per line when fresh is set: every report a
// new session, the worst case for the collector's session memory).
func cmcdEvents(host, cdn string, sid func(line int) string, t0 int64, seq int) request {
	lines, exp := eventLines(sid, t0, seq)
	body := strings.Join(lines, "\n") + "\n"
	b := reqHead("POST", "/v1/qos/cmcd?cdn="+cdn, host)
	fmt.Fprintf(b, "Content-Type: application/cmcd\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return request{raw: []byte(b.String()), exp: exp}
}

// beacon is a POST of a JSON beacon of ten events (one session's last
// 30 s: start, latency samples, heartbeats with bytes, a stall, dropped
// frames, an error); every fourth also carries a streamer SDK's push part.
func beacon(host, cdn, sid string, t0 int64, seq int) request {
	ff := int64(700 + 37*(seq%20))
	lat := int64(3000 + 111*(seq%9))
	watched := []int64{10000, 10000, 10000}
	bytes := []int64{3_100_000 + int64(seq%7)*1000, 3_250_000, 2_900_000}
	ev := []string{
		fmt.Sprintf(`{"t":"start","ts":%d,"first_frame_ms":%d}`, t0, ff),
		fmt.Sprintf(`{"t":"latency","ts":%d,"ms":%d}`, t0+2000, lat),
		fmt.Sprintf(`{"t":"heartbeat","ts":%d,"watched_ms":%d,"bytes":%d}`, t0+10000, watched[0], bytes[0]),
		fmt.Sprintf(`{"t":"latency","ts":%d,"ms":%d}`, t0+12000, lat+250),
		fmt.Sprintf(`{"t":"stall","ts":%d,"duration_ms":%d}`, t0+15000, 1200),
		fmt.Sprintf(`{"t":"dropped","ts":%d,"frames":%d}`, t0+18000, 12),
		fmt.Sprintf(`{"t":"heartbeat","ts":%d,"watched_ms":%d,"bytes":%d}`, t0+20000, watched[1], bytes[1]),
		fmt.Sprintf(`{"t":"error","ts":%d,"code":"NET-404"}`, t0+25000),
		fmt.Sprintf(`{"t":"latency","ts":%d,"ms":%d}`, t0+28000, lat+500),
		fmt.Sprintf(`{"t":"heartbeat","ts":%d,"watched_ms":%d,"bytes":%d}`, t0+30000, watched[2], bytes[2]),
	}
	exp := expect{reports: int64(len(ev)), bytes: bytes[0] + bytes[1] + bytes[2], stalls: 1, latency: 3, firstFrame: 1, errors: 1}
	push := ""
	if seq%4 == 0 {
		sent := int64(900 + seq%100)
		push = fmt.Sprintf(`,"push":{"cdn":"%s","addr":"rtmp://push.%s.example.net/live/cam%d","publish_errors":0,"frames_dropped":3,"frames_sent":%d}`,
			cdn, cdn, seq%50, sent)
		exp.pushFrames = sent
	}
	body := fmt.Sprintf(`{"sid":"%s","cdn":"%s","stream":"live/cam%d","events":[%s]%s}`, sid, cdn, seq%50, strings.Join(ev, ","), push)
	b := reqHead("POST", "/v1/qos/beacon", host)
	fmt.Fprintf(b, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return request{raw: []byte(b.String()), exp: exp}
}

// sidOf is a UUID-shaped session id, unique per (a, b).
func sidOf(a, b int) string {
	return fmt.Sprintf("%08x-c457-11e9-bb97-%012x", uint32(a)*2654435761, uint64(b))
}
