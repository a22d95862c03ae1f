package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/queue/sqsqueue"
)

// defaultLease is the embedded queue's lease when queueOptions.Lease is zero:
// short, so a crashed job is retried soon; workers Extend while they work.
const defaultLease = time.Minute

// queueOptions complete a queue URL.
type queueOptions struct {
	// Lease is how long a received message stays invisible to others.
	// Embedded: zero means defaultLease. SQS: zero keeps the queue's own
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

// openQueue opens the queue a URL names (each backend in its own package,
// infra/queue/embedded and infra/queue/sqsqueue):
//
//	file:///abs/dir                                   embedded, a folder (absolute)
//	file://rel/dir                                    embedded, relative to the working directory
//	sqs://name  or  sqs://account/name                SQS, URL looked up with GetQueueUrl
//	https://sqs.REGION.amazonaws.com/ACCOUNT/NAME     SQS queue URL (region taken from it)
//	http(s)://HOST:PORT/ACCOUNT/NAME                  SQS-compatible server; needs queueOptions.Endpoint
//
// File paths are taken literally (no %-decoding).
func openQueue(ctx context.Context, queueURL string, opts queueOptions) (queue.Queue, error) {
	scheme, rest, ok := strings.Cut(queueURL, "://")
	if !ok {
		return nil, fmt.Errorf("queue: url %q: missing scheme, want file://dir, sqs://name or an SQS queue URL", queueURL)
	}
	cfg := sqsqueue.Config{
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
			lease = defaultLease
		}
		return embedded.Open(dir, lease)
	case "sqs":
		owner, name, err := sqsqueue.ParseName(rest)
		if err != nil {
			return nil, fmt.Errorf("queue: url %q: %w", queueURL, err)
		}
		cfg.QueueName, cfg.Owner = name, owner
		return sqsqueue.New(ctx, cfg)
	case "http", "https":
		cfg.QueueURL = queueURL
		return sqsqueue.New(ctx, cfg)
	default:
		return nil, fmt.Errorf("queue: url %q: unknown scheme %q, want file, sqs, http or https", queueURL, scheme)
	}
}
