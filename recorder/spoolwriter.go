package recorder

import (
	"io"
	"sync"
)

// spoolPool holds the spool writers' buffers. A stream takes one for a
// batch of frames and gives it back at Flush, so a node needs about one
// per core rather than one per stream (bufio.Writer keeps its own).
var spoolPool = sync.Pool{New: func() any { b := make([]byte, 0, spoolBuf); return &b }}

// spoolWriter buffers a segment's TS like a bufio.Writer of spoolBuf
// bytes, with a pooled buffer held only between the first Write after a
// Flush and the next Flush.
type spoolWriter struct {
	w   io.Writer
	buf *[]byte // nil while nothing is buffered
	err error   // sticky, like bufio.Writer's
}

// Reset directs output to w, dropping what is buffered.
func (s *spoolWriter) Reset(w io.Writer) {
	s.release()
	s.w, s.err = w, nil
}

func (s *spoolWriter) release() {
	if s.buf != nil {
		*s.buf = (*s.buf)[:0]
		spoolPool.Put(s.buf)
		s.buf = nil
	}
}

func (s *spoolWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.buf == nil {
		s.buf = spoolPool.Get().(*[]byte)
	}
	n := 0
	for len(p) > 0 {
		b := *s.buf
		if len(b) == 0 && len(p) >= cap(b) {
			// Nothing buffered and a full buffer's worth: write it as it is.
			k, err := s.w.Write(p)
			n += k
			if err != nil {
				s.err = err
				return n, err
			}
			return n, nil
		}
		k := copy(b[len(b):cap(b)], p)
		*s.buf = b[:len(b)+k]
		n += k
		p = p[k:]
		if len(*s.buf) == cap(*s.buf) {
			if err := s.writeOut(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// writeOut writes the buffer to w and empties it.
func (s *spoolWriter) writeOut() error {
	b := *s.buf
	for len(b) > 0 {
		k, err := s.w.Write(b)
		if err == nil && k == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			s.err = err
			return err
		}
		b = b[k:]
	}
	*s.buf = (*s.buf)[:0]
	return nil
}

// Flush writes what is buffered and gives the buffer back to the pool.
func (s *spoolWriter) Flush() error {
	if s.err != nil {
		return s.err
	}
	if s.buf == nil {
		return nil
	}
	err := s.writeOut()
	s.release()
	return err
}
