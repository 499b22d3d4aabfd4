/**
 * The duties an incident carries (PIPA Art. 34; Decree Arts. 39–40; Credit Information Act
 * Art. 39-4), each threshold on both sides, with the article in the test name (LAW.md §7, §15 H).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AMENDMENT_2026_IN_FORCE,
  computeDuties,
  deadlineOf,
  isBreach,
  lawVersionAt,
  noticeItemCount,
  timeLeft,
  type Duty,
  type DutyCode,
  type DutyInput,
} from "../../src/core/incident/duty-fns.js";
import { emptyFacts, type IncidentFacts, type IncidentScope } from "../../src/core/incident/incident-types.js";

const AWARE = new Date("2026-11-20T01:00:00.000Z"); // after 2026-09-11: the 2026 wording applies
const AWARE_2025 = new Date("2025-06-01T01:00:00.000Z");

const scopeOf = (people: number, fields: [string, string][] = [["phone", "general"]], over: Partial<IncidentScope["people"]> = {}): IncidentScope => ({
  window: { from: "2026-11-19T00:00:00.000Z", to: "2026-11-20T00:00:00.000Z" },
  principals: ["support-console"],
  recipients: [],
  computedAt: "2026-11-20T02:00:00.000Z",
  auditHead: 1,
  people: { total: people, linked: people, unlinkable: 0, credit: 0, ...over },
  fields: fields.map(([field, sensitivity]) => ({ field, people, sensitivity })),
  through: [],
  first: "2026-11-19T03:00:00.000Z",
  last: "2026-11-19T05:00:00.000Z",
});
const input = (over: Omit<Partial<DutyInput>, "facts"> & { facts?: Partial<IncidentFacts> } = {}): DutyInput => ({
  kind: "leak",
  awareAt: AWARE,
  scope: scopeOf(10),
  withoutContact: 0,
  ...over,
  facts: { ...emptyFacts(), ...over.facts },
});
const duty = (ds: Duty[], code: DutyCode): Duty => {
  const d = ds.find((x) => x.code === code);
  assert.ok(d, `no duty ${code} in ${ds.map((x) => x.code).join(", ")}`);
  return d;
};
const report = (i: DutyInput) => duty(computeDuties(i), "REPORT_PIPC_KISA");

describe("the 72-hour clock and the law in force (LAW §7, §15 H1)", () => {
  test("PIPA Art. 34(1): the deadline is awareness + 72 hours, and time left says so", () => {
    assert.equal(deadlineOf(AWARE).toISOString(), "2026-11-23T01:00:00.000Z");
    assert.deepEqual(timeLeft(deadlineOf(AWARE), AWARE), { ms: 72 * 3600_000, text: "72h 00m left", overdue: false });
    assert.deepEqual(timeLeft(deadlineOf(AWARE), new Date("2026-11-23T03:05:00.000Z")), { ms: -(2 * 3600_000 + 5 * 60_000), text: "overdue by 2h 05m", overdue: true });
  });

  test("Act 21445 is in force from 2026-09-11 00:00 KST (15:00 UTC the day before)", () => {
    assert.equal(lawVersionAt(new Date(AMENDMENT_2026_IN_FORCE.getTime() - 1)), "2023");
    assert.equal(lawVersionAt(AMENDMENT_2026_IN_FORCE), "2026");
    assert.equal(lawVersionAt(new Date("2026-09-10T16:00:00+09:00")), "2023");
    assert.equal(lawVersionAt(new Date("2026-09-11T00:00:00+09:00")), "2026");
  });

  test("PIPA Art. 23(2) (2026): forgery, alteration and damage are breaches from 2026-09-11, not before", () => {
    for (const kind of ["forgery", "alteration", "damage"] as const) {
      assert.equal(isBreach(kind, "2026"), true);
      assert.equal(isBreach(kind, "2023"), false);
      const before = computeDuties(input({ kind, awareAt: AWARE_2025 }));
      assert.deepEqual(before.map((d) => [d.code, d.required]), [["NOTIFY_SUBJECTS", false]]);
      assert.match(before[0]!.reason, /2026-09-11/);
      assert.equal(duty(computeDuties(input({ kind })), "NOTIFY_SUBJECTS").required, true);
    }
    for (const kind of ["leak", "loss", "theft"] as const) assert.equal(isBreach(kind, "2023"), true);
  });
});

describe("notifying people (PIPA Art. 34(1); Decree Art. 39)", () => {
  test("PIPA Art. 34(1): every affected person is told within 72 hours, whatever the number", () => {
    for (const n of [1, 999, 65_719]) {
      const d = duty(computeDuties(input({ scope: scopeOf(n) })), "NOTIFY_SUBJECTS");
      assert.equal(d.required, true);
      assert.equal(d.due, "2026-11-23T01:00:00.000Z");
      assert.deepEqual(d.grounds, [`PEOPLE_${n}`]);
    }
    const none = duty(computeDuties(input({ scope: scopeOf(0, []) })), "NOTIFY_SUBJECTS");
    assert.equal(none.required, false);
    const unknown = duty(computeDuties(input({ scope: null })), "NOTIFY_SUBJECTS");
    assert.equal(unknown.required, true, "required until a scope shows nobody was affected");
    assert.deepEqual(unknown.grounds, ["SCOPE_NOT_YET_KNOWN"]);
  });

  test("PIPA Art. 34(1) (2026): seven notice items from 2026-09-11, five before", () => {
    assert.equal(noticeItemCount(lawVersionAt(AWARE)), 7);
    assert.equal(noticeItemCount(lawVersionAt(AWARE_2025)), 5);
    assert.match(duty(computeDuties(input()), "NOTIFY_SUBJECTS").reason, /7 items/);
    assert.match(duty(computeDuties(input({ awareAt: AWARE_2025 })), "NOTIFY_SUBJECTS").reason, /5 items/);
  });

  test("Decree Art. 39(2): a partial first notice while items 1–2 are not known", () => {
    assert.match(duty(computeDuties(input()), "NOTIFY_SUBJECTS").reason, /partial first notice/);
    const known = input({ facts: { circumstances: { ko: "상담 콘솔 계정 도용", en: "a support-console account was misused" } } });
    assert.doesNotMatch(duty(computeDuties(known), "NOTIFY_SUBJECTS").reason, /partial/);
  });

  test("Decree Art. 39(3): a website posting for ≥ 30 days when people cannot be reached directly", () => {
    const reachable = duty(computeDuties(input({ withoutContact: 0 })), "WEBSITE_POSTING");
    assert.equal(reachable.required, false);
    const noContact = duty(computeDuties(input({ withoutContact: 3 })), "WEBSITE_POSTING");
    assert.equal(noContact.required, true);
    assert.deepEqual(noContact.grounds, ["NO_CONTACT_3"]);
    const erased = duty(computeDuties(input({ scope: scopeOf(10, undefined, { linked: 8, unlinkable: 2 }), withoutContact: null })), "WEBSITE_POSTING");
    assert.equal(erased.required, true, "people erased since cannot be named: the posting reaches them");
    assert.deepEqual(erased.grounds, ["ERASED_UNLINKABLE_2"]);
    const notYet = duty(computeDuties(input({ withoutContact: null })), "WEBSITE_POSTING");
    assert.deepEqual([notYet.required, notYet.grounds], [false, ["CONTACTS_NOT_YET_CHECKED"]]);
  });

  test("Credit Information Act Art. 39-4(1): credit information adds its notice article", () => {
    const d = duty(computeDuties(input({ scope: scopeOf(5, [["transaction_history", "credit"]], { credit: 5 }) })), "NOTIFY_SUBJECTS");
    assert.match(d.article, /Credit Information Act Art\. 39-4\(1\)/);
  });
});

describe("reporting to the PIPC or KISA (PIPA Art. 34(4) 2026 / 34(3) 2023; Decree Art. 40)", () => {
  test("Decree Art. 40(1)1: 999 people is below the threshold, 1,000 is a report", () => {
    const below = report(input({ scope: scopeOf(999) }));
    assert.equal(below.required, false);
    assert.deepEqual(below.grounds, ["BELOW_THRESHOLDS"]);
    const at = report(input({ scope: scopeOf(1000) }));
    assert.equal(at.required, true);
    assert.deepEqual(at.grounds, ["PEOPLE_1000_AT_LEAST_1000"]);
    assert.equal(at.due, "2026-11-23T01:00:00.000Z");
    assert.equal(at.article, "PIPA Art. 34(4); Decree Art. 40(1)");
    assert.equal(report(input({ awareAt: AWARE_2025, scope: scopeOf(1000) })).article, "PIPA Art. 34(3); Decree Art. 40(1)");
  });

  test("Decree Art. 40(1)2: any sensitive or unique-identifying item is a report, for one person", () => {
    for (const [field, sensitivity, ground] of [
      ["health_status", "sensitive", "SENSITIVE_FIELD:health_status"],
      ["face_template", "biometric", "SENSITIVE_FIELD:face_template"],
      ["passport_number", "unique_id", "UNIQUE_ID_FIELD:passport_number"],
      ["rrn", "rrn", "UNIQUE_ID_FIELD:rrn"],
    ] as const) {
      const d = report(input({ scope: scopeOf(1, [["name", "general"], [field, sensitivity]]) }));
      assert.equal(d.required, true, sensitivity);
      assert.deepEqual(d.grounds, [ground]);
    }
    for (const sensitivity of ["general", "card", "account", "credit"]) {
      assert.equal(report(input({ scope: scopeOf(1, [["x", sensitivity]]) })).required, false, sensitivity);
    }
  });

  test("Decree Art. 40(1)3: unlawful external access is a report, for one person", () => {
    const d = report(input({ scope: scopeOf(1), facts: { intrusion: true } }));
    assert.equal(d.required, true);
    assert.deepEqual(d.grounds, ["UNLAWFUL_EXTERNAL_ACCESS"]);
  });

  test("Decree Art. 40(1) proviso: retrieval or deletion that made the risk substantially lower: no report, reason recorded; people are still told", () => {
    const facts = { riskReduced: { reason: "the file was deleted from the only host it reached, confirmed by its operator", at: "2026-11-20T05:00:00.000Z" } };
    const ds = computeDuties(input({ scope: scopeOf(5000), facts }));
    const d = duty(ds, "REPORT_PIPC_KISA");
    assert.equal(d.required, false);
    assert.deepEqual(d.grounds, ["PEOPLE_5000_AT_LEAST_1000", "RISK_SUBSTANTIALLY_REDUCED"]);
    assert.match(d.reason, /\(Decree 40\(1\) proviso\): the file was deleted/);
    assert.equal(duty(ds, "NOTIFY_SUBJECTS").required, true, "PIPA Art. 34(1) has no such exception");
  });
});

describe("reporting credit-information incidents to the FSC/FSS (Credit Information Act Art. 39-4(2); Decree 34-4)", () => {
  test("Credit Information Act Art. 39-4(2): 9,999 people with credit information is below, 10,000 is a report", () => {
    const fields: [string, string][] = [["transaction_history", "credit"]];
    const below = duty(computeDuties(input({ scope: scopeOf(20_000, fields, { credit: 9_999 }) })), "REPORT_FSC_FSS");
    assert.equal(below.required, false);
    assert.deepEqual(below.grounds, ["CREDIT_PEOPLE_9999_BELOW_10000"]);
    const at = duty(computeDuties(input({ scope: scopeOf(20_000, fields, { credit: 10_000 }) })), "REPORT_FSC_FSS");
    assert.equal(at.required, true);
    assert.deepEqual(at.grounds, ["CREDIT_PEOPLE_10000_AT_LEAST_10000"]);
    assert.match(at.reason, /without delay/);
    assert.equal(at.article, "Credit Information Act Art. 39-4(2); Enforcement Decree Art. 34-4");
  });
});

describe("a possible breach (PIPA Art. 34(2) 2026; Decree Arts. 39-2, 39-3)", () => {
  test("PIPA Art. 34(2) (2026): a possible breach is told within 72 hours from 2026-09-11, and not reported until confirmed", () => {
    const ds = computeDuties(input({ kind: "possible", scope: null, facts: { possibleGround: "unidentified_intrusion" } }));
    const d = duty(ds, "NOTIFY_POSSIBLE_BREACH");
    assert.equal(d.required, true);
    assert.equal(d.due, "2026-11-23T01:00:00.000Z");
    assert.deepEqual(d.grounds, ["POSSIBLE_BREACH:UNIDENTIFIED_INTRUSION"]);
    assert.equal(duty(ds, "REPORT_PIPC_KISA").required, false);
    assert.deepEqual(duty(ds, "REPORT_PIPC_KISA").grounds, ["NOT_CONFIRMED"]);
  });

  test("Decree Art. 39-3: a possible breach found not to be one is told immediately", () => {
    const ds = computeDuties(input({ kind: "possible", facts: { noBreachAt: "2026-11-21T00:00:00.000Z" } }));
    assert.equal(duty(ds, "NOTIFY_POSSIBLE_BREACH").required, false);
    const d = duty(ds, "NOTIFY_NO_BREACH");
    assert.deepEqual([d.required, d.due], [true, "2026-11-21T00:00:00.000Z"]);
  });

  test("PIPA Art. 34(2) (2026): no possible-breach notice for an awareness before 2026-09-11", () => {
    const d = duty(computeDuties(input({ kind: "possible", awareAt: AWARE_2025 })), "NOTIFY_POSSIBLE_BREACH");
    assert.deepEqual([d.required, d.grounds], [false, ["AWARE_BEFORE_2026_09_11"]]);
  });
});
