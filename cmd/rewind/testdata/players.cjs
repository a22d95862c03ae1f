// Drives Debian's Chromium with playwright-core: plays each playlist URL
// with another player than hls.js (Shaka Player or video.js with its VHS),
// from a page of the API's own origin that playwright serves (the replay
// page's policy lets no other script run), until `ended`, a player error or
// the timeout. Prints one JSON line: per URL the furthest position, the
// media duration the player saw, `ended`, errors, waiting events and
// the buffered ranges at the end.
// Usage: node players.cjs shaka|videojs ORIGIN NODE_MODULES RATE TIMEOUT_MS URL...
const { chromium } = require("playwright-core");
const path = require("path");

const vendor = {
  shaka: ["shaka-player/dist/shaka-player.compiled.js"],
  videojs: ["video.js/dist/video.min.js"],
};

// start plays src in the page and records what happens in window.t.
function start(player, src, rate) {
  const t = (window.t = { maxTime: 0, duration: 0, ended: 0, errors: [], waiting: 0 });
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  window.video = video;
  video.addEventListener("ended", () => t.ended++);
  video.addEventListener("waiting", () => t.waiting++);
  video.addEventListener("timeupdate", () => {
    t.maxTime = Math.max(t.maxTime, video.currentTime);
    t.duration = video.duration;
  });
  const play = () => {
    video.playbackRate = rate;
    video.play().catch((e) => t.errors.push(`play: ${e}`));
  };
  if (player === "shaka") {
    shaka.polyfill.installAll();
    const p = new shaka.Player();
    p.addEventListener("error", (e) => t.errors.push(`shaka ${e.detail.code}: ${e.detail.message || ""}`));
    p.attach(video).then(() => p.load(src)).then(play, (e) => t.errors.push(`shaka load ${e.code}: ${e.message || ""}`));
    return;
  }
  const v = videojs(video, { html5: { vhs: { overrideNative: true } } });
  v.on("error", () => t.errors.push(`video.js ${v.error().code}: ${v.error().message}`));
  v.src({ src, type: "application/x-mpegURL" });
  v.ready(play);
}

(async () => {
  const [player, origin, nm, rate, timeout, ...urls] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { player, plays: [], errors: [] };
  try {
    const ctx = await browser.newContext();
    const scripts = vendor[player].map((f, i) => `/__players/${i}.js`);
    await ctx.route(`${origin}/__players/**`, (route) => {
      const u = new URL(route.request().url());
      if (u.pathname === "/__players/page.html") {
        const tags = scripts.map((s) => `<script src="${s}"></script>`).join("");
        return route.fulfill({ contentType: "text/html", body: `<!doctype html><html><body>${tags}</body></html>` });
      }
      const i = scripts.indexOf(u.pathname);
      if (i < 0) return route.fulfill({ status: 404, body: "" });
      return route.fulfill({ contentType: "text/javascript", path: path.join(nm, vendor[player][i]) });
    });
    for (const url of urls) {
      const page = await ctx.newPage();
      const console_ = [];
      page.on("console", (m) => { if (m.type() === "error") console_.push(m.text()); });
      page.on("pageerror", (e) => console_.push(String(e)));
      let got = {};
      try {
        await page.goto(`${origin}/__players/page.html`);
        await page.evaluate(`(${start})(${JSON.stringify(player)}, ${JSON.stringify(url)}, ${Number(rate)})`);
        await page.waitForFunction(() => window.t.ended > 0 || window.t.errors.length > 0, null,
          { timeout: Number(timeout), polling: 200 });
      } catch (e) {
        console_.push(String(e));
      }
      try {
        got = await page.evaluate(() => {
          const b = window.video.buffered;
          const ranges = [];
          for (let i = 0; i < b.length; i++) ranges.push([b.start(i), b.end(i)]);
          return Object.assign({ buffered: ranges, currentTime: window.video.currentTime }, window.t);
        });
      } catch (_) {}
      result.plays.push(Object.assign({ url, console: console_ }, got));
      await page.close();
    }
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
