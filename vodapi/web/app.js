// rewind's operator console: the origin's live streams (kick), the
// recordings of a stream on a wall-clock timeline with the scrub sprite on
// hover, snapshots, and clips marked on the timeline. Plain JS, no build
// step; hls.js is vendored. Values from the server go in as text, never as
// HTML. Tokens live in sessionStorage: this tab only.
"use strict";

const $ = (id) => document.getElementById(id);
const ADMIN = "rewind-admin-token"; // the live API's --admin-token
const APITOKEN = "rewind-api-token"; // an app backend's --api-tokens, for clips
const LIVE_BASE = "rewind-live-base";
const LIVE_EVERY_MS = 3000;
const video = $("video");
let hls = null;
let current = null; // what plays: {stream, rec?}
let pendingSeek = null; // wall-clock ms to seek to once the playlist is in
window.rewindErrors = []; // fatal player errors, read by the browser tests

// ---- small helpers

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
const fmt = (ms) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
const iso = (ms) => new Date(ms).toISOString();
const hms = (ms) => new Date(ms).toISOString().slice(11, 19);
// API answers give paths from the root; the page may sit under a prefix.
const rel = (u) => (u.startsWith("/") && !u.startsWith("//") ? u.slice(1) : u);
const num = (v, d) => (typeof v === "number" && isFinite(v) ? v.toFixed(d) : "–");

function showError(msg) { $("error").textContent = msg || ""; }

function duration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (s % 60) + "s";
}

// parseWhen reads a typed time: RFC 3339 / ISO, or unix seconds.
function parseWhen(s) {
  s = s.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const ms = Date.parse(s);
  return isNaN(ms) ? null : ms;
}

// ---- tokens: asked when an answer says one is missing or wrong

const tokenWhy = {
  [ADMIN]: "The live API needs the admin token (rewind --admin-token).",
  [APITOKEN]: "Clips here need an API token (rewind --api-tokens).",
};
let asking = null; // {kind, p}: the dialog is open for that kind of token

async function askToken(kind, detail) {
  // One dialog at a time: a call for another kind waits its turn.
  while (asking && asking.kind !== kind) await asking.p;
  if (asking) return asking.p;
  const dlg = $("token-dialog");
  $("token-why").textContent = tokenWhy[kind] + (detail ? " (" + detail + ")" : "");
  $("token-input").value = "";
  const p = new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      asking = null;
      const v = $("token-input").value.trim();
      if (dlg.returnValue === "ok" && v) {
        sessionStorage.setItem(kind, v);
        resolve(v);
      } else {
        resolve(null);
      }
    }, { once: true });
  });
  asking = { kind, p };
  dlg.returnValue = "";
  dlg.dataset.asked = Number(dlg.dataset.asked || 0) + 1; // how often, for the browser tests
  dlg.showModal();
  $("token-input").focus();
  return p;
}

class AuthCancelled extends Error {}

// Codes that mean "another credential could work", by token kind.
const askOn = {
  [ADMIN]: (status) => status === 401,
  [APITOKEN]: (status, code) => status === 401 || (status === 403 && (code === "credential_required" || code === "bad_api_token")),
};

// call fetches JSON; with a token kind it sends that bearer token and asks
// for it again when the answer refuses it.
async function call(url, opts, kind) {
  opts = opts || {};
  for (;;) {
    const headers = Object.assign({}, opts.headers);
    const tok = kind ? sessionStorage.getItem(kind) : null;
    if (tok) headers.Authorization = "Bearer " + tok;
    const r = await fetch(url, Object.assign({}, opts, { headers, cache: "no-store" }));
    let body = null;
    if (r.status !== 204) {
      try { body = await r.json(); } catch (_) { /* not JSON */ }
    }
    const code = body && body.code;
    if (kind && askOn[kind](r.status, code)) {
      sessionStorage.removeItem(kind);
      const got = await askToken(kind, body && body.error);
      if (got === null) throw new AuthCancelled(tokenWhy[kind]);
      continue;
    }
    if (r.status === 403 && code === "signature_required") {
      throw new Error("this stream needs a signed URL (a play token: exp and sig); the console does not make them, ask the app backend or `rewind sign`");
    }
    if (!r.ok) {
      const e = new Error((body && body.error) || "HTTP " + r.status);
      e.status = r.status;
      e.code = code;
      throw e;
    }
    return body;
  }
}

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(ADMIN);
  sessionStorage.removeItem(APITOKEN);
  refreshLive();
});

// ---- live streams (the origin's live API)

let liveTimer = null;
let liveSeq = 0; // only the newest refresh renders and schedules the next

function liveBase() {
  return (sessionStorage.getItem(LIVE_BASE) || "").replace(/\/+$/, "");
}
$("live-base").value = liveBase();
$("live-base").addEventListener("change", () => {
  sessionStorage.setItem(LIVE_BASE, $("live-base").value.trim());
  refreshLive();
});
const liveURL = (path) => (liveBase() ? liveBase() + "/" : "") + path;

async function refreshLive() {
  clearTimeout(liveTimer);
  liveTimer = null;
  $("live-login").hidden = true;
  const seq = ++liveSeq;
  let body;
  try {
    body = await call(liveURL("v1/live"), {}, ADMIN);
  } catch (e) {
    if (seq !== liveSeq) return;
    if (e instanceof AuthCancelled) {
      $("live-status").textContent = "admin token needed";
      $("live-login").hidden = false;
      return;
    }
    $("live-status").textContent = e.code === "admin_disabled" ? "the live API is off (start rewind with --admin-token)"
      : e.status === 404 ? "no live API at " + (liveBase() || "this server") + " (set the live API base URL)"
        // A fetch that fails outright: down, or another origin that does not allow this page (CORS).
        : e instanceof TypeError ? `live API at ${liveBase() || "this server"} not reachable from this page: ${e.message}`
          : "live API: " + e.message;
    liveTimer = setTimeout(refreshLive, 5 * LIVE_EVERY_MS);
    return;
  }
  if (seq !== liveSeq) return;
  $("live-status").textContent = `${body.streams.length} on ${body.node || "this node"}, ${new Date().toISOString().slice(11, 19)}Z`;
  renderLive(body.streams);
  liveTimer = setTimeout(() => { if (!document.hidden) refreshLive(); }, LIVE_EVERY_MS);
}
$("live-login").addEventListener("click", refreshLive);
// A hidden tab does not poll; it catches up when shown again.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && liveTimer !== null) refreshLive();
});

function td(text, cls) { return el("td", text, cls); }

function renderLive(streams) {
  const tbody = $("live-table").tBodies[0];
  tbody.replaceChildren();
  if (!streams.length) {
    const tr = tbody.insertRow();
    const c = td("nothing is live", "muted");
    c.colSpan = 12;
    tr.appendChild(c);
  }
  // The snapshot is refreshed every 10 s, not on every table refresh.
  const tick = Math.floor(Date.now() / 10000);
  for (const s of streams) {
    const tr = tbody.insertRow();
    tr.dataset.stream = s.stream;
    const v = s.video, a = s.audio;
    tr.append(
      td(s.stream),
      td(s.state || "live", "live"),
      // The recording state, from the live entry (absent on a node
      // without a recorder).
      td(recordingText(s.recording), "recording"),
      td([v && v.codec, a && a.codec].filter(Boolean).join(" + ") || "–"),
      td(v ? `${v.width}×${v.height}` : "–", "num"),
      td(v ? num(v.fps, 1) : "–", "num"),
      td(num(s.bitrate_in_kbps, 0) + " kb/s", "num"),
      td(s.players, "num"),
      td((s.relays || []).map((r) => `${r.target} ${r.state}`).join(", ") || "–"),
      td(duration(s.uptime_seconds), "num"),
    );
    const snap = td("");
    const img = el("img");
    img.alt = "latest snapshot of " + s.stream;
    img.src = `v1/streams/${s.stream}/snapshots/latest.jpg?t=${tick}`;
    img.addEventListener("error", () => img.replaceWith(el("small", "none yet")), { once: true });
    snap.appendChild(img);
    tr.appendChild(snap);
    const act = td("");
    const kick = el("button", "Kick");
    kick.type = "button";
    kick.className = "kick";
    kick.setAttribute("aria-label", "Kick " + s.stream);
    kick.addEventListener("click", () => kickStream(s.stream));
    const slot = el("span", null, "recording-slot");
    slot.dataset.stream = s.stream;
    if (s.recording) {
      const on = s.recording.recording;
      const rec = el("button", on ? "Stop recording" : "Start recording");
      rec.type = "button";
      rec.className = "record";
      rec.setAttribute("aria-label", (on ? "Stop recording " : "Start recording ") + s.stream);
      rec.addEventListener("click", () => setRecording(s.stream, !on));
      slot.appendChild(rec);
    }
    act.append(kick, " ", slot);
    tr.appendChild(act);
  }
}

// recordingText is the recording column: on (with the run being written)
// or off, "–" when the node has no recorder.
function recordingText(r) {
  if (!r) return "–";
  return r.recording ? "on" + (r.runs && r.runs.length > 1 ? ` (run ${r.runs.length})` : "") : "off";
}

// setRecording stops or starts recording a live stream; the publisher and
// its players stay connected, and a start is a new run.
async function setRecording(stream, on) {
  try {
    await call(liveURL(`v1/live/${stream}/recording/${on ? "start" : "stop"}`), { method: "POST" }, ADMIN);
  } catch (e) {
    if (!(e instanceof AuthCancelled)) showError((on ? "start" : "stop") + " recording " + stream + ": " + e.message);
  }
  refreshLive();
}

async function kickStream(stream) {
  if (!confirm(`Kick ${stream}? Its publisher is disconnected and its run ends.`)) return;
  try {
    await call(liveURL("v1/live/" + stream), { method: "DELETE" }, ADMIN);
  } catch (e) {
    if (!(e instanceof AuthCancelled)) showError("kick " + stream + ": " + e.message);
  }
  refreshLive();
}

// ---- streams and recordings

let stream = null; // the picked stream, "app/name"
let recs = []; // its recordings: {id, start, end, live, playlist, cues}
let view = null; // the timeline's span {from, to} in wall-clock ms
let marks = { in: null, out: null };

function listButton(label, small, onClick) {
  const li = el("li");
  const b = el("button");
  b.type = "button";
  b.append(label);
  if (small) b.append(el("br"), el("small", small));
  b.addEventListener("click", () => {
    for (const other of b.closest("ul").querySelectorAll("button")) other.classList.remove("on");
    b.classList.add("on");
    onClick();
  });
  li.appendChild(b);
  return li;
}

async function loadStreams() {
  const ul = $("streams");
  const { streams } = await call("v1/streams?limit=1000");
  ul.replaceChildren();
  if (!streams.length) ul.appendChild(el("li", "nothing recorded yet", "muted"));
  for (const s of streams) {
    const li = listButton(s.stream, null, () => loadRecordings(s.stream).catch((e) => showError(e.message)));
    if (s.stream === stream) li.firstChild.classList.add("on");
    ul.appendChild(li);
  }
}
$("streams-refresh").addEventListener("click", () => loadStreams().catch((e) => showError(e.message)));

async function loadRecordings(name) {
  showError("");
  stream = name;
  const ul = $("recordings");
  ul.replaceChildren();
  const { recordings } = await call(`v1/streams/${name}/recordings`);
  recs = recordings.map((r) => ({
    id: r.id, start: Date.parse(r.started_at), end: r.ended_at ? Date.parse(r.ended_at) : Date.parse(r.started_at) + r.duration * 1000,
    live: r.state === "live", playlist: rel(r.playlist_url), runs: r.runs.length, cues: null,
  }));
  for (const r of recs.slice().reverse()) {
    const li = listButton(fmt(r.start), `${Math.round((r.end - r.start) / 1000)} s, ${r.runs} run(s)` + (r.live ? " · LIVE" : ""),
      () => pickRecording(r));
    li.firstChild.dataset.id = r.id;
    ul.appendChild(li);
  }
  if (!recs.length) ul.appendChild(el("li", "no recordings", "muted"));
  zoomAll();
}

function pickRecording(r) {
  play(r.playlist, { stream, rec: r });
  zoom(r.start, r.end);
  loadCues(r);
  loadSnapshots(r.start, r.live ? Date.now() : r.end);
}

// ---- player

function play(url, info) {
  current = info;
  showError("");
  if (hls) { hls.destroy(); hls = null; }
  video.removeAttribute("src");
  if (!window.Hls || !Hls.isSupported()) {
    video.src = url; // Safari plays HLS natively
    video.play().catch(() => {});
    return;
  }
  hls = new Hls({ enableWorker: true });
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (d.fatal) {
      window.rewindErrors.push(`${d.type}: ${d.details}`);
      const st = d.response && d.response.code;
      showError(st === 403 ? "playback refused (403): this stream may need a signed URL" : `playback error: ${d.details}`);
    }
  });
  hls.on(Hls.Events.LEVEL_LOADED, applyPendingSeek);
  hls.loadSource(url);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
}

// playFile plays a clip's MP4 output directly.
function playFile(url) {
  current = null;
  if (hls) { hls.destroy(); hls = null; }
  video.src = url;
  video.play().catch(() => {});
}

// The fragment list maps wall clock to media time, across discontinuities.
function fragments() {
  const lvl = hls && hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : 0];
  return (lvl && lvl.details && lvl.details.fragments) || [];
}

function span() {
  const frags = fragments();
  if (!frags.length || !frags[0].programDateTime) return null;
  const last = frags[frags.length - 1];
  return { start: frags[0].programDateTime, end: (last.programDateTime || 0) + last.duration * 1000 };
}

function seekWall(ms) {
  for (const f of fragments()) {
    if (f.programDateTime && ms >= f.programDateTime && ms < f.programDateTime + f.duration * 1000) {
      video.currentTime = f.start + (ms - f.programDateTime) / 1000;
      return true;
    }
  }
  return false;
}

// A seek asked before the recording was loaded waits for its fragments and
// for the media element to take a position.
function applyPendingSeek() {
  if (pendingSeek !== null && video.readyState >= 1 && seekWall(pendingSeek)) pendingSeek = null;
}
video.addEventListener("loadedmetadata", applyPendingSeek);

function playingAt() { return hls && hls.playingDate ? hls.playingDate.getTime() : null; }

video.addEventListener("timeupdate", () => {
  const s = span();
  const now = playingAt();
  if (!s || !now) return;
  $("clock").textContent = fmt(now);
  $("clock").dataset.t = now;
  $("span").textContent = `${fmt(s.start)} – ${fmt(s.end)}`;
  drawPlayhead(now);
});

// seekTo plays the recording holding ms (if it is not the one playing) and
// seeks there.
function seekTo(ms) {
  const r = recAt(ms);
  if (!r) return;
  if (current && current.rec === r && seekWall(ms)) return;
  pendingSeek = ms;
  if (!current || current.rec !== r) {
    for (const b of $("recordings").querySelectorAll("button")) b.classList.toggle("on", b.dataset.id === r.id);
    play(r.playlist, { stream, rec: r });
    drawTimeline();
    loadCues(r);
    loadSnapshots(r.start, r.live ? Date.now() : r.end);
  }
}

// ---- the timeline

const track = $("track");
const xOf = (ms) => ((ms - view.from) / (view.to - view.from)) * 100;
function timeAt(clientX) {
  const b = track.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (clientX - b.left) / b.width));
  return view.from + f * (view.to - view.from);
}
const recAt = (ms) => recs.find((r) => ms >= r.start && ms < r.end) || null;

function zoom(from, to) {
  const pad = Math.max(1000, (to - from) * 0.02);
  view = { from: from - pad, to: to + pad };
  drawTimeline();
}

function zoomAll() {
  if (!recs.length) { view = null; drawTimeline(); return; }
  zoom(Math.min(...recs.map((r) => r.start)), Math.max(...recs.map((r) => r.end)));
}
$("zoom-all").addEventListener("click", zoomAll);

function drawTimeline() {
  for (const b of track.querySelectorAll(".bar")) b.remove();
  $("axis").replaceChildren();
  $("view-span").textContent = view ? `${fmt(view.from)} – ${fmt(view.to)}` : "pick a stream";
  if (!view) return;
  for (const r of recs) {
    const b = el("div", null, "bar" + (r.live ? " live" : "") + (current && current.rec === r ? " on" : ""));
    b.style.left = Math.max(0, xOf(r.start)) + "%";
    b.style.width = Math.max(0, Math.min(100, xOf(r.end)) - Math.max(0, xOf(r.start))) + "%";
    b.title = `${fmt(r.start)} – ${fmt(r.end)}`;
    b.dataset.id = r.id;
    track.insertBefore(b, track.firstChild);
  }
  for (let i = 0; i <= 4; i++) {
    const s = el("span", hms(view.from + (i / 4) * (view.to - view.from)));
    s.style.left = i * 25 + "%";
    $("axis").appendChild(s);
  }
  drawMarks();
}

function drawPlayhead(ms) {
  const p = $("playhead");
  p.hidden = !view || ms < view.from || ms > view.to;
  if (!p.hidden) p.style.left = xOf(ms) + "%";
}

function drawMarks() {
  const s = $("selection");
  s.hidden = !view || marks.in === null || marks.out === null || marks.out <= marks.in;
  if (s.hidden) return;
  s.style.left = xOf(marks.in) + "%";
  s.style.width = xOf(marks.out) - xOf(marks.in) + "%";
}

function setMarks(a, b) {
  marks = { in: a, out: b };
  $("clip-in").value = a === null ? "" : iso(a);
  $("clip-out").value = b === null ? "" : iso(b);
  drawMarks();
}

for (const id of ["clip-in", "clip-out"]) {
  $(id).addEventListener("change", () => {
    marks = { in: parseWhen($("clip-in").value), out: parseWhen($("clip-out").value) };
    drawMarks();
  });
}
$("mark-in").addEventListener("click", () => { const t = playingAt(); if (t) setMarks(t, marks.out); });
$("mark-out").addEventListener("click", () => { const t = playingAt(); if (t) setMarks(marks.in, t); });

// Marks from the timeline are rounded to 0.1 s: what the operator sees in
// the fields is what is asked for.
const round100 = (ms) => Math.round(ms / 100) * 100;
let drag = null;
track.addEventListener("pointerdown", (e) => {
  if (!view || e.button !== 0) return;
  track.setPointerCapture(e.pointerId);
  drag = { x: e.clientX, t: timeAt(e.clientX), moved: false };
});
track.addEventListener("pointermove", (e) => {
  if (!view) return;
  hoverAt(e.clientX);
  if (!drag) return;
  if (Math.abs(e.clientX - drag.x) > 4) drag.moved = true;
  if (drag.moved) {
    const t = timeAt(e.clientX);
    setMarks(round100(Math.min(drag.t, t)), round100(Math.max(drag.t, t)));
  }
});
track.addEventListener("pointerup", (e) => {
  if (!drag) return;
  const d = drag;
  drag = null;
  if (!d.moved) seekTo(timeAt(e.clientX));
});
track.addEventListener("pointerleave", () => { if (!drag) $("hover").hidden = true; });

// ---- scrub sprites: the recording's WebVTT thumbnail track

function vttSeconds(s) {
  const p = s.trim().split(":").map(Number);
  return p.reduce((acc, v) => acc * 60 + v, 0);
}

// parseVTT reads the cues of a thumbnail track: times and the sprite URL
// with its #xywh= crop. Cues it cannot read are skipped.
function parseVTT(text, base) {
  const cues = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((l) => l.trim() !== "");
    const i = lines.findIndex((l) => l.includes("-->"));
    if (i < 0 || i + 1 >= lines.length) continue;
    const [from, to] = lines[i].split("-->");
    const m = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1].trim());
    if (!m) continue;
    const start = vttSeconds(from), end = vttSeconds(to.trim().split(/\s+/)[0]);
    if (!isFinite(start) || !isFinite(end)) continue;
    cues.push({ start, end, url: new URL(m[1], base).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5] });
  }
  return cues;
}

function loadCues(r) {
  if (r.cues) return r.cues;
  // About 200 tiles over the recording (2 s at least, the API's 600 s at
  // most): a short recording still scrubs in steps, a long one stays a few
  // sheets.
  const every = Math.min(600, Math.max(2, Math.ceil((r.end - r.start) / 1000 / 200)));
  const url = new URL(`v1/streams/${stream}/recordings/${r.id}/thumbnails.vtt?every=${every}`, location.href);
  r.cues = fetch(url, { cache: r.live ? "no-store" : "default" }).then(async (resp) => {
    if (!resp.ok) {
      r.cuesError = resp.status === 501 ? "no sprites: built without the editor"
        : resp.status === 403 ? "no sprites: this stream needs a signed URL" : "no sprites: HTTP " + resp.status;
      return [];
    }
    return parseVTT(await resp.text(), url);
  }).catch((e) => { r.cuesError = String(e); return []; });
  return r.cues;
}

const loadedSprites = new Map(); // url -> Promise<bool>
function sprite(url) {
  if (!loadedSprites.has(url)) {
    loadedSprites.set(url, new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(true);
      img.onerror = () => resolve(false);
      img.src = url;
    }));
  }
  return loadedSprites.get(url);
}

// The keyboard does on the timeline what the pointer does: arrows move a
// cursor (1 %, with Shift 10 %), Enter seeks there, i and o mark.
let cursor = null;
track.addEventListener("keydown", (e) => {
  if (!view) return;
  const step = (view.to - view.from) * (e.shiftKey ? 0.1 : 0.01);
  if (cursor === null || cursor < view.from || cursor > view.to) cursor = playingAt() || (view.from + view.to) / 2;
  switch (e.key) {
    case "ArrowLeft": cursor = Math.max(view.from, cursor - step); break;
    case "ArrowRight": cursor = Math.min(view.to, cursor + step); break;
    case "Enter": case " ": seekTo(cursor); break;
    case "i": setMarks(round100(cursor), marks.out); break;
    case "o": setMarks(marks.in, round100(cursor)); break;
    default: return;
  }
  e.preventDefault();
  hoverTime(cursor);
});
track.addEventListener("blur", () => { $("hover").hidden = true; });

let hoverSeq = 0;
const hoverAt = (clientX) => hoverTime(timeAt(clientX));
async function hoverTime(t) {
  const h = $("hover"), tile = $("hover-tile");
  h.hidden = false;
  h.style.left = xOf(t) + "%";
  h.dataset.t = Math.round(t);
  $("hover-time").textContent = hms(t);
  const r = recAt(t);
  const seq = ++hoverSeq;
  const cues = r ? await loadCues(r) : [];
  if (seq !== hoverSeq) return; // the pointer moved on meanwhile
  const off = r ? (t - r.start) / 1000 : -1;
  const c = cues.find((c) => off >= c.start && off < c.end);
  if (!c) {
    tile.style.cssText = "";
    tile.dataset.loaded = "";
    $("hover-time").textContent = hms(t) + (r && r.cuesError ? " · " + r.cuesError : "");
    return;
  }
  const ok = await sprite(c.url);
  if (seq !== hoverSeq) return;
  tile.style.width = c.w + "px";
  tile.style.height = c.h + "px";
  tile.style.backgroundImage = ok ? `url("${c.url}")` : "";
  tile.style.backgroundPosition = `-${c.x}px -${c.y}px`;
  tile.dataset.sprite = c.url;
  tile.dataset.loaded = ok ? "true" : "false";
}

// ---- snapshots of the picked recording

async function loadSnapshots(from, to) {
  const strip = $("snapshots");
  strip.replaceChildren();
  $("snap-status").textContent = "";
  let body;
  try {
    body = await call(`v1/streams/${stream}/snapshots?` + new URLSearchParams({ from: iso(from), to: iso(to), limit: "200" }));
  } catch (e) {
    $("snap-status").textContent = e.message;
    return;
  }
  $("snap-status").textContent = body.snapshots.length ? `${body.snapshots.length}${body.next ? "+" : ""}` : "none in this recording";
  for (const s of body.snapshots) {
    const at = Date.parse(s.time);
    const b = el("button");
    b.type = "button";
    b.title = "seek to " + fmt(at);
    const img = el("img");
    img.loading = "lazy";
    img.alt = "snapshot at " + fmt(at);
    img.src = rel(s.url);
    b.append(img, hms(at));
    b.addEventListener("click", () => seekTo(at));
    strip.appendChild(b);
  }
}

// ---- clips

let clipPoll = null;
window.rewindClip = null; // the last clip job as the API shows it

$("clip").addEventListener("submit", async (e) => {
  e.preventDefault();
  const a = parseWhen($("clip-in").value), b = parseWhen($("clip-out").value);
  if (!stream) return showError("pick a stream first");
  if (a === null || b === null) return showError("in and out must be times (RFC 3339 or unix seconds)");
  if (b <= a) return showError("out must be after in");
  showError("");
  clearTimeout(clipPoll);
  const body = { stream, start: iso(a), end: iso(b), mode: $("clip-mode").value, format: $("clip-format").value };
  const key = "console-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  $("clip-submit").disabled = true;
  try {
    const acc = await call("v1/clips", {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    }, APITOKEN);
    showJob({ id: acc.id, status: acc.status, progress: 0 });
    pollClip(rel(acc.status_url));
  } catch (err) {
    showError("clip: " + err.message);
  } finally {
    $("clip-submit").disabled = false;
  }
});

async function pollClip(url) {
  let v;
  try {
    v = await call(url, {}, APITOKEN);
  } catch (err) {
    showError("clip status: " + err.message);
    return;
  }
  showJob(v);
  if (v.status !== "succeeded" && v.status !== "failed") clipPoll = setTimeout(() => pollClip(url), 1000);
}

function showJob(v) {
  window.rewindClip = v;
  $("clip-job").hidden = false;
  $("clip-progress").value = v.progress || 0;
  let text = `clip ${v.id}: ${v.status} ${v.progress || 0}%`;
  if (v.error) text += " — " + v.error;
  if (v.output) text += ` — ${num(v.output.duration, 3)} s, ${(v.output.size / 1e6).toFixed(2)} MB`;
  $("clip-status").textContent = text;
  $("clip-status").dataset.status = v.status;
  const out = v.status === "succeeded" && v.output;
  const dl = $("clip-download");
  dl.hidden = !out;
  $("clip-play").hidden = !out || v.format === "ts"; // browsers play MP4 and (via hls.js) HLS, not bare TS
  if (out) {
    dl.href = rel(v.output.url);
    // An HLS clip is a playlist to open, not one file to save.
    if (v.format === "hls") dl.removeAttribute("download");
    else dl.download = `clip-${v.id}.${v.format}`;
    dl.textContent = v.format === "hls" ? "Open playlist" : "Download";
  }
}

$("clip-play").addEventListener("click", () => {
  const v = window.rewindClip;
  if (!v || !v.output) return;
  if (v.format === "hls") play(rel(v.output.url), null);
  else playFile(rel(v.output.url));
});

// ---- any window

$("window").addEventListener("click", () => {
  if (!stream) { showError("pick a stream first"); return; }
  const q = new URLSearchParams({ start: $("start").value.trim() });
  if ($("end").value.trim()) q.set("end", $("end").value.trim());
  play(`hls/${stream}/index.m3u8?${q}`, { stream });
});

drawTimeline();
loadStreams().catch((e) => showError(e.message));
refreshLive();
