package vodapi

import (
	"net"
	"net/http"
	"runtime"
	"testing"
)

// TestCorkPerConnection: ConnContext makes a TCP connection's corking once,
// so corking a large answer on it allocates nothing per request, and a
// connection that is not TCP is answered uncorked.
func TestCorkPerConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srv, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(ConnContext(req.Context(), srv))
	k, _ := req.Context().Value(connKey{}).(*tcpCork)
	if (k != nil) != (runtime.GOOS == "linux") {
		t.Fatalf("corking of a TCP connection on %s: %v", runtime.GOOS, k)
	}
	calls := 0
	write := func() error { calls++; return nil }
	if n := testing.AllocsPerRun(100, func() { _ = corked(req, corkMin, write) }); n != 0 {
		t.Fatalf("corking an answer allocates %.1f times", n)
	}
	if calls == 0 {
		t.Fatal("the answer was never written")
	}

	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	plain, _ := http.NewRequest(http.MethodGet, "/", nil)
	plain = plain.WithContext(ConnContext(plain.Context(), p1))
	if plain.Context().Value(connKey{}) != nil {
		t.Fatal("a pipe got corking")
	}
	before := calls
	if err := corked(plain, corkMin, write); err != nil || calls != before+1 {
		t.Fatalf("uncorked answer: %v, written %d times", err, calls-before)
	}
}
