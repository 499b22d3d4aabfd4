/**
 * Policy scenarios as a table (Keto's habit): request + consents → decision and reasons.
 * Legal rules carry their article in the scenario name.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ConsentState } from "../../src/core/ports.js";
import { evaluate } from "../../src/core/policy/policy-fns.js";
import type { AccessRequest } from "../../src/core/policy/policy-types.js";
import { policyCatalog } from "../fixtures/policy-catalog.js";

const NOW = new Date("2026-11-20T12:00:00Z");
const granted = (notice: string, version: number, category: ConsentState["category"] = "marketing"): ConsentState => ({
  notice,
  noticeVersion: version,
  category,
  status: "granted",
  channel: "app",
  at: new Date("2026-07-01T00:00:00Z"),
});
const withdrawn = (notice: string, version: number): ConsentState => ({ ...granted(notice, version), status: "withdrawn" });

interface Scenario {
  name: string;
  req: Partial<AccessRequest> & Pick<AccessRequest, "principal" | "purpose">;
  consents?: ConsentState[];
  found?: boolean;
  dormant?: boolean;
  now?: Date;
  expect: { effect: "allow"; fields: string[]; masks?: Record<string, string>; withheld?: string[] } | { effect: "deny"; codes: string[] };
}

const scenarios: Scenario[] = [
  { name: "contract basis: the service reads its own fields", req: { principal: "talk-app", purpose: "service", fields: ["phone", "nickname"] }, expect: { effect: "allow", fields: ["phone", "nickname"] } },
  { name: "implicit fields: every field of the purpose", req: { principal: "talk-app", purpose: "service", fields: null }, expect: { effect: "allow", fields: ["user_id", "phone", "email", "nickname", "ip"] } },
  { name: "unknown principal is denied", req: { principal: "nobody", purpose: "service" }, expect: { effect: "deny", codes: ["UNKNOWN_PRINCIPAL"] } },
  { name: "PIPA Art. 15(1): an unregistered purpose is denied", req: { principal: "talk-app", purpose: "profiling" }, expect: { effect: "deny", codes: ["UNKNOWN_PURPOSE"] } },
  { name: "principal limited to its purposes", req: { principal: "support-desk", purpose: "marketing" }, expect: { effect: "deny", codes: ["PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL"] } },
  { name: "PIPA Art. 16(1): a field the purpose does not need is denied", req: { principal: "support-desk", purpose: "support", fields: ["phone", "email"] }, expect: { effect: "deny", codes: ["FIELD_NOT_IN_PURPOSE"] } },
  { name: "an unknown field is denied", req: { principal: "talk-app", purpose: "service", fields: ["shoe_size"] }, expect: { effect: "deny", codes: ["UNKNOWN_FIELD"] } },
  { name: "masking per purpose: support sees a masked phone", req: { principal: "support-desk", purpose: "support", fields: ["phone"] }, expect: { effect: "allow", fields: ["phone"], masks: { phone: "phone" } } },
  { name: "subject not found", req: { principal: "talk-app", purpose: "service" }, found: false, expect: { effect: "deny", codes: ["NOT_FOUND"] } },
  { name: "former Decree 48-5: a dormant (separated) subject is refused to a read its purpose allows", req: { principal: "talk-app", purpose: "service", fields: ["phone"] }, dormant: true, expect: { effect: "deny", codes: ["SUBJECT_DORMANT"] } },
  { name: "former Decree 48-5: a dormant subject is refused to a write too", req: { principal: "talk-app", purpose: "service", action: "write", fields: ["nickname"] }, dormant: true, expect: { effect: "deny", codes: ["SUBJECT_DORMANT"] } },
  { name: "a dormant subject: the principal's own refusal comes first (nothing more is revealed)", req: { principal: "support-desk", purpose: "marketing" }, dormant: true, expect: { effect: "deny", codes: ["PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL"] } },
  { name: "a dormant subject no longer found is not found", req: { principal: "talk-app", purpose: "service" }, found: false, dormant: true, expect: { effect: "deny", codes: ["NOT_FOUND"] } },
  { name: "PIPA Art. 15(1)1: consent purpose without consent has no legal basis", req: { principal: "ads-svc", purpose: "marketing", fields: ["phone"] }, expect: { effect: "deny", codes: ["NO_LEGAL_BASIS"] } },
  { name: "PIPA Art. 37: withdrawn consent denies", req: { principal: "ads-svc", purpose: "marketing", fields: ["phone"] }, consents: [withdrawn("marketing", 2)], expect: { effect: "deny", codes: ["CONSENT_WITHDRAWN"] } },
  { name: "current consent allows", req: { principal: "ads-svc", purpose: "marketing", fields: ["phone", "email"] }, consents: [granted("marketing", 2)], expect: { effect: "allow", fields: ["phone", "email"] } },
  {
    name: "PIPA Art. 15(2): a notice that added an item makes consent stale for that item",
    req: { principal: "ads-svc", purpose: "marketing", fields: ["email"] },
    consents: [granted("marketing", 1)],
    expect: { effect: "deny", codes: ["CONSENT_STALE"] },
  },
  {
    name: "PIPA Art. 15(2): items unchanged since the consent still flow",
    req: { principal: "ads-svc", purpose: "marketing", fields: ["phone"] },
    consents: [granted("marketing", 1)],
    expect: { effect: "allow", fields: ["phone"] },
  },
  {
    name: "PIPA Art. 15(2): implicit read withholds the stale item and says why",
    req: { principal: "ads-svc", purpose: "marketing", fields: null },
    consents: [granted("marketing", 1)],
    expect: { effect: "allow", fields: ["phone"], withheld: ["CONSENT_STALE:email"] },
  },
  {
    name: "PIPA Art. 15(2): a changed purpose text makes the whole consent stale once in force",
    req: { principal: "ads-svc", purpose: "marketing", fields: ["phone"] },
    consents: [granted("marketing", 2)],
    now: new Date("2027-01-02T00:00:00Z"),
    expect: { effect: "deny", codes: ["CONSENT_STALE"] },
  },
  {
    name: "a notice version not yet in force changes nothing",
    req: { principal: "ads-svc", purpose: "marketing", fields: ["phone"] },
    consents: [granted("marketing", 2)],
    expect: { effect: "allow", fields: ["phone"] },
  },
  {
    name: "PIPA Art. 23: sensitive data needs its separate consent",
    req: { principal: "talk-app", purpose: "health_feature", fields: ["health"] },
    consents: [],
    expect: { effect: "deny", codes: ["NO_LEGAL_BASIS"] },
  },
  {
    name: "PIPA Art. 23: the sensitive-category consent allows the sensitive field",
    req: { principal: "talk-app", purpose: "health_feature", fields: ["health"] },
    consents: [granted("health", 1, "sensitive")],
    expect: { effect: "allow", fields: ["health"] },
  },
  {
    name: "PIPA Art. 24: a unique identifier needs a separate unique-id consent besides the purpose consent",
    req: { principal: "talk-app", purpose: "travel", fields: ["user_id", "passport"] },
    consents: [granted("travel", 1, "collection_use")],
    expect: { effect: "deny", codes: ["SEPARATE_CONSENT_REQUIRED"] },
  },
  {
    name: "PIPA Art. 24: with the separate unique-id consent the passport number flows",
    req: { principal: "talk-app", purpose: "travel", fields: ["user_id", "passport"] },
    consents: [granted("travel", 1, "collection_use"), granted("passport", 1, "unique_id")],
    expect: { effect: "allow", fields: ["user_id", "passport"] },
  },
  {
    name: "PIPA Art. 24: implicit read withholds the passport number without its consent",
    req: { principal: "talk-app", purpose: "travel", fields: null },
    consents: [granted("travel", 1, "collection_use")],
    expect: { effect: "allow", fields: ["user_id"], withheld: ["SEPARATE_CONSENT_REQUIRED:passport"] },
  },
  { name: "PIPA Art. 24-2: an RRN under a statutory basis is allowed", req: { principal: "talk-app", purpose: "kyc", action: "write", fields: ["user_id", "rrn"] }, expect: { effect: "allow", fields: ["user_id", "rrn"] } },
  {
    name: "PIPA Art. 24-2: consent is not a basis for an RRN",
    req: { principal: "talk-app", purpose: "kyc_by_consent", action: "write", fields: ["rrn"] },
    consents: [granted("marketing", 2)],
    expect: { effect: "deny", codes: ["RRN_CONSENT_NOT_A_BASIS"] },
  },
  { name: "writing needs a collecting purpose", req: { principal: "support-desk", purpose: "support", action: "write", fields: ["phone"] }, expect: { effect: "deny", codes: ["PURPOSE_NOT_COLLECTING"] } },
  { name: "PIPA Art. 21(3): the sealed retention purpose is for retention principals", req: { principal: "sneaky", purpose: "legal_retention", fields: ["phone"] }, expect: { effect: "deny", codes: ["ROLE_NOT_PERMITTED"] } },
  { name: "PIPA Art. 21(3): a retention principal reads only under legal_retention", req: { principal: "archive", purpose: "legal_retention", fields: ["phone"] }, expect: { effect: "allow", fields: ["phone"] } },
];

describe("policy engine scenarios", () => {
  for (const s of scenarios) {
    test(s.name, () => {
      const d = evaluate(
        policyCatalog,
        { action: "read", fields: null, ...s.req } as AccessRequest,
        { found: s.found ?? true, dormant: s.dormant ?? false, consents: s.consents ?? [] },
        s.now ?? NOW,
      );
      if (s.expect.effect === "deny") {
        assert.equal(d.effect, "deny", JSON.stringify(d));
        if (d.effect === "deny") assert.deepEqual(d.reasons.map((r) => r.code), s.expect.codes);
      } else {
        assert.equal(d.effect, "allow", JSON.stringify(d));
        if (d.effect === "allow") {
          assert.deepEqual(d.fields, s.expect.fields);
          assert.deepEqual(d.masks, s.expect.masks ?? {});
          assert.deepEqual(d.withheld.map((w) => `${w.code}:${w.field}`), s.expect.withheld ?? []);
        }
      }
    });
  }

  test("every denial carries a message and never personal data", () => {
    const d = evaluate(policyCatalog, { principal: "ads-svc", purpose: "marketing", action: "read", fields: ["phone"] }, { found: true, consents: [] }, NOW);
    assert.equal(d.effect, "deny");
    if (d.effect === "deny") for (const r of d.reasons) assert.ok(r.message.length > 0);
  });

  test("the engine is pure: same input, same decision", () => {
    const args = [policyCatalog, { principal: "talk-app", purpose: "service", action: "read", fields: null }, { found: true, consents: [] }, NOW] as const;
    assert.deepEqual(evaluate(...args), evaluate(...args));
  });
});
