// Drives Debian's Chromium with playwright-core through the operator
// console of `rewind dev` for TestConsole: a wrong admin token then the
// right one, the live table, the recorded stream on the timeline with the
// scrub sprite on hover, an accurate MP4 clip marked by a drag on the
// timeline (progress watched, the output downloaded and played), and a
// recording stopped and started again, and a kick. Prints one JSON line with what it saw.
// Usage: node console.cjs URL ADMIN_TOKEN RECORDED LIVE DOWNLOAD_PATH
// (SCREENSHOT_DIR=dir keeps console-live.png and console-replay.png there)
const { chromium } = require("playwright-core");

(async () => {
  const [url, token, recorded, live, download] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const shots = process.env.SCREENSHOT_DIR;
  const result = { errors: [], console: [], http: [], progress: [] };
  try {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 860 }, acceptDownloads: true });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30000);
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    page.on("response", (r) => { if (r.status() >= 400) result.http.push(r.status() + " " + new URL(r.url()).pathname); });
    // The kick's confirm() is accepted.
    page.on("dialog", (d) => { result.confirm = d.message(); d.accept(); });
    await page.goto(url);

    // The live list needs the admin token: asked; a wrong one is asked again.
    await page.waitForFunction(() => document.getElementById("token-dialog").open);
    result.tokenWhy = await page.textContent("#token-why");
    await page.fill("#token-input", "not-the-token");
    await page.click("#token-ok");
    await page.waitForFunction(() => document.getElementById("token-dialog").dataset.asked === "2");
    result.askedAgain = await page.evaluate(() => document.getElementById("token-dialog").open);
    await page.fill("#token-input", token);
    await page.click("#token-ok");
    const liveRow = `#live-table tr[data-stream="${live}"]`;
    await page.locator(liveRow).waitFor();
    result.liveCells = await page.$$eval(`${liveRow} td`, (tds) => tds.map((t) => t.textContent));
    result.liveHeaders = await page.$$eval("#live-table thead th", (ths) => ths.map((t) => t.textContent));
    result.session = await page.evaluate((k) => sessionStorage.getItem(k), "rewind-admin-token");
    result.local = await page.evaluate(() => localStorage.length);
    // The latest snapshot shows in the row once one is stored.
    await page.waitForFunction((sel) => {
      const img = document.querySelector(sel + " img");
      return img && img.complete && img.naturalWidth > 0;
    }, liveRow, { timeout: 60000 });
    result.liveSnapshotWidth = await page.$eval(`${liveRow} img`, (i) => i.naturalWidth);

    // The recorded stream: its recording on the timeline, played.
    await page.click("#streams-refresh");
    await page.locator("#streams button", { hasText: recorded }).click();
    await page.waitForFunction(() => document.querySelectorAll("#track .bar").length > 0);
    await page.locator("#recordings button").first().click();
    await page.waitForFunction(() => document.getElementById("video").currentTime > 0.5);
    const box = await page.locator("#track").boundingBox();
    const y = box.y + box.height / 2;

    // Hover: the sprite tile of that time, cropped from a sheet under sprites/.
    const hover = async (f) => {
      await page.mouse.move(box.x + box.width * f, y);
      await page.waitForFunction(() => document.getElementById("hover-tile").dataset.loaded === "true", null, { timeout: 60000 });
    };
    await hover(0.5);
    result.tile = await page.$eval("#hover-tile", (t) => ({
      sprite: t.dataset.sprite, background: getComputedStyle(t).backgroundImage,
      position: getComputedStyle(t).backgroundPosition, width: t.offsetWidth, height: t.offsetHeight,
    }));
    await page.waitForFunction(() => document.querySelectorAll("#snapshots img").length > 0, null, { timeout: 60000 });
    result.snapshots = await page.locator("#snapshots img").count();

    // Drag on the timeline: in and out.
    await page.mouse.move(box.x + box.width * 0.25, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.45, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.7, y, { steps: 5 });
    await page.mouse.up();
    result.in = await page.inputValue("#clip-in");
    result.out = await page.inputValue("#clip-out");

    // An accurate MP4 clip; its progress is watched until it ends.
    await page.selectOption("#clip-mode", "accurate");
    await page.selectOption("#clip-format", "mp4");
    await page.click("#clip-submit");
    for (let i = 0; i < 1200; i++) {
      const s = await page.evaluate(() => [document.getElementById("clip-status").dataset.status || "", document.getElementById("clip-progress").value]);
      const last = result.progress[result.progress.length - 1];
      if (!last || last[0] !== s[0] || last[1] !== s[1]) result.progress.push(s);
      if (s[0] === "succeeded" || s[0] === "failed") break;
      await page.waitForTimeout(100);
    }
    result.clipStatus = await page.textContent("#clip-status");
    result.clip = await page.evaluate(() => window.rewindClip);

    await hover(0.5);
    if (shots) await page.screenshot({ path: shots + "/console-replay.png", fullPage: true });

    // Download the result, then play it in the page.
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#clip-download")]);
    await dl.saveAs(download);
    result.downloadName = dl.suggestedFilename();
    await page.click("#clip-play");
    await page.waitForFunction(() => {
      const v = document.getElementById("video");
      return v.src.includes("/output") && v.currentTime > 0.5;
    });
    result.clipPlayed = true;

    // Kick: the stream leaves the live table.
    await page.evaluate(() => window.scrollTo(0, 0));
    if (shots) {
      const b = await page.locator("#live").boundingBox();
      await page.screenshot({ path: shots + "/console-live.png", clip: { x: 0, y: 0, width: 1200, height: Math.ceil(b.y + b.height) } });
    }
    // Stop, then start recording: the stream stays live, a second run begins.
    await page.click(`${liveRow} button.record`);
    await page.waitForFunction((sel) => document.querySelector(sel + " td.recording")?.textContent === "off", liveRow);
    result.recordingStopped = true;
    await page.click(`${liveRow} button.record`);
    await page.waitForFunction((sel) => (document.querySelector(sel + " td.recording")?.textContent || "").startsWith("on (run 2)"), liveRow);
    result.recordingRestarted = true;
    // The new run holds a segment before the kick (a run without one is
    // not stored): wait for its playlist to list one.
    const auth = { headers: { Authorization: "Bearer " + token } };
    const entry = await (await fetch(new URL("v1/live/" + live, url), auth)).json();
    const runURL = new URL(`hls/${live}/runs/${entry.recording.run}/index.m3u8`, url);
    for (let i = 0; i < 100; i++) {
      const r = await fetch(runURL);
      if (r.ok && (await r.text()).includes("#EXTINF")) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    await page.click(`${liveRow} button.kick`);
    await page.locator(liveRow).waitFor({ state: "detached" });
    result.kicked = true;
    result.liveStatus = await page.textContent("#live-status");
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
