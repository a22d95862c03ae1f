package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// rewindRound runs n publishers into `rewind origin` recording to the
// local store, or, with versitygw set, to a bucket of a fresh versitygw.
// With cfg.profile set, it also takes the origin's CPU and heap profiles.
func rewindRound(cfg config, versitygw string, tags []flvfile.Tag, n int) (result, error) {
	bin, dur := cfg.rewind, cfg.dur
	var r result
	dir, err := os.MkdirTemp("", "rewind-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	storeDir := filepath.Join(dir, "store")
	env := cleanEnv()
	if cfg.profile != "" {
		env = append(env, "REWIND_PPROF=1")
	}
	storeArgs := []string{"--store", "file://" + storeDir}
	if versitygw != "" {
		s3p, s3args, s3env, err := startS3(versitygw, storeDir)
		if err != nil {
			return r, err
		}
		defer s3p.Kill()
		storeArgs, env = s3args, append(env, s3env...)
	}
	// A port taken between FreeAddr and the bind: retry on new ones.
	var p *testproc.Proc
	var cmd *exec.Cmd
	var rtmpAddr, httpAddr string
	for range 3 {
		if rtmpAddr, err = benchkit.FreeAddr(); err != nil {
			return r, err
		}
		if httpAddr, err = benchkit.FreeAddr(); err != nil {
			return r, err
		}
		args := append([]string{"origin", "--rtmp-addr", rtmpAddr, "--http-addr", httpAddr},
			append(storeArgs, "--spool", filepath.Join(dir, "spool"),
				"--node", "bench", "--log-level", "warn", "--max-publishers", "1000", "--max-conns", "2000")...)
		cmd = exec.Command(bin, args...)
		cmd.Env = env
		if p, err = testproc.Start(cmd, 20*time.Second, testproc.HTTPCheck("http://"+httpAddr+"/healthz", nil)); err == nil {
			break
		}
	}
	if err != nil {
		return r, fmt.Errorf("start rewind origin: %w", err)
	}
	defer p.Kill()
	metricsURL := "http://" + httpAddr + "/metrics"
	pr, err := startProbe(cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	var prof *profiler
	if cfg.profile != "" {
		kind := "file"
		if versitygw != "" {
			kind = "s3"
		}
		prof = startProfile("http://"+httpAddr, filepath.Join(cfg.profile, fmt.Sprintf("rewind-%s-n%d", kind, n)), dur)
	}
	sentBytes, err := publishAll(rtmpAddr, tags, n, dur, &r)
	if prof != nil {
		if perr := prof.finish(); perr != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", perr)
		}
	}
	if err != nil {
		pr.cancel()
		return r, fmt.Errorf("%w\n%s", err, p.Output())
	}
	// Wait until every run is ended in the store: the CPU of the last
	// uploads counts.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m, err := benchkit.Scrape(context.Background(), metricsURL)
		if err == nil && m["rewind_recorder_runs_ended_total"] >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			pr.cancel()
			return r, fmt.Errorf("runs not stored in time: %v\n%s", err, p.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := pr.finish(&r, n, dur); err != nil {
		return r, err
	}
	m, err := benchkit.Scrape(context.Background(), metricsURL)
	if err != nil {
		return r, err
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		for k, v := range m {
			if strings.HasPrefix(k, "rewind_") {
				fmt.Println(k, v)
			}
		}
	}
	r.recorded = int(m["rewind_recorder_frames_total"])
	r.received = int(m["rewind_origin_frames_in_total"]) - 2*n // less the sequence headers
	// versitygw's posix backend keeps each object as a file: the same
	// walk measures both stores.
	stored, err := dirBytes(storeDir)
	if err != nil {
		return r, err
	}
	r.storedPerIngested = float64(stored) / float64(sentBytes)
	if segs := m["rewind_recorder_segments_uploaded_total"]; segs > 0 {
		r.reqPerSegment = m["rewind_recorder_store_requests_total"] / segs
	}
	return r, nil
}

// startS3 runs versitygw on data with a fresh bucket and returns the
// origin's store flags and the environment that gives it the keys.
func startS3(bin, data string) (*testproc.Proc, []string, []string, error) {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("s3 data dir: %w", err)
	}
	access, secret, region, bucket := "AK"+strings.ToUpper(testproc.RandHex(8)), testproc.RandHex(20), "us-east-1", "bench"
	var p *testproc.Proc
	var addr string
	var err error
	for range 3 {
		if addr, err = benchkit.FreeAddr(); err != nil {
			return nil, nil, nil, err
		}
		// --keep-alive: without it versitygw answers every request with
		// Connection: close, and the origin would pay a TCP connection
		// per PUT, which S3 does not make it pay.
		cmd := exec.Command(bin, "--port", addr, "--access", access, "--secret", secret, "--region", region, "--quiet", "--keep-alive", "posix", data)
		cmd.Env = cleanEnv()
		// versitygw answers an unsigned GET / with 403: up is up.
		if p, err = testproc.Start(cmd, 20*time.Second, testproc.HTTPCheck("http://"+addr+"/", nil)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start versitygw: %w", err)
	}
	endpoint := "http://" + addr
	client := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		p.Kill()
		return nil, nil, nil, fmt.Errorf("create bucket: %w\n%s", err, p.Output())
	}
	args := []string{"--store", "s3://" + bucket + "/rec", "--s3-path-style", "--s3-endpoint", endpoint}
	env := []string{"AWS_ACCESS_KEY_ID=" + access, "AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_REGION=" + region, "AWS_ENDPOINT_URL=" + endpoint, "AWS_EC2_METADATA_DISABLED=true"}
	return p, args, env, nil
}

// cleanEnv is the bench's environment without what versitygw or the AWS
// SDK would read as configuration, so the command lines alone decide.
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
