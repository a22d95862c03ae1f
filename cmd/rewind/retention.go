package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/retention"
)

// bindRetention binds --retention and --retention-interval (dev and
// vodapi: the processes that run the sweeper on a local store).
func bindRetention(b *binder, c *retention.Config) {
	if c.Interval == 0 {
		c.Interval = retention.DefaultInterval
	}
	bindParsed(b, "retention", "how long each app's recordings are kept after they ended, e.g. live=30d,news=7d (days or a duration like 36h; apps not named are kept): swept here on a local (file://) store; on S3 the bucket lifecycle does it (terraform app_retention_days)",
		retention.ParseRules, retention.Rules.String, &c.Rules)
	bind(b, "retention-interval", "how often the retention sweeper runs", &c.Interval)
}

// newSweeper is the retention sweeper for st, or nil: without rules, and
// on S3, whose bucket lifecycle applies the same rules (one sweeper per
// folder: rewind dev, or rewind vodapi beside it).
func newSweeper(c retention.Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) *retention.Sweeper {
	if len(c.Rules) == 0 {
		return nil
	}
	if _, local := st.(*fsstore.FS); !local {
		log.Info("retention: the store is not a local folder; the bucket lifecycle applies the rules (terraform app_retention_days), no sweeper here", "rules", c.Rules.String())
		return nil
	}
	return retention.New(c, st, log, reg)
}
