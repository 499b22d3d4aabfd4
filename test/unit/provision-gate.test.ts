/**
 * The provision gate's decisions (core/provision/gate-fns.ts): classification, provision bases,
 * each overseas transfer basis A-E with its exclusions, credit information, the kill switch,
 * and the per-person exclusions. Test names cite the article each case comes from.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import type { ConsentState, SuspensionRow } from "../../src/core/ports.js";
import { checkProvision, subjectExclusion, type GateDecision, type ProvisionRequest } from "../../src/core/provision/gate-fns.js";
import { RECIPIENTS, provisionCatalog } from "../fixtures/provision-catalog.js";

const NOW = new Date("2026-11-21T03:00:00Z");
const cat = provisionCatalog();

const req = (over: Partial<ProvisionRequest>): ProvisionRequest => ({
  recipient: "host-kr",
  purpose: "pay",
  label: "consignment",
  fields: ["user_id", "phone"],
  population: { purposes: [] },
  format: "ndjson",
  transform: {},
  ...over,
});
const check = (r: Partial<ProvisionRequest>, c: Catalog = cat, suspensions: SuspensionRow[] = []) => checkProvision(c, "pay-app", req(r), suspensions, NOW);
const codes = (d: GateDecision) => (d.effect === "deny" ? d.reasons.map((r) => r.code).sort() : []);
const allowed = (d: GateDecision) => {
  assert.equal(d.effect, "allow", d.effect === "deny" ? d.reasons.map((r) => `${r.code}: ${r.message}`).join("\n") : "");
  return (d as Extract<GateDecision, { effect: "allow" }>).plan;
};
const withRecipient = (name: string, over: Record<string, unknown>) => provisionCatalog({ ...RECIPIENTS, [name]: { ...RECIPIENTS[name]!, ...over } as never });
const granted = (notice: string, version = 1): ConsentState => ({
  notice,
  noticeVersion: version,
  category: "provision",
  status: "granted",
  channel: "app",
  at: new Date("2025-01-01T00:00:00Z"),
});

describe("consignment or provision (PIPA Art. 26, Art. 17; LAW §15 C1)", () => {
  test("PIPA Art. 26(1): a consignment with a complete contract in force is a consignment", () => {
    const p = allowed(check({}));
    assert.equal(p.classification, "consignment");
    assert.equal(p.basis, "consignment:CT-1");
    assert.equal(p.transferBasis, null);
  });

  test("PIPA Art. 26(1): a consignee without a contract is refused with CONSIGNMENT_CONTRACT_MISSING and treated as a provision", () => {
    const d = check({}, withRecipient("host-kr", { contract: undefined }));
    assert.equal(d.effect, "deny");
    assert.equal((d as { classification: string }).classification, "provision");
    assert.deepEqual(codes(d), ["CONSIGNMENT_CONTRACT_MISSING", "PROVISION_BASIS_MISSING"]);
  });

  test("PIPA Art. 26(1); Decree Art. 28(1): a contract missing clauses names each missing clause", () => {
    const c = withRecipient("host-kr", { contract: { ...RECIPIENTS["host-kr"]!.contract!, clauses: ["no_processing_beyond_purpose", "liability_for_breach"] } });
    const d = check({}, c);
    assert.ok(codes(d).includes("CONSIGNMENT_CONTRACT_INCOMPLETE"));
    const msg = (d as { reasons: { code: string; message: string }[] }).reasons.find((r) => r.code === "CONSIGNMENT_CONTRACT_INCOMPLETE")!.message;
    for (const k of ["technical_managerial_measures", "sub_entrustment_restrictions", "supervision_and_inspection"]) assert.match(msg, new RegExp(k));
  });

  test("PIPA Art. 26(1)3: a contract that does not cover the purpose's work is refused", () => {
    const c = withRecipient("host-kr", { purposes: ["pay", "fraud"], fields: ["user_id", "history"] });
    assert.deepEqual(codes(check({ purpose: "fraud", fields: ["user_id"] }, c)), ["CONSIGNMENT_WORK_NOT_COVERED", "PROVISION_BASIS_MISSING"]);
  });

  test("PIPA Art. 26(2): a trustee that is not publicly listed is refused", () => {
    const c = withRecipient("host-kr", { contract: { ...RECIPIENTS["host-kr"]!.contract!, public_listing: undefined } });
    assert.ok(codes(check({}, c)).includes("CONSIGNMENT_NOT_DISCLOSED"));
  });

  test("PIPA Art. 26(1): an expired contract is refused", () => {
    const c = withRecipient("host-kr", { contract: { ...RECIPIENTS["host-kr"]!.contract!, end: "2025-12-31" } });
    assert.ok(codes(check({}, c)).includes("CONSIGNMENT_CONTRACT_NOT_IN_FORCE"));
  });

  test("PIPA Art. 26(6): an unapproved sub-trustee is refused", () => {
    const c = withRecipient("host-kr", {
      contract: { ...RECIPIENTS["host-kr"]!.contract!, sub_entrustments: [{ name: "SubCo", country: "KR", work: "backup" }] },
    });
    assert.ok(codes(check({}, c)).includes("SUB_ENTRUSTMENT_NOT_APPROVED"));
  });

  test("Supreme Court 2016do13263: a recipient with a purpose of its own is not a consignee, whatever the label", () => {
    const d = check({ recipient: "third-kr" });
    assert.ok(codes(d).includes("RECIPIENT_PURPOSE_NOT_CONTROLLERS"));
    assert.ok(codes(d).includes("CONSIGNMENT_CONTRACT_MISSING"));
    assert.match((d as { reasons: { message: string }[] }).reasons[0]!.message, /CONSIGNMENT_DENIED: recipient third-kr processes for its own purpose/);
  });

  test("PIPA Art. 26(5): a contract that lets the trustee use the data for itself makes it a provision", () => {
    const c = withRecipient("host-kr", { contract: { ...RECIPIENTS["host-kr"]!.contract!, own_use_prohibited: false } });
    assert.ok(codes(check({}, c)).includes("RECIPIENT_PURPOSE_NOT_CONTROLLERS"));
  });

  test("PIPA Art. 17(1)1: the same recipient labelled a provision passes on per-person consent", () => {
    const p = allowed(check({ recipient: "third-kr", label: "provision" }));
    assert.equal(p.classification, "provision");
    assert.equal(p.basis, "consent:third_kr_provision");
    assert.equal(p.provisionNotice, "third_kr_provision");
  });

  test("PIPA Art. 17(2)3: fields the provision notice does not name are refused", () => {
    const c = withRecipient("third-kr", { fields: ["user_id", "phone", "email"] });
    assert.deepEqual(codes(check({ recipient: "third-kr", label: "provision", fields: ["user_id", "email"] }, c)), ["PROVISION_NOTICE_INCOMPLETE"]);
  });

  test("PIPA Art. 17(1)2: a non-consent provision must stay within a purpose collected under 15(1)2,3,5,6,7 (contract necessity is not a basis)", () => {
    const ok = allowed(check({ recipient: "third-li", label: "provision", purpose: "fraud", fields: ["user_id"] }));
    assert.equal(ok.basis, "legitimate_interest:record FR-7");
    const c = withRecipient("third-li", { purposes: ["pay", "fraud"] });
    assert.deepEqual(codes(check({ recipient: "third-li", label: "provision", purpose: "pay", fields: ["user_id"] }, c)), ["PROVISION_BASIS_MISSING"]);
  });

  test("Credit Information Act Art. 32(1): credit information is provided only on consent for the provision", () => {
    const d = check({ recipient: "third-li", label: "provision", purpose: "fraud", fields: ["user_id", "history"] });
    assert.deepEqual(codes(d), ["CREDIT_CONSENT_REQUIRED"]);
    const exempt = withRecipient("third-li", { credit_exception: "Credit Information Act Art. 32(6)9-2 (pseudonymised research)" });
    allowed(check({ recipient: "third-li", label: "provision", purpose: "fraud", fields: ["user_id", "history"] }, exempt));
  });

  test("Credit Information Act Art. 32(6): consignment to a trustee is an exception (credit data may go to a consignee)", () => {
    allowed(check({ fields: ["user_id", "history"] }));
  });

  test("FSS 2024-08-13: hashing or masking never exempts a transfer; the refusal says so", () => {
    const d = check({ recipient: "third-kr", transform: { phone: "hash", user_id: "hash" } });
    assert.equal(d.effect, "deny");
    assert.ok(codes(d).includes("RECIPIENT_PURPOSE_NOT_CONTROLLERS"));
    assert.match((d as { notes: string[] }).notes[0]!, /does not exempt a transfer/);
  });
});

describe("scope (PIPA Art. 3(1), 18(1); LAW §15 C2)", () => {
  test("PIPA Art. 3(1): fields the recipient may not receive are refused one by one", () => {
    const c = withRecipient("host-kr", { fields: ["user_id"] });
    const d = check({ fields: ["user_id", "phone", "email"] }, c);
    assert.deepEqual(codes(d), ["FIELD_NOT_ALLOWED", "FIELD_NOT_ALLOWED"]);
    assert.deepEqual((d as { reasons: { field?: string }[] }).reasons.map((r) => r.field), ["phone", "email"]);
  });

  test("LAW §15 C2: asking for everyone when the recipient may only have the feature's users is POPULATION_OUT_OF_SCOPE", () => {
    const d = check({ recipient: "score-sg", label: "provision", fields: ["user_id", "history"] });
    assert.deepEqual(codes(d), ["POPULATION_OUT_OF_SCOPE"]);
    allowed(check({ recipient: "score-sg", label: "provision", fields: ["user_id", "history"], population: { purposes: ["overseas_pay"] } }));
  });

  test("PIPA Art. 18(1): a purpose the recipient is not declared for is refused", () => {
    // Every failing condition is named: the contract does not cover that work either.
    assert.deepEqual(codes(check({ purpose: "fraud", fields: ["user_id"] })), [
      "CONSIGNMENT_WORK_NOT_COVERED",
      "PROVISION_BASIS_MISSING",
      "PURPOSE_NOT_ALLOWED_FOR_RECIPIENT",
    ]);
  });

  test("Safety Standard Art. 5: a principal not allowed the recipient is refused", () => {
    const d = checkProvision(cat, "other-app", req({}), [], NOW);
    assert.deepEqual(codes(d), ["PRINCIPAL_NOT_ALLOWED"]);
    assert.deepEqual(codes(checkProvision(cat, "pay-app", req({ recipient: "nobody" }), [], NOW)), ["RECIPIENT_UNKNOWN"]);
  });
});

describe("overseas transfer bases (PIPA Art. 28-8(1); LAW §15 D1-D2)", () => {
  const sgReq = { recipient: "score-sg", label: "provision" as const, fields: ["user_id", "history"], population: { purposes: ["overseas_pay"] } };

  test("PIPA Art. 28-8(1)1 (A): separate consent, checked per person", () => {
    const p = allowed(check(sgReq));
    assert.equal(p.transferBasis, "A:consent:score_transfer");
    assert.equal(p.transferNotice, "score_transfer");
    const base = [granted("overseas_pay"), granted("score_provision")];
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, base, 2, NOW), "TRANSFER_CONSENT_ABSENT");
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, [...base, granted("score_transfer")], 2, NOW), null);
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, [...base, { ...granted("score_transfer"), status: "withdrawn" }], 2, NOW), "TRANSFER_CONSENT_WITHDRAWN");
  });

  test("PIPA Art. 28-8(1)2 (B): a statute or treaty; without one the refusal names the missing basis", () => {
    assert.equal(allowed(check({ recipient: "law-us" })).transferBasis, "B:law:Treaty X Art. 3");
    const c = withRecipient("law-us", { transfer: { ...RECIPIENTS["law-us"]!.transfer!, statute: undefined } });
    const d = check({ recipient: "law-us" }, c);
    assert.deepEqual(codes(d), ["TRANSFER_DENIED"]);
    assert.match((d as { reasons: { message: string }[] }).reasons[0]!.message, /TRANSFER_DENIED country=US recipient=law-us basis=law\(B\); no statute/);
  });

  test("PIPA Art. 28-8(1)3 (C): contract necessity covers consignment with the items disclosed, never a provision", () => {
    assert.equal(allowed(check({ recipient: "store-jp" })).transferBasis, "C:contract_necessity:privacy_policy");
    const asProvision = withRecipient("store-jp", { kind: "third_party", recipient_purpose: "its own", retention: "1y", provision_basis: "consent", notice: "third_kr_provision", contract: undefined });
    const d = check({ recipient: "store-jp", label: "provision" }, asProvision);
    assert.ok(codes(d).includes("TRANSFER_DENIED"));
    assert.match(JSON.stringify(d), /C not applicable to PROVISION/);
    const undisclosed = withRecipient("store-jp", { transfer: { ...RECIPIENTS["store-jp"]!.transfer!, disclosed: undefined } });
    assert.match(JSON.stringify(check({ recipient: "store-jp" }, undisclosed)), /C items not disclosed/);
  });

  test("PIPA Art. 28-8(1)4 (D): a certification in its validity period; an expired one is refused with its date", () => {
    assert.equal(allowed(check({ recipient: "cert-us" })).transferBasis, "D:certification:ISMS-P:C-1");
    const c = withRecipient("cert-us", { transfer: { ...RECIPIENTS["cert-us"]!.transfer!, certification: { scheme: "ISMS-P", id: "C-1", valid_until: "2026-01-31" } } });
    assert.match(JSON.stringify(check({ recipient: "cert-us" }, c)), /expired on 2026-01-31/);
  });

  test("PIPA Art. 28-8(1)5 (E): the EU decision covers Ireland for card data", () => {
    assert.equal(allowed(check({ recipient: "card-ie", fields: ["user_id", "card"] })).transferBasis, "E:equivalence:eu_2025");
  });

  test("PIPA Art. 28-8(1)5 (E): credit information to the EU under the equivalence decision alone is refused, naming the exclusion", () => {
    const d = check({ recipient: "card-ie", fields: ["user_id", "history"] });
    assert.deepEqual(codes(d), ["TRANSFER_DENIED"]);
    assert.match(JSON.stringify(d), /excludes history \(credit\)/);
  });

  test("PIPA Art. 28-8(1)5 (E): a country the decision does not cover is refused", () => {
    const c = withRecipient("card-ie", { country: "US" });
    assert.match(JSON.stringify(check({ recipient: "card-ie", fields: ["user_id"] }, c)), /does not cover US/);
  });

  test("PIPA Art. 28-8(1): no basis at all names every missing basis (LAW §15 D1 example)", () => {
    const c = withRecipient("score-sg", { transfer: undefined });
    const d = check(sgReq, c);
    assert.deepEqual(codes(d), ["TRANSFER_DENIED"]);
    assert.match(JSON.stringify(d), /TRANSFER_DENIED country=SG recipient=score-sg basis=none; consent\(A\) absent; .*C not applicable to PROVISION/);
  });

  test("PIPA Art. 28-8(4): a transfer without agreed safety and grievance measures is refused", () => {
    const c = withRecipient("law-us", { transfer: { ...RECIPIENTS["law-us"]!.transfer!, measures: { safety: true, grievance: false } } });
    assert.deepEqual(codes(check({ recipient: "law-us" }, c)), ["TRANSFER_MEASURES_MISSING"]);
  });
});

describe("kill switch (PIPA Art. 28-9; LAW §15 D4)", () => {
  const order = (scope: "recipient" | "country", target: string): SuspensionRow => ({
    id: "sus_1",
    scope,
    target,
    order: "PIPC 2026-11",
    reason: "suspension order",
    at: NOW,
    by: "officer",
    liftedAt: null,
    liftedBy: null,
  });
  test("PIPA Art. 28-9: a suspended recipient is refused", () => {
    assert.deepEqual(codes(check({}, cat, [order("recipient", "host-kr")])), ["RECIPIENT_SUSPENDED"]);
  });
  test("PIPA Art. 28-9: a suspended country stops every recipient there", () => {
    assert.deepEqual(codes(check({ recipient: "card-ie", fields: ["user_id"] }, cat, [order("country", "IE")])), ["RECIPIENT_SUSPENDED"]);
    allowed(check({}, cat, [order("country", "IE")]));
  });
});

describe("per-person exclusions", () => {
  const p = allowed(check({ recipient: "score-sg", label: "provision", fields: ["user_id", "history"], population: { purposes: ["overseas_pay"] } }));
  test("LAW §15 C2: people outside the recipient's population are left out", () => {
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, [granted("score_provision"), granted("score_transfer")], 2, NOW), "NOT_IN_POPULATION");
  });
  test("PIPA Art. 17(1)1: without the provision consent a person is left out; withdrawn likewise", () => {
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, [granted("overseas_pay"), granted("score_transfer")], 2, NOW), "PROVISION_CONSENT_ABSENT");
    assert.equal(
      subjectExclusion(cat, "pay-app", "pay", p, [granted("overseas_pay"), { ...granted("score_provision"), status: "withdrawn" }, granted("score_transfer")], 2, NOW),
      "PROVISION_CONSENT_WITHDRAWN",
    );
  });
  test("a person with none of the fields is left out as NO_DATA", () => {
    assert.equal(subjectExclusion(cat, "pay-app", "pay", p, [granted("overseas_pay"), granted("score_provision"), granted("score_transfer")], 0, NOW), "NO_DATA");
  });
});
