// Drives Debian's Chromium with playwright-core: opens the replay page (for
// its hls.js), plays the live playlist URL with hls.js in a video element of
// its own, and waits until playback passes a position. Prints one JSON line
// with what it saw: the position reached, `ended` events, hls.js fatal
// errors, non-fatal error details, playlist types and ENDLIST as loaded.
// Usage: node live.cjs PAGE_URL PLAYLIST_URL SECONDS TIMEOUT_MS
const { chromium } = require("playwright-core");

(async () => {
  const [pageURL, playlistURL, seconds, timeout] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { currentTime: 0, errors: [], console: [] };
  let page;
  const snapshot = async () => Object.assign(result, await page.evaluate(() => window.liveTest));
  try {
    page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(pageURL);
    await page.waitForFunction(() => window.Hls && Hls.isSupported(), null, { timeout: 10000 });
    await page.evaluate((src) => {
      const t = (window.liveTest = { ended: 0, fatal: [], nonFatal: [], types: [], endlist: [], maxTime: 0 });
      const video = document.createElement("video");
      video.muted = true;
      document.body.appendChild(video);
      video.addEventListener("ended", () => t.ended++);
      video.addEventListener("timeupdate", () => { t.maxTime = Math.max(t.maxTime, video.currentTime); });
      const hls = new Hls({ enableWorker: true });
      hls.on(Hls.Events.ERROR, (_, d) => (d.fatal ? t.fatal : t.nonFatal).push(`${d.type}: ${d.details}`));
      hls.on(Hls.Events.LEVEL_LOADED, (_, d) => {
        t.types.push(d.details.type);
        t.endlist.push(!d.details.live);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => t.fatal.push(`play: ${e}`)));
      hls.loadSource(src);
      hls.attachMedia(video);
      window.liveVideo = video;
    }, playlistURL);
    await page.waitForFunction((s) => window.liveTest.maxTime > s || window.liveTest.ended > 0 || window.liveTest.fatal.length > 0,
      Number(seconds), { timeout: Number(timeout), polling: 200 });
    await snapshot();
    result.currentTime = await page.evaluate(() => window.liveVideo.currentTime);
  } catch (e) {
    result.errors.push(String(e));
    try { await snapshot(); } catch (_) {}
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
