// Command rewind records live streams and serves them back. One binary,
// several roles: see `rewind help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rewind-vod/rewind/infra/lambdahttp"
)

const usage = `rewind records live streams and serves them back.

Usage:
  rewind dev     everything in one process, on local disk by default
  rewind origin  RTMP origin node + recorder
  rewind proxy   stateless RTMP / HTTP-FLV proxy: routes publishes and plays
                 by stream name to the origin nodes of the node registry
  rewind agent   the upload agent alone: stores and indexes what a
                 'rewind origin --agent external' spools (same --spool and store)
  rewind vodapi  the replay API alone (stateless, reads the store); in AWS
                 Lambda (provided.al2023) it is the default and answers
                 function URL / API Gateway HTTP API events
  rewind editor  the clip worker (cuts, transcodes; needs a cgo build)
  rewind sched   the multi-CDN scheduler: QoS collector, HLS content
                 steering, address API, admin API and console
  rewind sign    print a signed publish query (exp=...&sig=...)

Run 'rewind <command> -h' for a command's flags. Every flag can also be
set as REWIND_<FLAG> (e.g. REWIND_SEGMENT_DURATION=2s) or in a YAML file
given with --config.
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rewind:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 && lambdahttp.InLambda() {
		// Lambda starts the binary (as "bootstrap") with no arguments: the
		// replay API is the role it runs, configured by REWIND_* variables.
		args = []string{"vodapi"}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "dev":
		return serve(ctx, "dev", args[1:], stderr)
	case "origin":
		return serve(ctx, "origin", args[1:], stderr)
	case "proxy":
		return serveProxy(ctx, args[1:], stderr)
	case "agent":
		return serveAgent(ctx, args[1:], stderr)
	case "vodapi":
		return serveReplay(ctx, args[1:], stderr)
	case "editor":
		return serveEditor(ctx, args[1:], stderr)
	case "sched":
		return serveSched(ctx, args[1:], stderr)
	case "sign":
		return sign(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
