// The test page's player: hls.js (the full build, loaded before this) with
// content steering and CMCD, plus what an SDK reports to rewind's JSON
// beacon, batched every second per CDN: "start" at the first frame,
// "heartbeat" with the time watched, "error" for each hls.js network
// error on a CDN's URL. window.playerLog.snapshot() is what the test reads.
"use strict";

window.startPlayer = (src, config) => {
  const t0 = Date.now();
  const sid = "e2e-" + Math.random().toString(16).slice(2, 14);
  const log = {
    sid, manifests: [], frags: [], fatal: [], nonFatal: [], pathways: [], beacons: {}, beaconErrors: [],
    currentTime: 0, playing: false,
  };
  const cdnOf = (url) => {
    try { return config.cdns[new URL(url).host] || ""; } catch (_) { return ""; }
  };
  const pending = {}; // cdn -> events not yet sent
  const push = (cdn, ev) => { (pending[cdn] = pending[cdn] || []).push(Object.assign({ ts: Date.now() }, ev)); };
  let current = ""; // the CDN of the last fragment loaded
  let lastBeat = 0;

  const video = document.getElementById("video");
  const hls = new Hls({
    enableWorker: false,
    // A small forward buffer: segments are fetched as playback goes, so
    // a pathway switch shows in the next requests.
    maxBufferLength: 4, maxMaxBufferLength: 6, backBufferLength: 0,
    cmcd: { sessionId: sid, contentId: config.stream },
    // On a failing fragment hls.js by default gives up after one error
    // without an HTTP status (a refused connection looks like CORS) and
    // penalizes the whole pathway for 5 minutes, so it would never come
    // back to the cheaper CDN within the session. This page retries the
    // fragment instead and leaves the choice of CDN to the steering
    // server, which it reloads every TTL.
    fragLoadPolicy: {
      default: {
        maxTimeToFirstByteMs: 5000, maxLoadTimeMs: 15000,
        timeoutRetry: { maxNumRetry: 60, retryDelayMs: 250, maxRetryDelayMs: 500 },
        errorRetry: { maxNumRetry: 60, retryDelayMs: 250, maxRetryDelayMs: 500,
          shouldRetry: (cfg, count) => count < cfg.maxNumRetry },
      },
    },
  });
  hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_, d) => {
    log.manifests.push({ at: Date.now(), url: d.url, priority: d.steeringManifest["PATHWAY-PRIORITY"] || [] });
  });
  hls.on(Hls.Events.FRAG_LOADED, (_, d) => {
    if (d.frag.sn === "initSegment") return;
    const cdn = cdnOf(d.frag.url);
    current = cdn || current;
    log.frags.push({ at: Date.now(), cdn, url: d.frag.url });
  });
  hls.on(Hls.Events.LEVELS_UPDATED, (_, d) => {
    log.pathways.push({ at: Date.now(), pathway: d.levels.map((l) => l.pathwayId).join(",") });
  });
  hls.on(Hls.Events.ERROR, (_, d) => {
    const url = (d.frag && d.frag.url) || d.url || (d.context && d.context.url) || "";
    const what = d.details + (d.error ? ": " + d.error.message : "");
    (d.fatal ? log.fatal : log.nonFatal).push({ at: Date.now(), cdn: cdnOf(url), what, url });
    // Only network errors are the CDN's: a media error (a buffer hole,
    // a stall) would count against whichever CDN served the fragment.
    const cdn = cdnOf(url);
    if (cdn && d.type === Hls.ErrorTypes.NETWORK_ERROR) push(cdn, { t: "error", code: String(d.details).slice(0, 64) });
  });
  video.addEventListener("playing", () => {
    if (log.playing) return;
    log.playing = true;
    lastBeat = Date.now();
    push(current, { t: "start", first_frame_ms: Date.now() - t0 });
  });

  const flush = () => {
    if (log.playing && current) {
      const now = Date.now();
      push(current, { t: "heartbeat", watched_ms: now - lastBeat });
      lastBeat = now;
    }
    for (const cdn of Object.keys(pending)) {
      const events = pending[cdn].splice(0, 100);
      if (events.length === 0) continue;
      const body = JSON.stringify({ sid, cdn, stream: config.stream, events });
      fetch(config.beacon, { method: "POST", headers: { "Content-Type": "application/json" }, body, keepalive: true })
        .then((r) => { log.beacons[r.status] = (log.beacons[r.status] || 0) + 1; })
        .catch((e) => log.beaconErrors.push(String(e)));
    }
  };
  setInterval(flush, 1000);

  hls.loadSource(src);
  hls.attachMedia(video);
  video.muted = true;
  video.play().catch(() => {});

  window.playerLog = {
    snapshot: () => Object.assign({}, log, { now: Date.now(), currentTime: video.currentTime, paused: video.paused }),
  };
};
