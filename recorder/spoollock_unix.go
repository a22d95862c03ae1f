//go:build unix

package recorder

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dirLock is an exclusive flock(2) on a directory. Its holder keeps it for
// as long as it lives; the kernel drops it when the holder dies, kill -9
// included, which is how the other side of the spool tells a live writer
// from a dead one without any file of its own.
type dirLock struct{ f *os.File }

// tryLockDir takes the lock on dir if no one holds it; ok is false when
// someone does (another process, or another lock of this one).
func tryLockDir(dir string) (l *dirLock, ok bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, fmt.Errorf("spool lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("spool lock %s: %w", dir, err)
	}
	return &dirLock{f: f}, true, nil
}

// release drops the lock.
func (l *dirLock) release() {
	if l != nil {
		l.f.Close()
	}
}
