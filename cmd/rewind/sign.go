package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin"
)

// sign prints the query a publisher appends to its stream name.
func sign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HMAC secret (one of the origin's --publish-secrets)")
	stream := fs.String("stream", "", "stream as app/name")
	ttl := fs.Duration("ttl", time.Hour, "how long the signature stays valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("sign: --secret is required")
	}
	s, err := catalog.ParseStream(*stream)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if *ttl <= 0 {
		return errors.New("sign: --ttl must be positive")
	}
	fmt.Fprintln(stdout, origin.Sign(*secret, s.String(), time.Now().Add(*ttl)))
	return nil
}
