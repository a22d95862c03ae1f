package origin

import "time"

// cpuMeter turns the process's CPU time into cores busy over the last
// measuring period, for the heartbeat's load.
type cpuMeter struct {
	last   time.Duration // process CPU time at the last sample
	lastAt time.Time
	cores  float64
}

// sample returns the cores busy from the previous sample to now. When the
// previous sample is younger than minPeriod (a beat brought forward by a
// publish), the last figure stands: a short window is mostly noise.
func (m *cpuMeter) sample(now time.Time, minPeriod time.Duration) float64 {
	cpu, ok := processCPU()
	if !ok {
		return 0
	}
	if m.lastAt.IsZero() {
		m.last, m.lastAt = cpu, now
		return 0
	}
	el := now.Sub(m.lastAt)
	if el < minPeriod || el <= 0 {
		return m.cores
	}
	m.cores = max(0, (cpu-m.last).Seconds()/el.Seconds())
	m.last, m.lastAt = cpu, now
	return m.cores
}
