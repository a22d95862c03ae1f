// Drives Debian's Chromium with playwright-core for TestSchedSteering:
// opens PAGE (which loads the full hls.js build and player.js), plays the
// multivariant playlist SRC with content steering and CMCD on, and
// reports what an SDK would to the JSON beacon. Every 250 ms it prints one
// JSON line {"status": ...} with everything the page saw so far; on "stop"
// (or EOF) on stdin, or after TIMEOUT ms, it prints {"final": ...} and
// exits. CONFIG is JSON: {"cdns": {"host:port": "cdn-a", ...},
// "beacon": URL, "stream": "app/name"}.
// Usage: node steer.cjs PAGE SRC CONFIG TIMEOUT
const { chromium } = require("playwright-core");

(async () => {
  const [pageURL, src, config, timeout] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const outside = { errors: [], console: [] };
  let page;
  const snapshot = async () => {
    let log = {};
    try { log = await page.evaluate(() => window.playerLog.snapshot()); } catch (e) { outside.errors.push("snapshot: " + e); }
    return Object.assign({}, log, { pageErrors: outside.errors, console: outside.console });
  };
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    clearInterval(ticker);
    console.log(JSON.stringify({ final: await snapshot() }));
    await browser.close();
    process.exit(0);
  };
  let ticker;
  try {
    page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") outside.console.push(m.text()); });
    page.on("pageerror", (e) => outside.errors.push(String(e)));
    await page.goto(pageURL);
    await page.evaluate(([src, config]) => window.startPlayer(src, JSON.parse(config)), [src, config]);
  } catch (e) {
    outside.errors.push(String(e));
  }
  let busy = false; // a slow evaluate must not pile up behind the next tick
  ticker = setInterval(async () => {
    if (done || busy) return;
    busy = true;
    const s = await snapshot();
    busy = false;
    if (!done) console.log(JSON.stringify({ status: s }));
  }, 250);
  process.stdin.on("data", (d) => { if (String(d).includes("stop")) finish(); });
  process.stdin.on("end", finish);
  setTimeout(finish, Number(timeout));
})();
