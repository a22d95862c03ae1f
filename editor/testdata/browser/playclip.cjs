// Drives Debian's Chromium with playwright-core: opens PAGE_URL (a page
// that loads hls.js), plays PLAYLIST_URL with hls.js to its end and prints
// one JSON line: the furthest position, `ended` events, hls.js fatal and
// non-fatal errors, and the video frames the browser decoded.
// Usage: node playclip.cjs PAGE_URL PLAYLIST_URL TIMEOUT_MS
const { chromium } = require("playwright-core");

(async () => {
  const [pageURL, playlistURL, timeout] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { errors: [] };
  let page;
  const snapshot = async () => Object.assign(result, await page.evaluate(() => {
    const t = window.clipTest;
    t.frames = window.clipVideo.getVideoPlaybackQuality().totalVideoFrames;
    return t;
  }));
  try {
    page = await browser.newPage();
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(pageURL);
    await page.waitForFunction(() => window.Hls && Hls.isSupported(), null, { timeout: 10000 });
    await page.evaluate((src) => {
      const t = (window.clipTest = { ended: 0, fatal: [], nonFatal: [], maxTime: 0 });
      const video = document.createElement("video");
      video.muted = true;
      document.body.appendChild(video);
      video.addEventListener("ended", () => t.ended++);
      video.addEventListener("timeupdate", () => { t.maxTime = Math.max(t.maxTime, video.currentTime); });
      const hls = new Hls({ enableWorker: true });
      hls.on(Hls.Events.ERROR, (_, d) => (d.fatal ? t.fatal : t.nonFatal).push(`${d.type}: ${d.details}`));
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => t.fatal.push(`play: ${e}`)));
      hls.loadSource(src);
      hls.attachMedia(video);
      window.clipVideo = video;
    }, playlistURL);
    await page.waitForFunction(() => window.clipTest.ended > 0 || window.clipTest.fatal.length > 0,
      null, { timeout: Number(timeout), polling: 200 });
    await snapshot();
  } catch (e) {
    result.errors.push(String(e));
    try { await snapshot(); } catch (_) {}
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
