//go:build cgo && !unix

package editor

import "os"

// mapFile reads path (no mmap here).
func mapFile(path string) ([]byte, func(), error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
