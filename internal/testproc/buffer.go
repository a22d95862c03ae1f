package testproc

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects output (a subprocess's, a logger's) written from several
// goroutines; the zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Count is how often sub occurs in what was written.
func (s *Buffer) Count(sub string) int { return strings.Count(s.String(), sub) }
