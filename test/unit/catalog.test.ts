/**
 * The catalog: the demo catalog validates; each rule rejects what it should, at the exact YAML
 * path and with its stable code; every issue comes out in one pass; the recipient rules (PIPA
 * Art. 17, 26, 28-8) report errors and warnings; and the helpers other code relies on (notice
 * versions, changed items, periods) behave.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { identityToRecipient } from "age-encryption";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import {
  addPeriod,
  catalogJsonSchema,
  changedItems,
  formatIssues,
  idContextOf,
  latestNoticeVersion,
  loadCatalogFile,
  noticeVersion,
  parseCatalog,
  parsePeriod,
  requiredFieldsOf,
  requireCatalog,
  separateConsentCategoryFor,
  separateConsentNoticesFor,
  type CatalogIssue,
} from "../../src/core/catalog/catalog-fns.js";
import { CONTRACT_CLAUSES, type Catalog, type FieldDef, type NoticeVersion } from "../../src/core/catalog/catalog-schema.js";
import { isHaechiError } from "../../src/core/errors.js";

const EXAMPLE = new URL("../../examples/haechi.yaml", import.meta.url);
const exampleText = readFileSync(EXAMPLE, "utf8");

/** The demo catalog as plain data, to mutate per case. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test data is deliberately loose
type Raw = any;
const exampleRaw = (): Raw => parseYaml(exampleText) as Raw;

const example = (): Catalog => {
  const r = parseCatalog(exampleText, "examples/haechi.yaml");
  if (!r.ok) assert.fail(`example catalog is invalid:\n${formatIssues(r.errors)}`);
  return r.catalog;
};

const errorsOf = (yamlText: string): CatalogIssue[] => {
  const r = parseCatalog(yamlText);
  assert.equal(r.ok, false, "expected the catalog to be rejected");
  return r.ok ? [] : r.errors;
};

const pairs = (issues: CatalogIssue[]) => issues.map((i) => [i.path, i.code]);

describe("the demo catalog (examples/haechi.yaml)", () => {
  it("validates with zero issues, warnings included", () => {
    const r = loadCatalogFile(EXAMPLE.pathname);
    assert.deepEqual(r.ok ? [] : r.errors, []);
    assert.deepEqual(r.warnings, []);
  });

  it("has the fields, purposes and principals the demo relies on", () => {
    const c = example();
    for (const f of ["user_id", "phone", "email", "name", "nickname", "birth_date", "profile_photo", "openchat_nickname", "ip_address", "device_id", "last_seen", "rrn", "bank_account", "card_number", "transaction_history", "health_status", "passport_number"])
      assert.ok(c.fields[f], `field ${f}`);
    for (const p of ["talk_service", "openchat_service", "pay_service", "pay_kyc", "pay_overseas", "marketing", "health_wallet", "customer_support", "security_monitoring", "legal_retention", "analytics"])
      assert.ok(c.purposes[p], `purpose ${p}`);
    for (const p of ["talk-app", "openchat-app", "pay-app", "marketing-svc", "support-console", "security-ops", "legal-archive"]) assert.ok(c.principals[p], `principal ${p}`);
    assert.deepEqual(c.principals["legal-archive"]?.purposes, ["legal_retention"]);
    assert.equal(c.principals["legal-archive"]?.role, "legal_retention");
  });

  it("Art. 24-2: the only purpose touching the RRN is pay_kyc, on a statute", () => {
    const c = example();
    const withRrn = Object.entries(c.purposes).filter(([, p]) => p.fields.includes("rrn"));
    assert.deepEqual(withRrn.map(([n]) => n), ["pay_kyc"]);
    assert.equal(withRrn[0]?.[1].basis, "law");
    assert.match(withRrn[0]?.[1].statute ?? "", /Real Name Financial Transactions/);
  });

  it("openchat_service never sees the phone number (seed 000)", () => {
    assert.deepEqual(example().purposes.openchat_service?.fields, ["user_id", "openchat_nickname"]);
  });

  it("is deeply frozen", () => {
    const c = example();
    assert.ok(Object.isFrozen(c.purposes.marketing?.fields));
    assert.throws(() => (c.purposes.marketing?.fields as string[]).push("rrn"), TypeError);
  });

  it("the committed JSON Schema is current and accepts the example", () => {
    const committed = JSON.parse(readFileSync(new URL("../../schema/haechi.schema.json", import.meta.url), "utf8")) as unknown;
    const generated = catalogJsonSchema();
    assert.deepEqual(committed, generated, "run: node --import tsx src/core/catalog/write-schema.ts");
    assert.equal(generated.$id, "urn:haechi:schema:catalog:1");
    assert.equal(typeof generated.title, "string");
    // ajv ships with fastify; use it to check editors would accept the example too.
    const require = createRequire(import.meta.url);
    const Ajv2020 = require("ajv/dist/2020.js") as new (o: object) => { compile: (s: unknown) => ((d: unknown) => boolean) & { errors?: unknown } };
    const addFormats = require("ajv-formats") as (a: unknown) => void;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(generated);
    assert.ok(validate(exampleRaw()), JSON.stringify(validate.errors));
  });
});

type Case = { name: string; mutate: (c: Raw) => void; expect: [path: string, code: string][]; message?: RegExp };

/** Each case mutates the demo catalog and expects exactly these issues (path, code), nothing else. */
const cases: Case[] = [
  {
    name: "a purpose naming an undeclared field is rejected at that field",
    mutate: (c) => c.purposes.marketing.fields.push("fax"),
    expect: [["purposes.marketing.fields[3]", "UNKNOWN_FIELD_REF"]],
  },
  {
    name: "a principal naming an undeclared purpose is rejected",
    mutate: (c) => (c.principals["talk-app"].purposes[1] = "chat"),
    expect: [["principals.talk-app.purposes[1]", "UNKNOWN_PURPOSE_REF"]],
  },
  {
    name: "Art. 15(2)4: notice without the right to refuse is rejected",
    mutate: (c) => (c.notices.marketing.versions[1].refusal.right = "   "),
    expect: [["notices.marketing.versions[1].refusal.right", "NOTICE_MISSING_ITEM"]],
    message: /Art\. 15\(2\)4 right to refuse/,
  },
  {
    name: "Art. 15(2)4: notice without the disadvantage of refusing is rejected",
    mutate: (c) => delete c.notices.marketing.versions[0].refusal.disadvantage,
    expect: [["notices.marketing.versions[0].refusal.disadvantage", "NOTICE_MISSING_ITEM"]],
    message: /Art\. 15\(2\)4 disadvantage of refusing/,
  },
  {
    name: "Art. 15(2)1: notice with an empty purpose is rejected",
    mutate: (c) => (c.notices.analytics.versions[0].purpose = ""),
    expect: [["notices.analytics.versions[0].purpose", "NOTICE_MISSING_ITEM"]],
    message: /Art\. 15\(2\)1 purpose/,
  },
  {
    name: "Art. 15(2)3: notice with a blank Korean retention text is rejected",
    mutate: (c) => (c.notices.analytics.versions[0].retention.ko = " \n"),
    expect: [["notices.analytics.versions[0].retention.ko", "NOTICE_MISSING_ITEM"]],
    message: /Art\. 15\(2\)3 retention/,
  },
  {
    name: "Art. 15(2)2: a consent purpose using a field its notice does not list is rejected",
    mutate: (c) => (c.notices.marketing.versions[1].items = ["phone", "nickname"]),
    expect: [["purposes.marketing.fields[1]", "NOTICE_ITEMS_MISSING_FIELD"]],
    message: /"email".*notice "marketing" v2/,
  },
  {
    name: "Art. 15(2): a consent purpose without a notice is rejected",
    mutate: (c) => delete c.purposes.analytics.notice,
    expect: [["purposes.analytics.notice", "NOTICE_REQUIRED"]],
  },
  {
    name: "a consent purpose naming an undeclared notice is rejected",
    mutate: (c) => (c.purposes.analytics.notice = "promo"),
    expect: [["purposes.analytics.notice", "UNKNOWN_NOTICE_REF"]],
  },
  {
    name: "Art. 24-2: an RRN purpose on consent is rejected (consent is never a basis)",
    mutate: (c) => {
      c.purposes.pay_kyc.basis = "consent";
      c.purposes.pay_kyc.notice = "pay_overseas";
      c.notices.pay_overseas.versions[0].items.push("rrn", "phone", "birth_date");
    },
    expect: [
      ["notices.pay_overseas.versions[0].items[4]", "RRN_CONSENT_NOT_A_BASIS"],
      ["purposes.pay_kyc.basis", "RRN_CONSENT_NOT_A_BASIS"],
    ],
    message: /Art\. 24-2/,
  },
  {
    name: "Art. 24-2: an RRN purpose on contract is rejected",
    mutate: (c) => (c.purposes.pay_kyc.basis = "contract"),
    expect: [["purposes.pay_kyc.basis", "RRN_CONSENT_NOT_A_BASIS"]],
  },
  {
    name: "Art. 24-2: an RRN purpose on vital interest without a statute is rejected",
    mutate: (c) => {
      c.purposes.pay_kyc.basis = "vital_interest";
      delete c.purposes.pay_kyc.statute;
    },
    expect: [["purposes.pay_kyc.statute", "RRN_CONSENT_NOT_A_BASIS"]],
  },
  {
    name: "Art. 24-2: a notice listing an RRN is rejected",
    mutate: (c) => c.notices.analytics.versions[0].items.push("rrn"),
    expect: [["notices.analytics.versions[0].items[4]", "RRN_CONSENT_NOT_A_BASIS"]],
  },
  {
    name: "Art. 15(1)2: basis law without a statute is rejected",
    mutate: (c) => delete c.purposes.legal_retention.statute,
    expect: [["purposes.legal_retention.statute", "STATUTE_REQUIRED"]],
  },
  {
    name: "Art. 22(1)5, 23(1): a sensitive-data notice listing a general field is rejected",
    mutate: (c) => c.notices.health_wallet.versions[0].items.push("name"),
    expect: [["notices.health_wallet.versions[0].items[1]", "NOTICE_CATEGORY_MISMATCH"]],
  },
  {
    name: "Art. 22(1)6, 24(1): a unique-identifier notice listing a general field is rejected",
    mutate: (c) => c.notices.passport_unique_id.versions[0].items.push("phone"),
    expect: [["notices.passport_unique_id.versions[0].items[1]", "NOTICE_CATEGORY_MISMATCH"]],
  },
  {
    name: "Art. 23(1): sensitive data on contract is rejected",
    mutate: (c) => (c.purposes.health_wallet.basis = "contract"),
    expect: [["purposes.health_wallet.fields[0]", "SEPARATE_CONSENT_REQUIRED"]],
  },
  {
    name: "Art. 24(1): a unique identifier on consent without a separate unique-id notice is rejected",
    mutate: (c) => delete c.notices.passport_unique_id,
    expect: [["purposes.pay_overseas.fields[2]", "SEPARATE_CONSENT_REQUIRED"]],
  },
  {
    name: "Art. 22(5): a marketing notice that is not optional is rejected",
    mutate: (c) => (c.notices.marketing.optional = false),
    expect: [["notices.marketing.optional", "MARKETING_NOTICE_NOT_OPTIONAL"]],
  },
  {
    name: "Art. 15(2): notice versions must strictly increase",
    mutate: (c) => (c.notices.marketing.versions[1].version = 1),
    expect: [["notices.marketing.versions[1].version", "NOTICE_VERSION_ORDER"]],
  },
  {
    name: "notice effective dates must not go backwards",
    mutate: (c) => (c.notices.marketing.versions[1].effective = "2023-12-31"),
    expect: [["notices.marketing.versions[1].effective", "NOTICE_EFFECTIVE_ORDER"]],
  },
  {
    name: "a retention rule that is not an ISO-8601 period is rejected",
    mutate: (c) => (c.retention_rules.tax_records.period = "5Y"),
    expect: [["retention_rules.tax_records.period", "BAD_PERIOD"]],
  },
  {
    name: "a purpose retention period with a fraction is rejected",
    mutate: (c) => (c.purposes.analytics.retention.period = "P1.5Y"),
    expect: [["purposes.analytics.retention.period", "BAD_PERIOD"]],
  },
  {
    name: "a purpose citing an undeclared retention rule is rejected",
    mutate: (c) => (c.purposes.pay_service.retention.rules[0] = "forever"),
    expect: [["purposes.pay_service.retention.rules[0]", "UNKNOWN_RETENTION_RULE"]],
  },
  {
    name: "an unknown key is reported at the key itself",
    mutate: (c) => (c.fields.phone.lookpu = true),
    expect: [["fields.phone.lookpu", "UNKNOWN_KEY"]],
  },
  {
    name: "an unknown top-level key is reported at the key itself",
    mutate: (c) => (c.recipents = {}),
    expect: [["recipents", "UNKNOWN_KEY"]],
  },
  {
    name: "a field name that is not snake_case is rejected",
    mutate: (c) => (c.fields.Fax = { class: "optional", sensitivity: "general" }),
    expect: [["fields.Fax", "INVALID_NAME"]],
  },
  {
    name: "an unknown legal basis is rejected",
    mutate: (c) => (c.purposes.talk_service.basis = "agreement"),
    expect: [["purposes.talk_service.basis", "INVALID_VALUE"]],
  },
  {
    name: "a field without a class is rejected (LAW §15 A1)",
    mutate: (c) => delete c.fields.phone.class,
    expect: [["fields.phone.class", "REQUIRED"]],
  },
  {
    name: "an impossible effective date is rejected",
    mutate: (c) => (c.notices.analytics.versions[0].effective = "2024-02-30"),
    expect: [["notices.analytics.versions[0].effective", "INVALID_FORMAT"]],
  },
  {
    name: "masked names a field the purpose does not use",
    mutate: (c) => (c.purposes.customer_support.masked.rrn = "rrn"),
    expect: [["purposes.customer_support.masked.rrn", "MASKED_FIELD_NOT_IN_PURPOSE"]],
  },
  {
    name: "Art. 16(1): minimise is only for auto fields",
    mutate: (c) => (c.fields.birth_date.minimise = "date_only"),
    expect: [["fields.birth_date.minimise", "MINIMISE_NOT_AUTO"]],
  },
  {
    name: "no blind index on an RRN (enumeration)",
    mutate: (c) => (c.fields.rrn.lookup = true),
    expect: [["fields.rrn.lookup", "LOOKUP_NOT_ALLOWED"]],
  },
  {
    name: "no blind index on a card number (enumeration)",
    mutate: (c) => (c.fields.card_number.lookup = true),
    expect: [["fields.card_number.lookup", "LOOKUP_NOT_ALLOWED"]],
  },
  {
    name: "a pattern that is not a regular expression is rejected",
    mutate: (c) => (c.fields.phone.pattern = "(["),
    expect: [["fields.phone.pattern", "BAD_PATTERN"]],
  },
  {
    name: "Art. 21(3): a service principal may not use legal_retention",
    mutate: (c) => c.principals["support-console"].purposes.push("legal_retention"),
    expect: [["principals.support-console.purposes[1]", "PRINCIPAL_ROLE_PURPOSE"]],
  },
  {
    name: "Art. 21(3): a legal_retention principal may use only legal_retention",
    mutate: (c) => c.principals["legal-archive"].purposes.push("pay_service"),
    expect: [["principals.legal-archive.purposes[1]", "PRINCIPAL_ROLE_PURPOSE"]],
  },
  {
    name: "Art. 21(1): legal_retention rests on law",
    mutate: (c) => (c.purposes.legal_retention.basis = "contract"),
    expect: [["purposes.legal_retention.basis", "LEGAL_RETENTION_BASIS"]],
  },
  {
    name: "a field listed twice in a purpose is rejected",
    mutate: (c) => c.purposes.talk_service.fields.push("phone"),
    expect: [["purposes.talk_service.fields[7]", "DUPLICATE_REF"]],
  },
];

describe("catalog validation rejects, at the exact path", () => {
  for (const c of cases) {
    it(c.name, () => {
      const raw = exampleRaw();
      c.mutate(raw);
      const errors = errorsOf(stringifyYaml(raw));
      assert.deepEqual(pairs(errors).sort(), [...c.expect].sort(), formatIssues(errors));
      if (c.message) assert.ok(errors.some((e) => c.message?.test(e.message)), formatIssues(errors));
      for (const e of errors) assert.ok(typeof e.line === "number" && e.line > 0, `no line for ${e.path}`);
    });
  }
});

describe("YAML problems", () => {
  it("a syntax error is reported with its line and column", () => {
    const errors = errorsOf("version: 1\nfields:\n  phone: [unclosed\n  email: 1\n");
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, "YAML_SYNTAX");
    assert.equal(errors[0]?.line, 4);
    assert.equal(errors[0]?.column, 3);
    assert.match(errors[0]?.message ?? "", /line 4, column 3/);
  });

  it("a duplicate key is an error, at its path and line", () => {
    const text = "version: 1\nfields:\n  phone: { class: required, sensitivity: general }\n  phone: { class: optional, sensitivity: general }\n";
    const errors = errorsOf(text);
    assert.deepEqual(pairs(errors), [["fields.phone", "YAML_DUPLICATE_KEY"]]);
    assert.equal(errors[0]?.line, 4);
  });

  it("a duplicate purpose in the demo catalog is caught", () => {
    const text = exampleText.replace("\n  marketing:\n    description:", "\n  analytics:\n    description:");
    const errors = errorsOf(text);
    assert.deepEqual(pairs(errors), [["purposes.analytics", "YAML_DUPLICATE_KEY"]]);
  });

  it("an empty file is rejected", () => {
    assert.deepEqual(pairs(errorsOf("")), [["(root)", "REQUIRED"]]);
  });

  it("an unreadable file is reported, not thrown", () => {
    const r = loadCatalogFile("/nonexistent/haechi.yaml");
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? [] : pairs(r.errors), [["(file)", "FILE_UNREADABLE"]]);
  });

  it("semantic issues carry the line of the offending node", () => {
    const raw = exampleRaw();
    raw.purposes.marketing.fields.push("fax");
    const text = stringifyYaml(raw);
    const [issue] = errorsOf(text);
    const line = text.split("\n").findIndex((l) => l.includes("- fax")) + 1;
    assert.equal(issue?.line, line);
  });
});

describe("every issue in one pass", () => {
  it("reports schema and cross-reference errors together", () => {
    const raw = exampleRaw();
    raw.fields.phone.lookpu = true; // schema: unknown key
    raw.retention_rules.tax_records.period = "5 years"; // schema: bad period
    raw.purposes.marketing.fields.push("fax"); // reference
    raw.purposes.pay_kyc.basis = "contract"; // Art. 24-2
    raw.principals["security-ops"].purposes.push("legal_retention"); // role
    raw.notices.marketing.versions[1].refusal.right = ""; // Art. 15(2)4
    const errors = errorsOf(stringifyYaml(raw));
    assert.deepEqual(
      pairs(errors).sort(),
      [
        ["fields.phone.lookpu", "UNKNOWN_KEY"],
        ["retention_rules.tax_records.period", "BAD_PERIOD"],
        ["purposes.marketing.fields[3]", "UNKNOWN_FIELD_REF"],
        ["purposes.pay_kyc.basis", "RRN_CONSENT_NOT_A_BASIS"],
        ["principals.security-ops.purposes[1]", "PRINCIPAL_ROLE_PURPOSE"],
        ["notices.marketing.versions[1].refusal.right", "NOTICE_MISSING_ITEM"],
      ].sort(),
      formatIssues(errors),
    );
  });

  it("a malformed declaration is not reported again as unknown where it is referenced", () => {
    const raw = exampleRaw();
    raw.fields.email.sensitivity = "secret"; // the field is declared, but malformed
    const errors = errorsOf(stringifyYaml(raw));
    assert.deepEqual(pairs(errors), [["fields.email.sensitivity", "INVALID_VALUE"]]);
  });

  it("formatIssues prints one line per issue: path: message [code]", () => {
    const raw = exampleRaw();
    raw.purposes.marketing.fields.push("fax");
    raw.fields.rrn.lookup = true;
    const out = formatIssues(errorsOf(stringifyYaml(raw)));
    const lines = out.split("\n");
    assert.equal(lines.length, 2);
    assert.ok(lines.includes('purposes.marketing.fields[3]: unknown field "fax" [UNKNOWN_FIELD_REF]'), out);
    for (const l of lines) assert.match(l, /^\S+: .+ \[[A-Z_]+\]$/);
  });

  it("requireCatalog throws CATALOG_INVALID listing the issues", () => {
    const raw = exampleRaw();
    raw.purposes.marketing.fields.push("fax");
    assert.throws(
      () => requireCatalog(parseCatalog(stringifyYaml(raw))),
      (e: unknown) => isHaechiError(e) && e.code === "CATALOG_INVALID" && /fields\[3\]/.test(e.message),
    );
  });
});

const v = (over: Partial<NoticeVersion>): NoticeVersion => ({
  version: 1,
  effective: "2024-01-01",
  purpose: { ko: "광고 발송", en: "Sending advertising" },
  items: ["phone", "nickname"],
  retention: "Until withdrawal",
  refusal: { right: "You may refuse.", disadvantage: "None." },
  ...over,
});

describe("changedItems (Art. 15(2) second sentence; LAW §15 B5)", () => {
  const table: { name: string; oldV: NoticeVersion; newV: NoticeVersion; expect: { all: boolean; addedFields: string[] } }[] = [
    { name: "nothing changed", oldV: v({}), newV: v({ version: 2 }), expect: { all: false, addedFields: [] } },
    { name: "items added: only those are stale", oldV: v({}), newV: v({ version: 2, items: ["phone", "email", "nickname"] }), expect: { all: false, addedFields: ["email"] } },
    { name: "items removed only: nothing stale", oldV: v({}), newV: v({ version: 2, items: ["phone"] }), expect: { all: false, addedFields: [] } },
    { name: "purpose text changed: all stale", oldV: v({}), newV: v({ purpose: { ko: "광고 및 제휴 광고 발송", en: "Sending advertising" } }), expect: { all: true, addedFields: [] } },
    { name: "retention changed: all stale", oldV: v({}), newV: v({ retention: "Two years" }), expect: { all: true, addedFields: [] } },
    { name: "right to refuse changed: all stale", oldV: v({}), newV: v({ refusal: { right: "You may refuse at any time.", disadvantage: "None." } }), expect: { all: true, addedFields: [] } },
    { name: "disadvantage changed and items added", oldV: v({}), newV: v({ items: ["phone", "nickname", "email"], refusal: { right: "You may refuse.", disadvantage: "No coupons." } }), expect: { all: true, addedFields: ["email"] } },
    { name: "trailing whitespace is not a change", oldV: v({}), newV: v({ retention: "Until withdrawal\n" }), expect: { all: false, addedFields: [] } },
  ];
  for (const t of table) it(t.name, () => assert.deepEqual(changedItems(t.oldV, t.newV), t.expect));

  it("the demo marketing notice v1 → v2 adds e-mail only", () => {
    const c = example();
    const v1 = noticeVersion(c, "marketing", 1);
    const v2 = latestNoticeVersion(c, "marketing");
    assert.ok(v1 && v2);
    assert.equal(v2.version, 2);
    assert.deepEqual(changedItems(v1, v2), { all: false, addedFields: ["email"] });
  });
});

describe("catalog queries", () => {
  it("notice versions: latest, by number, unknown", () => {
    const c = example();
    assert.equal(latestNoticeVersion(c, "marketing")?.version, 2);
    assert.deepEqual(noticeVersion(c, "marketing", 1)?.items, ["phone", "nickname"]);
    assert.equal(noticeVersion(c, "marketing", 9), undefined);
    assert.equal(latestNoticeVersion(c, "nope"), undefined);
  });

  it("Art. 16: requiredFieldsOf lists only class required", () => {
    const c = example();
    assert.deepEqual(requiredFieldsOf(c, "talk_service"), ["user_id", "phone", "name", "nickname"]);
    assert.deepEqual(requiredFieldsOf(c, "health_wallet"), []);
    assert.throws(() => requiredFieldsOf(c, "nope"), (e: unknown) => isHaechiError(e) && e.code === "UNKNOWN_PURPOSE");
  });

  it("idContextOf defaults to the principal name", () => {
    const c = example();
    assert.equal(idContextOf(c, "openchat-app"), "openchat");
    assert.equal(idContextOf(c, "talk-app"), "talk-app");
    assert.throws(() => idContextOf(c, "intruder"), (e: unknown) => isHaechiError(e) && e.code === "ACCESS_DENIED");
  });

  it("Art. 22(1)5-6: separate consent categories", () => {
    const f = (sensitivity: FieldDef["sensitivity"]) => ({ class: "optional", sensitivity, type: "string", lookup: false, masking: "none", max_length: 10 }) as FieldDef;
    assert.equal(separateConsentCategoryFor(f("sensitive")), "sensitive");
    assert.equal(separateConsentCategoryFor(f("biometric")), "sensitive");
    assert.equal(separateConsentCategoryFor(f("unique_id")), "unique_id");
    assert.equal(separateConsentCategoryFor(f("rrn")), null);
    assert.equal(separateConsentCategoryFor(f("general")), null);
    const c = example();
    assert.deepEqual(separateConsentNoticesFor(c, "passport_number"), ["passport_unique_id"]);
    assert.deepEqual(separateConsentNoticesFor(c, "health_status"), ["health_wallet"]);
    assert.deepEqual(separateConsentNoticesFor(c, "phone"), []);
  });
});

describe("periods", () => {
  it("parses ISO-8601 periods of years, months and days", () => {
    assert.deepEqual(parsePeriod("P1Y6M"), { years: 1, months: 6, days: 0 });
    assert.deepEqual(parsePeriod("P5Y"), { years: 5, months: 0, days: 0 });
    assert.deepEqual(parsePeriod("P30D"), { years: 0, months: 0, days: 30 });
    assert.deepEqual(parsePeriod("P12M"), { years: 0, months: 12, days: 0 });
    for (const bad of ["P", "5Y", "P1.5Y", "PT1H", "P1W", ""])
      assert.throws(() => parsePeriod(bad), (e: unknown) => isHaechiError(e) && e.code === "VALIDATION_FAILED", bad);
  });

  it("adds periods in UTC calendar terms, clamping to month ends", () => {
    const d = (s: string) => new Date(s);
    assert.equal(addPeriod(d("2024-01-31T10:00:00Z"), "P1M").toISOString(), "2024-02-29T10:00:00.000Z");
    assert.equal(addPeriod(d("2024-02-29T00:00:00Z"), "P1Y").toISOString(), "2025-02-28T00:00:00.000Z");
    assert.equal(addPeriod(d("2024-08-31T00:00:00Z"), "P1Y6M").toISOString(), "2026-02-28T00:00:00.000Z");
    assert.equal(addPeriod(d("2024-12-15T00:00:00Z"), "P3M").toISOString(), "2025-03-15T00:00:00.000Z");
    assert.equal(addPeriod(d("2024-02-20T00:00:00Z"), "P10D").toISOString(), "2024-03-01T00:00:00.000Z");
    assert.equal(addPeriod(d("2020-01-01T00:00:00Z"), { years: 5, months: 0, days: 0 }).toISOString(), "2025-01-01T00:00:00.000Z");
  });
});

// ─── recipients: provision, consignment, overseas transfer ───────────────────

type Issues = { ok: boolean; errors: CatalogIssue[]; warnings: CatalogIssue[] };
const issuesOf = (yamlText: string): Issues => {
  const r = parseCatalog(yamlText);
  return { ok: r.ok, errors: r.ok ? [] : r.errors, warnings: r.warnings };
};

type RecipientCase = {
  name: string;
  mutate: (c: Raw) => void;
  errors?: [path: string, code: string][];
  warnings?: [path: string, code: string][];
  /** Must match the message of some issue: every legal rule names its article. */
  message?: RegExp;
};

const transferBasis = (over: Raw): Raw => ({
  timing: "daily 02:00 KST",
  method: "age-encrypted file over SFTP",
  measures: { safety: true, grievance: true },
  ...over,
});

/** Each case mutates the demo catalog and expects exactly these errors and warnings (path, code). */
const recipientCases: RecipientCase[] = [
  // references
  {
    name: "a recipient purpose that is not declared is rejected",
    mutate: (c) => c.recipients["cloud-kr"].purposes.push("hosting"),
    errors: [["recipients.cloud-kr.purposes[2]", "UNKNOWN_PURPOSE_REF"]],
  },
  {
    name: "a population purpose that is not declared is rejected",
    mutate: (c) => (c.recipients["nsf-scoring"].population.purposes = ["pay_abroad"]),
    errors: [["recipients.nsf-scoring.population.purposes[0]", "UNKNOWN_PURPOSE_REF"]],
  },
  {
    name: "a contract purpose that is not declared is rejected",
    mutate: (c) => c.recipients["card-network-eu"].contract.purposes.push("settlement"),
    errors: [["recipients.card-network-eu.contract.purposes[1]", "UNKNOWN_PURPOSE_REF"]],
  },
  {
    name: "a recipient field that is not declared is rejected",
    mutate: (c) => c.recipients["sms-gateway"].fields.push("fax"),
    errors: [["recipients.sms-gateway.fields[1]", "UNKNOWN_FIELD_REF"]],
  },
  {
    name: "a recipient notice that is not declared is rejected",
    mutate: (c) => (c.recipients["nsf-scoring"].notice = "nsf_consent"),
    errors: [["recipients.nsf-scoring.notice", "UNKNOWN_NOTICE_REF"]],
  },
  {
    name: "a transfer notice that is not declared is rejected",
    mutate: (c) => (c.recipients["nsf-scoring"].transfer.notice = "nsf_abroad"),
    errors: [["recipients.nsf-scoring.transfer.notice", "UNKNOWN_NOTICE_REF"]],
  },
  {
    name: "PIPA Art. 28-8(1)5: a transfer decision that is not declared is rejected",
    mutate: (c) => (c.recipients["card-network-eu"].transfer.decision = "eu_2024"),
    errors: [["recipients.card-network-eu.transfer.decision", "UNKNOWN_DECISION_REF"]],
    message: /unknown equivalence decision "eu_2024".*28-8\(1\)5/,
  },
  {
    name: "a principal naming an undeclared recipient is rejected",
    mutate: (c) => c.principals["pay-app"].recipients.push("alipay"),
    errors: [["principals.pay-app.recipients[3]", "UNKNOWN_RECIPIENT_REF"]],
  },
  {
    name: "a recipient listed twice by a principal is rejected",
    mutate: (c) => c.principals["marketing-svc"].recipients.push("sms-gateway"),
    errors: [["principals.marketing-svc.recipients[1]", "DUPLICATE_REF"]],
  },
  {
    name: "PIPA Art. 17(2)1: a notice naming an undeclared recipient is rejected (and no longer covers nsf-scoring)",
    mutate: (c) => (c.notices.nsf_provision.recipient = "alipay"),
    errors: [
      ["notices.nsf_provision.recipient", "UNKNOWN_RECIPIENT_REF"],
      ["recipients.nsf-scoring.notice", "RECIPIENT_NOTICE_MISMATCH"],
    ],
  },
  {
    name: "PIPA Art. 18(1): a recipient cannot receive a field none of its purposes holds",
    mutate: (c) => c.recipients["cloud-kr"].fields.push("health_status"),
    errors: [["recipients.cloud-kr.fields[3]", "RECIPIENT_FIELD_NOT_IN_PURPOSES"]],
    message: /consignee "cloud-kr" would receive "health_status".*PIPA Art\. 18\(1\)/,
  },

  // third-party provision (PIPA Art. 17; Credit Information Act Art. 32)
  {
    name: "PIPA Art. 17(2)2: a third party without its own purpose is rejected",
    mutate: (c) => delete c.recipients["nsf-scoring"].recipient_purpose,
    errors: [["recipients.nsf-scoring.recipient_purpose", "PROVISION_ITEM_MISSING"]],
    message: /third party "nsf-scoring".*PIPA Art\. 17\(2\)2/,
  },
  {
    name: "PIPA Art. 17(2)4: a third party without its retention period is rejected",
    mutate: (c) => delete c.recipients["nsf-scoring"].retention,
    errors: [["recipients.nsf-scoring.retention", "PROVISION_ITEM_MISSING"]],
    message: /PIPA Art\. 17\(2\)4/,
  },
  {
    name: "PIPA Art. 17(1): a third party without a provision basis is rejected",
    mutate: (c) => delete c.recipients["nsf-scoring"].provision_basis,
    errors: [["recipients.nsf-scoring.provision_basis", "PROVISION_BASIS_REQUIRED"]],
    message: /PIPA Art\. 17\(1\)/,
  },
  {
    name: "PIPA Art. 17(1): contract necessity (15(1)4) is not a provision basis",
    mutate: (c) => (c.recipients["nsf-scoring"].provision_basis = "contract"),
    errors: [["recipients.nsf-scoring.provision_basis", "INVALID_VALUE"]],
  },
  {
    name: "PIPA Art. 17(1)1: a provision on consent without its notice is rejected",
    mutate: (c) => delete c.recipients["nsf-scoring"].notice,
    errors: [["recipients.nsf-scoring.notice", "NOTICE_REQUIRED"]],
    message: /PIPA Art\. 17\(1\)1/,
  },
  {
    name: "PIPA Art. 17(2), 22(1): a provision on consent rests on a notice of category provision",
    mutate: (c) => (c.recipients["nsf-scoring"].notice = "marketing"),
    errors: [["recipients.nsf-scoring.notice", "RECIPIENT_NOTICE_MISMATCH"]],
    message: /must be of category provision, not marketing/,
  },
  {
    name: "PIPA Art. 17(2)1: a provision notice for another recipient does not cover this one",
    mutate: (c) => (c.notices.nsf_provision.recipient = "cloud-kr"),
    errors: [["recipients.nsf-scoring.notice", "RECIPIENT_NOTICE_MISMATCH"]],
    message: /is for recipient "cloud-kr".*PIPA Art\. 17\(2\)1/,
  },
  {
    name: "PIPA Art. 17(2)3: every field provided must be an item of the provision notice in force",
    mutate: (c) => {
      const v1 = c.notices.nsf_provision.versions[0];
      c.notices.nsf_provision.versions.push({ ...v1, version: 2, effective: "2025-06-01", items: ["user_id"] });
    },
    errors: [["recipients.nsf-scoring.fields[1]", "NOTICE_ITEMS_MISSING_FIELD"]],
    message: /"transaction_history".*provision notice "nsf_provision" v2 \(PIPA Art\. 17\(2\)3\)/,
  },
  {
    name: "PIPA Art. 17(1)2: a provision on another basis names its statute",
    mutate: (c) => {
      c.recipients["nsf-scoring"].provision_basis = "legitimate_interest";
      c.recipients["nsf-scoring"].fields = ["user_id"];
    },
    errors: [["recipients.nsf-scoring.statute", "STATUTE_REQUIRED"]],
    message: /PIPA Art\. 17\(1\)2, 15\(1\)6/,
  },
  {
    name: "Credit Information Act Art. 32(1): credit information goes to a third party only on consent",
    mutate: (c) => {
      c.recipients["nsf-scoring"].provision_basis = "law";
      c.recipients["nsf-scoring"].statute = "Some Act Art. 1";
    },
    errors: [["recipients.nsf-scoring.fields[1]", "CREDIT_CONSENT_REQUIRED"]],
    message: /credit information "transaction_history".*Credit Information Act Art\. 32\(1\)/,
  },
  {
    name: "Credit Information Act Art. 32(6): a recorded exception allows credit information without consent",
    mutate: (c) => {
      c.recipients["nsf-scoring"].provision_basis = "law";
      c.recipients["nsf-scoring"].statute = "Some Act Art. 1";
      c.recipients["nsf-scoring"].credit_exception = "Credit Information Act Art. 32(6) (court order)";
    },
  },

  // consignment (PIPA Art. 26; Decree Art. 28)
  {
    name: "PIPA Art. 26(1): a consignee without a contract is an error",
    mutate: (c) => delete c.recipients["cloud-kr"].contract,
    errors: [["recipients.cloud-kr.contract", "CONTRACT_REQUIRED"]],
    message: /consignee "cloud-kr".*PIPA Art\. 26\(1\)/,
  },
  {
    name: "PIPA Art. 26(1); Decree Art. 28(1): a contract missing a clause is a warning (the gate refuses)",
    mutate: (c) => (c.recipients["card-network-eu"].contract.clauses = CONTRACT_CLAUSES.filter((k) => k !== "liability_for_breach")),
    warnings: [["recipients.card-network-eu.contract.clauses", "CONTRACT_CLAUSE_MISSING"]],
    message: /liability_for_breach \(Decree Art\. 28\(1\)5\).*CONSIGNMENT_CONTRACT_INCOMPLETE/,
  },
  {
    name: "PIPA Art. 26(2): a consignee not listed publicly is a warning",
    mutate: (c) => delete c.recipients["sms-gateway"].contract.public_listing,
    warnings: [["recipients.sms-gateway.contract.public_listing", "CONTRACT_NOT_LISTED"]],
    message: /PIPA Art\. 26\(2\)/,
  },
  {
    name: "PIPA Art. 26(5): a contract that allows the trustee's own use is a warning",
    mutate: (c) => (c.recipients["sms-gateway"].contract.own_use_prohibited = false),
    warnings: [["recipients.sms-gateway.contract.own_use_prohibited", "CONTRACT_OWN_USE_ALLOWED"]],
    message: /PIPA Art\. 26\(5\)/,
  },
  {
    name: "PIPA Art. 26(1): a contract that ends before it starts is an error",
    mutate: (c) => (c.recipients["cloud-kr"].contract.end = "2024-01-31"),
    errors: [["recipients.cloud-kr.contract.end", "CONTRACT_END_BEFORE_START"]],
  },
  {
    name: "PIPA Art. 26(1)3: a consignee purpose outside the contract's work is a warning",
    mutate: (c) => (c.recipients["cloud-kr"].contract.purposes = ["pay_service"]),
    warnings: [["recipients.cloud-kr.purposes[1]", "CONTRACT_PURPOSE_NOT_COVERED"]],
    message: /"talk_service".*PIPA Art\. 26\(1\)3/,
  },
  {
    name: "PIPA Art. 26(5): a consignee processes for the controller's purposes only",
    mutate: (c) => {
      const r = c.recipients["cloud-kr"];
      r.recipient_purpose = "its own analytics";
      r.provision_basis = "consent";
      r.notice = "nsf_provision";
    },
    errors: [
      ["recipients.cloud-kr.recipient_purpose", "CONSIGNEE_OWN_PURPOSE"],
      ["recipients.cloud-kr.provision_basis", "CONSIGNEE_OWN_PURPOSE"],
      ["recipients.cloud-kr.notice", "CONSIGNEE_OWN_PURPOSE"],
    ],
    message: /a consignee processes for the controller's purposes only/,
  },
  {
    name: "PIPA Art. 26(6): a sub-entrustment without approval is a warning (the gate refuses)",
    mutate: (c) => delete c.recipients["cloud-kr"].contract.sub_entrustments[0].approved,
    warnings: [["recipients.cloud-kr.contract.sub_entrustments[0]", "SUB_ENTRUSTMENT_NOT_APPROVED"]],
    message: /"Daon Datacenter Co\., Ltd\.".*SUB_ENTRUSTMENT_NOT_APPROVED \(PIPA Art\. 26\(6\)\)/,
  },

  // overseas transfer (PIPA Art. 28-8)
  {
    name: "PIPA Art. 28-8(1): an overseas recipient without a transfer basis is an error",
    mutate: (c) => delete c.recipients["nsf-scoring"].transfer,
    errors: [["recipients.nsf-scoring.transfer", "TRANSFER_REQUIRED"]],
    message: /third party "nsf-scoring" is in SG.*PIPA Art\. 28-8\(1\)/,
  },
  {
    name: "PIPA Art. 28-8(1)1: transfer on consent without its notice is rejected",
    mutate: (c) => delete c.recipients["nsf-scoring"].transfer.notice,
    errors: [["recipients.nsf-scoring.transfer.notice", "NOTICE_REQUIRED"]],
    message: /basis A, PIPA Art\. 28-8\(1\)1/,
  },
  {
    name: "PIPA Art. 28-8(1)1: transfer on consent rests on an overseas_transfer notice",
    mutate: (c) => (c.recipients["nsf-scoring"].transfer.notice = "nsf_provision"),
    errors: [["recipients.nsf-scoring.transfer.notice", "RECIPIENT_NOTICE_MISMATCH"]],
    message: /must be of category overseas_transfer, not provision/,
  },
  {
    name: "PIPA Art. 28-8(2)3: an overseas_transfer notice for another recipient does not cover this one",
    mutate: (c) => (c.notices.nsf_overseas_transfer.recipient = "card-network-eu"),
    errors: [["recipients.nsf-scoring.transfer.notice", "RECIPIENT_NOTICE_MISMATCH"]],
    message: /PIPA Art\. 28-8\(2\)3/,
  },
  {
    name: "PIPA Art. 28-8(2)1: every field transferred must be an item of the overseas_transfer notice",
    mutate: (c) => (c.notices.nsf_overseas_transfer.versions[0].items = ["user_id"]),
    errors: [["recipients.nsf-scoring.fields[1]", "NOTICE_ITEMS_MISSING_FIELD"]],
    message: /PIPA Art\. 28-8\(2\)1/,
  },
  {
    name: "PIPA Art. 28-8(1)2: transfer on law names the statute or treaty",
    mutate: (c) => (c.recipients["nsf-scoring"].transfer = transferBasis({ basis: "law" })),
    errors: [["recipients.nsf-scoring.transfer.statute", "STATUTE_REQUIRED"]],
    message: /basis B, PIPA Art\. 28-8\(1\)2/,
  },
  {
    name: "PIPA Art. 28-8(1)3: contract necessity never covers a provision to a third party",
    mutate: (c) => (c.recipients["nsf-scoring"].transfer = transferBasis({ basis: "contract_necessity", disclosed: "privacy_policy" })),
    errors: [["recipients.nsf-scoring.transfer.basis", "TRANSFER_BASIS_NOT_APPLICABLE"]],
    message: /entrustment or storage only.*basis C, PIPA Art\. 28-8\(1\)3/,
  },
  {
    name: "PIPA Art. 28-8(1)3: contract necessity needs the items disclosed",
    mutate: (c) => (c.recipients["card-network-eu"].transfer = transferBasis({ basis: "contract_necessity" })),
    errors: [["recipients.card-network-eu.transfer.disclosed", "TRANSFER_BASIS_INCOMPLETE"]],
    message: /Decree Art\. 29-7/,
  },
  {
    name: "PIPA Art. 28-8(1)4: transfer on certification names the certification",
    mutate: (c) => (c.recipients["card-network-eu"].transfer = transferBasis({ basis: "certification" })),
    errors: [["recipients.card-network-eu.transfer.certification", "TRANSFER_BASIS_INCOMPLETE"]],
    message: /basis D, PIPA Art\. 28-8\(1\)4/,
  },
  {
    name: "PIPA Art. 28-8(1)5: transfer on equivalence names the decision",
    mutate: (c) => delete c.recipients["card-network-eu"].transfer.decision,
    errors: [["recipients.card-network-eu.transfer.decision", "TRANSFER_BASIS_INCOMPLETE"]],
    message: /basis E, PIPA Art\. 28-8\(1\)5/,
  },
  {
    name: "PIPA Art. 28-8(1)5: the equivalence decision must cover the recipient's country",
    mutate: (c) => (c.recipients["card-network-eu"].country = "US"),
    errors: [["recipients.card-network-eu.transfer.decision", "EQUIVALENCE_COUNTRY_NOT_COVERED"]],
    message: /"eu_2025" does not cover US/,
  },
  {
    name: "PIPA Art. 28-8(1)5: a field type the decision excludes is a warning (the gate refuses it)",
    mutate: (c) => {
      const r = c.recipients["card-network-eu"];
      r.purposes.push("pay_service");
      r.contract.purposes.push("pay_service");
      r.fields.push("transaction_history");
    },
    warnings: [["recipients.card-network-eu.fields[3]", "EQUIVALENCE_EXCLUDED_FIELD"]],
    message: /"transaction_history" is credit, which equivalence decision "eu_2025" excludes/,
  },
  {
    name: "PIPA Art. 28-8(1): a domestic recipient with a transfer basis is a warning",
    mutate: (c) => (c.recipients["cloud-kr"].transfer = transferBasis({ basis: "law", statute: "Some Act Art. 1" })),
    warnings: [["recipients.cloud-kr.transfer", "TRANSFER_NOT_OVERSEAS"]],
  },
  {
    name: "PIPA Art. 28-8(4): a transfer without agreed grievance handling is a warning",
    mutate: (c) => (c.recipients["nsf-scoring"].transfer.measures.grievance = false),
    warnings: [["recipients.nsf-scoring.transfer.measures", "TRANSFER_MEASURES_MISSING"]],
    message: /grievance handling.*PIPA Art\. 28-8\(4\); Decree Art\. 29-10/,
  },

  // notices naming recipients
  {
    name: "PIPA Art. 17(2)1: a provision notice must name its recipient",
    mutate: (c) => delete c.notices.nsf_provision.recipient,
    errors: [
      ["notices.nsf_provision.recipient", "NOTICE_RECIPIENT_REQUIRED"],
      ["recipients.nsf-scoring.notice", "RECIPIENT_NOTICE_MISMATCH"],
    ],
    message: /provision notice "nsf_provision" must name the recipient.*PIPA Art\. 17\(2\)1/,
  },
  {
    name: "PIPA Art. 28-8(2)3: an overseas_transfer notice must name its recipient",
    mutate: (c) => delete c.notices.nsf_overseas_transfer.recipient,
    errors: [
      ["notices.nsf_overseas_transfer.recipient", "NOTICE_RECIPIENT_REQUIRED"],
      ["recipients.nsf-scoring.transfer.notice", "RECIPIENT_NOTICE_MISMATCH"],
    ],
    message: /PIPA Art\. 28-8\(2\)3/,
  },
  {
    name: "PIPA Art. 22(1): a notice of another category names no recipient",
    mutate: (c) => (c.notices.marketing.recipient = "sms-gateway"),
    errors: [["notices.marketing.recipient", "NOTICE_RECIPIENT_UNEXPECTED"]],
  },
  {
    name: "PIPA Art. 28-8(1)1: an overseas_transfer notice must name an overseas recipient",
    mutate: (c) => {
      c.notices.nsf_overseas_transfer.recipient = "cloud-kr";
      c.recipients["nsf-scoring"].transfer = transferBasis({ basis: "law", statute: "Some Treaty Art. 1" });
    },
    errors: [["notices.nsf_overseas_transfer.recipient", "NOTICE_RECIPIENT_NOT_OVERSEAS"]],
    message: /"cloud-kr", which is in KR, the controller's own country/,
  },

  // principals and decisions
  {
    name: "Safety Standard Art. 5(1): an operator principal has no recipients",
    mutate: (c) => (c.principals["privacy-office"].recipients = ["cloud-kr"]),
    errors: [["principals.privacy-office.recipients[0]", "PRINCIPAL_ROLE_RECIPIENT"]],
  },
  {
    name: "PIPA Art. 21(3): a legal_retention principal has no recipients",
    mutate: (c) => (c.principals["legal-archive"].recipients = ["cloud-kr"]),
    errors: [["principals.legal-archive.recipients[0]", "PRINCIPAL_ROLE_RECIPIENT"]],
    message: /PIPA Art\. 21\(3\)/,
  },
  {
    name: "PIPA Art. 28-8(1)5: an equivalence decision cannot expire before it takes effect",
    mutate: (c) => (c.equivalence_decisions.eu_2025.expires = "2025-01-01"),
    errors: [["equivalence_decisions.eu_2025.expires", "DECISION_EXPIRES_BEFORE_EFFECTIVE"]],
  },
];

describe("recipients: provision, consignment and overseas transfer (PIPA Art. 17, 26, 28-8)", () => {
  for (const c of recipientCases) {
    it(c.name, () => {
      const raw = exampleRaw();
      c.mutate(raw);
      const { ok, errors, warnings } = issuesOf(stringifyYaml(raw));
      const all = [...errors, ...warnings];
      assert.deepEqual(pairs(errors).sort(), [...(c.errors ?? [])].sort(), formatIssues(all));
      assert.deepEqual(pairs(warnings).sort(), [...(c.warnings ?? [])].sort(), formatIssues(all));
      // Warnings alone never stop the catalog from loading.
      assert.equal(ok, errors.length === 0);
      for (const e of errors) assert.equal(e.severity, "error");
      for (const w of warnings) assert.equal(w.severity, "warning");
      if (c.message) assert.ok(all.some((i) => c.message?.test(i.message)), formatIssues(all));
      for (const i of all) assert.ok(typeof i.line === "number" && i.line > 0, `no line for ${i.path}`);
    });
  }

  it("warnings are printed as such, and reported alongside errors", () => {
    const raw = exampleRaw();
    delete raw.recipients["sms-gateway"].contract.public_listing; // warning
    raw.recipients["cloud-kr"].fields.push("fax"); // error
    const { ok, errors, warnings } = issuesOf(stringifyYaml(raw));
    assert.equal(ok, false);
    assert.deepEqual(pairs(errors), [["recipients.cloud-kr.fields[3]", "UNKNOWN_FIELD_REF"]]);
    assert.deepEqual(pairs(warnings), [["recipients.sms-gateway.contract.public_listing", "CONTRACT_NOT_LISTED"]]);
    assert.match(formatIssues(warnings), /^recipients\.sms-gateway\.contract\.public_listing: warning: .+ \[CONTRACT_NOT_LISTED\]$/);
  });

  it("a malformed recipient is not reported again as unknown where it is referenced", () => {
    const raw = exampleRaw();
    raw.recipients["nsf-scoring"].public_key = "ssh-ed25519 AAAA";
    const { errors, warnings } = issuesOf(stringifyYaml(raw));
    assert.deepEqual(pairs(errors), [["recipients.nsf-scoring.public_key", "INVALID_FORMAT"]]);
    assert.deepEqual(warnings, []);
  });

  it("the recipient checks still run when another part of the catalog fails the schema", () => {
    const raw = exampleRaw();
    raw.purposes.talk_service.basis = "kontract"; // schema error elsewhere
    delete raw.recipients["cloud-kr"].contract; // Art. 26(1)
    const { errors } = issuesOf(stringifyYaml(raw));
    assert.deepEqual(
      pairs(errors).sort(),
      [
        ["purposes.talk_service.basis", "INVALID_VALUE"],
        ["recipients.cloud-kr.contract", "CONTRACT_REQUIRED"],
      ].sort(),
    );
  });
});

describe("the demo recipients (the KakaoPay → Alipay drill)", () => {
  it("the demo catalog has no errors and no warnings", () => {
    const r = parseCatalog(exampleText);
    assert.deepEqual(r.ok ? [] : pairs(r.errors), []);
    assert.deepEqual(pairs(r.warnings), []);
  });

  it("nsf-scoring is a third party in Singapore: consent to the provision and, separately, to the transfer; only overseas-payment users", () => {
    const c = example();
    const r = c.recipients["nsf-scoring"];
    assert.ok(r);
    assert.equal(r.kind, "third_party");
    assert.equal(r.country, "SG");
    assert.equal(r.provision_basis, "consent");
    assert.deepEqual(r.fields, ["user_id", "transaction_history"]);
    assert.deepEqual(r.population.purposes, ["pay_overseas"]);
    assert.equal(c.notices[r.notice ?? ""]?.category, "provision");
    assert.equal(r.transfer?.basis, "consent");
    assert.equal(c.notices[r.transfer?.notice ?? ""]?.category, "overseas_transfer");
    assert.equal(c.notices[r.transfer?.notice ?? ""]?.recipient, "nsf-scoring");
  });

  it("the consignees have complete contracts; card-network-eu rests on the EU decision, which excludes RRNs and credit data", () => {
    const c = example();
    for (const name of ["cloud-kr", "card-network-eu", "sms-gateway"]) {
      const r = c.recipients[name];
      assert.equal(r?.kind, "consignee", name);
      assert.deepEqual([...(r?.contract?.clauses ?? [])].sort(), [...CONTRACT_CLAUSES].sort(), name);
      assert.equal(r?.contract?.own_use_prohibited, true, name);
    }
    const eu = c.recipients["card-network-eu"];
    assert.equal(eu?.transfer?.basis, "equivalence");
    const d = c.equivalence_decisions[eu?.transfer?.decision ?? ""];
    assert.equal(d?.countries.length, 27);
    assert.ok(d?.countries.includes("IE"));
    assert.deepEqual(d?.excludes, ["rrn", "credit"]);
    assert.deepEqual(c.principals["pay-app"]?.recipients, ["nsf-scoring", "cloud-kr", "card-network-eu"]);
    assert.deepEqual(c.principals["marketing-svc"]?.recipients, ["sms-gateway"]);
  });

  it("every recipient's public key matches a DEMO ONLY identity in examples/demo-recipient-identities.txt", async () => {
    const text = readFileSync(new URL("../../examples/demo-recipient-identities.txt", import.meta.url), "utf8");
    assert.match(text, /DEMO ONLY/);
    const lines = text.split("\n");
    const identities = new Map<string, string>();
    lines.forEach((line, i) => {
      if (line.startsWith("AGE-SECRET-KEY-1")) identities.set(lines[i - 1]?.replace(/^# /, "") ?? "", line.trim());
    });
    const c = example();
    assert.deepEqual([...identities.keys()].sort(), Object.keys(c.recipients).sort());
    for (const [name, r] of Object.entries(c.recipients)) {
      const identity = identities.get(name);
      assert.ok(identity, name);
      assert.equal(await identityToRecipient(identity), r.public_key, name);
    }
  });
});

// ─── dormancy (LAW §11.1, §15 E7) ────────────────────────────────────────────

/** Each case sets the demo catalog's dormancy block and expects exactly these errors and warnings. */
const dormancyCases: RecipientCase[] = [
  {
    name: "former Decree 48-5: separate with destroy_after is accepted, with no issue",
    mutate: (c) => (c.dormancy = { after: "P1Y", notice_before: "P30D", action: "separate", destroy_after: "P4Y" }),
  },
  {
    name: "PIPA Art. 21(1): separate without destroy_after keeps separated accounts for ever: a warning",
    mutate: (c) => (c.dormancy = { after: "P1Y", notice_before: "P30D", action: "separate" }),
    warnings: [["dormancy.action", "DORMANCY_SEPARATED_FOREVER"]],
    message: /destroy_after.*PIPA Art\. 21\(1\)/,
  },
  {
    name: "destroy_after applies only to action separate",
    mutate: (c) => (c.dormancy = { after: "P1Y", action: "destroy", destroy_after: "P2Y" }),
    errors: [["dormancy.destroy_after", "DORMANCY_DESTROY_AFTER_NOT_SEPARATE"]],
    message: /only to action separate/,
  },
  {
    name: "destroy_after without an action is refused too (the action defaults to destroy)",
    mutate: (c) => (c.dormancy = { after: "P1Y", destroy_after: "P2Y" }),
    errors: [["dormancy.destroy_after", "DORMANCY_DESTROY_AFTER_NOT_SEPARATE"]],
  },
  {
    name: "a zero inactivity period is refused",
    mutate: (c) => (c.dormancy = { after: "P0D", action: "destroy" }),
    errors: [["dormancy.after", "DORMANCY_PERIOD_ZERO"]],
  },
  {
    name: "a zero destroy_after is refused: action destroy does that",
    mutate: (c) => (c.dormancy = { after: "P1Y", action: "separate", destroy_after: "P0M" }),
    errors: [["dormancy.destroy_after", "DORMANCY_PERIOD_ZERO"]],
    message: /use action destroy/,
  },
  {
    name: "PIPC guidance 2023: a notice as long as the inactivity period is refused",
    mutate: (c) => (c.dormancy = { after: "P6M", notice_before: "P6M", action: "separate", destroy_after: "P1Y" }),
    errors: [["dormancy.notice_before", "DORMANCY_NOTICE_TOO_LONG"]],
    message: /shorter than after \(P6M\)/,
  },
  {
    name: "a notice as long as destroy_after is refused (people are told before the erasure too)",
    mutate: (c) => (c.dormancy = { after: "P1Y", notice_before: "P60D", action: "separate", destroy_after: "P30D" }),
    errors: [["dormancy.notice_before", "DORMANCY_NOTICE_TOO_LONG"]],
    message: /shorter than destroy_after/,
  },
  {
    name: "an unknown action and a malformed destroy_after are schema errors",
    mutate: (c) => (c.dormancy = { after: "P1Y", action: "archive", destroy_after: "two years" }),
    errors: [
      ["dormancy.action", "INVALID_VALUE"],
      ["dormancy.destroy_after", "BAD_PERIOD"],
    ],
    message: /one of: destroy, separate/,
  },
];

describe("the dormancy policy (LAW §11.1, §15 E7)", () => {
  for (const c of dormancyCases) {
    it(c.name, () => {
      const raw = exampleRaw();
      c.mutate(raw);
      const { ok, errors, warnings } = issuesOf(stringifyYaml(raw));
      const all = [...errors, ...warnings];
      assert.deepEqual(pairs(errors).sort(), [...(c.errors ?? [])].sort(), formatIssues(all));
      assert.deepEqual(pairs(warnings).sort(), [...(c.warnings ?? [])].sort(), formatIssues(all));
      assert.equal(ok, errors.length === 0);
      if (c.message) assert.ok(all.some((i) => c.message?.test(i.message)), formatIssues(all));
      for (const i of all) assert.ok(typeof i.line === "number" && i.line > 0, `no line for ${i.path}`);
    });
  }

  it("the dormancy checks still run when another part of the catalog fails the schema", () => {
    const raw = exampleRaw();
    raw.purposes.talk_service.basis = "kontract";
    raw.dormancy = { after: "P1Y", action: "destroy", destroy_after: "P2Y" };
    const { errors } = issuesOf(stringifyYaml(raw));
    assert.deepEqual(
      pairs(errors).sort(),
      [
        ["dormancy.destroy_after", "DORMANCY_DESTROY_AFTER_NOT_SEPARATE"],
        ["purposes.talk_service.basis", "INVALID_VALUE"],
      ].sort(),
    );
  });

  it("the parsed policy defaults the action to destroy", () => {
    const raw = exampleRaw();
    raw.dormancy = { after: "P2Y" };
    const r = parseCatalog(stringifyYaml(raw));
    assert.ok(r.ok);
    assert.deepEqual(r.ok ? r.catalog.dormancy : undefined, { after: "P2Y", action: "destroy" });
  });
});

// ─── detection (issue 5; Safety Standard Art. 6(1), 8) ───────────────────────

/** Each case changes the demo catalog's detection section and expects exactly these errors and warnings. */
const detectionCases: RecipientCase[] = [
  {
    name: "a catalog without detection loads (detection off)",
    mutate: (c) => delete c.detection,
  },
  {
    name: "an unknown rule type is refused, naming the types there are",
    mutate: (c) => (c.detection.rules.scrape_burst.type = "scrape"),
    errors: [["detection.rules.scrape_burst.type", "INVALID_VALUE"]],
    message: /one of: volume, enumeration, canary, off_hours, deny_storm, export_volume, new_network/,
  },
  {
    name: "a rule without a type is refused",
    mutate: (c) => delete c.detection.rules.canary_read.type,
    errors: [["detection.rules.canary_read.type", "REQUIRED"]],
  },
  {
    name: "an unknown reaction is refused",
    mutate: (c) => (c.detection.rules.denial_storm.reaction = "ban"),
    errors: [["detection.rules.denial_storm.reaction", "INVALID_VALUE"]],
    message: /one of: alert, throttle, suspend/,
  },
  {
    name: "a key of another rule type is refused (strict rules)",
    mutate: (c) => (c.detection.rules.canary_read.window = "PT1M"),
    errors: [["detection.rules.canary_read.window", "UNKNOWN_KEY"]],
  },
  {
    name: "a window in months is refused: a window has a fixed length",
    mutate: (c) => (c.detection.rules.scrape_burst.window = "P1M"),
    errors: [["detection.rules.scrape_burst.window", "BAD_PERIOD"]],
    message: /PT30S, PT10M, PT1H or P1D/,
  },
  {
    name: "a zero window is refused",
    mutate: (c) => (c.detection.rules.denial_storm.window = "PT0S"),
    errors: [["detection.rules.denial_storm.window", "DETECTION_WINDOW_ZERO"]],
  },
  {
    name: "a threshold above the memory bound is refused",
    mutate: (c) => (c.detection.rules.scrape_burst.distinct = 1_000_000),
    errors: [["detection.rules.scrape_burst.distinct", "TOO_BIG"]],
  },
  {
    name: "an unknown principal is refused wherever a rule names one",
    mutate: (c) => {
      c.detection.rules.scrape_burst.principals.push("talk-ap");
      c.detection.rules.read_volume.baselines["chat-app"] = { talk_service: 10 };
      c.detection.rules.after_hours.hours["night-desk"] = { from: "22:00", to: "06:00" };
    },
    errors: [
      ["detection.rules.scrape_burst.principals[5]", "UNKNOWN_PRINCIPAL_REF"],
      ["detection.rules.read_volume.baselines.chat-app", "UNKNOWN_PRINCIPAL_REF"],
      ["detection.rules.after_hours.hours.night-desk", "UNKNOWN_PRINCIPAL_REF"],
    ],
  },
  {
    name: "a volume baseline for an unknown purpose is refused; one for a purpose the principal may not use is a warning",
    mutate: (c) => {
      c.detection.rules.read_volume.baselines["talk-app"].chat = 10;
      c.detection.rules.read_volume.baselines["support-console"].marketing = 10;
    },
    errors: [["detection.rules.read_volume.baselines.talk-app.chat", "UNKNOWN_PURPOSE_REF"]],
    warnings: [["detection.rules.read_volume.baselines.support-console.marketing", "DETECTION_PURPOSE_NOT_ALLOWED"]],
  },
  {
    name: "an export baseline for an unknown recipient is refused",
    mutate: (c) => (c.detection.rules.export_spike.baselines.alipay = 10),
    errors: [["detection.rules.export_spike.baselines.alipay", "UNKNOWN_RECIPIENT_REF"]],
  },
  {
    name: "an unknown time zone is refused",
    mutate: (c) => {
      c.detection.time_zone = "Asia/Busan";
      c.detection.rules.after_hours.time_zone = "KST";
    },
    errors: [
      ["detection.time_zone", "DETECTION_TIME_ZONE_UNKNOWN"],
      ["detection.rules.after_hours.time_zone", "DETECTION_TIME_ZONE_UNKNOWN"],
    ],
    message: /IANA name such as Asia\/Seoul/,
  },
  {
    name: "empty working hours are refused",
    mutate: (c) => (c.detection.rules.after_hours.hours["support-console"].to = "09:00"),
    errors: [["detection.rules.after_hours.hours.support-console", "DETECTION_EMPTY_HOURS"]],
    message: /00:00-24:00/,
  },
  {
    name: "a malformed time of day is a schema error",
    mutate: (c) => (c.detection.rules.after_hours.hours["marketing-svc"].from = "8am"),
    errors: [["detection.rules.after_hours.hours.marketing-svc.from", "INVALID_FORMAT"]],
    message: /HH:MM/,
  },
  {
    name: "Safety Standard Art. 6(1): declared networks must be addresses or CIDRs",
    mutate: (c) => (c.detection.rules.new_network.networks = { "talk-app": ["10.0.0.0/8", "10.0.0.0/33", "office"] }),
    errors: [
      ["detection.rules.new_network.networks.talk-app[1]", "DETECTION_BAD_NETWORK"],
      ["detection.rules.new_network.networks.talk-app[2]", "DETECTION_BAD_NETWORK"],
    ],
  },
  {
    name: "a rule that watches nothing is a warning",
    mutate: (c) => (c.detection.rules.read_volume.baselines = {}),
    warnings: [["detection.rules.read_volume.type", "DETECTION_NOTHING_WATCHED"]],
  },
  {
    name: "a zero throttle window is refused",
    mutate: (c) => (c.detection.throttle.per = "PT0S"),
    errors: [["detection.throttle.per", "DETECTION_WINDOW_ZERO"]],
  },
];

describe("detection rules (issue 5; Safety Standard Art. 6(1), 8)", () => {
  for (const c of detectionCases) {
    it(c.name, () => {
      const raw = exampleRaw();
      c.mutate(raw);
      const { ok, errors, warnings } = issuesOf(stringifyYaml(raw));
      const all = [...errors, ...warnings];
      assert.deepEqual(pairs(errors).sort(), [...(c.errors ?? [])].sort(), formatIssues(all));
      assert.deepEqual(pairs(warnings).sort(), [...(c.warnings ?? [])].sort(), formatIssues(all));
      assert.equal(ok, errors.length === 0);
      if (c.message) assert.ok(all.some((i) => c.message?.test(i.message)), formatIssues(all));
    });
  }

  it("the detection checks still run when another part of the catalog fails the schema", () => {
    const raw = exampleRaw();
    raw.purposes.talk_service.basis = "kontract";
    raw.detection.rules.denial_storm.window = "PT0S";
    const { errors } = issuesOf(stringifyYaml(raw));
    assert.deepEqual(
      pairs(errors).sort(),
      [
        ["detection.rules.denial_storm.window", "DETECTION_WINDOW_ZERO"],
        ["purposes.talk_service.basis", "INVALID_VALUE"],
      ].sort(),
    );
  });

  it("defaults: Asia/Seoul, a throttle of 5 per minute for 15 minutes, factors 3 and 1.5, exports per recipient", () => {
    const raw = exampleRaw();
    raw.detection = {
      rules: {
        v: { type: "volume", window: "PT1M", baselines: { "talk-app": { talk_service: 5 } }, reaction: "alert" },
        e: { type: "export_volume", window: "P1D", reaction: "alert" },
      },
    };
    const r = parseCatalog(stringifyYaml(raw));
    assert.ok(r.ok, r.ok ? "" : formatIssues(r.errors));
    const d = r.ok ? r.catalog.detection! : undefined;
    assert.equal(d?.time_zone, "Asia/Seoul");
    assert.deepEqual(d?.throttle, { requests: 5, per: "PT1M", for: "PT15M" });
    assert.equal(d?.rules.v?.type === "volume" && d.rules.v.factor, 3);
    assert.deepEqual(d?.rules.e?.type === "export_volume" && [d.rules.e.per, d.rules.e.factor, d.rules.e.baselines], ["recipient", 1.5, {}]);
  });
});

const incidentResponseCases: RecipientCase[] = [
  {
    name: "PIPA Art. 34(1)5: without incident_response, notices fall back to the privacy officer: a warning",
    mutate: (c) => delete c.incident_response,
    warnings: [["incident_response", "INCIDENT_RESPONSE_MISSING"]],
    message: /PIPA Art\. 34\(1\)5.*Decree 39\(3\)/,
  },
  {
    name: "contact fields must be declared, listed once, and be general strings (an address, a number)",
    mutate: (c) => (c.incident_response.contact_fields = ["email", "emial", "email", "card_number", "birth_date"]),
    errors: [
      ["incident_response.contact_fields[1]", "UNKNOWN_FIELD_REF"],
      ["incident_response.contact_fields[2]", "DUPLICATE_REF"],
      ["incident_response.contact_fields[3]", "INCIDENT_CONTACT_FIELD_UNSUITED"],
      ["incident_response.contact_fields[4]", "INCIDENT_CONTACT_FIELD_UNSUITED"],
    ],
    message: /"card_number" is card string/,
  },
  {
    name: "Decree 39(3): the posting website must be an http(s) URL, and the department is required",
    mutate: (c) => {
      c.incident_response.website = "our homepage";
      delete c.incident_response.department;
    },
    errors: [
      ["incident_response.website", "INVALID_FORMAT"],
      ["incident_response.department", "REQUIRED"],
    ],
  },
];

describe("incident response in the catalog (PIPA Art. 34; Decree 39)", () => {
  for (const c of incidentResponseCases) {
    it(c.name, () => {
      const raw = exampleRaw();
      c.mutate(raw);
      const { ok, errors, warnings } = issuesOf(stringifyYaml(raw));
      const all = [...errors, ...warnings];
      assert.deepEqual(pairs(errors).sort(), [...(c.errors ?? [])].sort(), formatIssues(all));
      assert.deepEqual(pairs(warnings).sort(), [...(c.warnings ?? [])].sort(), formatIssues(all));
      assert.equal(ok, errors.length === 0);
      if (c.message) assert.ok(all.some((i) => c.message?.test(i.message)), formatIssues(all));
    });
  }

  it("contact fields default to none", () => {
    const raw = exampleRaw();
    delete raw.incident_response.contact_fields;
    const r = parseCatalog(stringifyYaml(raw));
    assert.ok(r.ok);
    assert.deepEqual(r.ok ? r.catalog.incident_response?.contact_fields : undefined, []);
  });
});
