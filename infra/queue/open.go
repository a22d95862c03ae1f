package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DefaultLease is the embedded queue's lease when Options.Lease is zero:
// short, so a crashed job is retried soon; workers Extend while they work.
const DefaultLease = time.Minute

// Options complete a queue URL.
type Options struct {
	// Lease is how long a received message stays invisible to others.
	// Embedded: zero means DefaultLease. SQS: zero keeps the queue's own
	// VisibilityTimeout.
	Lease time.Duration
	// Endpoint overrides the SQS endpoint URL (SQS-compatible servers);
	// ignored for file://.
	Endpoint string
	// Region overrides the configured (or URL's) region; SQS only.
	Region string
	// Credentials overrides the standard AWS credential chain; SQS only,
	// mostly for tests.
	Credentials aws.CredentialsProvider
}

// Open opens the queue a URL names:
//
//	file:///abs/dir                                   embedded, a folder (absolute)
//	file://rel/dir                                    embedded, relative to the working directory
//	sqs://name  or  sqs://account/name                SQS, URL looked up with GetQueueUrl
//	https://sqs.REGION.amazonaws.com/ACCOUNT/NAME     SQS queue URL (region taken from it)
//	http(s)://HOST:PORT/ACCOUNT/NAME                  SQS-compatible server; needs Options.Endpoint
//
// File paths are taken literally (no %-decoding).
func Open(ctx context.Context, queueURL string, opts Options) (Queue, error) {
	scheme, rest, ok := strings.Cut(queueURL, "://")
	if !ok {
		return nil, fmt.Errorf("queue: url %q: missing scheme, want file://dir, sqs://name or an SQS queue URL", queueURL)
	}
	cfg := SQSConfig{
		Endpoint:    opts.Endpoint,
		Region:      opts.Region,
		Lease:       opts.Lease,
		Credentials: opts.Credentials,
	}
	switch strings.ToLower(scheme) {
	case "file":
		dir, err := filePath(rest)
		if err != nil {
			return nil, fmt.Errorf("queue: url %q: %w", queueURL, err)
		}
		lease := opts.Lease
		if lease == 0 {
			lease = DefaultLease
		}
		return OpenDir(dir, lease)
	case "sqs":
		owner, name, err := parseSQSName(rest)
		if err != nil {
			return nil, fmt.Errorf("queue: url %q: %w", queueURL, err)
		}
		cfg.QueueName, cfg.Owner = name, owner
		return NewSQS(ctx, cfg)
	case "http", "https":
		cfg.QueueURL = queueURL
		return NewSQS(ctx, cfg)
	default:
		return nil, fmt.Errorf("queue: url %q: unknown scheme %q, want file, sqs, http or https", queueURL, scheme)
	}
}

// filePath turns what follows "file://" into a folder: "/abs" stays
// absolute, anything else is relative to the working directory.
func filePath(rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("query or fragment not supported in a file url")
	}
	if rest == "" {
		return "", errors.New("empty path")
	}
	return filepath.Clean(filepath.FromSlash(rest)), nil
}

// parseSQSName splits what follows "sqs://": "name" or "account/name".
func parseSQSName(rest string) (owner, name string, err error) {
	if strings.ContainsAny(rest, "?#@:") {
		return "", "", errors.New("want sqs://name or sqs://account/name, with endpoint and region given as options")
	}
	name = rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		owner, name = rest[:i], rest[i+1:]
		if !validPart(owner) {
			return "", "", fmt.Errorf("account %q: want letters, digits, '-' or '_'", owner)
		}
	}
	if err := validQueueName(name); err != nil {
		return "", "", err
	}
	return owner, name, nil
}

// queueURL is a checked SQS queue URL.
type queueURL struct {
	account, name string
	region        string // from an AWS host; "" for any other host
}

// awsHost matches AWS SQS endpoints: sqs.REGION.amazonaws.com (.cn in
// China), and the FIPS variant.
var awsHost = regexp.MustCompile(`^sqs(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// parseQueueURL checks an http(s)://HOST/ACCOUNT/NAME queue URL.
func parseQueueURL(s string) (queueURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return queueURL{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return queueURL{}, fmt.Errorf("scheme %q, want https (or http for a local server)", u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return queueURL{}, errors.New("want http(s)://host/account/name without user, query or fragment")
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || !validPart(account) {
		return queueURL{}, errors.New("path must be /account/name")
	}
	if err := validQueueName(name); err != nil {
		return queueURL{}, err
	}
	q := queueURL{account: account, name: name}
	if m := awsHost.FindStringSubmatch(strings.ToLower(u.Hostname())); m != nil {
		if u.Scheme != "https" {
			return queueURL{}, errors.New("AWS queue URLs are https")
		}
		q.region = m[1]
	}
	return q, nil
}

// validQueueName checks an SQS standard queue name: 1 to 80 of
// [A-Za-z0-9_-]. FIFO queues (".fifo") need a message group on every send,
// which this package does not give, so they are refused up front.
func validQueueName(name string) error {
	if strings.HasSuffix(name, ".fifo") {
		return fmt.Errorf("queue name %q: FIFO queues are not supported", name)
	}
	if len(name) > 80 || !validPart(name) {
		return fmt.Errorf("queue name %q: want 1 to 80 letters, digits, '-' or '_'", name)
	}
	return nil
}

// validPart: non-empty [A-Za-z0-9_-].
func validPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
