package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawHandshake does a simple handshake as a client on c, by the book (C2
// echoes S1), so that even go-rtmp's own handshake would take it.
func rawHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
		t.Error(err)
		return
	}
	s := make([]byte, 3073)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Errorf("handshake: %v", err)
		return
	}
	if _, err := c.Write(s[1:1537]); err != nil {
		t.Error(err)
	}
}

// chunkHeader0 is a fmt 0 chunk header on a one-byte chunk stream id.
func chunkHeader0(csid byte, length int, typ byte, sid uint32) []byte {
	b := []byte{csid, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typ}
	return binary.LittleEndian.AppendUint32(b, sid)
}

// procMemKiB reads VmRSS or VmHWM of a process, in KiB.
func procMemKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kib, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kib
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// scrape returns one sample of /metrics, e.g.
// `rewind_origin_rejected_total{reason="oversize"}`; 0 when absent.
func scrape(t *testing.T, httpAddr, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(httpGet(t, "http://"+httpAddr+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func waitUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPartialMessageFlood runs against the real rewind process: each
// flooding connection does the handshake, sets an 8 MiB chunk size and
// opens 20 chunk streams, each declaring a 16 MiB message of which it sends
// one 8 MiB chunk and never the rest (go-rtmp held all of it, up to ~1.2
// GiB per connection with 60 streams). Other connections stay just under
// the limits for unfinished messages and are kept. The process must stay
// within 100 MiB of where it started, and drop the flooders as oversize
// with a plain cause.
func TestPartialMessageFlood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	pid := n.cmd.Process.Pid
	base := procMemKiB(t, pid, "VmRSS")

	setChunk := func(size uint32) []byte {
		return binary.BigEndian.AppendUint32(chunkHeader0(2, 4, 1, 0), size)
	}
	var wg sync.WaitGroup
	const flooders, holders = 2, 12
	held := make(chan net.Conn, holders)
	for i := range flooders + holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", n.rtmpAddr)
			if err != nil {
				t.Error(err)
				return
			}
			rawHandshake(t, c)
			w := bufio.NewWriterSize(c, 64<<10)
			if i < flooders {
				defer c.Close()
				w.Write(setChunk(8 << 20))
				chunk := make([]byte, 8<<20)
				for csid := byte(3); csid < 23; csid++ {
					w.Write(chunkHeader0(csid, 16<<20-1, 9, 1))
					if _, err := w.Write(chunk); err != nil {
						return // dropped: what we want
					}
				}
				w.Flush()
				// Hold the connection while the node would be buffering.
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				io.Copy(io.Discard, c)
				return
			}
			// Within the limits: four 60 KiB messages, the first 50 KiB
			// chunk of each.
			w.Write(setChunk(50 << 10))
			for csid := byte(3); csid < 7; csid++ {
				w.Write(chunkHeader0(csid, 60<<10, 9, 1))
				w.Write(make([]byte, 50<<10))
			}
			if err := w.Flush(); err != nil {
				t.Errorf("holder dropped while within the limits: %v", err)
			}
			held <- c
		}()
	}
	wg.Wait()
	close(held)
	time.Sleep(time.Second)
	peak := procMemKiB(t, pid, "VmHWM")
	t.Logf("VmRSS before %d KiB, VmHWM after %d KiB", base, peak)
	if grew := peak - base; grew > 100<<10 {
		t.Errorf("the process grew by %d MiB under the flood (bound 100 MiB)", grew>>10)
	}
	// The holders are still open: within the limits nothing is refused.
	if got := scrape(t, n.httpAddr, "rewind_origin_connections"); got != holders {
		t.Errorf("%v connections open, want the %d holders", got, holders)
	}
	for c := range held {
		c.Close()
	}
	waitUntil(t, 10*time.Second, "the flooders counted as oversize", func() bool {
		return scrape(t, n.httpAddr, `rewind_origin_rejected_total{reason="oversize"}`) >= flooders
	})
	log := n.log.String()
	if !strings.Contains(log, "reason=oversize") || !strings.Contains(log, "over the limit") {
		t.Errorf("no plain oversize cause in the log:\n%s", log)
	}
	n.stop()
}

// TestTricklingConnections: 20 connections that send a byte every 300 ms
// (half during the handshake, half after it, in a connect command) fill
// --max-conns 20 and are never silent for --read-timeout; the setup
// deadline drops them, and a signed publisher gets in after it.
func TestTricklingConnections(t *testing.T) {
	t.Parallel()
	src, want := source(t, 4)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--max-conns", "20", "--setup-timeout", "3s", "--read-timeout", "10s", "--publish-secrets", "s1")

	start := time.Now()
	dropped := make(chan time.Duration, 20)
	for i := range 20 {
		c, err := net.Dial("tcp", n.rtmpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var trickle []byte
		if i%2 == 0 {
			trickle = append([]byte{3}, make([]byte, 1536)...)
		} else {
			rawHandshake(t, c)
			trickle = append(chunkHeader0(3, 200, 20, 0), make([]byte, 200)...)
		}
		go func() {
			for _, b := range trickle {
				if _, err := c.Write([]byte{b}); err != nil {
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
		}()
		go func() {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, c) // returns once the node closes it
			dropped <- time.Since(start)
		}()
	}
	waitUntil(t, 5*time.Second, "20 connections open", func() bool {
		return scrape(t, n.httpAddr, "rewind_origin_connections") == 20
	})
	// Full: a publisher now is refused at accept.
	out, err := exec.Command(binPath, "sign", "--secret", "s1", "--stream", "live/cam", "--ttl", "1h").Output()
	if err != nil {
		t.Fatal(err)
	}
	url := n.url("live/cam") + "?" + strings.TrimSpace(string(out))
	if err := publish(t, src, url).wait(t); err == nil {
		t.Error("publish succeeded past --max-conns")
	}
	for range 20 {
		select {
		case d := <-dropped:
			if d > 6*time.Second {
				t.Errorf("trickling connection dropped after %v, setup timeout 3s", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("trickling connections not dropped")
		}
	}
	p := publish(t, src, url)
	if err := p.wait(t); err != nil {
		t.Fatalf("signed publisher after the tricklers: %v", err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, 20*time.Second)
	if got := checkRun(t, fetchRun(t, st, camStream, runs[0])); got != want {
		t.Errorf("recorded %+v, published %+v", got, want)
	}
	if got := scrape(t, n.httpAddr, `rewind_origin_rejected_total{reason="timeout"}`); got != 20 {
		t.Errorf("rejected_total{timeout} = %v, want 20", got)
	}
	if log := n.log.String(); !strings.Contains(log, "no publish or play within 3s") {
		t.Errorf("the setup deadline is not the logged cause:\n%s", log)
	}
	n.stop()
}

// TestMalformedFirstChunk: 0xC7 (fmt 3 on a chunk stream with no header)
// and an unknown-csid fmt 2 chunk are logged as plain protocol errors, as
// bad_message, and no panic is mentioned anywhere.
func TestMalformedFirstChunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	for _, first := range [][]byte{{0xC7, 0xde, 0xad, 0xbe, 0xef}, {0x85, 0, 0, 1, 2, 3, 4}} {
		c, err := net.Dial("tcp", n.rtmpAddr)
		if err != nil {
			t.Fatal(err)
		}
		rawHandshake(t, c)
		if _, err := c.Write(first); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("% x: not dropped: %v", first, err)
		}
		c.Close()
	}
	// The drop is counted, then logged: wait for both.
	waitUntil(t, 5*time.Second, "both counted as bad_message and logged", func() bool {
		return scrape(t, n.httpAddr, `rewind_origin_rejected_total{reason="bad_message"}`) == 2 &&
			strings.Count(n.log.String(), `msg="rtmp connection dropped"`) >= 2
	})
	log := n.log.String()
	if strings.Contains(strings.ToLower(log), "panic") {
		t.Errorf("the log mentions a panic:\n%s", log)
	}
	for _, want := range []string{"chunk stream 7: a fmt 3 chunk continues a header that was never sent", "chunk stream 5: a fmt 2 chunk"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if c := strings.Count(log, `msg="rtmp connection dropped"`); c != 2 || !strings.Contains(log, "reason=bad_message") {
		t.Errorf("%d drop lines, want 2 with reason=bad_message:\n%s", c, log)
	}
}
