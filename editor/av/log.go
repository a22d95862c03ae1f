package av

import (
	"sync"

	"github.com/asticode/go-astiav"
)

var logOnce sync.Once

// initLog keeps libav quiet: at its default level (info) every cut would
// print libx264's statistics and muxer chatter on stderr. A level the
// program chose itself is left alone; failures reach callers as errors.
func initLog() {
	logOnce.Do(func() {
		if astiav.GetLogLevel() == astiav.LogLevelInfo {
			astiav.SetLogLevel(astiav.LogLevelError)
		}
	})
}
