// Drives Debian's Chromium with playwright-core through the console page of
// a replay API alone (no live API, no editor, no job queue): the live
// section says there is no live API (and asks no token), the stream's
// recordings are bars on the timeline, a click on the timeline seeks there,
// a hover shows the time, a drag marks in and out, and a clip submit shows
// the API's refusal. Prints one JSON line with what it saw.
// Usage: node console.cjs URL
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const result = { errors: [], console: [], requests: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(20000);
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    // Every request the page makes, to show it stays on its own origin.
    page.on("request", (r) => result.requests.push(r.url()));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("live-status").textContent !== "");
    result.liveStatus = await page.textContent("#live-status");
    result.dialogOpen = await page.evaluate(() => document.getElementById("token-dialog").open);

    await page.locator("#streams button").first().click();
    await page.waitForFunction(() => document.querySelectorAll("#track .bar").length > 0);
    result.bars = await page.locator("#track .bar").count();
    result.recordings = await page.locator("#recordings button").count();

    // Play the newest recording; the timeline zooms to it.
    await page.locator("#recordings button").first().click();
    await page.waitForFunction(() => document.getElementById("video").currentTime > 0.5);
    const box = await page.locator("#track").boundingBox();
    const y = box.y + box.height / 2;

    // Hover: the time under the pointer (no sprites without the editor).
    await page.mouse.move(box.x + box.width * 0.6, y);
    await page.waitForFunction(() => !document.getElementById("hover").hidden && document.getElementById("hover-time").textContent.includes("no sprites"));
    result.hoverTime = await page.textContent("#hover-time");

    // Click: seek to the wall-clock time there (paused, so the clock
    // stays where the seek put it).
    await page.evaluate(() => document.getElementById("video").pause());
    await page.mouse.click(box.x + box.width * 0.6, y);
    result.target = Number(await page.evaluate(() => document.getElementById("hover").dataset.t));
    await page.waitForFunction((want) => Math.abs(Number(document.getElementById("clock").dataset.t) - want) < 1000, result.target)
      .catch(() => {}); // the Go test reports how far off it is
    result.clockAt = Number(await page.evaluate(() => document.getElementById("clock").dataset.t));

    // Show all, click on the other (older) recording: it plays from there.
    await page.click("#zoom-all");
    const older = await page.locator("#track .bar").evaluateAll((bs) => {
      const r = bs.map((b) => b.getBoundingClientRect()).sort((a, b) => a.left - b.left)[0];
      return { x: r.left + r.width * 0.4, y: r.top + r.height / 2 };
    });
    await page.mouse.click(older.x, older.y);
    result.otherTarget = Number(await page.evaluate(() => document.getElementById("hover").dataset.t));
    await page.waitForFunction((want) => Math.abs(Number(document.getElementById("clock").dataset.t) - want) < 2000, result.otherTarget)
      .catch(() => {});
    result.otherClockAt = Number(await page.evaluate(() => document.getElementById("clock").dataset.t));
    result.otherPicked = await page.evaluate(() => document.querySelector("#recordings button.on").dataset.id);
    result.firstID = await page.evaluate(() => document.querySelectorAll("#recordings button")[1].dataset.id);

    // The keyboard: i, ten steps right, o.
    await page.focus("#track");
    await page.keyboard.press("i");
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
    await page.keyboard.press("o");
    result.keyIn = await page.inputValue("#clip-in");
    result.keyOut = await page.inputValue("#clip-out");

    // Drag: mark in and out.
    await page.mouse.move(box.x + box.width * 0.25, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.75, y, { steps: 5 });
    await page.mouse.up();
    result.in = await page.inputValue("#clip-in");
    result.out = await page.inputValue("#clip-out");
    result.selection = await page.evaluate(() => !document.getElementById("selection").hidden);
    result.snapStatus = await page.textContent("#snap-status");

    // No job queue here: the API's refusal is shown.
    await page.click("#clip-submit");
    await page.waitForFunction(() => document.getElementById("error").textContent !== "");
    result.clipError = await page.textContent("#error");
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
