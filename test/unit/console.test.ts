/**
 * The console's pure parts (ADR 0013): the data map's layout (every flow of the catalog drawn,
 * columns in order, nothing overlapping, sensitivity marked, labels escaped), the access charts'
 * counting (KST days, UTC hours, what counts as an access, top series and the rest, the window's
 * bound) and the role table.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { accessCounter, accessWeight, activityFrom, activitySvg, bucketLabel, bucketStart, bucketStarts, OTHERS } from "../../src/core/console/activity-fns.js";
import { CONSOLE_PERMISSIONS, isOperatorPrincipal, roleAllows, staffPrincipal } from "../../src/core/console/console-roles.js";
import { dataMapLayout, dataMapSvg, MAP_GEOMETRY } from "../../src/core/console/datamap-fns.js";

const demo = loadCatalog(DEMO_CATALOG);
const labels = {
  title: "map",
  columns: { field: "Fields", purpose: "Purposes", recipient: "Recipients", country: "Countries" },
  legend: { sensitive: "s", consignee: "c", thirdParty: "t", abroad: "a" },
};

describe("data map layout", () => {
  const l = dataMapLayout(demo);
  const node = (id: string) => l.nodes.find((n) => n.id === id)!;

  test("draws every flow the catalog allows: purpose uses field, recipient serves purpose, recipient is in a country", () => {
    const edges = new Set(l.edges.map((e) => `${e.from}>${e.to}`));
    for (const [p, purpose] of Object.entries(demo.purposes)) for (const f of purpose.fields) assert.ok(edges.has(`field:${f}>purpose:${p}`), `${f} → ${p}`);
    for (const [r, rec] of Object.entries(demo.recipients)) {
      for (const p of rec.purposes) assert.ok(edges.has(`purpose:${p}>recipient:${r}`), `${p} → ${r}`);
      assert.ok(edges.has(`recipient:${r}>country:${rec.country}`));
    }
    assert.equal(l.edges.length, edges.size, "no edge twice");
    for (const e of l.edges) assert.ok(node(e.from) && node(e.to), `${e.from} → ${e.to} joins two nodes`);
  });

  test("four columns left to right, nothing overlapping, everything inside the picture", () => {
    const xs = ["field", "purpose", "recipient", "country"].map((c) => new Set(l.nodes.filter((n) => n.column === c).map((n) => n.x)));
    for (const s of xs) assert.equal(s.size, 1, "one x per column");
    const x = xs.map((s) => [...s][0]!);
    assert.deepEqual(x, [...x].sort((a, b) => a - b));
    for (const c of ["field", "purpose", "recipient", "country"]) {
      const ys = l.nodes.filter((n) => n.column === c).map((n) => n.y).sort((a, b) => a - b);
      for (let i = 1; i < ys.length; i++) assert.ok(ys[i]! - ys[i - 1]! >= MAP_GEOMETRY.rowHeight, `${c} rows do not overlap`);
    }
    for (const n of l.nodes) assert.ok(n.x >= 0 && n.x + MAP_GEOMETRY.nodeWidth <= l.width && n.y >= 0 && n.y + MAP_GEOMETRY.rowHeight <= l.height, n.id);
    assert.equal(l.nodes.filter((n) => n.column === "field").length, Object.keys(demo.fields).length);
  });

  test("marks sensitivity, kinds and countries abroad; the home country is always there", () => {
    assert.equal(node("field:rrn").tag, "rrn");
    assert.equal(node("field:nickname").tag, "general");
    assert.equal(node("recipient:nsf-scoring").tag, "third_party");
    assert.equal(node("country:KR").tag, "home");
    assert.equal(node("country:SG").tag, "abroad");
    assert.equal(node("purpose:talk_service").tag, "contract");
  });

  test("orders purposes by where their fields are (fewer crossings) and is deterministic", () => {
    assert.deepEqual(dataMapLayout(demo), l);
    const purposes = l.nodes.filter((n) => n.column === "purpose");
    const centre = (p: string) => {
      const ys = l.edges.filter((e) => e.to === `purpose:${p}`).map((e) => node(e.from).y);
      return ys.reduce((a, b) => a + b, 0) / ys.length;
    };
    for (let i = 1; i < purposes.length; i++) assert.ok(centre(purposes[i - 1]!.label) <= centre(purposes[i]!.label));
  });

  test("the SVG escapes every label and carries an accessible title", () => {
    const evil = structuredClone(demo);
    evil.controller.country = "KR";
    const svg = dataMapSvg(l, { ...labels, title: `<script>x</script>`, columns: { ...labels.columns, field: `"&'` } });
    assert.match(svg, /^<svg [^>]*role="img" aria-labelledby="datamap-title">/);
    assert.match(svg, /<title id="datamap-title">&lt;script&gt;x&lt;\/script&gt;<\/title>/);
    assert.match(svg, /&quot;&amp;&#39;/);
    assert.doesNotMatch(svg, /<script/);
    assert.match(svg, /class="node field marked" data-id="field:rrn"/);
  });
});

describe("access charts", () => {
  const H = 3600_000;
  const now = new Date("2026-03-10T05:30:00.000Z"); // 14:30 KST

  test("days are KST days; hours are hours; the window starts 30 KST days or 48 hours back, whichever is earlier", () => {
    assert.equal(new Date(bucketStart("day", Date.parse("2026-03-09T15:00:00.000Z"))).toISOString(), "2026-03-09T15:00:00.000Z", "KST midnight");
    assert.equal(new Date(bucketStart("day", Date.parse("2026-03-09T14:59:59.999Z"))).toISOString(), "2026-03-08T15:00:00.000Z");
    assert.equal(new Date(bucketStart("hour", Date.parse("2026-03-09T14:59:59.999Z"))).toISOString(), "2026-03-09T14:00:00.000Z");
    const days = bucketStarts("day", now, 30);
    assert.equal(days.length, 30);
    assert.equal(new Date(days[29]!).toISOString(), "2026-03-09T15:00:00.000Z");
    assert.equal(activityFrom(now), days[0]);
    assert.equal(bucketLabel("day", "2026-03-09T15:00:00.000Z"), "03-10");
    assert.equal(bucketLabel("hour", "2026-03-10T05:00:00.000Z"), "14h");
  });

  test("an access is an entry naming a person (1) or a bulk act for a purpose (its count); bookkeeping counts nothing", () => {
    assert.equal(accessWeight({ subjectRef: "ref_1", purpose: null }), 1);
    assert.equal(accessWeight({ subjectRef: "ref_1", purpose: "talk_service", count: 500 }), 1);
    assert.equal(accessWeight({ subjectRef: null, purpose: "pay_service", count: 500 }), 500);
    assert.equal(accessWeight({ subjectRef: null, purpose: null, count: 3 }), 0, "a sweep, a login");
    assert.equal(accessWeight({ subjectRef: null, purpose: "pay_service" }), 0);
  });

  test("counts by purpose and by principal per bucket; keeps the biggest series and sums the rest; prunes what left the window", () => {
    const c = accessCounter();
    const at = (hoursAgo: number) => now.getTime() - hoursAgo * H;
    c.add(at(0), "talk-app", "talk_service", 1);
    c.add(at(0.5), "talk-app", "talk_service", 1);
    c.add(at(1), "pay-app", "pay_service", 3);
    c.add(at(30), "talk-app", null, 1);
    c.add(at(24 * 40), "talk-app", "talk_service", 100); // before the window
    c.add(at(1), "nobody", "x", 0);
    for (let i = 0; i < 8; i++) c.add(at(2), `svc-${i}`, `p_${i}`, 1);
    const byPurpose = c.chart("48h", "purpose", now, 3);
    assert.equal(byPurpose.starts.length, 48);
    assert.deepEqual(byPurpose.series.map((s) => [s.key, s.total]), [["pay_service", 3], ["talk_service", 2], ["(none)", 1], [OTHERS, 8]]);
    assert.equal(byPurpose.total, 14, "(the entry 40 days ago is outside 48 hours)");
    const talk = byPurpose.series.find((s) => s.key === "talk_service")!;
    assert.equal(talk.values[47], 2, "05:30 and 05:00 fall in this hour");
    assert.equal(byPurpose.series.find((s) => s.key === "pay_service")!.values[46], 3, "04:30 in the hour before");
    const byPrincipal = c.chart("30d", "principal", now, 10);
    assert.equal(byPrincipal.series.find((s) => s.key === "talk-app")!.total, 3, "the month view leaves out only what is older than 30 days");
    assert.equal(byPrincipal.series.find((s) => s.key === "pay-app")!.values[29], 3);
    const hours = c.size();
    c.prune(activityFrom(now));
    assert.equal(c.size(), hours - 1, "the hour 40 days ago is forgotten");
    assert.match(activitySvg(byPurpose, "t <b>"), /<title>13h pay_service: 3<\/title>/);
    assert.match(activitySvg(byPurpose, "t <b>"), /aria-label="t &lt;b&gt;"/);
  });
});

describe("console roles", () => {
  test("cpo may do everything; security has alerts, incidents and holds; auditor reads everything and acts on nothing but verification", () => {
    for (const p of CONSOLE_PERMISSIONS) assert.ok(roleAllows("cpo", p), p);
    assert.deepEqual(
      CONSOLE_PERMISSIONS.filter((p) => roleAllows("security", p)),
      ["view.overview", "view.alerts", "view.incidents", "view.audit", "view.activity", "act.incident.open", "act.hold.lift", "act.audit.verify"],
    );
    assert.deepEqual(CONSOLE_PERMISSIONS.filter((p) => roleAllows("auditor", p) && p.startsWith("act.")), ["act.audit.verify"]);
    assert.ok(CONSOLE_PERMISSIONS.filter((p) => p.startsWith("view.")).every((p) => roleAllows("auditor", p)));
    assert.equal(roleAllows("intern" as never, "view.overview"), false, "an unknown role is granted nothing");
  });

  test("a staff principal acts as an operator; it cannot be a catalog principal's name", () => {
    assert.equal(staffPrincipal("kim-cpo"), "staff:kim-cpo");
    assert.ok(isOperatorPrincipal(demo, "staff:kim-cpo"));
    assert.ok(isOperatorPrincipal(demo, "privacy-office"));
    assert.ok(!isOperatorPrincipal(demo, "talk-app"));
    assert.ok(!isOperatorPrincipal(demo, "staff:"));
    assert.ok(!isOperatorPrincipal(demo, "staff:Kim CPO"));
  });
});
