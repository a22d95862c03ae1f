package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/vodapi"
)

// sign prints the query a publisher appends to its stream name, or (with
// --play) the one a player appends to playlist URLs.
func sign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HMAC secret (one of the origin's --publish-secrets)")
	stream := fs.String("stream", "", "stream as app/name")
	ttl := fs.Duration("ttl", time.Hour, "how long the signature stays valid")
	play := fs.Bool("play", false, "sign for playback (--playback-secrets) instead of publishing")
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
	if *play {
		fmt.Fprintln(stdout, vodapi.SignPlayback(*secret, s, time.Now().Add(*ttl)))
		return nil
	}
	fmt.Fprintln(stdout, catalog.SignToken(*secret, catalog.PurposePublish, s, time.Now().Add(*ttl)))
	return nil
}
