/**
 * The control server's web page (`/ui`): one self-contained HTML document, no external
 * resources (the admin port is often reached through a tunnel with no internet behind it).
 * It polls `/ui/state.json` every two seconds and redraws; everything shown comes from there.
 */
export const UI_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Perimeter</title>
<style>
  :root { --fg:#1d2433; --muted:#5c6677; --line:#e2e5ec; --bg:#f6f7fa; --ok:#1a7f37; --warn:#b35c00; --bad:#c62828; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; flex-wrap:wrap; gap:16px; align-items:baseline; padding:14px 24px; background:#1d2433; color:#fff; }
  header h1 { margin:0; font-size:20px; }
  header .meta { color:#c8cfdb; font-size:13px; }
  main { padding:16px 24px 40px; display:grid; gap:20px; }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px; }
  h2 { margin:0 0 10px; font-size:16px; }
  table { border-collapse:collapse; width:100%; font-size:13px; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--muted); font-weight:600; position:sticky; top:0; background:#fff; }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
  .mode-enforce { background:#dff3e4; color:var(--ok); } .mode-simulate { background:#fff1dc; color:var(--warn); }
  .mode-observe { background:#eceff4; color:var(--muted); } .deny { color:var(--bad); font-weight:600; } .allow { color:var(--ok); font-weight:600; }
  .audit { color:var(--muted); font-weight:600; }
  .banner { padding:10px 14px; border-radius:8px; font-weight:600; }
  .banner.bad { background:#fde8e8; color:var(--bad); border:1px solid #f5c2c2; } .banner.warn { background:#fff4e0; color:var(--warn); border:1px solid #f3d6a8; }
  #map { overflow:auto; } #map svg { max-width:100%; height:auto; }
  .cards { display:grid; gap:14px; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); }
  .card { border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
  .card h3 { margin:0 0 4px; font-size:15px; display:flex; gap:8px; align-items:center; }
  .muted { color:var(--muted); }
  .tools { display:flex; gap:14px; align-items:center; margin-bottom:8px; }
  .tools input[type=search] { padding:5px 8px; border:1px solid var(--line); border-radius:6px; min-width:260px; }
  tr.denied td { background:#fff5f5; } tr.would td { background:#fffaf0; }
  .scroll { max-height:480px; overflow:auto; }
  .staged { margin-top:10px; padding:8px 10px; border:1px dashed #c9b6f0; border-radius:6px; background:#faf7ff; }
  .staged h4 { margin:0 0 4px; font-size:13px; }
</style>
</head>
<body>
<header>
  <h1>Perimeter</h1>
  <span class="meta" id="snapshot">loading…</span>
  <span class="meta" id="updated"></span>
</header>
<main>
  <div id="banners"></div>
  <section><h2>Dependency map</h2><div id="map" aria-label="dependency map"></div></section>
  <section><h2>Workloads</h2><table id="workloads"><thead><tr><th>Workload</th><th>Identity</th><th>Perimeters</th><th>Sidecars</th><th>Labels</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Perimeters</h2><div class="cards" id="perimeters"></div></section>
  <section>
    <h2>Flows</h2>
    <div class="tools">
      <input type="search" id="filter" placeholder="filter: workload, identity, path…">
      <label><input type="checkbox" id="denied-only"> denied or would be denied only</label>
      <span class="muted" id="flow-count"></span>
    </div>
    <div class="scroll"><table id="flows"><thead><tr><th>Source</th><th>Destination</th><th>Method</th><th>Path</th><th>Requests</th><th>Allowed</th><th>Denied</th><th>Would deny</th><th>Candidate ≠</th><th>Last seen</th><th>Last rule</th></tr></thead><tbody></tbody></table></div>
  </section>
</main>
<script>
"use strict";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&":"&amp;", "<":"&lt;", ">":"&gt;", '"':"&quot;", "'":"&#39;" })[c]);
const short = (id) => String(id).replace(/^spiffe:\\/\\/[^/]+/, "");
const ago = (ms) => { const s = Math.max(0, (Date.now() - ms) / 1000); return s < 60 ? Math.round(s) + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago"; };
const badge = (mode) => '<span class="badge mode-' + esc(mode) + '">' + esc(mode) + "</span>";
let state;

function render() {
  const s = state;
  document.getElementById("snapshot").textContent = s.snapshot
    ? "serving " + s.snapshot.version + " (#" + (s.snapshot.seq ?? "-") + ", " + s.snapshot.origin + ") · " + s.snapshot.workloads + " workloads · mesh default " + (s.meshDefault ?? "?")
    : "serving nothing: the policy has never loaded";
  document.getElementById("updated").textContent = "updated " + new Date(s.generatedAt).toLocaleTimeString();
  let banners = "";
  if (s.lastRejected) banners += '<div class="banner bad">Last policy change rejected (' + s.lastRejected.errors + " errors); the last good version keeps serving.<br><code>" + s.lastRejected.messages.map(esc).join("<br>") + "</code></div>";
  for (const q of s.quarantine) banners += '<div class="banner warn" data-quarantine="' + esc(q.identity) + '">Quarantined since ' + esc(q.since) + ": <code>" + esc(q.identity) + "</code> (" + (q.both ? "from and to" : "from") + ")" + (q.reason ? " · " + esc(q.reason) : "") + "</div>";
  document.getElementById("banners").innerHTML = banners;
  document.getElementById("map").innerHTML = s.map;
  document.querySelector("#workloads tbody").innerHTML = s.workloads.map((w) =>
    "<tr><td class=\\"name\\"><b>" + esc(w.name) + '</b></td><td class="mono">' + esc(w.identity) + "</td><td>" + (w.perimeters.map(esc).join(", ") || '<span class="muted">none: mesh default</span>') +
    "</td><td>" + (w.sidecars ? w.sidecars + (w.inSync ? " · in sync" : " · behind") : '<span class="muted">none connected</span>') + '</td><td class="mono">' +
    Object.entries(w.labels).map(([k, v]) => esc(k + "=" + v)).join(" ") + "</td></tr>").join("");
  document.getElementById("perimeters").innerHTML = s.perimeters.map((p) =>
    '<div class="card" data-perimeter="' + esc(p.name) + '"><h3>' + esc(p.name) + " " + badge(p.mode) + (p.crownJewel ? ' <span title="crown jewel">★</span>' : "") + "</h3>" +
    '<div class="muted">owner ' + esc(p.owner) + " · protects " + (p.workloads.map(esc).join(", ") || "nothing") + "</div>" +
    rulesTable(p.rules, p.mode) +
    (p.candidate ? '<div class="staged" data-candidate="' + esc(p.name) + '"><h4>Staged candidate ' + badge(p.candidate.mode) + ' <span class="muted">decided in shadow; perimeter promote ' + esc(p.name) + " makes it live</span></h4>" + rulesTable(p.candidate.rules, p.candidate.mode) + "</div>" : "") +
    "</div>").join("");
  renderFlows();
}

function rulesTable(rules, mode) {
  return "<table><thead><tr><th>Rule</th><th>Action</th><th>From</th><th>To</th><th>When</th></tr></thead><tbody>" +
    rules.map((r) => '<tr><td class="mono">' + esc(r.name) + (r.mode !== mode ? " " + badge(r.mode) : "") + (r.expires ? '<div class="muted">expires ' + esc(r.expires) + "</div>" : "") +
      '</td><td class="' + esc(r.action) + '">' + esc(r.action) + '</td><td class="mono">' + esc(r.from) + '</td><td class="mono">' + esc(r.to) + '</td><td class="mono">' + esc(r.when) + "</td></tr>").join("") +
    "</tbody></table>";
}

function renderFlows() {
  if (!state) return;
  const q = document.getElementById("filter").value.trim().toLowerCase();
  const deniedOnly = document.getElementById("denied-only").checked;
  const rows = state.flows.filter((f) => (!deniedOnly || f.denied + f.wouldDeny > 0) &&
    (!q || [f.source, f.destination, f.method, f.template, f.lastPath, f.lastRule].join(" ").toLowerCase().includes(q)));
  document.getElementById("flow-count").textContent = rows.length + " of " + state.flows.length + " flows";
  document.querySelector("#flows tbody").innerHTML = rows.map((f) =>
    '<tr class="' + (f.denied ? "denied" : f.wouldDeny ? "would" : "") + '"><td class="mono" title="' + esc(f.source) + '">' + esc(short(f.source)) + "</td><td><b>" + esc(f.destination) + "</b></td><td>" + esc(f.method) +
    '</td><td class="mono" title="latest: ' + esc(f.lastPath) + '">' + esc(f.template) + '</td><td class="num">' + f.count + '</td><td class="num">' + f.allowed + '</td><td class="num' + (f.denied ? " deny" : "") + '">' + f.denied +
    '</td><td class="num">' + f.wouldDeny + '</td><td class="num" title="' + esc(f.lastCandidate) + '">' + (f.disagree || "") + "</td><td>" + esc(ago(f.lastMs)) + '</td><td class="mono">' + esc(f.lastRule) + "</td></tr>").join("");
}

async function refresh() {
  try {
    const r = await fetch(location.pathname.replace(/\\/?$/, "/") + "state.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    state = await r.json();
    render();
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the control server (" + e.message + "); retrying";
  }
}
document.getElementById("filter").addEventListener("input", renderFlows);
document.getElementById("denied-only").addEventListener("change", renderFlows);
refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 2000);
</script>
</body>
</html>
`;
