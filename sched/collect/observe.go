package collect

import "time"

// maxGapMS bounds the watched time one CMCD v2 report may add from the gap
// to the session's previous one: a longer gap is a pause or a new visit,
// not watching.
const maxGapMS = 5 * 60 * 1000

// Bounds past which a CMCD v1 object's br x d is not counted as bytes: a
// media object over 10 Gbit/s or longer than an hour is a player bug, and
// the product must not overflow.
const (
	maxObjectKbps = 10_000_000
	maxObjectMS   = 60 * 60 * 1000
)

// AddBeacon folds one validated beacon into the aggregates: player events
// under (cdn, region), the push section under (push CDN, region).
func (a *Aggregator) AddBeacon(l *Labels, region string, b *Beacon) {
	o := Observation{CDN: l.CDN(b.CDN), Region: region, Stream: b.Stream}
	for _, e := range b.Events {
		switch e.T {
		case "start":
			o.FirstFrame = append(o.FirstFrame, time.Duration(*e.FirstFrameMS)*time.Millisecond)
		case "stall":
			o.Stalls++
			o.StalledMS += *e.DurationMS
		case "error":
			o.Errors++
		case "latency":
			o.Latency = append(o.Latency, time.Duration(*e.MS)*time.Millisecond)
		case "dropped":
			o.DroppedFrames += *e.Frames
		case "heartbeat":
			o.WatchedMS += *e.WatchedMS
			if e.Bytes != nil {
				o.Bytes += *e.Bytes
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(b.Events) > 0 {
		a.addLocked(o)
	}
	if p := b.Push; p != nil {
		cdn := p.CDN
		if cdn == "" {
			cdn = b.CDN
		}
		a.addLocked(Observation{CDN: l.CDN(cdn), Region: region,
			PushPublishErrors: p.PublishErrors, PushDroppedFrames: p.FramesDropped, PushFrames: p.FramesSent})
	}
}

// AddCMCD folds CMCD records of one request (or one application/cmcd
// body) into the aggregates of (cdn, region).
//
// CMCD v1 request data: bs (a starvation since the previous request) is a
// stall; d of a media object carrying video (ot=v or av) is counted as
// watched time, since a player fetches about as much media as it plays;
// br x d of a media object (ot=a, v or av) is its size, br*1000/8 bytes a
// second for d ms, counted as bytes the CDN delivered (the bitrate is the
// encoded one, so this is the object's nominal size, not the bytes on the
// wire with their headers and retries).
// CMCD v2 event data: msd is the first-frame time (once per session), ltc
// a latency sample, ec the errors; bsa, bsd and dfa are absolute for the
// session, so they are turned into deltas against the last value seen for
// that sid, and the gap between two reports' ts is watched time. That
// session memory is bounded (Config.MaxSessions, oldest evicted); a
// session whose reports reach another collector replica is counted there
// from its absolute values again.
func (a *Aggregator) AddCMCD(cdn, region string, reps []Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Each report is counted against its own stream (cid), then all of
	// them together against (cdn, region).
	o := Observation{CDN: cdn, Region: region}
	for i := range reps {
		one := Observation{CDN: cdn, Region: region, Stream: reps[i].ContentID}
		a.cmcdLocked(&one, &reps[i])
		a.addStreamLocked(&one)
		o.merge(one)
	}
	a.addLocked(o)
}

func (a *Aggregator) cmcdLocked(o *Observation, r *Report) {
	if r.BufferStarvation {
		o.Stalls++
	}
	if r.Has("d") && (r.ObjectType == "v" || r.ObjectType == "av") {
		o.WatchedMS += r.ObjectDuration
	}
	// No ot with br and d is a media segment too: hls.js 1.7.4 leaves ot
	// out when the variant has no CODECS (the steered playlist's variants
	// have none), and sends d only for segments.
	if r.Has("br") && r.Has("d") && !r.Has("e") && (r.ObjectType == "" || mediaObject(r.ObjectType)) &&
		r.Bitrate <= maxObjectKbps && r.ObjectDuration <= maxObjectMS {
		o.Bytes += r.Bitrate * r.ObjectDuration / 8
	}
	if r.Has("ltc") {
		o.Latency = append(o.Latency, time.Duration(r.Latency)*time.Millisecond)
	}
	o.Errors += int64(len(r.ErrorCodes))

	absolute := r.Has("bsa") || r.Has("bsd") || r.Has("dfa") || r.Has("msd") || r.Has("ts")
	if !absolute {
		return
	}
	var s *session
	if r.SessionID != "" {
		s = a.sessions.get(r.SessionID)
	} else {
		s = &session{} // no sid: take the values as they come
	}
	if r.Has("msd") && !s.started {
		s.started = true
		o.FirstFrame = append(o.FirstFrame, time.Duration(r.MediaStartDelay)*time.Millisecond)
	}
	if r.Has("bsa") {
		o.Stalls += delta(&s.bsa, r.StarvationCount)
	}
	if r.Has("bsd") {
		o.StalledMS += delta(&s.bsd, r.StarvationDuration)
	}
	if r.Has("dfa") {
		o.DroppedFrames += delta(&s.dfa, r.DroppedFrames)
	}
	if r.Has("ts") {
		if gap := r.Timestamp - s.lastTS; s.lastTS > 0 && gap > 0 && gap <= maxGapMS {
			o.WatchedMS += gap
		}
		if r.Timestamp > s.lastTS {
			s.lastTS = r.Timestamp
		}
	}
}

// mediaObject: audio, video or both (not a manifest, init segment, key,
// caption or other object).
func mediaObject(ot string) bool { return ot == "a" || ot == "v" || ot == "av" }

// delta moves *last to v and returns how much it grew; a value that went
// down (a player restart) is not a negative count.
func delta(last *int64, v int64) int64 {
	d := v - *last
	if v > *last {
		*last = v
	}
	if d < 0 {
		return 0
	}
	return d
}
