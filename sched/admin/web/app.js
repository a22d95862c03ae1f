// The scheduler console: reads /v1/sched/report every few seconds with the
// admin token the operator typed (kept in sessionStorage: this tab only)
// and posts overrides. Every value from the server goes in as text, never
// as HTML.
"use strict";

const TOKEN_KEY = "rewind-sched-token";
const WHO_KEY = "rewind-sched-who";
const REFRESH_MS = 5000;
// Known items first in this order; any other item the report has follows.
const PULL_ITEMS = ["first_frame", "stall_rate", "stalled_ratio", "error_rate", "latency", "dropped_frames", "relay_faults"];
const PUSH_ITEMS = ["push_drop_rate", "push_error_rate", "relay_faults"];

const $ = (id) => document.getElementById(id);
let timer = null;
let formFilled = false;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
  tbody.appendChild(tr);
  return tr;
}

function num(v, digits) {
  return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–";
}

function bytes(v) {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return v.toFixed(i ? 2 : 0) + " " + units[i];
}

function when(t) {
  if (!t || t.startsWith("0001-")) return "–";
  return t.replace("T", " ").replace(/\.\d+/, "");
}

function td(text, cls) { return el("td", text, cls); }

function showError(msg) { $("error").textContent = msg || ""; }

function askToken(msg) {
  clearInterval(timer);
  timer = null;
  $("console").hidden = true;
  $("login").hidden = false;
  showError(msg);
  $("token").focus();
}

async function api(path, opts) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  opts = opts || {};
  opts.headers = Object.assign({ "Authorization": "Bearer " + token }, opts.headers || {});
  opts.cache = "no-store";
  const resp = await fetch(path, opts);
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON: keep null */ }
  return { status: resp.status, body };
}

async function refresh() {
  let r;
  try {
    r = await api("v1/sched/report");
  } catch (e) {
    showError("report: " + e);
    return;
  }
  if (r.status === 401 || r.status === 403) {
    const msg = r.body && r.body.error ? r.body.error : "HTTP " + r.status;
    if (msg !== "admin API off") sessionStorage.removeItem(TOKEN_KEY);
    askToken(msg);
    return;
  }
  if (r.status !== 200 || !r.body) {
    showError("report: HTTP " + r.status + (r.body && r.body.error ? ": " + r.body.error : ""));
    return;
  }
  showError("");
  $("login").hidden = true;
  $("console").hidden = false;
  render(r.body);
}

function regionsOf(rep) {
  const seen = [];
  for (const k of rep.keys || []) if (!seen.includes(k.region)) seen.push(k.region);
  return seen;
}

function render(rep) {
  const st = el("span", rep.state, rep.state);
  const status = $("status");
  status.replaceChildren("policy input ", el("b", rep.source || "(none)"), " ", st,
    rep.static ? " — static order" : "", " — snapshot " + when(rep.snapshot_at));
  $("updated").textContent = "updated " + when(rep.at);

  // Inputs: every reader the service runs, with its state shown in words.
  const inputs = $("inputs").tBodies[0];
  inputs.replaceChildren();
  const names = Object.keys(rep.inputs || {}).sort();
  if (!names.length) row(inputs, [td("(none reported)", "unknown"), td("")]);
  for (const n of names) {
    const s = rep.inputs[n];
    const tr = row(inputs, [td(n), td(s, s)]);
    tr.dataset.input = n;
  }

  const regions = regionsOf(rep);
  const orders = $("orders").tBodies[0];
  orders.replaceChildren();
  for (const region of regions) {
    const tr = row(orders, [td(region), orderCell((rep.orders || {})[region]), orderCell((rep.push_orders || {})[region])]);
    tr.dataset.region = region;
  }

  const billing = {};
  for (const c of rep.cdns || []) billing[c.cdn] = c;
  scoreTable($("scores"), rep, "pull", PULL_ITEMS, billing);
  scoreTable($("push"), rep, "push", PUSH_ITEMS, null);

  const bt = $("billing").tBodies[0];
  bt.replaceChildren();
  for (const c of rep.cdns || []) {
    row(bt, [td(c.cdn), td(c.billing), td(num(c.marginal_per_gb, 4), "num"), td(bytes(c.month_bytes || 0), "num"),
      td(num(c.projected && c.projected.amount, 2) + " (" + bytes((c.projected && c.projected.bytes) || 0) + ")", "num")]);
  }

  const ov = $("overrides").tBodies[0];
  ov.replaceChildren();
  if (!(rep.overrides || []).length) row(ov, [td("none", "unknown"), td(""), td(""), td(""), td(""), td("")]);
  for (const o of rep.overrides || []) row(ov, [td(o.action), td(o.cdn), td(o.region || "(all)"), td(o.who), td(o.why), td(when(o.at))]);

  // Logs newest first.
  const audit = $("audit").tBodies[0];
  audit.replaceChildren();
  for (const a of (rep.audit || []).slice().reverse()) row(audit, [td(when(a.at)), td(a.who), td(a.action), td(a.cdn), td(a.region || "(all)"), td(a.why)]);
  const sw = $("switches").tBodies[0];
  sw.replaceChildren();
  for (const s of (rep.switches || []).slice().reverse()) row(sw, [td(when(s.at)), td(s.order), td(s.region), td(s.from || "–"), td(s.to), td(s.reason), td(s.automatic ? "yes" : "no")]);

  fillForm(rep, regions);
}

function orderCell(list) {
  const c = el("td");
  if (!list || !list.length) { c.textContent = "(empty)"; c.className = "bad"; return c; }
  const ol = el("ol");
  for (const cdn of list) ol.appendChild(el("li", cdn));
  c.appendChild(ol);
  c.dataset.order = list.join(",");
  return c;
}

function scoreTable(table, rep, side, known, billing) {
  const keys = rep.keys || [];
  const items = known.slice();
  for (const k of keys) for (const it of Object.keys((k[side].items) || {})) if (!items.includes(it)) items.push(it);
  const head = ["CDN", "region"].concat(items, ["composite", "worst", "state", side + " rank"]);
  if (billing) head.push("marginal / GB", "month to date", "projected bill", "push rank");
  const thead = table.tHead;
  thead.replaceChildren();
  const htr = document.createElement("tr");
  for (const h of head) htr.appendChild(el("th", h));
  thead.appendChild(htr);
  const tbody = table.tBodies[0];
  tbody.replaceChildren();
  for (const k of keys) {
    const o = k[side];
    const cells = [td(k.cdn), td(k.region)];
    for (const it of items) {
      const s = (o.items || {})[it];
      if (!s || !s.known) { cells.push(td("–", "unknown num")); continue; }
      cells.push(td(num(s.score, 0) + " (" + num(s.value, 3) + ")" + (s.aggregate ? " *" : ""), "num" + (s.score < 50 ? " bad" : "")));
    }
    cells.push(td(num(o.composite, 1) + (o.neutral ? " (neutral)" : ""), "num"));
    cells.push(td(o.worst ? o.worst + " " + num(o.worst_score, 0) : "–", o.worst && o.worst_score < 50 ? "bad" : ""));
    const state = [];
    if (o.disabled) state.push("disabled");
    if (o.failed) state.push("FAILED: " + (o.fail_reason || "?") + " since " + when(o.failed_since));
    if (o.below_floor) state.push("below floor");
    cells.push(td(state.join("; ") || "ok", o.failed ? "failed" : o.disabled ? "disabled" : ""));
    cells.push(td(o.rank ? String(o.rank) : "out", "num"));
    if (billing) {
      const b = billing[k.cdn] || {};
      cells.push(td(num(b.marginal_per_gb, 4), "num"), td(bytes(b.month_bytes || 0), "num"),
        td(num(b.projected && b.projected.amount, 2), "num"), td(k.push.rank ? String(k.push.rank) : "out", "num"));
    }
    const tr = row(tbody, cells);
    tr.dataset.key = k.cdn + "/" + k.region;
  }
}

// fillForm sets the override form's choices from the configured CDNs and
// regions, keeping what the operator has selected.
function fillForm(rep, regions) {
  const cdns = (rep.cdns || []).map((c) => c.cdn);
  setOptions($("ov-cdn"), cdns.map((c) => [c, c]));
  setOptions($("ov-region"), [["", "all regions"]].concat(regions.map((r) => [r, r])));
  if (!formFilled) {
    $("ov-who").value = sessionStorage.getItem(WHO_KEY) || "";
    formFilled = true;
  }
}

function setOptions(sel, opts) {
  const want = opts.map((o) => o[0]).join("\n");
  const have = Array.from(sel.options).map((o) => o.value).join("\n");
  if (want === have) return;
  const keep = sel.value;
  sel.replaceChildren();
  for (const [v, label] of opts) {
    const o = el("option", label);
    o.value = v;
    sel.appendChild(o);
  }
  if (opts.some((o) => o[0] === keep)) sel.value = keep;
}

async function submitOverride(ev) {
  ev.preventDefault();
  const msg = $("ov-msg");
  const body = {
    action: $("ov-action").value, cdn: $("ov-cdn").value, region: $("ov-region").value,
    who: $("ov-who").value.trim(), why: $("ov-why").value.trim(),
  };
  sessionStorage.setItem(WHO_KEY, body.who);
  msg.className = "";
  msg.textContent = "…";
  let r;
  try {
    r = await api("v1/sched/overrides", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) {
    msg.className = "error";
    msg.textContent = String(e);
    return;
  }
  if (r.status !== 200) {
    msg.className = "error";
    msg.textContent = (r.body && r.body.error) || "HTTP " + r.status;
    if (r.status === 401 || r.status === 403) askToken(msg.textContent);
    return;
  }
  msg.textContent = body.action + " " + body.cdn + " " + (body.region || "(all)") + ": done";
  $("ov-why").value = "";
  await refresh();
}

function start() {
  if (timer === null) timer = setInterval(refresh, REFRESH_MS);
  refresh();
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  start();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  askToken("");
});
$("override").addEventListener("submit", submitOverride);

if (sessionStorage.getItem(TOKEN_KEY)) start();
else askToken("");
