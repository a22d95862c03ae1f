// Package sqstest runs a real SQS-compatible server (goaws) for tests, so
// the SQS code paths are exercised against a wire-level SQS API.
//
// goaws v0.4.4 speaks only the query protocol (form-encoded requests, XML
// answers), while aws-sdk-go-v2's SQS client speaks only AWS JSON 1.0
// (since service/sqs v1.28). Start therefore puts a small in-process front
// before it that rewrites one protocol into the other, field for field and
// nothing more (see front.go): queue behaviour (leases, long polling,
// receive counts) is goaws's own.
package sqstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rewind-vod/rewind/infra/queue/sqsqueue"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// EnvBinary names the environment variable that overrides the goaws path.
const EnvBinary = "REWIND_GOAWS"

// Account is the account ID goaws puts in queue URLs.
const Account = "100010001000"

const startTimeout = 15 * time.Second

// Server is a running goaws behind its JSON-protocol front.
type Server struct {
	// Endpoint is where SDK clients send requests (the front).
	Endpoint string
	Region   string

	t       testing.TB
	bin     string
	dir     string // config and working folder
	backend string // goaws itself: http://127.0.0.1:PORT

	mu    sync.Mutex
	proc  *testproc.Proc // nil while stopped
	front *httptest.Server
	fwd   *http.Transport
}

// Start runs goaws on a free local port and its front on another; both are
// stopped when the test ends. A missing binary fails the test: SQS coverage
// must not silently disappear.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("goaws not found: run `make deps` to build it into .tools/bin, or set $%s (%v)", EnvBinary, err)
	}
	s := &Server{Region: "us-east-1", t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)

	// The port is picked then released; another process may grab it before
	// goaws binds, so retry with a new one.
	for attempt := 1; ; attempt++ {
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("sqstest: %v", err)
		}
	}
	s.fwd = &http.Transport{MaxIdleConnsPerHost: 16}
	f := &front{backend: s.backend, client: &http.Client{Transport: s.fwd}}
	s.front = httptest.NewUnstartedServer(f)
	f.public = "http://" + s.front.Listener.Addr().String()
	s.front.Start()
	s.Endpoint = f.public
	return s
}

// config is goaws's YAML configuration: one environment, no queues (tests
// create their own), queue URLs on 127.0.0.1 (no region in the host name),
// nothing logged to files.
func config(port int) string {
	return fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: "%d"
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues: []
  Topics: []
`, port, Account)
}

// start launches goaws on a fresh port and waits until /health answers 200.
func (s *Server) start() error {
	port, err := testproc.FreePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(s.dir, "goaws.yaml")
	if err := os.WriteFile(cfg, []byte(config(port)), 0o644); err != nil {
		return err
	}
	backend := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Always -config: without it goaws searches the working folder tree
	// for any goaws.yaml.
	cmd := exec.Command(s.bin, "-config", cfg, "Local")
	cmd.Dir = s.dir
	healthy := testproc.HTTPCheck(backend+"/health", func(status int) bool { return status == http.StatusOK })
	p, err := testproc.Start(cmd, startTimeout, healthy)
	if err != nil {
		return fmt.Errorf("goaws on %s: %w", backend, err)
	}
	s.mu.Lock()
	s.proc, s.backend = p, backend
	s.mu.Unlock()
	return nil
}

// Stop closes the front and kills goaws (its queues live in memory only).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.front != nil {
		s.front.Close()
		s.fwd.CloseIdleConnections()
		s.front = nil
	}
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Credentials are static dummy keys: goaws checks no signature, but the
// SDK will not send unsigned requests.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKSQSTEST", "sqstest-secret", "")
}

// Client is an SDK client for the server, independent of the environment.
func (s *Server) Client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       s.Region,
		Credentials:  s.Credentials(),
		BaseEndpoint: aws.String(s.Endpoint),
	})
}

// NewQueue creates a fresh queue whose messages stay invisible for
// visibility once received (goaws counts whole seconds; at least 1 s) and
// returns its URL, which points at the front. Creating a queue waits for
// every call in progress on the server, long polls included (see front):
// create queues before starting parallel traffic, e.g. before t.Parallel.
func (s *Server) NewQueue(t testing.TB, visibility time.Duration) string {
	t.Helper()
	secs := max(int((visibility+time.Second-1)/time.Second), 1)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	name := "rewind-test-" + testproc.RandHex(6)
	out, err := s.Client().CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(secs)},
	})
	if err != nil {
		t.Fatalf("sqstest: create queue %s: %v\n%s", name, err, s.Logs())
	}
	return aws.ToString(out.QueueUrl)
}

// Queue creates a fresh queue with visibility timeout lease and opens it.
func (s *Server) Queue(t testing.TB, lease time.Duration) *sqsqueue.Queue {
	t.Helper()
	url := s.NewQueue(t, lease)
	q, err := sqsqueue.New(context.Background(), sqsqueue.Config{
		QueueURL:    url,
		Endpoint:    s.Endpoint,
		Region:      s.Region,
		Lease:       lease,
		Credentials: s.Credentials(),
	})
	if err != nil {
		t.Fatalf("sqstest: open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// Logs is what goaws printed so far (for failure messages).
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.Output()
}

// binary finds goaws: $REWIND_GOAWS, else .tools/bin/goaws.
func binary() (string, error) { return testproc.Binary(EnvBinary, "goaws") }
