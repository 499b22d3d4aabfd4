/**
 * The 10-day clock of data-subject requests and the rules for postponing and refusing
 * (core/requests/request-fns.ts): PIPA Arts. 35–37, Decree Arts. 41(4)-(5), 42(2), 42-6(1),
 * 43(3), 44(2); the day of receipt not counted (Civil Act Art. 157); GDPR Art. 12(3) as the outer
 * limit of a postponement.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkExtension,
  deadlineOf,
  extensionLimitOf,
  isOverdue,
  KIND_RULES,
  REFUSAL_GROUNDS,
  REQUEST_KINDS,
  refusalGround,
  timeLeft,
} from "../../src/core/requests/request-fns.js";

const d = (s: string) => new Date(s);

describe("the 10-day clock", () => {
  test("Decree Art. 41(4)-(5): a request received on 21 Nov (KST) is due by the end of 1 Dec, 24:00 KST", () => {
    // 12:00 KST on 21 Nov.
    assert.equal(deadlineOf(d("2026-11-21T03:00:00Z")).toISOString(), "2026-12-01T15:00:00.000Z");
    // 00:00 KST and 23:59 KST on 21 Nov: the same day of receipt, the same deadline.
    assert.equal(deadlineOf(d("2026-11-20T15:00:00Z")).toISOString(), "2026-12-01T15:00:00.000Z");
    assert.equal(deadlineOf(d("2026-11-21T14:59:59.999Z")).toISOString(), "2026-12-01T15:00:00.000Z");
    // 00:00 KST on 22 Nov is the next day in Korea though still the 21st in UTC.
    assert.equal(deadlineOf(d("2026-11-21T15:00:00Z")).toISOString(), "2026-12-02T15:00:00.000Z");
  });

  test("Civil Act Art. 157: the day of receipt is not counted; months and years roll over", () => {
    assert.equal(deadlineOf(d("2026-12-25T01:00:00Z")).toISOString(), "2027-01-04T15:00:00.000Z");
    assert.equal(deadlineOf(d("2028-02-25T01:00:00Z")).toISOString(), "2028-03-06T15:00:00.000Z", "leap year: 29 Feb counts");
    // Never later than the law's: no roll-forward past weekends (Civil Act Art. 161 would allow it).
    const due = deadlineOf(d("2026-11-18T03:00:00Z")); // due 28 Nov, a Saturday
    assert.equal(due.toISOString(), "2026-11-28T15:00:00.000Z");
  });

  test("Art. 35(3): time left and overdue, open requests only", () => {
    const due = d("2026-12-01T15:00:00Z");
    assert.deepEqual(timeLeft(due, d("2026-11-21T03:00:00Z")), { ms: 10 * 86400_000 + 12 * 3600_000, text: "10d 12h left", overdue: false });
    assert.equal(timeLeft(due, d("2026-12-01T14:30:00Z")).text, "0h 30m left");
    assert.equal(timeLeft(due, d("2026-12-03T16:00:00Z")).text, "overdue by 2d 1h");
    assert.equal(isOverdue("received", due, d("2026-12-01T15:00:00.001Z")), true);
    assert.equal(isOverdue("extended", due, d("2026-12-01T15:00:00Z")), false, "due at the instant itself is still on time");
    assert.equal(isOverdue("completed", due, d("2027-01-01T00:00:00Z")), false);
    assert.equal(isOverdue("refused", due, d("2027-01-01T00:00:00Z")), false);
  });

  test("every kind cites its right, its deadline and its refusal rule", () => {
    for (const k of REQUEST_KINDS) {
      assert.match(KIND_RULES[k].right, /PIPA Art\. 3[5-7]/);
      assert.match(KIND_RULES[k].deadline, /Decree Art\. 4[1-4]/);
      assert.match(KIND_RULES[k].refusal, /PIPA Art\. 3[5-7]/);
      assert.ok(Object.keys(REFUSAL_GROUNDS[k]).length > 0);
    }
  });
});

describe("postponement", () => {
  const received = d("2026-11-21T03:00:00Z");
  const req = (over: Partial<Parameters<typeof checkExtension>[0]> = {}) => ({ kind: "access" as const, status: "received" as const, receivedAt: received, deadline: deadlineOf(received), ...over });
  const ext = (until: string, noticeAt = "2026-11-24T01:00:00Z") => ({ until: d(until), reason: "the records are in the off-site archive", notice: { at: d(noticeAt), channel: "email" as const } });

  test("PIPA Art. 35(3), Decree Art. 42(2): access may be postponed with the reason told within the 10 days", () => {
    assert.deepEqual(checkExtension(req(), ext("2026-12-15T15:00:00Z"), d("2026-11-24T02:00:00Z")), { ok: true });
    assert.deepEqual(checkExtension(req({ kind: "portability" }), ext("2026-12-15T15:00:00Z"), d("2026-11-24T02:00:00Z")), { ok: true });
  });

  test("Decree Art. 42(2): a notice after the 10 days is too late; a notice dated in the future is refused", () => {
    const late = checkExtension(req(), ext("2026-12-15T15:00:00Z", "2026-12-02T00:00:00Z"), d("2026-12-02T01:00:00Z"));
    assert.equal(late.ok, false);
    assert.equal(!late.ok && late.code, "NOTICE_LATE");
    const future = checkExtension(req(), ext("2026-12-15T15:00:00Z", "2026-11-25T00:00:00Z"), d("2026-11-24T00:00:00Z"));
    assert.equal(!future.ok && future.code, "NOTICE_IN_FUTURE");
  });

  test("Decree Arts. 43(3), 44(2): correction, deletion, suspension and withdrawal cannot be postponed", () => {
    for (const kind of ["correction", "deletion", "suspension", "withdrawal"] as const) {
      const r = checkExtension(req({ kind }), ext("2026-12-15T15:00:00Z"), d("2026-11-24T02:00:00Z"));
      assert.equal(!r.ok && r.code, "NOT_EXTENDABLE", kind);
      assert.match(!r.ok ? r.message : "", /Decree Art\. 4[34]/);
    }
  });

  test("GDPR Art. 12(3): a postponement runs to three months from receipt at most, and only forward; a closed request is not postponed", () => {
    assert.equal(extensionLimitOf(received).toISOString(), "2027-02-21T03:00:00.000Z");
    assert.deepEqual(checkExtension(req(), ext("2027-02-21T03:00:00Z"), d("2026-11-24T02:00:00Z")), { ok: true });
    const beyond = checkExtension(req(), ext("2027-02-21T03:00:00.001Z"), d("2026-11-24T02:00:00Z"));
    assert.equal(!beyond.ok && beyond.code, "UNTIL_BEYOND_LIMIT");
    const back = checkExtension(req(), ext("2026-11-30T00:00:00Z"), d("2026-11-24T02:00:00Z"));
    assert.equal(!back.ok && back.code, "UNTIL_NOT_LATER");
    const closed = checkExtension(req({ status: "completed" }), ext("2026-12-15T15:00:00Z"), d("2026-11-24T02:00:00Z"));
    assert.equal(!closed.ok && closed.code, "NOT_OPEN");
  });
});

describe("refusal grounds", () => {
  test("PIPA Art. 36(1) proviso: deletion may be refused only where another law requires the data; Art. 35(4) for access; Art. 37(2) for suspension", () => {
    assert.match(refusalGround("deletion", "REQUIRED_BY_LAW")!, /Art\. 36\(1\) proviso/);
    assert.equal(refusalGround("deletion", "HARMS_OTHERS"), undefined);
    assert.match(refusalGround("access", "HARMS_OTHERS")!, /Art\. 35\(4\)2/);
    assert.match(refusalGround("suspension", "CONTRACT_NOT_TERMINATED")!, /Art\. 37\(2\)4/);
    assert.equal(refusalGround("access", "REQUIRED_BY_LAW"), undefined);
  });
});
