package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/rewind-vod/rewind/sched/policy"
)

// MaxText bounds who and why, in characters.
const MaxText = 200

// OverrideRequest is the body of POST /v1/sched/overrides. Region "" is
// every region (a global override).
type OverrideRequest struct {
	Action string `json:"action"` // policy.ActionDisable, ActionPin or ActionClear
	CDN    string `json:"cdn"`
	Region string `json:"region"`
	Who    string `json:"who"`
	Why    string `json:"why"`
}

// ParseOverride reads one OverrideRequest: a single JSON object with no
// unknown field, a known action, a CDN, and who and why of 1..MaxText
// printable characters. Whether the CDN and region are configured is the
// engine's to say. An error from r (such as http.MaxBytesReader's) is
// wrapped, not replaced.
func ParseOverride(r io.Reader) (OverrideRequest, error) {
	var req OverrideRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return req, errors.New("admin: empty body; want a JSON object with action, cdn, region, who, why")
		}
		return req, fmt.Errorf("admin: override body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil && !isSyntax(err) {
			return req, fmt.Errorf("admin: override body: %w", err)
		}
		return req, errors.New("admin: override body: one JSON object only")
	}
	switch req.Action {
	case policy.ActionDisable, policy.ActionPin, policy.ActionClear:
	default:
		return req, fmt.Errorf("admin: action %q: want %q, %q or %q", req.Action, policy.ActionDisable, policy.ActionPin, policy.ActionClear)
	}
	if req.CDN == "" {
		return req, errors.New("admin: cdn is required")
	}
	for _, f := range []struct{ name, v string }{{"who", req.Who}, {"why", req.Why}} {
		if err := checkText(f.v); err != nil {
			return req, fmt.Errorf("admin: %s: %w", f.name, err)
		}
	}
	return req, nil
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// checkText holds who and why to what an audit log can show on one line.
func checkText(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxText {
		return fmt.Errorf("%d characters, at most %d", n, MaxText)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("character %U is not printable", c)
		}
	}
	return nil
}
