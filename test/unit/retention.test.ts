/** What an erasure destroys and what a law keeps, and until when (core/retention/retention-fns.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadCatalog } from "../../src/container.js";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { erasurePlan, expirableFields, orphanedFields, purposeDeadline } from "../../src/core/retention/retention-fns.js";
import type { ConsentState } from "../../src/core/ports.js";

const catalog = loadCatalog(DEMO_CATALOG);
const NOW = new Date("2026-11-21T00:00:00Z");

describe("erasure plan (PIPA Art. 21; LAW §5.1, §15 E1)", () => {
  test("LAW §15 E1: a payer's records are kept until the longest applicable statutory period ends (5 years)", () => {
    const p = erasurePlan(catalog, ["user_id", "name", "phone", "card_number", "transaction_history"], NOW);
    assert.deepEqual(p.destroy, ["phone"]);
    assert.deepEqual(p.retain.map((r) => r.field), ["card_number", "name", "transaction_history", "user_id"]);
    for (const r of p.retain) {
      assert.equal(r.until.toISOString(), "2031-11-21T00:00:00.000Z");
      assert.equal(r.code, `RETAINED_BY_LAW:${r.rule}`);
    }
    assert.equal(p.until?.toISOString(), "2031-11-21T00:00:00.000Z");
  });

  test("PIPA Art. 21(1): without payment records, nothing is kept (a rule applies only to people it concerns)", () => {
    const p = erasurePlan(catalog, ["user_id", "name", "phone", "nickname"], NOW);
    assert.deepEqual(p.destroy, ["name", "nickname", "phone", "user_id"]);
    assert.deepEqual(p.retain, []);
    assert.equal(p.until, null);
  });

  test("Communications Secret Protection Act Art. 15-2: access-location data is kept 3 months, the rest goes", () => {
    const p = erasurePlan(catalog, ["user_id", "ip_address", "last_seen"], NOW);
    assert.deepEqual(p.retain.map((r) => [r.field, r.rule, r.until.toISOString().slice(0, 10)]), [
      ["ip_address", "comms_log_records", "2027-02-21"],
      ["last_seen", "comms_log_records", "2027-02-21"],
    ]);
    assert.deepEqual(p.destroy, ["user_id"]);
  });
});

describe("retention rules in the catalog (PIPA Art. 21(3))", async () => {
  const fs = await import("node:fs");
  const YAML = (await import("yaml")).default;
  const { parseCatalog } = await import("../../src/core/catalog/catalog-fns.js");
  const withRule = (rule: Record<string, unknown>) => {
    const doc = YAML.parse(fs.readFileSync(DEMO_CATALOG, "utf8"));
    doc.retention_rules.test_rule = { period: "P1Y", citation: "Test Act Art. 1", ...rule };
    return parseCatalog(YAML.stringify(doc));
  };
  test("PIPA Art. 21(3): a kept field nobody may read for legal_retention is a warning", () => {
    const r = withRule({ fields: ["nickname"] });
    assert.equal(r.ok, true);
    assert.deepEqual(r.warnings.map((w) => [w.path, w.code]), [["retention_rules.test_rule.fields[0]", "RETAINED_FIELD_NOT_READABLE"]]);
  });
  test("a rule's trigger must be one of the fields it keeps; unknown fields are errors", () => {
    const r = withRule({ fields: ["user_id", "no_such_field"], when: "phone" });
    assert.equal(r.ok, false);
    const codes = (r.ok ? [] : r.errors).map((e) => e.code).sort();
    assert.deepEqual(codes, ["RETENTION_TRIGGER_NOT_KEPT", "UNKNOWN_FIELD_REF"]);
  });
});

describe("withdrawal (PIPA Art. 37(3), (5); LAW §15 E6)", () => {
  const state = (notice: string, status: "granted" | "withdrawn"): ConsentState => ({
    notice,
    noticeVersion: 1,
    category: "collection_use",
    status,
    channel: "app",
    at: new Date("2025-01-01T00:00:00Z"),
  });
  test("PIPA Art. 37(3): a field only a withdrawn consent held is orphaned; fields a contract purpose holds are not", () => {
    const held = ["user_id", "name", "passport_number", "card_number"];
    assert.deepEqual(orphanedFields(catalog, held, [state("pay_overseas", "granted"), state("passport_unique_id", "granted")], NOW), []);
    assert.deepEqual(orphanedFields(catalog, held, [state("pay_overseas", "withdrawn"), state("passport_unique_id", "granted")], NOW), ["passport_number"]);
  });
  test("PIPA Art. 24: withdrawing only the separate unique-identifier consent orphans the passport number", () => {
    const held = ["user_id", "passport_number"];
    assert.deepEqual(orphanedFields(catalog, held, [state("pay_overseas", "granted"), state("passport_unique_id", "withdrawn")], NOW), ["passport_number"]);
  });
  test("withdrawing marketing destroys nothing the messenger still needs", () => {
    assert.deepEqual(orphanedFields(catalog, ["phone", "email"], [state("marketing", "withdrawn")], NOW), []);
  });
});

describe("purpose periods (PIPA Art. 21(1); LAW §15 E1)", () => {
  const at = new Date("2026-01-01T00:00:00Z");
  test("LAW §15 E1: security-monitoring values expire 3 months after collection; analytics consent extends device ids to a year", () => {
    assert.deepEqual(expirableFields(catalog).sort(), ["birth_date", "device_id", "ip_address", "last_seen", "user_id"]);
    assert.equal(purposeDeadline(catalog, "ip_address", [], at, NOW)?.toISOString(), "2026-04-01T00:00:00.000Z");
    assert.equal(purposeDeadline(catalog, "device_id", [], at, NOW)?.toISOString(), "2026-04-01T00:00:00.000Z");
    const analytics = { notice: "analytics", noticeVersion: 1, category: "collection_use" as const, status: "granted" as const, channel: "app" as const, at };
    assert.equal(purposeDeadline(catalog, "device_id", [analytics], at, NOW)?.toISOString(), "2027-01-01T00:00:00.000Z");
  });
  test("PIPA Art. 21(1): a value a contract purpose holds with no period never expires by period", () => {
    assert.equal(purposeDeadline(catalog, "user_id", [], at, NOW), null);
  });
});
