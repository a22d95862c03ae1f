// Package s3test runs a real S3-compatible server (versitygw, posix backend)
// for tests, so the S3 code paths are exercised against a wire-level S3 API.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// EnvBinary names the environment variable that overrides the versitygw path.
const EnvBinary = "REWIND_VERSITYGW"

const startTimeout = 15 * time.Second

// Server is a running versitygw with one bucket.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Bucket    string
	Region    string

	t       testing.TB
	bin     string
	addr    string // 127.0.0.1:PORT
	dataDir string

	mu   sync.Mutex
	proc *testproc.Proc // nil while stopped
}

// Start runs versitygw on a free local port with a fresh data folder and a
// fresh bucket; it is stopped when the test ends. A missing binary fails the
// test: S3 coverage must not silently disappear.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("versitygw not found: run `make deps` (%v)", err)
	}
	s := &Server{
		AccessKey: "AK" + strings.ToUpper(testproc.RandHex(8)),
		SecretKey: testproc.RandHex(20),
		Bucket:    "rewind-test-" + testproc.RandHex(4),
		Region:    "us-east-1",
		t:         t,
		bin:       bin,
		dataDir:   t.TempDir(),
	}
	t.Cleanup(s.Stop)

	// The port is picked then released; another process may grab it before
	// versitygw binds, so retry with a new one.
	for attempt := 1; ; attempt++ {
		port, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("s3test: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.Endpoint = "http://" + s.addr
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("s3test: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v\n%s", s.Bucket, err, s.Logs())
	}
	return s
}

// Args is the versitygw command line (without the binary) for this server.
func (s *Server) Args() []string {
	return []string{
		"--port", s.addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet",
		"posix", s.dataDir,
	}
}

// start launches the process and waits until it answers HTTP (403 for
// an unsigned request is fine).
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	cmd := exec.Command(s.bin, s.Args()...)
	cmd.Env = cleanEnv()
	p, err := testproc.Start(cmd, startTimeout, testproc.HTTPCheck(s.Endpoint+"/", nil))
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(s.Args(), " "), err)
	}
	s.proc = p
	return nil
}

// Stop kills the server and keeps its data; Restart brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Kill()
	s.proc = nil
}

// Restart starts the server again on the same port with the same data
// (after Stop; it also works as a plain restart).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port was ours a moment ago; if something else took it, give up.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("s3test: restart: %v", err)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Env is the environment a subprocess needs to reach this server through
// the standard AWS configuration chain.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
	}
}

// Credentials is a static provider for the root keys.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// Client is an SDK client for the server, independent of the environment.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		Credentials:  s.Credentials(),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
	})
}

// Store opens an S3 store on the bucket under a fresh random prefix, so tests
// sharing a server do not see each other's keys.
func (s *Server) Store(t testing.TB) store.Store {
	t.Helper()
	return s.StoreAt(t, "t-"+testproc.RandHex(6)+"/")
}

// URL is the --store URL of prefix ("" or ending in '/') in the bucket, for
// a rewind subprocess (with --s3-endpoint Endpoint --s3-path-style and Env).
func (s *Server) URL(prefix string) string { return "s3://" + s.Bucket + "/" + prefix }

// StoreAt opens an S3 store on the bucket under prefix, to read what a
// subprocess given URL(prefix) wrote.
func (s *Server) StoreAt(t testing.TB, prefix string) store.Store {
	t.Helper()
	st, err := s3store.New(context.Background(), s3store.Config{
		Bucket:      s.Bucket,
		Prefix:      prefix,
		Endpoint:    s.Endpoint,
		Region:      s.Region,
		PathStyle:   true,
		Credentials: s.Credentials(),
	})
	if err != nil {
		t.Fatalf("s3test: open store: %v", err)
	}
	return st
}

// Logs is what the server printed so far (for failure messages).
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.Output()
}

// binary finds versitygw: $REWIND_VERSITYGW, else .tools/bin/versitygw.
func binary() (string, error) { return testproc.Binary(EnvBinary, "versitygw") }

// cleanEnv drops variables versitygw would read as configuration, so the
// command line alone decides how it runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") ||
			strings.HasPrefix(name, "AWS_") || name == "LOGFILE" || name == "WEBHOOK" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
