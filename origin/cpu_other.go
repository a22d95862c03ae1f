//go:build !unix

package origin

import "time"

// processCPU has no getrusage to read here; the heartbeat reports 0 cores.
func processCPU() (time.Duration, bool) { return 0, false }
