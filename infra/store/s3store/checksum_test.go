package s3store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/s3test"
)

func crc32c(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Puts send an unsigned payload with its CRC32C: the integrity of what is
// stored rests on the server checking that CRC. This holds it to that, and
// checks that Put and PutFile store the CRC of what they were given.
func TestPayloadChecksum(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	st := srv.Store(t).(*s3store.S3)
	client := srv.Client()

	body := bytes.Repeat([]byte("rewind segment "), 3000)
	wrong := crc32c(append([]byte("x"), body...))
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(st.Bucket()), Key: aws.String(st.ObjectKey("bad")),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumCRC32C: aws.String(wrong),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err == nil {
		t.Fatal("the server stored a body that does not match its CRC32C")
	}
	if _, err := st.Head(ctx, "bad"); err == nil {
		t.Fatal("the refused object exists")
	}

	path := filepath.Join(t.TempDir(), "0000000001.ts")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "a", body, ""); err != nil {
		t.Fatal(err)
	}
	if err := store.PutFile(ctx, st, "b.ts", path, ""); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b.ts"} {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(st.ObjectKey(key)),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("get %s: %d bytes, %v", key, len(got), err)
		}
		if c := aws.ToString(out.ChecksumCRC32C); c != crc32c(body) {
			t.Errorf("%s: stored CRC32C %q, want %q", key, c, crc32c(body))
		}
	}
}
