/**
 * The console's two static assets, served from this origin (the CSP allows nothing else): the
 * stylesheet (laptop and phone) and the one script, which only counts incident deadlines down
 * every second. Pages work without the script; the server renders the time left when it answers.
 */

export const CONSOLE_CSS = `
:root { --fg:#1b1f24; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; --accent:#0b57d0; --bad:#b3261e; --warn:#8a5300; --ok:#1a7f37; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, "Apple SD Gothic Neo", "Malgun Gothic", "Noto Sans KR", "NanumGothic", "Nanum Gothic", sans-serif; color:var(--fg); background:#fff; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f9a825; outline-offset: 1px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; z-index:10; }
header.top { display:flex; flex-wrap:wrap; align-items:center; gap:8px 16px; padding:10px 16px; background:#102a43; color:#fff; }
header.top a { color:#fff; }
header.top .brand { font-weight:700; font-size:17px; margin-right:auto; }
header.top form { display:inline; }
nav.main { display:flex; flex-wrap:wrap; gap:4px; padding:8px 12px; background:var(--bg); border-bottom:1px solid var(--line); }
nav.main a { padding:6px 10px; border-radius:6px; text-decoration:none; }
nav.main a[aria-current="page"] { background:var(--accent); color:#fff; }
main { padding:16px; max-width:1200px; margin:0 auto; }
h1 { font-size:22px; margin:4px 0 12px; } h2 { font-size:18px; margin:20px 0 8px; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap:12px; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px; background:#fff; }
.card h2 { margin:0 0 6px; font-size:16px; }
.card p { margin:4px 0; }
.big { font-size:26px; font-weight:700; }
.bad { color:var(--bad); font-weight:600; } .warn { color:var(--warn); font-weight:600; } .ok { color:var(--ok); font-weight:600; }
.muted { color:var(--muted); font-size:13px; }
.scroll { overflow-x:auto; -webkit-overflow-scrolling:touch; border:1px solid var(--line); border-radius:8px; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--bg); white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.countdown { font-variant-numeric: tabular-nums; font-weight:700; }
.countdown.big { font-size:30px; }
.countdown.overdue { color:var(--bad); }
form.inline { display:flex; flex-wrap:wrap; gap:6px; align-items:center; margin:0; }
input, select, textarea, button { font:inherit; padding:6px 8px; border:1px solid var(--line); border-radius:6px; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
.login { max-width:380px; margin:40px auto; border:1px solid var(--line); border-radius:10px; padding:20px; }
.login label { display:block; margin:10px 0 4px; font-weight:600; }
.login input { width:100%; }
.login button { margin-top:14px; width:100%; }
.notice { padding:10px 12px; border-radius:8px; background:#fff8e1; border:1px solid #f9a825; margin:8px 0; }
.error { padding:10px 12px; border-radius:8px; background:#fdecea; border:1px solid var(--bad); margin:8px 0; }
.placeholder { padding:16px; border:2px dashed var(--line); border-radius:8px; background:var(--bg); }
figure { margin:0; } figure svg { max-width:100%; height:auto; }
.map svg { min-width: 900px; }
@media (max-width: 640px) {
  main { padding:10px; }
  h1 { font-size:19px; }
  th, td { padding:5px 6px; font-size:13px; }
  /* Tables scroll sideways inside their region rather than squeezing every column to a sliver. */
  .scroll table { width:max-content; min-width:100%; }
  .scroll td { max-width: 18em; }
  .countdown.big { font-size:24px; }
}
`;

export const CONSOLE_JS = `"use strict";
// Counts every [data-deadline] down each second, from the server's clock (#server-now's data-server-now).
(function () {
  var marker = document.getElementById("server-now");
  var skew = 0;
  var serverNow = Date.parse((marker && marker.getAttribute("data-server-now")) || "");
  if (!isNaN(serverNow)) skew = serverNow - Date.now();
  var ko = document.documentElement.lang === "ko";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function text(ms) {
    var abs = Math.abs(ms), h = Math.floor(abs / 3600000), m = Math.floor((abs % 3600000) / 60000), s = Math.floor((abs % 60000) / 1000);
    var hms = h + ":" + pad(m) + ":" + pad(s);
    if (ms >= 0) return ko ? hms + " 남음" : hms + " left";
    return ko ? hms + " 초과" : "overdue by " + hms;
  }
  function tick() {
    var now = Date.now() + skew;
    var els = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var ms = Date.parse(el.getAttribute("data-deadline")) - now;
      el.textContent = text(ms);
      if (ms < 0) el.classList.add("overdue");
    }
  }
  tick();
  setInterval(tick, 1000);
})();
`;
