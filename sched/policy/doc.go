// Package policy is the scheduler's decision: from measured quality
// (qos.Window per CDN and region), billing and the operator's overrides,
// the order in which each region's sessions should use the CDNs. It is
// pure and deterministic given its inputs and the times passed in: no
// HTTP, no store, no clock of its own.
//
// # Scores
//
// Each item (first_frame, stall_rate, stalled_ratio, error_rate, latency,
// dropped_frames, relay_faults for viewers; push_drop_rate,
// push_error_rate, relay_faults for streamers) scores
//
//	score = 100                              if v <= Good
//	        0                                if v >= Bad
//	        100 × (Bad − v) / (Bad − Good)   otherwise
//
// An item with too little data in the (CDN, region) (fewer than
// MinSessions sessions or attempts, MinWatchedSeconds watched,
// MinPushFrames pushed, no latency sample) takes the CDN's aggregate over
// all regions; if that is too little too it is unknown and counts
// nowhere. composite = Σ weight×score / Σ weight over the known items
// (NeutralScore when none is known); worst = the known item with the
// lowest score.
//
// # Choice
//
// Per region, for each order (pull for viewers, push for streamers):
//
//	candidates = configured CDNs that are not disabled, not failed, and
//	             whose worst item scores at least Floor
//	costScore  = 100 × marginal / max(marginal over the candidates)
//	             (0 when that max is 0; capped at 100 for the excluded)
//	value      = composite − CostWeight × costScore
//
// The order is the candidates by value descending (ties: composite
// descending, then CDN name), then the excluded (failed or below the
// floor) in the same order; disabled CDNs are left out. marginal is the
// meter's cost of one more GB through the CDN now (Meter.Marginal); the
// push order does not weigh cost (CostWeight 0 there).
//
// # Failover and switching
//
// A (CDN, region) fails at once when one window crosses a Fail limit:
// error rate, dropped frames per minute, relay faults per minute; for
// push, push drop rate, publish errors per minute, relay faults; or fails
// outright: MinAttempts errors with no session (publish errors with no
// frame pushed), or probes failing with none passing. It recovers only
// once every value has stayed below its (lower) Recover limit for
// RecoverAfter.
//
// The first CDN of an order changes at once when it becomes failed,
// disabled or below the floor and a candidate exists (urgent). Any other
// change of the first CDN needs MinDwell since the region's last switch,
// a value at least SwitchMargin above the current first's, and fewer than
// MaxSwitches switches in the region within SwitchWindow; until then the
// current first stays first and the rest follow in rank. A pin puts its
// CDN first (unless disabled) over all of this. Every switch is logged,
// kept in the switch log and counted in rewind_sched_switches_total
// (rewind_sched_push_switches_total for push).
//
// # Degradation
//
// Before any snapshot, and while the source is Missing, the orders are the
// StaticOrder (overrides applied); while it is Stale, the last computed
// orders stay.
package policy
