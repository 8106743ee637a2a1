// A small live status page on the admin port, for operators without Grafana. It polls
// /status.json every second and draws the last two minutes: acceptance vs deferral, queue depth,
// indexing lag, and the pressure each tenant is under. No build step, no external assets.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ingest bridge · status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --ok:#2e7d32; --warn:#ef6c00; --bad:#c62828; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ee; }
  body { font: 14px/1.4 system-ui, sans-serif; color: var(--ink); margin: 24px; background: #fafbfd; }
  h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: var(--muted); margin-bottom: 18px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 14px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .card h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 6px; }
  .big { font-size: 26px; font-weight: 600; } .unit { font-size: 13px; color: var(--muted); font-weight: 400; }
  svg { width: 100%; height: 70px; display: block; margin-top: 6px; }
  table { border-collapse: collapse; width: 100%; margin-top: 14px; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); } th { color: var(--muted); font-weight: 500; }
  .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; margin-right: 4px; background: #fff3e0; color: var(--warn); }
  .state-ok { color: var(--ok); } .state-warn { color: var(--warn); } .state-bad { color: var(--bad); }
  .legend span { margin-right: 10px; font-size: 12px; } .sw { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 4px; }
</style>
</head>
<body>
<h1>ingest bridge</h1>
<div class="sub" id="sub">connecting…</div>
<div class="grid">
  <div class="card"><h2>Acceptance vs deferral</h2>
    <div><span class="big" id="accepted">–</span> <span class="unit">accepted ev/s</span> &nbsp;
         <span class="big" id="deferred">–</span> <span class="unit">deferred ev/s</span></div>
    <svg id="chart-flow" viewBox="0 0 240 70" preserveAspectRatio="none"></svg>
    <div class="legend"><span><i class="sw" style="background:#2e7d32"></i>accepted</span><span><i class="sw" style="background:#ef6c00"></i>deferred</span><span><i class="sw" style="background:#9aa3b5"></i>duplicates</span></div>
  </div>
  <div class="card"><h2>Queue depth</h2>
    <div><span class="big" id="depth">–</span> <span class="unit">events</span> &nbsp; <span id="drain" class="unit"></span></div>
    <svg id="chart-depth" viewBox="0 0 240 70" preserveAspectRatio="none"></svg>
  </div>
  <div class="card"><h2>Indexing lag</h2>
    <div><span class="big" id="lag">–</span> <span class="unit">s</span> &nbsp; <span id="breaker" class="unit"></span></div>
    <svg id="chart-lag" viewBox="0 0 240 70" preserveAspectRatio="none"></svg>
  </div>
  <div class="card"><h2>Edge</h2>
    <div><span class="big" id="clients">–</span> <span class="unit">devices connected</span></div>
    <div><span class="big" id="inflight">–</span> <span class="unit">batches in flight</span></div>
    <div class="unit" id="amp"></div>
  </div>
</div>
<table id="tenants"><thead><tr><th>tenant</th><th>accepted</th><th>duplicates</th><th>deferred</th><th>deferral share</th><th>in flight</th><th>pressure now</th></tr></thead><tbody></tbody></table>
<script>
const history = [];
let prev = null;
const $ = (id) => document.getElementById(id);
const fmt = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n));
function line(points, max, color) {
  if (points.length < 2) return '';
  const step = 240 / 119;
  const d = points.map((v, i) => (i ? 'L' : 'M') + (240 - (points.length - 1 - i) * step).toFixed(1) + ',' + (68 - (v / max) * 64).toFixed(1)).join(' ');
  return '<path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="1.6"/>';
}
function chart(id, series) {
  const max = Math.max(1, ...series.flatMap((s) => s.points));
  $(id).innerHTML = series.map((s) => line(s.points, max, s.color)).join('');
}
async function tick() {
  let s;
  try { s = await (await fetch('status.json', { cache: 'no-store' })).json(); }
  catch (e) { $('sub').textContent = 'bridge not answering: ' + e.message; $('sub').className = 'sub state-bad'; return; }
  const now = Date.now();
  const t = s.totals;
  const rate = (k) => prev ? Math.max(0, (t[k] - prev.t[k]) * 1000 / (now - prev.at)) : 0;
  const point = { accepted: rate('acceptedNew'), deferred: rate('deferred'), duplicates: rate('duplicates'), depth: s.pressure.queueDepth, lag: s.pressure.searchLagMs / 1000 };
  prev = { t, at: now };
  history.push(point); if (history.length > 120) history.shift();
  $('sub').className = 'sub state-ok';
  $('sub').textContent = 'mode ' + s.config.admission.mode + ' · MQTT :' + s.mqtt.port + ' · updated ' + new Date(now).toLocaleTimeString();
  $('accepted').textContent = fmt(point.accepted); $('deferred').textContent = fmt(point.deferred);
  $('depth').textContent = fmt(point.depth); $('drain').textContent = 'draining ' + fmt(s.pressure.drainPerSec) + ' ev/s';
  $('lag').textContent = point.lag.toFixed(1);
  const br = s.pressure.searchBreaker; $('breaker').textContent = 'breaker ' + br; $('breaker').className = 'unit ' + (br === 'closed' ? 'state-ok' : 'state-bad');
  $('clients').textContent = s.mqtt.connectedClients; $('inflight').textContent = s.inFlightBatches;
  $('amp').textContent = t.acceptedNew ? 'retry amplification ' + (t.received / t.acceptedNew).toFixed(2) + '× · deferral rate ' + (100 * t.deferred / Math.max(1, t.received)).toFixed(1) + '%' : '';
  chart('chart-flow', [{ points: history.map((h) => h.accepted), color: '#2e7d32' }, { points: history.map((h) => h.deferred), color: '#ef6c00' }, { points: history.map((h) => h.duplicates), color: '#9aa3b5' }]);
  chart('chart-depth', [{ points: history.map((h) => h.depth), color: '#3949ab' }]);
  chart('chart-lag', [{ points: history.map((h) => h.lag), color: '#8e24aa' }]);
  $('tenants').tBodies[0].innerHTML = s.tenants.map((x) => '<tr><td>' + x.tenant + '</td><td>' + fmt(x.events.new) + '</td><td>' + fmt(x.events.duplicate) + '</td><td>' + fmt(x.events.deferred) +
    '</td><td>' + (100 * x.events.deferred / Math.max(1, x.events.new + x.events.deferred + x.events.duplicate)).toFixed(1) + '%</td><td>' + x.inFlightBatches +
    '</td><td>' + (Object.keys(x.recentReasons).map((r) => '<span class="pill">' + r + '</span>').join('') || '<span class="state-ok">none</span>') + '</td></tr>').join('');
}
tick(); setInterval(tick, 1000);
</script>
</body>
</html>
`;
