/**
 * The monthly access-log review's pure core (PIPC Safety Standard Art. 8(2); LAW §15 G4).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AuditEntry } from "../../src/audit/audit-types.js";
import { accessReviewer, monthOf, monthWindow, reviewMarkdown, reviewSvg } from "../../src/core/review/access-review-fns.js";

/** An entry at a KST wall-clock time, e.g. "2026-10-05T10:00". */
const kst = (local: string) => new Date(`${local}:00+09:00`).toISOString();
const entry = (at: string, over: Partial<AuditEntry> = {}): AuditEntry => ({
  at: kst(at),
  requestId: "r",
  principal: "talk-app",
  source: "10.0.0.7",
  action: "read",
  effect: "allow",
  purpose: "talk_service",
  subjectRef: "ar_1",
  fields: ["phone"],
  reasons: [],
  ...over,
});

describe("access-log review", () => {
  test("Safety Standard Art. 8(2): a month is a KST calendar month; entries outside it are left out", () => {
    const w = monthWindow("2026-10");
    assert.equal(w.start.toISOString(), "2026-09-30T15:00:00.000Z");
    assert.equal(w.end.toISOString(), "2026-10-31T15:00:00.000Z");
    assert.equal(monthOf(new Date("2026-09-30T15:00:00Z")), "2026-10");
    assert.equal(monthOf(new Date("2026-09-30T14:59:59Z")), "2026-09");
    for (const bad of ["2026-13", "26-10", "2026-1", "october"]) assert.throws(() => monthWindow(bad), /YYYY-MM/);
    const r = accessReviewer({ month: "2026-10" });
    assert.equal(r.add(1, entry("2026-09-30T23:59")), false);
    assert.equal(r.add(2, entry("2026-10-01T00:00")), true);
    assert.equal(r.add(3, entry("2026-11-01T00:00")), false);
    const out = r.finish();
    assert.equal(out.entries, 1);
    assert.deepEqual(out.seqs, { first: 2, last: 2 });
    assert.equal(out.daily.length, 31);
    assert.equal(out.daily[0]!.allowed, 1);
  });

  test("Safety Standard Art. 8(2), LAW §15 G4: every bulk release is listed with its recorded justification; one without is escalated", () => {
    const r = accessReviewer({ month: "2026-10", bulkAt: 100 });
    r.add(10, entry("2026-10-06T11:00", { principal: "provisioner", action: "provision.complete", purpose: "nsf_scoring", subjectRef: null, count: 600, meta: { recipient: "nsf-scoring", provision: "prv_1" } }));
    r.add(11, entry("2026-10-06T11:05", { principal: "ops-tool", action: "export.download", purpose: null, subjectRef: null, count: 5000 }));
    r.add(12, entry("2026-10-06T11:06", { principal: "ops-tool", action: "read", count: 99 })); // below the threshold
    r.add(13, entry("2026-10-06T11:07", { principal: "ops-tool", action: "export.download", effect: "deny", purpose: null, count: 5000 })); // refused: nothing released
    const out = r.finish();
    assert.deepEqual(
      out.bulk.map((b) => [b.seq, b.justification, b.escalate]),
      [
        [10, "purpose nsf_scoring, recipient nsf-scoring, provision prv_1", false],
        [11, null, true],
      ],
    );
    assert.match(out.findings[0]!, /^ESCALATE bulk release without a recorded justification: seq 11, ops-tool, export.download, 5000 records/);
    assert.equal(out.principals.find((p) => p.principal === "provisioner")!.bulkRecords, 600);
  });

  test("Safety Standard Art. 8(2): off-hours work and refusals are flagged per principal; ordinary office-hours reads are not", () => {
    const r = accessReviewer({ month: "2026-10" });
    let seq = 0;
    // talk-app: 40 reads on a Tuesday morning; night-owl: 30 at 02:00 and 10 at 11:00; prober: 25 refusals.
    for (let i = 0; i < 40; i++) r.add(++seq, entry("2026-10-06T10:15", { subjectRef: `ar_${i}` }));
    for (let i = 0; i < 30; i++) r.add(++seq, entry("2026-10-07T02:00", { principal: "night-owl", subjectRef: `ar_${i}` }));
    for (let i = 0; i < 10; i++) r.add(++seq, entry("2026-10-07T11:00", { principal: "night-owl" }));
    for (let i = 0; i < 25; i++) r.add(++seq, entry("2026-10-08T14:00", { principal: "prober", effect: "deny", reasons: ["PURPOSE_NOT_ALLOWED"] }));
    r.add(++seq, entry("2026-10-10T12:00", { principal: "weekend" })); // a Saturday: off-hours, but one entry
    const out = r.finish();
    const by = Object.fromEntries(out.principals.map((p) => [p.principal, p]));
    assert.deepEqual(by["talk-app"]!.flags, []);
    assert.equal(by["talk-app"]!.subjects, 40);
    assert.equal(by["night-owl"]!.offHours, 30);
    assert.match(by["night-owl"]!.flags[0]!, /^OFF_HOURS 75% of entries outside 9–18 KST/);
    assert.match(by["prober"]!.flags[0]!, /^DENIALS 25 refused \(100% of decisions\)/);
    assert.equal(by["weekend"]!.offHours, 1);
    assert.deepEqual(by["weekend"]!.flags, []);
    assert.equal(out.principals[0]!.principal, "night-owl", "busiest first");
  });

  test("Safety Standard Art. 8(2): detection alerts and refused authentications (by network, not address) are findings", () => {
    const r = accessReviewer({ month: "2026-10" });
    for (let i = 0; i < 3; i++) r.add(i + 1, entry("2026-10-09T03:00", { principal: null, action: "detection.alert", effect: "info", meta: { rule: "enumeration", principal: "chat-bot" } }));
    for (let i = 0; i < 12; i++) r.add(i + 10, entry("2026-10-09T03:00", { principal: null, action: "auth.failure", effect: "deny", source: `203.0.113.${i}` }));
    r.add(30, entry("2026-10-09T03:00", { principal: null, action: "auth.failure", effect: "deny", source: "2001:db8:1:2::9" }));
    const out = r.finish();
    assert.deepEqual(out.alerts, [{ rule: "enumeration", principal: "chat-bot", count: 3 }]);
    assert.deepEqual(out.authFailures, [
      { source: "203.0.113.0/24", count: 12 },
      { source: "2001:db8:1::/48", count: 1 },
    ]);
    assert.ok(out.findings.includes("ALERT enumeration (chat-bot): 3×"));
    assert.ok(out.findings.includes("AUTH_FAILURES 12 from 203.0.113.0/24"));
    assert.equal(out.principals.length, 0, "alerts and failed logins are not a principal's activity");
  });

  test("the report renders as Markdown with the findings first and an SVG chart of entries per day", () => {
    const r = accessReviewer({ month: "2026-10" });
    r.add(1, entry("2026-10-06T11:05", { principal: "ops|tool", action: "export.download", purpose: null, count: 500 }));
    r.add(2, entry("2026-10-07T11:05", { effect: "deny" }));
    const out = r.finish();
    const md = reviewMarkdown(out, "ab".repeat(32));
    assert.match(md, /^# 개인정보처리시스템 접속기록 월간 점검 — access-log review 2026-10/);
    assert.ok(md.indexOf("## Findings") < md.indexOf("## Bulk releases"));
    assert.match(md, /ops\\\|tool/, "table cells are escaped");
    assert.match(md, /abab/);
    const svg = reviewSvg(out);
    assert.match(svg, /^<svg /);
    assert.match(svg, /2026-10-06: 1 allowed/);
    assert.match(svg, /2026-10-07: 1 refused/);
    assert.throws(() => accessReviewer({ month: "2026-10", hours: { from: 18, to: 9 } }), /working hours/);
  });
});
