//go:build !unix

package recorder

import "errors"

// dirLock needs flock(2): the spool protocol tells a dead writer by its
// dropped lock, which this system does not offer.
type dirLock struct{}

func tryLockDir(string) (*dirLock, bool, error) {
	return nil, false, errors.New("spool lock: needs flock(2), a unix system")
}

func (l *dirLock) release() {}
