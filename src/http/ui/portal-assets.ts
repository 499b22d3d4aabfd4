/**
 * The portal's stylesheet, served from this origin (the CSP allows styles from 'self' only).
 * Mobile first; colours meet WCAG AA contrast (text ≥ 4.5:1 on its background); focus is always
 * visible; controls are at least 44 px high for touch.
 */
export const PORTAL_CSS = `
:root { --fg: #1b1b1f; --muted: #4a4a55; --bg: #ffffff; --panel: #f4f5f8; --line: #c9ccd4;
  --accent: #0b57d0; --accent-fg: #ffffff; --danger: #b3261e; --ok-bg: #e6f4ea; --ok-fg: #0d5323;
  --warn-bg: #fff4d6; --warn-fg: #5c3d00; --focus: #1a73e8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Apple SD Gothic Neo", "NanumGothic", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--fg); color: #fff; padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; }
.top { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; justify-content: space-between; padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; }
.top-actions { display: flex; gap: .5rem; align-items: center; }
.lang { display: inline-flex; align-items: center; min-height: 44px; padding: 0 .75rem; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
main:focus { outline: none; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; padding-top: .5rem; border-top: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 0 0 .4rem; }
.lead { font-size: 1.05rem; }
.hint, .muted, small { color: var(--muted); }
.notice { background: var(--warn-bg); color: var(--warn-fg); padding: .6rem .8rem; border-radius: 6px; }
.ok { background: var(--ok-bg); color: var(--ok-fg); padding: .6rem .8rem; border-radius: 6px; }
.toc ul { list-style: none; padding: 0; margin: 1rem 0; display: flex; flex-wrap: wrap; gap: .4rem; }
.toc a { display: inline-flex; align-items: center; min-height: 44px; padding: 0 .8rem; border: 1px solid var(--line); border-radius: 22px; text-decoration: none; }
.cards { list-style: none; padding: 0; margin: 0; display: grid; gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; background: var(--bg); }
dl { margin: 0; display: grid; grid-template-columns: 1fr; gap: .15rem .8rem; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0 0 .4rem; }
.notice-text .em { font-weight: 700; font-size: 1.05em; }
details { margin: .4rem 0; }
summary { cursor: pointer; min-height: 44px; display: flex; align-items: center; color: var(--accent); }
.badge { display: inline-block; padding: .1rem .6rem; border-radius: 12px; border: 1px solid var(--line); background: var(--panel); font-size: .9rem; }
.badge-granted { background: var(--ok-bg); color: var(--ok-fg); border-color: #8fc79c; }
.badge-withdrawn, .badge-none { background: var(--panel); color: var(--fg); }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; min-width: 40rem; }
table.narrow { min-width: 0; }
td.nowrap { white-space: nowrap; }
th, td { text-align: left; vertical-align: top; padding: .5rem .6rem; border-bottom: 1px solid var(--line); }
thead th { background: var(--panel); font-size: .9rem; }
tbody th { font-weight: 600; }
tr.denied td, tr.denied th { background: #fdecea; }
.value .shown { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.btn { display: inline-flex; align-items: center; justify-content: center; min-height: 44px; padding: 0 1.1rem; border: 2px solid var(--accent); border-radius: 8px; background: var(--accent); color: var(--accent-fg); font: inherit; font-weight: 600; cursor: pointer; text-decoration: none; }
.btn-secondary { background: var(--bg); color: var(--accent); }
.btn-quiet { background: transparent; color: var(--fg); border-color: var(--line); }
.btn-danger { background: var(--danger); border-color: var(--danger); color: #fff; }
.row { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; }
form { margin: .5rem 0; }
form.inline { margin: 0; }
input[type=checkbox] { width: 1.4rem; height: 1.4rem; vertical-align: middle; }
.danger-zone { border: 2px solid var(--danger); border-radius: 8px; padding: 1rem; margin-top: 1.5rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line); color: var(--muted); }
@media (min-width: 48rem) {
  main { padding: 1.5rem 2rem; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  dl { grid-template-columns: max-content 1fr; }
  dd { margin: 0; }
}
@media (prefers-reduced-motion: reduce) { * { scroll-behavior: auto !important; } }
`;
