package collect

// session is what a collector remembers of one CMCD v2 session, to turn
// its absolute counters into deltas.
type session struct {
	started       bool
	bsa, bsd, dfa int64
	lastTS        int64
}

// sessionTable is a fixed-capacity map of sessions: when full, the oldest
// inserted session is forgotten. Memory is bounded whatever the sids.
type sessionTable struct {
	max   int
	m     map[string]*session
	order []string // ring of inserted sids
	next  int
}

func newSessionTable(max int) *sessionTable {
	if max < 1 {
		max = 1
	}
	return &sessionTable{max: max, m: make(map[string]*session, max), order: make([]string, 0, max)}
}

func (t *sessionTable) get(sid string) *session {
	if s := t.m[sid]; s != nil {
		return s
	}
	s := &session{}
	if len(t.order) < t.max {
		t.order = append(t.order, sid)
	} else {
		delete(t.m, t.order[t.next])
		t.order[t.next] = sid
		t.next = (t.next + 1) % t.max
	}
	t.m[sid] = s
	return s
}

func (t *sessionTable) len() int { return len(t.m) }
