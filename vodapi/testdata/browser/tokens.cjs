// Drives Debian's Chromium with playwright-core through the console page of
// a replay API with signed playback and clip API tokens: the recording's
// playback and snapshots say they need a signed URL; a clip submit asks for
// the API token (a wrong one is asked again), then is accepted and its
// status followed. Prints one JSON line with what it saw.
// Usage: node tokens.cjs URL API_TOKEN
const { chromium } = require("playwright-core");

(async () => {
  const [url, token] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { errors: [], console: [], http: [] };
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(20000);
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    page.on("response", (r) => { if (r.status() >= 400) result.http.push(r.status() + " " + new URL(r.url()).pathname); });
    await page.goto(url);
    await page.locator("#streams button").first().click();
    await page.locator("#recordings button").first().click();
    await page.waitForFunction(() => document.getElementById("snap-status").textContent !== "");
    result.snapStatus = await page.textContent("#snap-status");
    await page.waitForFunction(() => document.getElementById("error").textContent !== "");
    result.playError = await page.textContent("#error");

    // Type the marks, submit: the API token is asked for.
    await page.evaluate(() => {
      const bar = document.querySelector("#track .bar");
      const from = Date.parse(bar.title.split(" – ")[0].replace(" ", "T"));
      const set = (id, ms) => { const e = document.getElementById(id); e.value = new Date(ms).toISOString(); e.dispatchEvent(new Event("change")); };
      set("clip-in", from + 1000);
      set("clip-out", from + 3000);
    });
    await page.click("#clip-submit");
    await page.waitForFunction(() => document.getElementById("token-dialog").open);
    result.tokenWhy = await page.textContent("#token-why");
    await page.fill("#token-input", "not-the-token");
    await page.click("#token-ok");
    await page.waitForFunction(() => document.getElementById("token-dialog").dataset.asked === "2");
    result.askedAgain = await page.evaluate(() => document.getElementById("token-dialog").open);
    await page.fill("#token-input", token);
    await page.click("#token-ok");
    await page.waitForFunction(() => document.getElementById("clip-status").dataset.status === "queued");
    result.clipStatus = await page.textContent("#clip-status");
    result.session = await page.evaluate(() => sessionStorage.getItem("rewind-api-token"));
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
