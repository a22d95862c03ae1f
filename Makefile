# rewind — see README.md. `make run` and `make test` are all a fresh Debian
# machine needs: `make test` installs what it uses through `make deps`.

GO        ?= go
BIN       := bin/rewind
TOOLS     := $(CURDIR)/.tools/bin
VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(TOOLS)/versitygw
GOAWS_VERSION := v0.4.4
GOAWS     := $(TOOLS)/goaws
# AWS's Lambda Runtime Interface Emulator: the Lambda test runs the
# function's bootstrap under it. Untagged upstream, so a pseudo-version.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE       := $(TOOLS)/aws-lambda-rie
LAMBDA_ZIP := build/rewind-vodapi-lambda.zip
# The libav -dev packages and pkg-config build the editor (go-astiav, cgo)
# against Debian bookworm's FFmpeg 5.1; ffmpeg/ffprobe and chromium check
# media and playback in the tests; sched/source's reader test runs its own
# prometheus process (never the package's service).
BUILD_APT_PACKAGES := pkg-config libavformat-dev libavcodec-dev libavutil-dev \
	libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
APT_PACKAGES := $(BUILD_APT_PACKAGES) ffmpeg chromium \
	nginx libnginx-mod-rtmp gstreamer1.0-tools gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-libav prometheus
PLAYWRIGHT_VERSION := 1.65.1
PLAYWRIGHT := $(CURDIR)/.tools/node/node_modules/playwright-core/package.json
# The full hls.js build (content steering, CMCD): the steering and
# scheduler browser tests play with it.
HLSJS_VERSION := 1.7.4
HLSJS := $(CURDIR)/.tools/node/node_modules/hls.js/package.json
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# An execution count, not a duration: a duration-based -fuzztime can fail
# spuriously with "context deadline exceeded" on go1.26 (golang/go#75804).
FUZZTIME  ?= 60000x

.PHONY: all build build-deps run test deps apt-deps terraform-check vet nocgo lambda fuzz bench soak clean

all: build

build: build-deps
	$(GO) build -o $(BIN) ./cmd/rewind

build-deps:
	@$(call apt_install,$(BUILD_APT_PACKAGES))

run: build
	./$(BIN) dev

deps: apt-deps $(VERSITYGW) $(GOAWS) $(RIE) $(PLAYWRIGHT) $(HLSJS) terraform-check

# apt_install installs those of the listed Debian packages that are missing;
# it prints what it installs and does nothing when all are there.
apt_install = missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing || exit 1; \
	fi

# The Debian packages the tests need.
apt-deps:
	@$(call apt_install,$(APT_PACKAGES))

# playwright-core drives Debian's Chromium in the replay page test (no
# browser download: it uses /usr/bin/chromium).
$(PLAYWRIGHT):
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@mkdir -p $(CURDIR)/.tools/node
	npm install --prefix $(CURDIR)/.tools/node --no-audit --no-fund --silent playwright-core@$(PLAYWRIGHT_VERSION)

$(HLSJS): $(PLAYWRIGHT)
	npm install --prefix $(CURDIR)/.tools/node --no-audit --no-fund --silent hls.js@$(HLSJS_VERSION)

# The S3-compatible server the tests start, built from the Go module proxy
# at a pinned version into a git-ignored folder.
$(VERSITYGW):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# The SQS-compatible server the queue tests start. Its main package is
# app/cmd, so go install names the binary "cmd": renamed to goaws.
$(GOAWS):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/Admiral-Piett/goaws/app/cmd@$(GOAWS_VERSION)
	mv -f $(TOOLS)/cmd $(GOAWS)

$(RIE):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

# terraform is not a Debian package; these machines have it at
# /usr/local/bin. The Terraform tests need it and say so when it is missing.
terraform-check:
	@command -v terraform >/dev/null || { echo "terraform not found: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) at /usr/local/bin"; exit 1; }

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags soak ./bench/soak

# Every fuzz target runs briefly in `make test`: the packages whose tests
# declare one are found by grep, their targets by `go test -list`.
fuzz:
	@for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | xargs -n1 dirname | sort -u); do \
		for name in $$($(GO) test -list '^Fuzz' ./$$dir | grep '^Fuzz'); do \
			echo "fuzz ./$$dir $$name ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$dir || exit 1; \
		done; \
	done

# Everything but the editor builds without cgo (the Lambda build of vodapi):
# the editor is wired into cmd/rewind behind a cgo build constraint.
nocgo:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/rewind
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -o /dev/null ./cmd/rewind

# The vodapi Lambda (provided.al2023, arm64): one static binary named
# bootstrap at the root of the zip (terraform/modules/vodapi deploys it).
# lambda.norpc drops the RPC mode only the retired go1.x runtime used.
lambda:
	@mkdir -p build/lambda
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/lambda/bootstrap ./cmd/rewind
	$(GO) run ./internal/zipdir -o $(LAMBDA_ZIP) build/lambda
	@echo "built $(LAMBDA_ZIP)"

test: deps vet nocgo lambda
	AWS_EC2_METADATA_DISABLED=true REWIND_VERSITYGW=$(VERSITYGW) REWIND_GOAWS=$(GOAWS) REWIND_LAMBDA_RIE=$(RIE) REWIND_LAMBDA_ZIP=$(CURDIR)/$(LAMBDA_ZIP) $(GO) test -race -count=1 -timeout 14m ./...
	$(MAKE) --no-print-directory fuzz

# Ingest benchmark: N real-time publishers into `rewind origin` (see bench/ingest).
# Fan-out benchmark: one publish, N HTTP-FLV players of `rewind origin`;
# then BENCH_FANOUT_PEER_N players of one kind at a time (Go RTMP client,
# rtmpdump, HTTP-FLV) from rewind and from nginx-rtmp, the peer, server
# CPU per player-minute side by side (see bench/fanout).
# Clip benchmark: a 10-minute clip of a recorded 1080p30 stream, copy vs
# ffmpeg -c copy and accurate vs a full re-encode (see bench/clip).
# Replay benchmark: 24 h playlist cold build, sizes, warm load vs nginx
# (see bench/replay). nginx is installed only when missing; its default
# service is stopped so that only the bench's own nginx runs.
# Cluster benchmark: 3 origin nodes + 2 proxies on versitygw: first frame
# direct / through a proxy / node-to-node pull, proxy CPU per relayed
# stream vs origin CPU, registry store requests (see bench/cluster);
# BENCH_CLUSTER_N=10,50,100 adds the 100-stream round.
# Collector benchmark: `rewind sched` fed CMCD (query, headers, v2 event
# bodies) and JSON beacons over keep-alive loopback HTTP: reports per
# server CPU-second per format, then a flood with a small --qos-queue and
# the server's RSS over it (see bench/collect).
# Steering benchmark: sched/steer in-process, manifest, multivariant
# playlist and address API throughput and latency (see bench/steer).
BENCH_N ?= 10,50,100
BENCH_FANOUT_N ?= 10,100,500
BENCH_FANOUT_PEER_N ?= 10,100
BENCH_CLUSTER_N ?= 10,50
BENCH_DURATION ?= 30s
# Per round: the collector runs 4 rounds and a 10 s flood, steering 3 routes.
BENCH_COLLECT_DURATION ?= 5s
BENCH_STEER_DURATION ?= 10s
BENCH_APT_PACKAGES := nginx libnginx-mod-stream libnginx-mod-rtmp rtmpdump
bench: deps build
	@$(call apt_install,$(BENCH_APT_PACKAGES))
	@# The package may start its default site on port 80: the bench runs its own.
	@$(SUDO) service nginx stop >/dev/null 2>&1 || true
	$(GO) run ./bench/ingest -rewind $(BIN) -n $(BENCH_N) -duration $(BENCH_DURATION)
	$(GO) run ./bench/fanout -rewind $(BIN) -n $(BENCH_FANOUT_N) -peer-n $(BENCH_FANOUT_PEER_N) -duration $(BENCH_DURATION)
	$(GO) run ./bench/replay
	$(GO) run ./bench/clip
	$(GO) run ./bench/cluster -rewind $(BIN) -versitygw $(VERSITYGW) -n $(BENCH_CLUSTER_N) -duration $(BENCH_DURATION)
	$(GO) run ./bench/collect -rewind $(BIN) -duration $(BENCH_COLLECT_DURATION)
	$(GO) run ./bench/steer -duration $(BENCH_STEER_DURATION)

# Soak (not in `make test`): about SOAK_DURATION of publishers that drop and
# return, a kill -9 of the origin, a 60 s S3 outage, a flapping relay target
# and stalling players, then the checks that nothing was lost (bench/soak).
SOAK_DURATION ?= 10m
soak: deps build
	AWS_EC2_METADATA_DISABLED=true REWIND_BIN=$(CURDIR)/$(BIN) REWIND_VERSITYGW=$(VERSITYGW) REWIND_SOAK_DURATION=$(SOAK_DURATION) \
		$(GO) test -tags soak -run '^TestSoak$$' -count=1 -timeout 30m -v ./bench/soak

clean:
	rm -rf bin build
