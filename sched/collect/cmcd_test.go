package collect

import (
	"errors"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseCMCDGood(t *testing.T) {
	cases := []struct {
		in   string
		want Report
		has  []string
	}{
		{
			in: `br=3200,bs,d=4004,mtp=25400,ot=v,rtp=15000,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",su`,
			want: Report{Version: 1, Bitrate: 3200, BufferStarvation: true, ObjectDuration: 4004, MeasuredThroughput: 25400,
				ObjectType: "v", RequestedMaxTput: 15000, SessionID: "6e2fb550-c457-11e9-bb97-0800200c9a66", Startup: true},
			has: []string{"br", "bs", "d", "mtp", "ot", "rtp", "sid", "su"},
		},
		{
			in:   `bl=21300,br=3200,cid="live/stream",d=4004,dl=18500,mtp=48100,ot=av,pr=1.08,sf=h,st=l,v=1`,
			want: Report{Version: 1, BufferLength: 21300, Bitrate: 3200, ContentID: "live/stream", ObjectDuration: 4004, Deadline: 18500, MeasuredThroughput: 48100, ObjectType: "av", PlaybackRate: 1.08, StreamFormat: "h", StreamType: "l"},
		},
		{
			in:   `e=ps,msd=1250,ltc=3400,bsa=2,bsd=1800,dfa=12,ec=("MEDIA_ERR" "NET-404"),sta=p,ts=1764638400000,sid="s1",v=2`,
			want: Report{Version: 2, Event: "ps", MediaStartDelay: 1250, Latency: 3400, StarvationCount: 2, StarvationDuration: 1800, DroppedFrames: 12, ErrorCodes: []string{"MEDIA_ERR", "NET-404"}, State: "p", Timestamp: 1764638400000, SessionID: "s1"},
		},
		{in: `com.example-x="y",bs=?0, su=?1, pr=2`, want: Report{Version: 1, Unknown: 1, Startup: true, PlaybackRate: 2}},
		{in: `sid="a\"b\\c"`, want: Report{Version: 1, SessionID: `a"b\c`}},
		{in: `ec=()`, want: Report{Version: 1, ErrorCodes: []string{}}},
		{in: `br=(3200 128;a),bl=(21300 9000),mtp=(25400),bsa=(2),nor=("a.ts"),v=2`, want: Report{Version: 2, Bitrate: 3200, BufferLength: 9000, MeasuredThroughput: 25400, StarvationCount: 2, Unknown: 1}},
		{in: `br=3200;v,su;x=?1,d=10;a="b"`, want: Report{Version: 1, Bitrate: 3200, Startup: true, ObjectDuration: 10}},
		{in: `ec=("E1";t=1 E2)`, want: Report{Version: 1, ErrorCodes: []string{"E1", "E2"}}},
		{in: ``, want: Report{Version: 1}},
	}
	for _, c := range cases {
		got, err := ParseCMCD(c.in)
		if err != nil {
			t.Errorf("ParseCMCD(%q): %v", c.in, err)
			continue
		}
		for _, k := range c.has {
			if !got.Has(k) {
				t.Errorf("ParseCMCD(%q): key %s not marked present", c.in, k)
			}
		}
		got.present = 0
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCMCD(%q)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestParseCMCDBad(t *testing.T) {
	cases := []struct {
		in   string
		want error
		why  string
	}{
		{`br=abc`, ErrMalformed, "wrong value type"},
		{`br="3200"`, ErrMalformed, "wrong value type"},
		{`sid=abc`, ErrMalformed, "wrong value type"},
		{`br=-5`, ErrMalformed, "negative"},
		{`br=1,br=2`, ErrMalformed, "duplicate"},
		{`x=1,x=2`, ErrMalformed, "duplicate"},
		{`br=1,`, ErrMalformed, "trailing comma"},
		{`sid="abc`, ErrMalformed, "unterminated"},
		{`sid="a\x"`, ErrMalformed, "bad escape"},
		{"sid=\"a\x01\"", ErrMalformed, "non-printable"},
		{`Br=1`, ErrMalformed, "lowercase"},
		{`br=1 d=2`, ErrMalformed, "expected ','"},
		{`br=1234567890123456`, ErrMalformed, "15 digits"},
		{`pr=1.2345`, ErrMalformed, "bad decimal"},
		{`ec=("a" 1)`, ErrMalformed, "strings"},
		{`br=(1 "a")`, ErrMalformed, "integers"},
		{`br=(1 -2)`, ErrMalformed, "negative"},
		{`br=()`, ErrMalformed, "empty list"},
		{`br=((1))`, ErrMalformed, "nested"},
		{`sid=("a")`, ErrMalformed, "wrong value type"},
		{`br=(1;=2)`, ErrMalformed, "key must start"},
		{`br=3200;`, ErrMalformed, "key must start"},
		{`br=3200;v=(1)`, ErrMalformed, "inner list as a parameter"},
		{`ec=("a"`, ErrMalformed, "unterminated inner list"},
		{`br=`, ErrMalformed, "missing"},
		{`bs=?2`, ErrMalformed, "boolean"},
		{`sid="` + strings.Repeat("a", MaxStringLen+1) + `"`, ErrMalformed, "longer than"},
		{strings.Repeat("br=1,", 1000), ErrTooLarge, "bytes"},
		{manyKeys(MaxKeys + 1), ErrTooLarge, "keys"},
	}
	for _, c := range cases {
		_, err := ParseCMCD(c.in)
		var pe *ParseError
		if !errors.Is(err, c.want) || !errors.As(err, &pe) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseCMCD(%.40q) = %v, want %v mentioning %q", c.in, err, c.want, c.why)
		}
	}
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "x" + strconv.Itoa(i) + "=1"
	}
	return strings.Join(keys, ",")
}

func TestParseCMCDKeyBound(t *testing.T) {
	rep, err := ParseCMCD(manyKeys(MaxKeys))
	if err != nil || rep.Unknown != MaxKeys {
		t.Fatalf("%d unknown keys: unknown=%d err=%v", MaxKeys, rep.Unknown, err)
	}
}

func TestReportFromRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/seg.ts?CMCD=br%3D3200%2Cbs%2Cot%3Dv%2Csid%3D%226e2f%22&cdn=a", nil)
	r.Header.Set("CMCD-Status", "rtp=15000")
	r.Header.Set("CMCD-Session", `cid="c1",sf=h`)
	rep, ok, err := ReportFromRequest(r)
	if err != nil || !ok {
		t.Fatalf("ReportFromRequest: ok=%v err=%v", ok, err)
	}
	if rep.Bitrate != 3200 || !rep.BufferStarvation || rep.SessionID != "6e2f" || rep.RequestedMaxTput != 15000 || rep.ContentID != "c1" || rep.StreamFormat != "h" || rep.Version != 1 {
		t.Fatalf("got %+v", rep)
	}

	r = httptest.NewRequest("GET", "/seg.ts", nil)
	if _, ok, err := ReportFromRequest(r); ok || err != nil {
		t.Fatalf("no CMCD: ok=%v err=%v", ok, err)
	}
	// The rest of the query is not ours to judge.
	r = httptest.NewRequest("GET", "/seg.ts?token=a;b&x=%zz&CMCD=bs", nil)
	if rep, ok, err := ReportFromRequest(r); !ok || err != nil || !rep.BufferStarvation {
		t.Fatalf("odd query around CMCD: ok=%v err=%v", ok, err)
	}
	for _, q := range []string{"CMCD=bs&CMCD=su", "CMCD=%zz", "CMCD=" + strings.Repeat("a", 3*MaxRecordBytes+1)} {
		r = httptest.NewRequest("GET", "/seg.ts?"+q, nil)
		if _, _, err := ReportFromRequest(r); err == nil {
			t.Fatalf("%.30s: no error", q)
		}
	}

	r = httptest.NewRequest("GET", "/seg.ts?CMCD=br%3D1", nil)
	r.Header.Set("CMCD-Object", "br=2")
	if _, _, err := ReportFromRequest(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("key in query and header: %v, want ErrMalformed", err)
	}
}

func TestParseEventBody(t *testing.T) {
	body := "e=ps,sta=s,ts=1764638400000,sid=\"s1\",v=2\n\ne=ps,sta=p,msd=900,ts=1764638400900,sid=\"s1\",v=2\r\n"
	reps, err := ParseEventBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].State != "s" || reps[1].MediaStartDelay != 900 {
		t.Fatalf("got %+v", reps)
	}
	if _, err := ParseEventBody([]byte("e=ps\nbr=x\n")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line 2: %v", err)
	}
	if _, err := ParseEventBody([]byte(strings.Repeat("v=2\n", MaxEventLines+1))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many lines: %v", err)
	}
	if _, err := ParseEventBody([]byte(strings.Repeat("a", MaxRecordBytes+10))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("long line: %v", err)
	}
	if _, err := ParseEventBody([]byte("\n\n")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty body: %v", err)
	}
}

// FuzzParseCMCD holds the parser to its contract on any input: no panic,
// an error is always a *ParseError, and a good record keeps its bounds.
func FuzzParseCMCD(f *testing.F) {
	f.Add(`br=3200,bs,d=4004,mtp=25400,ot=v,rtp=15000,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",su`)
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := ParseCMCD(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if len(rep.SessionID) > MaxStringLen || len(rep.ContentID) > MaxStringLen || len(rep.ErrorCodes) > MaxListItems {
			t.Fatalf("bounds broken: %+v", rep)
		}
		if rep.Bitrate < 0 || rep.ObjectDuration < 0 || rep.Latency < 0 || rep.MediaStartDelay < 0 || rep.PlaybackRate < 0 {
			t.Fatalf("negative value accepted: %+v", rep)
		}
	})
}

// FuzzParseEventBody: an application/cmcd body parses into at most
// MaxEventLines reports or fails with a *ParseError.
func FuzzParseEventBody(f *testing.F) {
	f.Add([]byte("e=ps,sta=p,msd=1250,sid=\"s1\",ts=1764638400000,v=2\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		reps, err := ParseEventBody(body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if len(reps) == 0 || len(reps) > MaxEventLines {
			t.Fatalf("%d reports", len(reps))
		}
	})
}
