package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/queue/sqsqueue"
	"github.com/rewind-vod/rewind/internal/sqstest"
)

// isolateAWS keeps the machine's AWS settings out of a test.
func isolateAWS(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for _, kv := range [][2]string{
		{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", ""}, {"AWS_PROFILE", ""},
		{"AWS_ENDPOINT_URL", ""}, {"AWS_ENDPOINT_URL_SQS", ""},
		{"AWS_CONFIG_FILE", none}, {"AWS_SHARED_CREDENTIALS_FILE", none},
		{"AWS_EC2_METADATA_DISABLED", "true"},
	} {
		t.Setenv(kv[0], kv[1])
	}
}

var dummyCreds = credentials.NewStaticCredentialsProvider("AK", "SK", "")

func TestOpenQueueFile(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "q")
	q, err := openQueue(ctx, "file://"+abs, queueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	e, ok := q.(*embedded.Queue)
	if !ok || e.Dir() != abs {
		t.Fatalf("file:///abs opened %T at %v", q, e)
	}

	wd := t.TempDir()
	t.Chdir(wd)
	q2, err := openQueue(ctx, "file://data/queue", queueOptions{Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if got := q2.(*embedded.Queue).Dir(); got != filepath.Join(wd, "data", "queue") {
		t.Errorf("file://data/queue is %s", got)
	}
	if _, err := os.Stat(filepath.Join(wd, "data", "queue")); err != nil {
		t.Error(err)
	}
}

func TestOpenSQSURL(t *testing.T) {
	isolateAWS(t)
	q, err := openQueue(ctx, "https://sqs.eu-west-1.amazonaws.com/123456789012/rewind-clips", queueOptions{Credentials: dummyCreds})
	if err != nil {
		t.Fatal(err)
	}
	s := q.(*sqsqueue.Queue)
	if s.URL() != "https://sqs.eu-west-1.amazonaws.com/123456789012/rewind-clips" {
		t.Errorf("URL() = %s", s.URL())
	}
	if r := s.Client().Options().Region; r != "eu-west-1" {
		t.Errorf("region %q, want eu-west-1 from the URL", r)
	}
	// An explicit region wins over the URL's.
	q, err = openQueue(ctx, "https://sqs.eu-west-1.amazonaws.com/123456789012/rewind-clips", queueOptions{Region: "us-west-2", Credentials: dummyCreds})
	if err != nil {
		t.Fatal(err)
	}
	if r := q.(*sqsqueue.Queue).Client().Options().Region; r != "us-west-2" {
		t.Errorf("region %q, want the option's us-west-2", r)
	}
	// A local server's URL works with an endpoint, and only with one.
	local := "http://127.0.0.1:4100/100010001000/jobs"
	if _, err := openQueue(ctx, local, queueOptions{Credentials: dummyCreds}); err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Errorf("local URL without endpoint: %v, want an error naming the endpoint option", err)
	}
	q, err = openQueue(ctx, local, queueOptions{Endpoint: "http://127.0.0.1:4100", Credentials: dummyCreds})
	if err != nil {
		t.Fatal(err)
	}
	if r := q.(*sqsqueue.Queue).Client().Options().Region; r != "us-east-1" {
		t.Errorf("default region %q", r)
	}
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4100")
	if _, err := openQueue(ctx, local, queueOptions{Credentials: dummyCreds}); err != nil {
		t.Errorf("local URL with AWS_ENDPOINT_URL_SQS: %v", err)
	}
}

func TestOpenQueueErrors(t *testing.T) {
	isolateAWS(t)
	for _, u := range []string{
		"",
		"/abs/path",
		"data/queue",
		"file://",
		"file:///tmp/q?x=1",
		"ftp://host/a/b",
		"s3://bucket/prefix",
		"sqs://",
		"sqs://a/b/c",
		"sqs://name?region=x",
		"sqs://jobs.fifo",
		"sqs://" + strings.Repeat("n", 81),
		"https://sqs.us-east-1.amazonaws.com/",
		"https://sqs.us-east-1.amazonaws.com/123456789012",
		"https://sqs.us-east-1.amazonaws.com/123456789012/",
		"https://sqs.us-east-1.amazonaws.com/123456789012/jobs/extra",
		"https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo",
		"https://sqs.us-east-1.amazonaws.com/123456789012/jobs?Action=x",
		"https://user:pw@sqs.us-east-1.amazonaws.com/123456789012/jobs",
		"http://sqs.us-east-1.amazonaws.com/123456789012/jobs",
		"https://sqs.us-east-1.amazonaws.com/../jobs",
	} {
		q, err := openQueue(ctx, u, queueOptions{Credentials: dummyCreds, Endpoint: "http://127.0.0.1:9"})
		if err == nil {
			_ = q.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "queue: ") || !strings.Contains(err.Error(), u) {
			t.Errorf("Open(%q): error %q should start with \"queue: \" and quote the url", u, err)
		}
	}
	if _, err := sqsqueue.New(ctx, sqsqueue.Config{}); err == nil {
		t.Error("NewSQS without a queue succeeded")
	}
	if _, err := sqsqueue.New(ctx, sqsqueue.Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", Lease: 13 * time.Hour}); err == nil {
		t.Error("a 13 h lease was accepted")
	}
}

// TestOpenSQSName resolves sqs://name on a real server, with and without
// the owner account, and works through the queue it found.
func TestOpenSQSName(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	url := srv.NewQueue(t, 30*time.Second)
	name := url[strings.LastIndexByte(url, '/')+1:]
	for _, u := range []string{"sqs://" + name, "sqs://" + sqstest.Account + "/" + name, url} {
		q, err := openQueue(ctx, u, sqsOptions(srv))
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if got := q.(*sqsqueue.Queue).URL(); got != url {
			t.Errorf("Open(%s) found %s, want %s", u, got, url)
		}
		id, err := q.Send(ctx, []byte("via "+u))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 1, 2*time.Second)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive via %s: %v %v", u, msgs, err)
		}
		m := msgs[0]
		if m.ID != id {
			t.Errorf("received %s, sent %s", m.ID, id)
		}
		if err := q.Delete(ctx, m); err != nil {
			t.Error(err)
		}
		_ = q.Close()
	}
	if _, err := openQueue(ctx, "sqs://no-such-queue", sqsOptions(srv)); err == nil || !strings.Contains(err.Error(), "no-such-queue") {
		t.Errorf("missing queue: %v", err)
	}
}

// TestSQSServerDown: a dead endpoint is an error, promptly, not a hang.
func TestSQSServerDown(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	q := srv.Queue(t, time.Second)
	srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := q.Send(cctx, []byte("x"))
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "queue: send: ") {
		t.Errorf("send to a stopped server: %v", err)
	}
}

// sqsOptions reach the test server srv.
var ctx = context.Background()

func sqsOptions(srv *sqstest.Server) queueOptions {
	return queueOptions{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()}
}
