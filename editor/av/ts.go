package av

import (
	"time"

	"github.com/asticode/go-astiav"
)

// All cut arithmetic is done in 90 kHz ticks, MPEG-TS's own clock, so input
// timestamps convert without rounding.
const tickHz = 90000

var tb90k = astiav.NewRational(1, tickHz)

// ticks converts a duration to 90 kHz ticks.
func ticks(d time.Duration) int64 {
	// 1e9 ns = 90000 ticks, i.e. 100000 ns = 9 ticks; split to avoid overflow.
	n := int64(d)
	return n/100000*9 + n%100000*9/100000
}

// duration converts 90 kHz ticks to a duration.
func duration(t int64) time.Duration {
	return time.Duration(t/9*100000 + t%9*100000/9)
}

// to90k rescales v from tb to 90 kHz, keeping "no value" as is.
func to90k(v int64, tb astiav.Rational) int64 {
	if v == astiav.NoPtsValue {
		return v
	}
	return astiav.RescaleQ(v, tb, tb90k)
}

// from90k rescales v from 90 kHz to tb.
func from90k(v int64, tb astiav.Rational) int64 {
	if v == astiav.NoPtsValue {
		return v
	}
	return astiav.RescaleQ(v, tb90k, tb)
}
