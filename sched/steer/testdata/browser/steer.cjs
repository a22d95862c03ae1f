// Drives Debian's Chromium with playwright-core: opens PAGE (which loads
// the full hls.js build), plays the multivariant playlist SRC with a small
// forward buffer (so segments are fetched as playback goes, and a pathway
// switch shows in the next requests) until the video has played past
// SECONDS or TIMEOUT ms pass. Prints one JSON line with what hls.js saw.
// Usage: node steer.cjs PAGE SRC SECONDS TIMEOUT
const { chromium } = require("playwright-core");

(async () => {
  const [page_url, src, seconds, timeout] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { currentTime: 0, errors: [], console: [] };
  try {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(page_url);
    await page.evaluate((src) => {
      const log = (window.steerLog = { manifests: [], frags: [], fatal: [], nonFatal: [], pathways: [] });
      const video = document.getElementById("video");
      const hls = new Hls({ maxBufferLength: 2, maxMaxBufferLength: 3, backBufferLength: 0, enableWorker: false });
      hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_, d) => {
        log.manifests.push({ url: d.url, priority: d.steeringManifest["PATHWAY-PRIORITY"],
          clones: (d.steeringManifest["PATHWAY-CLONES"] || []).map((c) => c.ID) });
      });
      hls.on(Hls.Events.FRAG_LOADING, (_, d) => log.frags.push(d.frag.url));
      hls.on(Hls.Events.LEVELS_UPDATED, (_, d) => log.pathways.push(d.levels.map((l) => l.pathwayId).join(",")));
      hls.on(Hls.Events.ERROR, (_, d) => (d.fatal ? log.fatal : log.nonFatal).push(d.details + (d.error ? ": " + d.error.message : "")));
      hls.loadSource(src);
      hls.attachMedia(video);
      video.muted = true;
      video.play().catch(() => {});
    }, src);
    await page.waitForFunction((s) => document.getElementById("video").currentTime > s || window.steerLog.fatal.length > 0,
      Number(seconds), { timeout: Number(timeout) });
    result.currentTime = await page.evaluate(() => document.getElementById("video").currentTime);
    Object.assign(result, await page.evaluate(() => window.steerLog));
  } catch (e) {
    result.errors.push(String(e));
    try { Object.assign(result, await browser.contexts()[0].pages()[0].evaluate(() => window.steerLog)); } catch (_) {}
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
