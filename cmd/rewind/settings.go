package main

import (
	"flag"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/origin/relay"
	"github.com/rewind-vod/rewind/recorder"
	"github.com/rewind-vod/rewind/retention"
	"github.com/rewind-vod/rewind/sched"
	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/vodapi"
)

// The settings of each role: the component Configs the flags bind to, plus
// the few things only cmd uses (listen and store addresses, log format).
// Defaults come from the components' DefaultConfig; the ones written here
// are for fields no component owns.

// Listen addresses by default: loopback, so a dev machine exposes nothing.
const (
	defaultHTTPAddr   = "127.0.0.1:8080"
	defaultEditorHTTP = "127.0.0.1:8082"
	defaultStoreURL   = "file://./data/store"
	defaultJobsURL    = "file://./data/jobs"
	defaultSpool      = "./data/spool"
)

// commonSettings: where the store is and how to log (every serving role).
type commonSettings struct {
	Store     string
	StoreOpts storeOptions
	LogLevel  string
	LogFormat string
}

func (c *commonSettings) bind(b *binder) {
	*c = commonSettings{Store: defaultStoreURL, LogLevel: "info", LogFormat: "text"}
	bind(b, "store", "object store: file:///abs/path, file://rel/path or s3://bucket/prefix", &c.Store)
	bind(b, "s3-endpoint", "S3 endpoint URL for S3-compatible servers (AWS_ENDPOINT_URL is honoured too)", &c.StoreOpts.Endpoint)
	bind(b, "s3-region", "S3 region (default from the AWS config, else us-east-1)", &c.StoreOpts.Region)
	bind(b, "s3-path-style", "use path-style S3 URLs (MinIO, versitygw)", &c.StoreOpts.PathStyle)
	bind(b, "log-level", "debug, info, warn or error", &c.LogLevel)
	bind(b, "log-format", "text or json", &c.LogFormat)
}

// queueSettings name the clip job queue (vodapi sends, the editor receives).
type queueSettings struct {
	URL  string
	Opts queueOptions
}

func (q *queueSettings) bind(b *binder, def string) {
	q.URL = def
	bind(b, "jobs", "clip job queue: file://dir (embedded), sqs://name or an SQS queue URL; empty: clips are off", &q.URL)
	bind(b, "sqs-endpoint", "SQS endpoint URL for SQS-compatible servers", &q.Opts.Endpoint)
	bind(b, "sqs-region", "SQS region (default from the queue URL or the AWS config)", &q.Opts.Region)
}

// bindWebhookAllow: vodapi checks webhook URLs at submit with the guard,
// the editor dials with it; a bad entry is a flag error at start.
func bindWebhookAllow(b *binder, guards ...**netguard.Guard) {
	bindParsed(b, "webhook-allow", "comma-separated CIDRs, addresses and host names (*.suffix for subdomains) webhooks may reach although internal (default: public addresses only)",
		func(s string) (*netguard.Guard, error) { return netguard.New(netguard.Config{Allow: splitList(s)}) },
		(*netguard.Guard).String, guards...)
}

// bindWarmUp binds --warm-up (dev and vodapi).
func bindWarmUp(b *binder, on *bool) {
	bind(b, "warm-up", "before serving, answer playlists of a small recording of the API's own, in a temporary folder (some tens of ms), so the first real requests do not pay a fresh process's first-use costs", on)
}

// bindReplay binds the replay API's flags to api (dev and vodapi).
func bindReplay(b *binder, api *vodapi.Config) {
	bind(b, "max-clip", "longest clip a client may ask for", &api.MaxClip)
	bind(b, "segment-base-url", "where players fetch segments: a CDN in front of the bucket (https://cdn.example), or / when the CDN serves the bucket and this API on one host; empty: served by this API under /seg", &api.SegmentBaseURL)
	bind(b, "reconnect-window", "runs closer than this join into one recording", &api.ReconnectWindow)
	bind(b, "max-window", "longest playlist window", &api.MaxWindow)
	bind(b, "cache-bytes", "replay cache budget in bytes", &api.CacheBytes)
	bind(b, "api-tokens", "comma-separated bearer tokens of app backends (Authorization: Bearer t), good for every clip; with them or --playback-secrets, clip routes need a credential", &api.APITokens)
	bind(b, "cors-origins", "origins allowed to call the API from a browser (comma-separated, * for any)", &api.CORSOrigins)
}

// bindEditor binds the clip worker's flags to ed (editor, and dev);
// leases are also the queue's visibility timeout.
func bindEditor(b *binder, ed *editor.Config, jobs *queueSettings) {
	bind(b, "editor-concurrency", "clip jobs one worker runs at once", &ed.Concurrency)
	bind(b, "editor-max-attempts", "runs of a clip job before it fails for good (a crash counts)", &ed.MaxAttempts)
	jobs.Opts.Lease = ed.Lease
	bind(b, "editor-lease", "how long a taken job stays hidden without a heartbeat (SQS visibility timeout)", &ed.Lease, &jobs.Opts.Lease)
	bind(b, "editor-retry-delay", "wait before retrying a failed job, doubling per attempt", &ed.RetryDelay)
	bind(b, "editor-work-dir", "scratch folder for segments and outputs", &ed.WorkDir)
	bind(b, "webhook-secret", "HMAC-SHA256 secret for X-Rewind-Signature on webhooks (empty: unsigned)", &ed.WebhookSecret)
	bind(b, "webhook-attempts", "deliveries tried per webhook, with backoff", &ed.WebhookAttempts)
	bind(b, "webhook-concurrency", "webhooks delivered at once, apart from the clip job slots", &ed.WebhookConcurrency)
}

// bindSnapshots binds the live snapshots' flags (editor, and dev).
func bindSnapshots(b *binder, sc *snap.Config) {
	bind(b, "snapshot-interval", "time between two JPEG snapshots of a live stream (0: no snapshots)", &sc.Interval)
	bindParsed(b, "snapshot-apps", "per-app snapshot intervals, comma-separated app=interval or app=off (default: --snapshot-interval)",
		snap.ParseApps, snap.FormatApps, &sc.Apps)
	bind(b, "snapshot-width", "snapshot width in pixels, even (0: the stream's own size)", &sc.Width)
	bind(b, "snapshot-quality", "snapshot JPEG quality, libav qscale 1 (best) to 31 (0: 4)", &sc.Quality)
}

// bindUpload binds the upload agent's flow control (origin with its
// agent inside, and rewind agent).
func bindUpload(b *binder, rec *recorder.Config) {
	bind(b, "upload-concurrency", "parallel segment uploads", &rec.UploadConcurrency)
	bind(b, "upload-retry-max", "longest wait between retries of a failed upload", &rec.RetryMax)
	bind(b, "upload-bandwidth", "upload cap in bytes per second (0: none)", &rec.BandwidthLimit)
}

// nodeSettings are the settings of the serving roles dev and origin.
type nodeSettings struct {
	commonSettings
	HTTPAddr     string
	DrainTimeout time.Duration
	AdminToken   string
	// GCPercent is the Go GC's target heap growth (GOGC) for the process
	// when the GOGC variable is not set: see defaultGCPercent.
	GCPercent int

	Recorder recorder.Config
	Origin   origin.Config
	Players  origin.PlayersConfig
	Relay    relay.Config
	// Directory reads the node registry, for node-to-node pulls (origin).
	Directory catalog.DirectoryConfig

	// dev only: the replay API, its job queue and the clip worker.
	Replay vodapi.Config
	// WarmUp runs the replay API's serving path before serving (dev).
	WarmUp bool
	Jobs   queueSettings
	Editor editor.Config
	// dev only: live snapshots, made in this process.
	Snapshots snap.Config
	// dev only: the multi-CDN scheduler, when --cdns names CDNs.
	Sched sched.Config
	// dev only: the retention sweeper (on a local store).
	Retention retention.Config
}

// newNodeSettings declares the flags of role (dev or origin) on fs.
func newNodeSettings(fs *flag.FlagSet, role string) (*nodeSettings, *binder) {
	s := &nodeSettings{
		WarmUp:       true,
		HTTPAddr:     defaultHTTPAddr,
		DrainTimeout: 30 * time.Second,
		GCPercent:    defaultGCPercent,
		Recorder:     recorder.DefaultConfig(),
		Origin:       origin.DefaultConfig(),
		Relay:        relay.DefaultConfig(),
		Players:      origin.DefaultPlayersConfig(),
		Directory:    catalog.DefaultDirectoryConfig(),
		Replay:       vodapi.DefaultConfig(),
		Editor:       editor.DefaultConfig(),
		Snapshots:    snap.DefaultConfig(),
	}
	if role == "dev" {
		s.Sched = defaultSchedConfig()
	}
	s.Recorder.Spool = defaultSpool
	b := newBinder(fs)
	s.commonSettings.bind(b)
	rec, org := &s.Recorder, &s.Origin
	bind(b, "rtmp-addr", "RTMP listen address", &org.Addr)
	bind(b, "http-addr", "HTTP listen address (health, metrics, HTTP-FLV; replay API in dev)", &s.HTTPAddr, &org.HTTPAddr)
	bind(b, "spool", "local spool directory for segments not yet in the store", &rec.Spool)
	bind(b, "node", "node name, part of every run id and storage key (other characters than [A-Za-z0-9_] become _, at most 32)", &org.Node, &s.Players.Self, &s.Directory.Self)
	segDur := []*time.Duration{&rec.SegmentDuration}
	if role == "dev" {
		segDur = append(segDur, &s.Replay.TargetDuration)
	}
	bind(b, "segment-duration", "target segment duration: cut at the first keyframe after it", segDur...)
	bind(b, "max-segment-duration", "hard maximum segment duration: a longer GOP is cut anyway (0: 3x target)", &rec.MaxSegmentDuration)
	bindParsed(b, "record-policy", "which streams are recorded: comma-separated match=on, match=on:segment-duration or match=off, match being *, an app or app/name, the most specific winning (\"live=on:4s,private=off,live/cam2=off\"); default: everything, at --segment-duration. The admin API stops and starts recording of a live stream",
		origin.ParseRecordPolicy, origin.RecordPolicy.String, &org.RecordPolicy)

	bind(b, "publish-secrets", "comma-separated HMAC secrets for signed publish URLs (empty: no signature needed)", &org.Auth.Secrets)
	bind(b, "publish-hook", "URL POSTed {app,name,query,client_addr,node} for every publish; 2xx allows", &org.Auth.HookURL)
	bind(b, "publish-hook-timeout", "publish hook timeout", &org.Auth.HookTimeout)
	bind(b, "publish-hook-fail-open", "allow publishing when the hook cannot be reached", &org.Auth.HookFailOpen)
	bind(b, "takeover", "a second publisher of a live stream: reject, or replace the first", &org.Takeover)
	bind(b, "admin-cors-origins", "web origins whose pages may call the live API from a browser (the operator console served by the replay API elsewhere; comma-separated, * for any)", &org.AdminCORSOrigins)
	bind(b, "play-merge", "live players get frames in groups of this much media time, one write each (lower CPU per player, up to this much more latency; negative: every frame at once)", &s.Players.MergeWrite)
	bind(b, "reconnect-grace", "how long live players stay connected for a publisher that dropped to come back and go on on their connections (0: none, players end with the publisher)", &s.Players.ReconnectGrace)
	bind(b, "max-conns", "maximum RTMP connections", &org.MaxConns)
	bind(b, "max-publishers", "maximum live publishers", &org.MaxPublishers)
	bind(b, "max-message-size", "maximum RTMP message size in bytes", &org.MaxMessageSize)
	bind(b, "read-timeout", "drop a connection that sends nothing for this long", &org.ReadTimeout)
	bind(b, "setup-timeout", "drop a connection that has not started a publish or play this long after connecting", &org.SetupTimeout)
	bind(b, "publish-read-pause", "after a publisher's socket is drained, wait this long before reading it again, so one read takes several messages (less CPU per stream, up to this much more live latency; negative: no wait)", &org.PublishReadPause)
	bind(b, "gc-percent", "Go GC target heap growth in percent, as GOGC (which wins when set); lower keeps RSS closer to the frames held, at some GC CPU", &s.GCPercent)
	bind(b, "max-stream-series", "live streams that get per-stream metrics (bit rate, fps); the rest are counted only", &org.MaxStreamSeries, &rec.MaxStreamSeries)

	bindUpload(b, rec)
	bind(b, "spool-limit", "spool size in bytes past which new segments are dropped (-1: none)", &rec.SpoolLimit)
	bind(b, "drain-timeout", "on SIGTERM: how long live publishers may go on, then how long the spool may take to upload", &s.DrainTimeout)
	adminToken, adminUsage := []*string{&s.AdminToken}, "bearer token for the live management API (/v1/live); empty: that API is off"
	if role == "dev" {
		adminToken = append(adminToken, &s.Replay.AdminToken)
		adminUsage = "bearer token for the admin APIs (/v1/live, deleting recordings); empty: they are off"
	}
	bind(b, "admin-token", adminUsage, adminToken...)

	bindList(b, "relay", "comma-separated re-push rules match=rtmp://host/app/name; match is *, an app or app/name; {app} and {name} are replaced",
		relay.ParseRule, relay.Rule.String, &s.Relay.Rules)
	bind(b, "relay-queue", "frames a relay target may fall behind before frames are dropped for it", &s.Relay.Queue)
	bind(b, "relay-timeout", "relay connect and send timeout", &s.Relay.Timeout)

	if role != "dev" {
		bind(b, "playback-secrets", "comma-separated HMAC secrets for signed live playback (empty: open)", &s.Players.Secrets)
		bind(b, "agent", "who uploads the spool: internal (this process), or external (a rewind agent on the same --spool; this process only slices and never writes recordings to the store)", &rec.Agent)
		// The node registry: only origins in a cluster beat.
		bind(b, "advertise-rtmp", "host:port at which proxies and other nodes reach this node's RTMP (default: --rtmp-addr when it is a concrete IP)", &org.AdvertiseRTMP)
		bind(b, "advertise-http", "host:port at which other nodes reach this node's HTTP (default: --http-addr when it is a concrete IP)", &org.AdvertiseHTTP)
		bind(b, "heartbeat-interval", "how often the node writes its heartbeat to the node registry", &org.HeartbeatInterval)
		bind(b, "recent-window", "how long an ended stream stays listed in the heartbeat, so a returning publisher is routed back here", &org.RecentWindow)
		bind(b, "node-timeout", "a node whose heartbeat is older than this is dead (for pulls from other nodes)", &s.Directory.Timeout)
		bind(b, "registry-refresh", "how often the node registry is reread", &s.Directory.Refresh)
		bind(b, "pull-linger", "how long a stream pulled from another node is kept after its last player left", &s.Players.PullLinger)
		bind(b, "pull-timeout", "how long a player waits for a stream pulled from another node to start", &s.Players.PullTimeout)
		// Only the CDNs' names and push addresses matter here: relay
		// targets at them count as their faults (rewind_qos_relay_*).
		bindParsed(b, "cdns", "the CDNs, as `rewind sched --cdns` takes them: relay targets at a CDN's push= address count as that CDN's faults for the scheduler",
			sched.ParseCDNs, sched.FormatCDNs, &s.Sched.CDNs)
		return s, b
	}
	// dev: the live players and the replay API share the playback secrets,
	// the API and the editor the public URL and the webhook guard.
	s.Jobs.bind(b, defaultJobsURL)
	bindReplay(b, &s.Replay)
	bindWarmUp(b, &s.WarmUp)
	bind(b, "playback-secrets", "comma-separated HMAC secrets for signed playback URLs, live and replay (empty: playback is open)", &s.Replay.PlaybackSecrets, &s.Players.Secrets)
	bind(b, "public-url", "the API's external base URL, for URLs in answers and webhooks (default: paths)", &s.Replay.PublicURL, &s.Editor.PublicURL)
	bindWebhookAllow(b, &s.Replay.WebhookGuard, &s.Editor.WebhookGuard)
	bindEditor(b, &s.Editor, &s.Jobs)
	bindSnapshots(b, &s.Snapshots)
	bindSched(b, &s.Sched)
	bindRetention(b, &s.Retention)
	return s, b
}

// replaySettings are the settings of `rewind vodapi`.
type replaySettings struct {
	commonSettings
	HTTPAddr string
	API      vodapi.Config
	Jobs     queueSettings
	// QoS collects the CMCD on replay requests, for the CDNs of --cdns
	// (their names: QoS.CDNs is set from them at start).
	QoS  collect.Config
	CDNs []sched.CDN
	// Retention is the sweeper of a local store.
	Retention retention.Config
	// WarmUp runs the serving path before serving (internal/replaywarm).
	WarmUp bool
}

func newReplaySettings(fs *flag.FlagSet) (*replaySettings, *binder) {
	s := &replaySettings{HTTPAddr: defaultHTTPAddr, API: vodapi.DefaultConfig(), QoS: collect.DefaultConfig(), WarmUp: true}
	b := newBinder(fs)
	s.commonSettings.bind(b)
	s.Jobs.bind(b, "")
	bind(b, "http-addr", "HTTP listen address", &s.HTTPAddr)
	bind(b, "segment-duration", "target segment duration of the recordings (for cache lifetimes)", &s.API.TargetDuration)
	bindReplay(b, &s.API)
	bindWarmUp(b, &s.WarmUp)
	bind(b, "playback-secrets", "comma-separated HMAC secrets for signed playback URLs (empty: playback is open)", &s.API.PlaybackSecrets)
	bind(b, "public-url", "the API's external base URL, for URLs in answers and webhooks (default: paths)", &s.API.PublicURL)
	bindWebhookAllow(b, &s.API.WebhookGuard)
	bindParsed(b, "cdns", "the CDNs (as `rewind sched --cdns` takes them; only their names matter here): CMCD on replay requests is collected per CDN (X-Rewind-CDN) into rewind_qos_* for Prometheus",
		sched.ParseCDNs, sched.FormatCDNs, &s.CDNs)
	bindParsed(b, "regions", "client regions, as `rewind sched --regions` takes them", sched.ParseRegions, sched.FormatRegions, &s.QoS.Regions)
	bind(b, "qos-client-ip-header", "header a trusted proxy in front puts the client address in (empty: the connection's address)", &s.QoS.ClientIPHeader)
	bind(b, "admin-token", "bearer token for the admin API (deleting recordings); empty: it is off", &s.API.AdminToken)
	bindRetention(b, &s.Retention)
	return s, b
}

// editorSettings are the settings of `rewind editor`.
type editorSettings struct {
	commonSettings
	HTTPAddr  string
	Editor    editor.Config
	Jobs      queueSettings
	Snapshots snap.Config
}

func newEditorSettings(fs *flag.FlagSet) (*editorSettings, *binder) {
	s := &editorSettings{HTTPAddr: defaultEditorHTTP, Editor: editor.DefaultConfig(), Snapshots: snap.DefaultConfig()}
	b := newBinder(fs)
	s.commonSettings.bind(b)
	s.Jobs.bind(b, defaultJobsURL)
	bind(b, "http-addr", "HTTP listen address (health, metrics)", &s.HTTPAddr)
	bind(b, "public-url", "the API's external base URL, for URLs in webhooks (default: paths)", &s.Editor.PublicURL)
	bindWebhookAllow(b, &s.Editor.WebhookGuard)
	bindEditor(b, &s.Editor, &s.Jobs)
	bindSnapshots(b, &s.Snapshots)
	return s, b
}
