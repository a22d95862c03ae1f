package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/editor"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/origin/relay"
	"github.com/rewind-vod/rewind/recorder"
	"github.com/rewind-vod/rewind/retention"
	"github.com/rewind-vod/rewind/sched"
	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/vodapi"
)

// roleFlags is, per role, every flag and the settings fields it must set
// (paths into the role's settings struct). It is written out by hand, not
// derived from the binder: it is the specification the binder is held to.
var roleFlags = map[string]map[string][]string{
	"origin": originFlags(),
	"dev":    devFlags(),
	"vodapi": {
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"jobs": {"Jobs.URL"}, "sqs-endpoint": {"Jobs.Opts.Endpoint"}, "sqs-region": {"Jobs.Opts.Region"},
		"http-addr":        {"HTTPAddr"},
		"segment-duration": {"API.TargetDuration"},
		"max-clip":         {"API.MaxClip"}, "segment-base-url": {"API.SegmentBaseURL"},
		"reconnect-window": {"API.ReconnectWindow"}, "max-window": {"API.MaxWindow"}, "warm-up": {"WarmUp"},
		"cache-bytes": {"API.CacheBytes"}, "api-tokens": {"API.APITokens"}, "cors-origins": {"API.CORSOrigins"},
		"playback-secrets": {"API.PlaybackSecrets"}, "public-url": {"API.PublicURL"},
		"webhook-allow": {"API.WebhookGuard"},
		"cdns":          {"CDNs"}, "regions": {"QoS.Regions"}, "qos-client-ip-header": {"QoS.ClientIPHeader"},
		"admin-token": {"API.AdminToken"},
		"retention":   {"Retention.Rules"}, "retention-interval": {"Retention.Interval"},
	},
	"proxy": {
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"rtmp-addr": {"RTMPAddr"}, "http-addr": {"HTTPAddr"}, "drain-timeout": {"DrainTimeout"},
		"dial-timeout": {"Proxy.DialTimeout"}, "setup-timeout": {"Proxy.SetupTimeout"},
		"write-timeout": {"Proxy.WriteTimeout"}, "max-conns": {"Proxy.MaxConns"},
		"max-message-size": {"Proxy.MaxMessageSize"}, "max-attempts": {"Proxy.MaxAttempts"},
		"node-timeout": {"Directory.Timeout"}, "registry-refresh": {"Directory.Refresh"},
	},
	"agent": {
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"http-addr": {"HTTPAddr"}, "spool": {"Recorder.Spool"}, "scan-interval": {"Recorder.ScanInterval"},
		"upload-concurrency": {"Recorder.UploadConcurrency"}, "upload-retry-max": {"Recorder.RetryMax"},
		"upload-bandwidth": {"Recorder.BandwidthLimit"}, "drain-timeout": {"DrainTimeout"},
	},
	"sched": schedRoleFlags(),
	"editor": {
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"jobs": {"Jobs.URL"}, "sqs-endpoint": {"Jobs.Opts.Endpoint"}, "sqs-region": {"Jobs.Opts.Region"},
		"http-addr": {"HTTPAddr"}, "public-url": {"Editor.PublicURL"}, "webhook-allow": {"Editor.WebhookGuard"},
		"editor-concurrency": {"Editor.Concurrency"}, "editor-max-attempts": {"Editor.MaxAttempts"},
		"editor-lease": {"Editor.Lease", "Jobs.Opts.Lease"}, "editor-retry-delay": {"Editor.RetryDelay"},
		"editor-work-dir": {"Editor.WorkDir"}, "webhook-secret": {"Editor.WebhookSecret"},
		"webhook-attempts": {"Editor.WebhookAttempts"}, "webhook-concurrency": {"Editor.WebhookConcurrency"},
		"snapshot-interval": {"Snapshots.Interval"}, "snapshot-apps": {"Snapshots.Apps"},
		"snapshot-width": {"Snapshots.Width"}, "snapshot-quality": {"Snapshots.Quality"},
	},
}

func originFlags() map[string][]string {
	return map[string][]string{
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"rtmp-addr": {"Origin.Addr"}, "http-addr": {"HTTPAddr", "Origin.HTTPAddr"}, "spool": {"Recorder.Spool"},
		"node":                 {"Origin.Node", "Players.Self", "Directory.Self"},
		"segment-duration":     {"Recorder.SegmentDuration"},
		"max-segment-duration": {"Recorder.MaxSegmentDuration"},
		"record-policy":        {"Origin.RecordPolicy"},
		"publish-secrets":      {"Origin.Auth.Secrets"}, "publish-hook": {"Origin.Auth.HookURL"},
		"publish-hook-timeout": {"Origin.Auth.HookTimeout"}, "publish-hook-fail-open": {"Origin.Auth.HookFailOpen"},
		"takeover": {"Origin.Takeover"}, "reconnect-grace": {"Players.ReconnectGrace"}, "play-merge": {"Players.MergeWrite"}, "admin-cors-origins": {"Origin.AdminCORSOrigins"}, "max-conns": {"Origin.MaxConns"}, "max-publishers": {"Origin.MaxPublishers"},
		"max-message-size": {"Origin.MaxMessageSize"}, "read-timeout": {"Origin.ReadTimeout"},
		"setup-timeout":      {"Origin.SetupTimeout"},
		"publish-read-pause": {"Origin.PublishReadPause"}, "gc-percent": {"GCPercent"},
		"max-stream-series":  {"Origin.MaxStreamSeries", "Recorder.MaxStreamSeries"},
		"upload-concurrency": {"Recorder.UploadConcurrency"}, "upload-retry-max": {"Recorder.RetryMax"},
		"upload-bandwidth": {"Recorder.BandwidthLimit"}, "spool-limit": {"Recorder.SpoolLimit"},
		"drain-timeout": {"DrainTimeout"}, "admin-token": {"AdminToken"},
		"relay": {"Relay.Rules"}, "relay-queue": {"Relay.Queue"}, "relay-timeout": {"Relay.Timeout"},
		"playback-secrets": {"Players.Secrets"}, "agent": {"Recorder.Agent"},
		"advertise-rtmp": {"Origin.AdvertiseRTMP"}, "advertise-http": {"Origin.AdvertiseHTTP"},
		"heartbeat-interval": {"Origin.HeartbeatInterval"}, "recent-window": {"Origin.RecentWindow"},
		"node-timeout": {"Directory.Timeout"}, "registry-refresh": {"Directory.Refresh"},
		"pull-linger": {"Players.PullLinger"}, "pull-timeout": {"Players.PullTimeout"},
		"cdns": {"Sched.CDNs"},
	}
}

func devFlags() map[string][]string {
	m := originFlags()
	m["segment-duration"] = []string{"Recorder.SegmentDuration", "Replay.TargetDuration"}
	m["playback-secrets"] = []string{"Replay.PlaybackSecrets", "Players.Secrets"}
	for _, k := range []string{"advertise-rtmp", "advertise-http", "heartbeat-interval", "recent-window",
		"node-timeout", "registry-refresh", "pull-linger", "pull-timeout", "agent"} {
		delete(m, k) // dev is one process: no node registry, its own upload agent
	}
	for k, v := range map[string][]string{
		"jobs": {"Jobs.URL"}, "sqs-endpoint": {"Jobs.Opts.Endpoint"}, "sqs-region": {"Jobs.Opts.Region"},
		"max-clip": {"Replay.MaxClip"}, "segment-base-url": {"Replay.SegmentBaseURL"},
		"reconnect-window": {"Replay.ReconnectWindow"}, "max-window": {"Replay.MaxWindow"}, "warm-up": {"WarmUp"},
		"cache-bytes": {"Replay.CacheBytes"}, "api-tokens": {"Replay.APITokens"}, "cors-origins": {"Replay.CORSOrigins"},
		"public-url":         {"Replay.PublicURL", "Editor.PublicURL"},
		"webhook-allow":      {"Replay.WebhookGuard", "Editor.WebhookGuard"},
		"editor-concurrency": {"Editor.Concurrency"}, "editor-max-attempts": {"Editor.MaxAttempts"},
		"editor-lease": {"Editor.Lease", "Jobs.Opts.Lease"}, "editor-retry-delay": {"Editor.RetryDelay"},
		"editor-work-dir": {"Editor.WorkDir"}, "webhook-secret": {"Editor.WebhookSecret"},
		"webhook-attempts": {"Editor.WebhookAttempts"}, "webhook-concurrency": {"Editor.WebhookConcurrency"},
		"snapshot-interval": {"Snapshots.Interval"}, "snapshot-apps": {"Snapshots.Apps"},
		"snapshot-width": {"Snapshots.Width"}, "snapshot-quality": {"Snapshots.Quality"},
	} {
		m[k] = v
	}
	for k, v := range schedFlags("Sched.") {
		m[k] = v
	}
	m["admin-token"] = []string{"AdminToken", "Replay.AdminToken"}
	m["retention"] = []string{"Retention.Rules"}
	m["retention-interval"] = []string{"Retention.Interval"}
	return m
}

// schedFlags are the scheduler's flags, under prefix (the field holding
// the sched.Config).
func schedFlags(prefix string) map[string][]string {
	m := map[string][]string{
		"cdns": {"CDNs"}, "regions": {"Regions"},
		"qos-client-ip-header": {"Collect.ClientIPHeader"}, "qos-queue": {"Collect.QueueSize"}, "qos-max-streams": {"Collect.MaxStreams"},
		"prometheus-url": {"PrometheusURL"}, "prometheus-selector": {"Prometheus.Selector"},
		"prometheus-timeout": {"Prometheus.Timeout"},
		"sched-span":         {"InProcess.Span", "Prometheus.Span"},
		"sched-interval":     {"Runner.Interval", "InProcess.Interval"},
		"sched-max-age":      {"Runner.MaxAge"}, "sched-static-order": {"Policy.StaticOrder"},
		"sched-floor": {"Policy.Floor"}, "sched-cost-weight": {"Policy.CostWeight"},
		"sched-min-sessions": {"Policy.MinSessions"}, "sched-min-attempts": {"Policy.MinAttempts"},
		"sched-recover-after": {"Policy.RecoverAfter"}, "sched-min-dwell": {"Policy.MinDwell"},
		"sched-max-switches": {"Policy.MaxSwitches"}, "sched-switch-window": {"Policy.SwitchWindow"},
		"probe-interval": {"Prober.Interval"}, "probe-timeout": {"Prober.Timeout"},
		"steer-public-url": {"Steer.PublicBase"}, "steer-ttl": {"Steer.TTL"}, "steer-bandwidth": {"Steer.Bandwidth"},
	}
	for k, paths := range m {
		for i := range paths {
			paths[i] = prefix + paths[i]
		}
		m[k] = paths
	}
	return m
}

func schedRoleFlags() map[string][]string {
	m := schedFlags("Sched.")
	for k, v := range map[string][]string{
		"store": {"Store"}, "s3-endpoint": {"StoreOpts.Endpoint"}, "s3-region": {"StoreOpts.Region"},
		"s3-path-style": {"StoreOpts.PathStyle"}, "log-level": {"LogLevel"}, "log-format": {"LogFormat"},
		"http-addr": {"HTTPAddr"}, "admin-token": {"AdminToken"},
	} {
		m[k] = v
	}
	return m
}

// newRoleSettings makes the settings of role exactly as the role does.
func newRoleSettings(fs *flag.FlagSet, role string) (any, *binder) {
	switch role {
	case "dev", "origin":
		return newNodeSettings(fs, role)
	case "vodapi":
		return newReplaySettings(fs)
	case "editor":
		return newEditorSettings(fs)
	case "proxy":
		return newProxySettings(fs)
	case "agent":
		return newAgentSettings(fs)
	case "sched":
		return newSchedSettings(fs)
	}
	panic(role)
}

// sentinel is a value for a flag of the field cur, distinct per flag (n)
// and from every default (a bool: the opposite of cur's), with how the
// field must read after it.
func sentinel(cur reflect.Value, n int) (arg string, want func(v reflect.Value) error) {
	t := cur.Type()
	eq := func(x any) func(reflect.Value) error {
		return func(v reflect.Value) error {
			if !reflect.DeepEqual(v.Interface(), x) {
				return fmt.Errorf("holds %v, want %v", v.Interface(), x)
			}
			return nil
		}
	}
	switch t {
	case reflect.TypeFor[string]():
		s := fmt.Sprintf("value-%d", n)
		return s, eq(s)
	case reflect.TypeFor[bool]():
		return fmt.Sprint(!cur.Bool()), eq(!cur.Bool())
	case reflect.TypeFor[int]():
		return fmt.Sprint(7000 + n), eq(7000 + n)
	case reflect.TypeFor[int64]():
		return fmt.Sprint(9000 + n), eq(int64(9000 + n))
	case reflect.TypeFor[float64]():
		return fmt.Sprint(0.25 + float64(n)), eq(0.25 + float64(n))
	case reflect.TypeFor[[]sched.CDN]():
		c := sched.CDN{Name: fmt.Sprintf("cdn-%d", n), HLSBase: "https://cdn.example", Billing: policy.Billing{Model: policy.P95, PricePerMbps: 2, CommitMbps: float64(n)}}
		return sched.FormatCDNs([]sched.CDN{c}), eq([]sched.CDN{c})
	case reflect.TypeFor[map[netip.Prefix]string]():
		m := map[netip.Prefix]string{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", n)): "eu"}
		return sched.FormatRegions(m), eq(m)
	case reflect.TypeFor[map[string]time.Duration]():
		m := map[string]time.Duration{fmt.Sprintf("app%d", n): time.Duration(n+1) * time.Second}
		return snap.FormatApps(m), eq(m)
	case reflect.TypeFor[retention.Rules]():
		r := retention.Rules{fmt.Sprintf("app%d", n): time.Duration(n+1) * 24 * time.Hour}
		return r.String(), eq(r)
	case reflect.TypeFor[time.Duration]():
		d := time.Duration(n+1)*time.Second + 7*time.Millisecond
		return d.String(), eq(d)
	case reflect.TypeFor[[]string]():
		l := []string{fmt.Sprintf("a%d", n), "b"}
		return strings.Join(l, ", "), eq(l)
	case reflect.TypeFor[*netguard.Guard]():
		return "10.9.0.0/16", func(v reflect.Value) error {
			g, _ := v.Interface().(*netguard.Guard)
			if g == nil || g.CheckURL("http://10.9.1.1/") != nil || g.CheckURL("http://10.8.1.1/") == nil {
				return fmt.Errorf("guard %v does not allow exactly 10.9.0.0/16", g)
			}
			return nil
		}
	case reflect.TypeFor[origin.RecordPolicy]():
		p := origin.RecordPolicy{{Match: "live", Record: true, SegmentDuration: time.Duration(n+1) * time.Second}, {Match: "live/cam2", Record: false}}
		return p.String(), eq(p)
	case reflect.TypeFor[[]relay.Rule]():
		r := relay.Rule{Match: "live", Target: fmt.Sprintf("rtmp://cdn%d.example/app/{name}", n)}
		return r.Match + "=" + r.Target, eq([]relay.Rule{r})
	}
	panic("no sentinel for " + t.String())
}

// field is the settings field at path ("Origin.Auth.Secrets").
func field(settings any, path string) reflect.Value {
	v := reflect.ValueOf(settings).Elem()
	for _, name := range strings.Split(path, ".") {
		v = v.FieldByName(name)
		if !v.IsValid() {
			return v
		}
	}
	return v
}

// snapshot deep-copies the settings, to see which fields a flag changed.
func snapshot(settings any) reflect.Value {
	c := reflect.New(reflect.TypeOf(settings).Elem())
	c.Elem().Set(reflect.ValueOf(settings).Elem())
	return c
}

// changedFields lists the leaf paths where a and b differ.
func changedFields(a, b reflect.Value, path string, out *[]string) {
	if a.Kind() == reflect.Struct && a.Type().PkgPath() != "github.com/rewind-vod/rewind/infra/netguard" {
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if f.Anonymous { // commonSettings: its fields are promoted
				changedFields(a.Field(i), b.Field(i), path, out)
				continue
			}
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			changedFields(a.Field(i), b.Field(i), p, out)
		}
		return
	}
	if a.CanInterface() && !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, path)
	}
}

// Every flag of every role sets the fields it names (through the same
// parseFlags the binary runs, from the command line and from REWIND_*),
// and no other field: a flag that reaches one component but not the
// other, or the wrong field, fails here.
func TestEveryFlagReachesItsFields(t *testing.T) {
	for role, flags := range roleFlags {
		fs := flag.NewFlagSet(role, flag.ContinueOnError)
		newRoleSettings(fs, role)
		var declared []string
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "config" {
				declared = append(declared, f.Name)
			}
		})
		var listed []string
		for name := range flags {
			listed = append(listed, name)
		}
		slices.Sort(declared)
		slices.Sort(listed)
		if !slices.Equal(declared, listed) {
			t.Errorf("%s: flags declared %v, the table lists %v", role, declared, listed)
		}

		n := 0
		for name, paths := range flags {
			n++
			for _, viaEnv := range []bool{false, true} {
				fs := flag.NewFlagSet(role, flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				settings, b := newRoleSettings(fs, role)
				before := snapshot(settings)
				targets := b.targets[name]
				if len(targets) == 0 {
					t.Errorf("%s --%s: bound to no field", role, name)
					continue
				}
				arg, want := sentinel(targets[0].Elem(), n)
				var args []string
				if viaEnv {
					t.Setenv(envName(name), arg)
				} else {
					args = []string{"--" + name + "=" + arg}
				}
				err := parseFlags(fs, args)
				if viaEnv {
					os.Unsetenv(envName(name)) // t.Setenv's cleanup restores it at the end
				}
				if err != nil {
					t.Errorf("%s --%s=%s: %v", role, name, arg, err)
					continue
				}
				for _, p := range paths {
					v := field(settings, p)
					if !v.IsValid() {
						t.Errorf("%s --%s: no field %s", role, name, p)
						continue
					}
					if err := want(v); err != nil {
						t.Errorf("%s --%s (env %v): %s %v", role, name, viaEnv, p, err)
					}
				}
				var changed []string
				changedFields(before.Elem(), reflect.ValueOf(settings).Elem(), "", &changed)
				slices.Sort(changed)
				wantChanged := slices.Clone(paths)
				slices.Sort(wantChanged)
				if !slices.Equal(changed, wantChanged) {
					t.Errorf("%s --%s changed %v, want exactly %v", role, name, changed, wantChanged)
				}
			}
		}
	}
}

// With no flags, every component starts from its own DefaultConfig, which
// is also what its New gives zero fields: the defaults are written once.
func TestSettingsDefaultsAreTheComponents(t *testing.T) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	s, _ := newNodeSettings(fs, "dev")
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	wantRec := recorder.DefaultConfig()
	wantRec.Spool = defaultSpool
	if !reflect.DeepEqual(s.Recorder, wantRec) {
		t.Errorf("recorder settings %+v, want %+v", s.Recorder, wantRec)
	}
	wantOrg := origin.DefaultConfig()
	wantOrg.HTTPAddr = defaultHTTPAddr
	if !reflect.DeepEqual(s.Origin, wantOrg) {
		t.Errorf("origin settings %+v, want %+v", s.Origin, wantOrg)
	}
	if !reflect.DeepEqual(s.Replay, vodapi.DefaultConfig()) {
		t.Errorf("replay settings %+v, want %+v", s.Replay, vodapi.DefaultConfig())
	}
	if !reflect.DeepEqual(s.Players, origin.DefaultPlayersConfig()) {
		t.Errorf("players settings %+v, want %+v", s.Players, origin.DefaultPlayersConfig())
	}
	if !reflect.DeepEqual(s.Editor, editor.DefaultConfig()) {
		t.Errorf("editor settings %+v, want %+v", s.Editor, editor.DefaultConfig())
	}
	if s.Jobs.Opts.Lease != s.Editor.Lease {
		t.Errorf("queue lease %v, editor lease %v", s.Jobs.Opts.Lease, s.Editor.Lease)
	}
	// A flag that feeds two components shows one default: theirs agree.
	if s.Origin.MaxStreamSeries != s.Recorder.MaxStreamSeries {
		t.Errorf("max-stream-series defaults differ: origin %d, recorder %d", s.Origin.MaxStreamSeries, s.Recorder.MaxStreamSeries)
	}
	if s.Recorder.SegmentDuration != s.Replay.TargetDuration {
		t.Errorf("segment-duration defaults differ: recorder %v, replay %v", s.Recorder.SegmentDuration, s.Replay.TargetDuration)
	}
	if f := fs.Lookup("max-conns"); f.DefValue != fmt.Sprint(origin.DefaultMaxConns) {
		t.Errorf("--max-conns shows default %s", f.DefValue)
	}
}

// --record-policy reads from the YAML file (a list or one string), from
// REWIND_RECORD_POLICY and the command line, and a bad policy stops the
// start with the rule at fault.
func TestSettingsRecordPolicy(t *testing.T) {
	want := origin.RecordPolicy{
		{Match: "live", Record: true, SegmentDuration: 4 * time.Second},
		{Match: "private", Record: false},
		{Match: "live/cam2", Record: false},
	}
	cfg := filepath.Join(t.TempDir(), "rewind.yaml")
	os.WriteFile(cfg, []byte("record-policy: [live=on:4s, private=off, live/cam2=off]\n"), 0o644)
	for name, c := range map[string]struct {
		args []string
		env  string
	}{
		"yaml":         {args: []string{"--config", cfg}},
		"env":          {env: "live=on:4s,private=off,live/cam2=off"},
		"command line": {args: []string{"--record-policy", "live=on:4s, private=off, live/cam2=off"}},
	} {
		if c.env != "" {
			t.Setenv("REWIND_RECORD_POLICY", c.env)
		}
		for _, role := range []string{"origin", "dev"} {
			fs := flag.NewFlagSet(role, flag.ContinueOnError)
			f, _ := newNodeSettings(fs, role)
			if err := parseFlags(fs, c.args); err != nil {
				t.Fatalf("%s %s: %v", name, role, err)
			}
			if !reflect.DeepEqual(f.Origin.RecordPolicy, want) {
				t.Errorf("%s %s: %+v, want %+v", name, role, f.Origin.RecordPolicy, want)
			}
		}
		os.Unsetenv("REWIND_RECORD_POLICY")
	}
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	newNodeSettings(fs, "origin")
	err := parseFlags(fs, []string{"--record-policy", "live=on:4s,private=sometimes"})
	if err == nil || !strings.Contains(err.Error(), `"private=sometimes"`) || !strings.Contains(err.Error(), "record-policy") {
		t.Errorf("bad policy: %v", err)
	}
}
