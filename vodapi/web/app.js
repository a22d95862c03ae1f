// rewind's replay page: list streams and recordings, play one with hls.js,
// seek by wall clock on a timeline. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const video = $("video");
let hls = null;
let current = null; // {stream, start: ms, end: ms or null}
window.rewindErrors = []; // fatal player errors, read by the browser test

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function button(label, onClick) {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.innerHTML = label;
  b.addEventListener("click", () => {
    for (const other of b.closest("ul").querySelectorAll("button")) other.classList.remove("on");
    b.classList.add("on");
    onClick();
  });
  li.appendChild(b);
  return li;
}

const fmt = (ms) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

async function loadStreams() {
  const ul = $("streams");
  ul.textContent = "";
  const { streams } = await getJSON("v1/streams?limit=1000");
  if (!streams.length) ul.innerHTML = "<li><small>nothing recorded yet</small></li>";
  for (const s of streams) ul.appendChild(button(esc(s.stream), () => loadRecordings(s.stream)));
}

async function loadRecordings(stream) {
  const ul = $("recordings");
  ul.textContent = "";
  const { recordings } = await getJSON(`v1/streams/${stream}/recordings`);
  for (const r of recordings.slice().reverse()) {
    const start = Date.parse(r.started_at);
    const end = r.ended_at ? Date.parse(r.ended_at) : null;
    const label = `${fmt(start)}<br><small>${Math.round(r.duration)} s, ${r.runs.length} run(s)</small>` +
      (r.state === "live" ? ' <span class="live">LIVE</span>' : "");
    ul.appendChild(button(label, () => play(r.playlist_url.replace(/^\//, ""), { stream, start, end })));
  }
}

function play(url, info) {
  current = info;
  $("error").textContent = "";
  if (hls) hls.destroy();
  if (!window.Hls || !Hls.isSupported()) {
    video.src = url; // Safari plays HLS natively
    video.play();
    return;
  }
  hls = new Hls({ enableWorker: true });
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (d.fatal) {
      window.rewindErrors.push(`${d.type}: ${d.details}`);
      $("error").textContent = `playback error: ${d.details}`;
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  const tl = $("timeline");
  tl.disabled = false;
  tl.value = 0;
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
      return;
    }
  }
}

$("timeline").addEventListener("input", (e) => {
  const s = span();
  if (s) seekWall(s.start + (s.end - s.start) * (e.target.value / 1000));
});

video.addEventListener("timeupdate", () => {
  const s = span();
  const now = hls && hls.playingDate ? hls.playingDate.getTime() : null;
  if (!s || !now) return;
  $("clock").textContent = fmt(now);
  $("span").textContent = `${fmt(s.start)} – ${fmt(s.end)}`;
  if (document.activeElement !== $("timeline")) {
    $("timeline").value = Math.round(((now - s.start) / (s.end - s.start)) * 1000);
  }
});

$("window").addEventListener("click", () => {
  const ul = $("streams").querySelector("button.on");
  if (!ul) { $("error").textContent = "pick a stream first"; return; }
  const stream = ul.textContent;
  const q = new URLSearchParams({ start: $("start").value.trim() });
  if ($("end").value.trim()) q.set("end", $("end").value.trim());
  play(`hls/${stream}/index.m3u8?${q}`, { stream });
});

loadStreams().catch((e) => { $("error").textContent = e.message; });
