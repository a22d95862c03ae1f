// Drives Debian's Chromium with playwright-core through the scheduler
// console: a wrong token, the right one, the tables, a disable through the
// form, a reload. Prints one JSON line with what it saw.
// Usage: node console.cjs URL TOKEN  (SCREENSHOT=file.png to keep a picture)
const { chromium } = require("playwright-core");

(async () => {
  const [url, token] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const result = { errors: [], console: [] };
  const cells = (sel) => `Array.from(document.querySelectorAll(${JSON.stringify(sel)})).map((tr) => Array.from(tr.cells).map((c) => c.textContent).join("|"))`;
  try {
    const page = await browser.newPage();
    // HTTP errors are kept apart (with their URL) from script errors, so
    // the test can tell the expected 403 of the wrong token.
    result.http = [];
    page.on("response", (r) => { if (r.status() >= 400) result.http.push(r.status() + " " + new URL(r.url()).pathname); });
    page.on("requestfailed", (r) => result.errors.push("request failed: " + r.url()));
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) result.console.push(m.text()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    page.setDefaultTimeout(15000);
    await page.goto(url);
    await page.locator("#login").waitFor({ state: "visible" });
    result.askedFirst = await page.locator("#console").isHidden();

    await page.fill("#token", "not-the-token");
    await page.click("#login button[type=submit]");
    await page.waitForFunction(() => document.getElementById("error").textContent !== "");
    result.wrongError = await page.textContent("#error");
    result.askedAgain = await page.locator("#login").isVisible();

    await page.fill("#token", token);
    await page.click("#login button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#scores tbody tr").length > 0);
    result.keys = await page.$$eval("#scores tbody tr", (rs) => rs.map((r) => r.dataset.key));
    result.headers = await page.$$eval("#scores thead th", (hs) => hs.map((h) => h.textContent));
    result.inputs = {};
    result.inputClasses = {};
    for (const r of await page.$$eval("#inputs tbody tr", (rs) => rs.map((r) => [r.dataset.input, r.cells[1].textContent, r.cells[1].className]))) {
      result.inputs[r[0]] = r[1];
      result.inputClasses[r[0]] = r[2];
    }
    const order = (region, col) => page.$eval(`#orders tr[data-region="${region}"]`, (tr, col) => tr.cells[col].dataset.order || "", col);
    result.orderBefore = await order("eu", 1);

    await page.selectOption("#ov-action", "disable");
    await page.selectOption("#ov-cdn", "a");
    await page.selectOption("#ov-region", "eu");
    await page.fill("#ov-who", "console-test");
    await page.fill("#ov-why", "browser disable");
    await page.click("#override button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#audit tbody tr").length > 0);
    await page.waitForFunction(() => document.querySelector('#orders tr[data-region="eu"]').cells[1].dataset.order !== "a,b,c");
    result.orderAfter = await order("eu", 1);
    result.orderUSAfter = await order("us", 1);
    result.audit = await page.evaluate(cells("#audit tbody tr"));
    result.overrides = await page.evaluate(cells("#overrides tbody tr"));
    result.session = await page.evaluate(() => sessionStorage.getItem("rewind-sched-token") !== null);
    result.local = await page.evaluate(() => localStorage.length);

    // A reload in the same tab keeps the token: no prompt, the tables come back.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#scores tbody tr").length > 0);
    result.reloaded = await page.locator("#login").isHidden();
    // SCREENSHOT=file.png keeps a picture of the page, to look at by hand.
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
