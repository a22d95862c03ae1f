// Drives Debian's Chromium with playwright-core: opens the replay page,
// picks the first stream and its first recording, and waits until the
// video has played past 5 s. Prints one JSON line with what it saw.
// Usage: node play.cjs URL
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
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
    await page.goto(url);
    await page.locator("#streams button").first().click();
    await page.locator("#recordings button").first().click();
    await page.waitForFunction(() => document.getElementById("video").currentTime > 5, null, { timeout: 30000 });
    result.currentTime = await page.evaluate(() => document.getElementById("video").currentTime);
    result.fatal = await page.evaluate(() => window.rewindErrors);
    result.clock = await page.textContent("#clock");
  } catch (e) {
    result.errors.push(String(e));
    try { result.fatal = await browser.contexts()[0].pages()[0].evaluate(() => window.rewindErrors); } catch (_) {}
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
