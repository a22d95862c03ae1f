package s3store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/infra/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/rewind-vod/rewind/infra/awsconfig"
)

// defaultRegion is used when neither the config nor the environment names one;
// S3-compatible servers mostly accept anything, and AWS redirects are not
// followed anyway.
const defaultRegion = "us-east-1"

// maxListPage is the most keys S3 returns per ListObjectsV2 call.
const maxListPage = 1000

// Config selects a bucket (and key prefix inside it) on AWS S3 or an
// S3-compatible server.
type Config struct {
	Bucket string
	// Prefix is prepended to every key ("" or a folder; a missing trailing
	// '/' is added).
	Prefix string
	// Endpoint overrides the S3 endpoint URL (e.g. http://127.0.0.1:9000);
	// empty means AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 or the AWS default.
	Endpoint string
	// Region overrides the configured region; if none is found anywhere,
	// us-east-1 is used.
	Region string
	// PathStyle addresses the bucket as http://host/bucket, which most
	// S3-compatible servers need.
	PathStyle bool
	// Credentials overrides the standard credential chain (environment,
	// shared files, IAM roles) when set; mostly for tests.
	Credentials aws.CredentialsProvider
}

// S3 is a Store on an S3 bucket. S3 limits whole keys to 1024 bytes, so with
// a Prefix the longest usable store key is that much shorter.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

var _ store.Store = (*S3)(nil)

// NewS3 builds an S3 store from cfg and the standard AWS configuration
// (environment, shared config files, instance roles). It does not contact
// the server.
func New(ctx context.Context, cfg Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: empty bucket")
	}
	prefix, err := store.NormalizePrefix(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	awsCfg, err := awsconfig.Load(ctx, cfg.Region, cfg.Credentials)
	if err != nil {
		return nil, fmt.Errorf("s3 store: load aws config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix}, nil
}

// Client exposes the underlying SDK client (e.g. to presign URLs).
func (s *S3) Client() *s3.Client { return s.client }

// Bucket is the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix is the normalized key prefix ("" or ending with '/').
func (s *S3) Prefix() string { return s.prefix }

// ObjectKey is the full S3 key of a store key.
func (s *S3) ObjectKey(key string) string { return s.prefix + key }

// Put uploads the object in one PutObject; S3 makes it visible atomically.
func (s *S3) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := store.ValidateKey(key); err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	return s.putObject(ctx, key, bytes.NewReader(data), int64(len(data)), crc32.Checksum(data, castagnoli), contentType)
}

var _ store.FilePutter = (*S3)(nil)

// PutFile uploads the file in one PutObject, streaming it from disk
// rather than holding it in memory (it is read twice from the page cache:
// once for its CRC32C, once to send it).
func (s *S3) PutFile(ctx context.Context, key, path, contentType string) error {
	if err := store.ValidateKey(key); err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	size, err := io.CopyBuffer(h, f, make([]byte, 256<<10))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return s.putObject(ctx, key, f, size, h.Sum32(), contentType)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// putObject sends body with its CRC32C (x-amz-checksum-crc32c, a signed
// header) and an unsigned payload: S3 checks the body against the CRC and
// refuses the object if they differ, so what is stored is what was
// spooled. SigV4's payload hash would be a SHA-256 of every byte, most of
// the S3 path's CPU, for what the CRC32C checks with SSE4.2 at memory
// speed; the request itself (headers, CRC included) stays signed. What is
// given up: over plain HTTP, a man in the middle able to forge a CRC could
// change a body; over HTTPS, TLS covers that (the AWS SDKs send unsigned
// payloads with a CRC over HTTPS by default).
func (s *S3) putObject(ctx context.Context, key string, body io.Reader, size int64, crc uint32, contentType string) error {
	if contentType == "" {
		contentType = store.ContentTypeFor(key)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(s.prefix + key),
		Body:           body,
		ContentLength:  aws.Int64(size),
		ContentType:    aws.String(contentType),
		ChecksumCRC32C: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		return s3Err("put", key, err)
	}
	return nil
}

// Get fetches the object or a range of it. store.Info.Size is the whole object's
// size, also for a range.
func (s *S3) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, store.Info{}, fmt.Errorf("s3 get: %w", err)
	}
	if err := store.CheckRange(rng); err != nil {
		return nil, store.Info{}, fmt.Errorf("s3 get %s: %w", key, err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)}
	if rng != nil {
		if rng.Length < 0 {
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", rng.Offset))
		} else {
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1))
		}
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, store.Info{}, s3Err("get", key, err)
	}
	info := store.Info{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         aws.ToString(out.ETag),
		LastModified: aws.ToTime(out.LastModified),
		ContentType:  aws.ToString(out.ContentType),
	}
	if total, ok := rangeTotal(aws.ToString(out.ContentRange)); ok {
		info.Size = total
	}
	return out.Body, info, nil
}

// rangeTotal reads the object size from a "bytes 0-9/1234" Content-store.Range.
func rangeTotal(cr string) (int64, bool) {
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil
}

// Head describes the object.
func (s *S3) Head(ctx context.Context, key string) (store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Info{}, fmt.Errorf("s3 head: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return store.Info{}, s3Err("head", key, err)
	}
	return store.Info{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         aws.ToString(out.ETag),
		LastModified: aws.ToTime(out.LastModified),
		ContentType:  aws.ToString(out.ContentType),
	}, nil
}

// Delete removes the object; S3 treats a missing key as deleted already.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := store.ValidateKey(key); err != nil {
		return fmt.Errorf("s3 delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		if err = s3Err("delete", key, err); !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// List pages through ListObjectsV2 until MaxKeys entries are taken. Objects
// carry no ContentType (S3 does not list it).
func (s *S3) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	if err := store.ValidateList(prefix, opts); err != nil {
		return store.ListResult{}, fmt.Errorf("s3 list %q: %w", prefix, err)
	}
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}
	if opts.Delimiter != "" {
		in.Delimiter = aws.String(opts.Delimiter)
	}
	if opts.StartAfter != "" {
		in.StartAfter = aws.String(s.prefix + opts.StartAfter)
	}
	var res store.ListResult
	for {
		page := maxListPage
		if opts.MaxKeys > 0 {
			page = min(page, opts.MaxKeys-len(res.Objects)-len(res.CommonPrefixes))
		}
		in.MaxKeys = aws.Int32(int32(page))
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return store.ListResult{}, s3Err("list", prefix, err)
		}
		s.appendPage(&res, out)
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return res, nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil // S3 ignores it with a token; be explicit
		if opts.MaxKeys > 0 && len(res.Objects)+len(res.CommonPrefixes) >= opts.MaxKeys {
			// Some servers (versitygw) say "truncated" when the page is merely
			// full; AWS does not. Peek so Truncated means more entries exist.
			in.MaxKeys = aws.Int32(1)
			out, err := s.client.ListObjectsV2(ctx, in)
			if err != nil {
				return store.ListResult{}, s3Err("list", prefix, err)
			}
			var next store.ListResult
			s.appendPage(&next, out)
			res.Truncated = len(next.Objects) > 0 ||
				(len(next.CommonPrefixes) > 0 && !slices.Contains(res.CommonPrefixes, next.CommonPrefixes[0]))
			return res, nil
		}
	}
}

// appendPage adds one ListObjectsV2 page to res, without the store prefix.
func (s *S3) appendPage(res *store.ListResult, out *s3.ListObjectsV2Output) {
	for _, o := range out.Contents {
		res.Objects = append(res.Objects, store.Info{
			Key:          strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
			Size:         aws.ToInt64(o.Size),
			ETag:         aws.ToString(o.ETag),
			LastModified: aws.ToTime(o.LastModified),
		})
	}
	for _, cp := range out.CommonPrefixes {
		p := strings.TrimPrefix(aws.ToString(cp.Prefix), s.prefix)
		// A page boundary inside a common prefix may repeat it; keep one.
		if n := len(res.CommonPrefixes); n > 0 && res.CommonPrefixes[n-1] == p {
			continue
		}
		res.CommonPrefixes = append(res.CommonPrefixes, p)
	}
}

// s3Err wraps an SDK error with context, mapping "no such key" to
// store.ErrNotFound and "range not satisfiable" to store.ErrInvalidRange.
func s3Err(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("s3 %s %s: %w", op, key, store.ErrNotFound)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" {
		return fmt.Errorf("s3 %s %s: %w (%v)", op, key, store.ErrInvalidRange, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 404:
			// Not NoSuchBucket: a missing bucket is a configuration error.
			if !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket") {
				return fmt.Errorf("s3 %s %s: %w", op, key, store.ErrNotFound)
			}
		case 416:
			return fmt.Errorf("s3 %s %s: %w (%v)", op, key, store.ErrInvalidRange, err)
		}
	}
	return fmt.Errorf("s3 %s %s: %w", op, key, err)
}

// PresignGet returns a URL that reads the object without credentials until
// ttl passes (for redirects to large outputs instead of proxying them).
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := store.ValidateKey(key); err != nil {
		return "", fmt.Errorf("s3 presign: %w", err)
	}
	req, err := s3.NewPresignClient(s.client).PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", s3Err("presign", key, err)
	}
	return req.URL, nil
}
