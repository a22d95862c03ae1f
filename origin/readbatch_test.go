package origin

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair: the server side wrapped as a
// publisher's trackedConn with batched reads, and the client side.
func tcpPair(t *testing.T, timeout, pause time.Duration) (*trackedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &trackedConn{Conn: nc, timeout: timeout}
	c.setupDone.Store(true)
	c.startBatching(pause)
	return c, client
}

// Batched reads hold bytes back only up to the pause: a message far
// smaller than the low-water mark still comes, the end of the connection
// comes at once, and a silent peer still times out.
func TestBatchedReads(t *testing.T) {
	const pause = 20 * time.Millisecond
	c, client := tcpPair(t, 3*time.Second, pause)
	buf := make([]byte, 64<<10)

	for _, size := range []int{100, rcvLowat + 1000} {
		msg := make([]byte, size)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		got, start := 0, time.Now()
		for got < size {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%d bytes: read after %d: %v", size, got, err)
			}
			got += n
		}
		// Far below the idle timeout: the pause, not the low-water mark,
		// bounds the wait (generous for a loaded machine).
		if d := time.Since(start); d > time.Second {
			t.Errorf("%d bytes took %s to read", size, d)
		}
	}

	client.Close()
	start := time.Now()
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the close took %s to be seen", d)
	}

	quiet, _ := tcpPair(t, 300*time.Millisecond, pause)
	start = time.Now()
	_, err := quiet.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a silent peer: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("timed out after %s, before the idle timeout", d)
	}
}
