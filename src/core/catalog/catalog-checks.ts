/**
 * Cross-reference and legal checks on a catalog that has passed (or partly passed) the zod
 * schema. Pure: takes parsed sections, returns issues; never throws to mean "invalid".
 *
 * Each rule has a stable code (`CatalogIssueCode`) that tests, the CLI and editors can rely on.
 * Rules that come from the law name the article in their message.
 */
import type { Catalog, FieldDef, NoticeDef, NoticeVersion } from "./catalog-schema.js";

/** One problem in a catalog: where (a YAML path such as `purposes.marketing.fields[2]`), what, and a stable code. */
export type CatalogIssue = {
  path: string;
  message: string;
  code: CatalogIssueCode | (string & {});
  /** 1-based position in the YAML text, when it could be located. */
  line?: number;
  column?: number;
};

/** The stable issue codes. Never rename one; add new ones at the end of their group. */
export const CATALOG_ISSUE_CODES = [
  // reading
  "FILE_UNREADABLE",
  "YAML_SYNTAX",
  "YAML_DUPLICATE_KEY",
  // shape (from the zod schema)
  "UNKNOWN_KEY",
  "REQUIRED",
  "INVALID_TYPE",
  "INVALID_VALUE",
  "INVALID_FORMAT",
  "INVALID_NAME",
  "BAD_PERIOD",
  "TOO_SMALL",
  "TOO_BIG",
  "SCHEMA_INVALID",
  // references
  "UNKNOWN_FIELD_REF",
  "UNKNOWN_PURPOSE_REF",
  "UNKNOWN_NOTICE_REF",
  "UNKNOWN_RETENTION_RULE",
  "DUPLICATE_REF",
  // notices (PIPA Art. 15(2), 22)
  "NOTICE_REQUIRED",
  "NOTICE_MISSING_ITEM",
  "NOTICE_ITEMS_MISSING_FIELD",
  "NOTICE_VERSION_ORDER",
  "NOTICE_EFFECTIVE_ORDER",
  "NOTICE_CATEGORY_MISMATCH",
  "MARKETING_NOTICE_NOT_OPTIONAL",
  // bases (PIPA Art. 15(1), 23, 24, 24-2)
  "STATUTE_REQUIRED",
  "RRN_CONSENT_NOT_A_BASIS",
  "SEPARATE_CONSENT_REQUIRED",
  "LEGAL_RETENTION_BASIS",
  // fields and purposes
  "MASKED_FIELD_NOT_IN_PURPOSE",
  "MINIMISE_NOT_AUTO",
  "LOOKUP_NOT_ALLOWED",
  "BAD_PATTERN",
  // principals
  "PRINCIPAL_ROLE_PURPOSE",
] as const;
export type CatalogIssueCode = (typeof CATALOG_ISSUE_CODES)[number];

/** The parts of a catalog the checks look at. */
export type CatalogSections = Pick<Catalog, "fields" | "purposes" | "notices" | "principals" | "retention_rules">;

/**
 * Names declared in the YAML, whether or not their definition parsed. References to a declared
 * but malformed entry are not reported again as unknown (the schema issue already says why).
 */
export type DeclaredNames = {
  fields: ReadonlySet<string>;
  purposes: ReadonlySet<string>;
  notices: ReadonlySet<string>;
  retention_rules: ReadonlySet<string>;
};

/** Name of the purpose reserved for the sealed legal-retention store (PIPA Art. 21(3)). */
export const LEGAL_RETENTION_PURPOSE = "legal_retention";

/** Sensitivities on which a blind index would invite enumeration of small value spaces. */
const NO_LOOKUP = new Set<FieldDef["sensitivity"]>(["rrn", "sensitive", "biometric", "card", "account", "credit"]);

/** Art. 15(2) item labels, used in NOTICE_MISSING_ITEM messages. */
export const NOTICE_ITEM_LABELS = {
  purpose: "Art. 15(2)1 purpose of collection and use",
  items: "Art. 15(2)2 items collected",
  retention: "Art. 15(2)3 retention and use period",
  refusal: "Art. 15(2)4 right to refuse and disadvantage of refusing",
  "refusal.right": "Art. 15(2)4 right to refuse",
  "refusal.disadvantage": "Art. 15(2)4 disadvantage of refusing",
} as const;

/** Renders path segments the way a YAML author reads them: `a.b[2].c`, quoting odd keys. */
export const formatPath = (segments: readonly (string | number)[]): string => {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out === "" ? "(root)" : out;
};

/**
 * Highest-numbered version of a notice; on a tie (an invalid catalog) the later entry, since
 * authors append new versions. Does not rely on the list being ordered.
 */
export const latestOf = (notice: NoticeDef): NoticeVersion | undefined =>
  notice.versions.reduce<NoticeVersion | undefined>((best, v) => (best === undefined || v.version >= best.version ? v : best), undefined);

/** Separate-consent category a field needs under PIPA Art. 22(1)5-6, 23, 24. RRNs have none: consent cannot cover them. */
export const separateCategoryOf = (field: Pick<FieldDef, "sensitivity">): "sensitive" | "unique_id" | null => {
  switch (field.sensitivity) {
    case "sensitive":
    case "biometric":
      return "sensitive";
    case "unique_id":
      return "unique_id";
    default:
      return null;
  }
};

const textsOf = (t: unknown): string[] => (typeof t === "string" ? [t] : t && typeof t === "object" ? Object.values(t).map(String) : []);
const isBlank = (t: unknown): boolean => textsOf(t).length === 0 || textsOf(t).some((s) => s.trim() === "");

/**
 * Runs every cross-reference and legal check. `declared` defaults to the names present in
 * `catalog` (the fully parsed case).
 */
export const checkCatalog = (catalog: CatalogSections, declared?: DeclaredNames): CatalogIssue[] => {
  const issues: CatalogIssue[] = [];
  const add = (segments: (string | number)[], code: CatalogIssueCode, message: string) =>
    issues.push({ path: formatPath(segments), code, message });
  const known: DeclaredNames = declared ?? {
    fields: new Set(Object.keys(catalog.fields)),
    purposes: new Set(Object.keys(catalog.purposes)),
    notices: new Set(Object.keys(catalog.notices)),
    retention_rules: new Set(Object.keys(catalog.retention_rules)),
  };

  // ── fields ──────────────────────────────────────────────────────────────
  for (const [name, f] of Object.entries(catalog.fields)) {
    if (f.minimise !== undefined && f.class !== "auto")
      add(["fields", name, "minimise"], "MINIMISE_NOT_AUTO", `minimise applies at generation, so only to fields of class auto (this one is ${f.class})`);
    if (f.lookup && NO_LOOKUP.has(f.sensitivity))
      add(
        ["fields", name, "lookup"],
        "LOOKUP_NOT_ALLOWED",
        `lookup is not allowed on ${f.sensitivity} fields: a blind index over a small value space invites enumeration`,
      );
    if (f.pattern !== undefined) {
      try {
        new RegExp(f.pattern);
      } catch (e) {
        add(["fields", name, "pattern"], "BAD_PATTERN", `pattern is not a valid regular expression: ${(e as Error).message}`);
      }
    }
  }

  // ── notices ─────────────────────────────────────────────────────────────
  for (const [name, n] of Object.entries(catalog.notices)) {
    if (n.category === "marketing" && !n.optional)
      add(
        ["notices", name, "optional"],
        "MARKETING_NOTICE_NOT_OPTIONAL",
        "a marketing notice must be optional: service may not be refused for declining marketing (PIPA Art. 22(5))",
      );
    const latest = latestOf(n);
    n.versions.forEach((v, i) => {
      const at = ["notices", name, "versions", i];
      // Unreachable after the schema (which rejects blank text) but kept so the rule holds on its own.
      for (const [key, value] of [
        ["purpose", v.purpose],
        ["retention", v.retention],
        ["refusal.right", v.refusal.right],
        ["refusal.disadvantage", v.refusal.disadvantage],
      ] as const) {
        if (isBlank(value))
          add([...at, ...key.split(".")], "NOTICE_MISSING_ITEM", `notice version ${v.version} lacks the ${NOTICE_ITEM_LABELS[key]} (PIPA Art. 15(2))`);
      }
      const prev = n.versions[i - 1];
      if (prev !== undefined) {
        if (v.version <= prev.version)
          add([...at, "version"], "NOTICE_VERSION_ORDER", `versions must strictly increase: ${v.version} follows ${prev.version}`);
        if (v.effective < prev.effective)
          add([...at, "effective"], "NOTICE_EFFECTIVE_ORDER", `effective dates must not go backwards: ${v.effective} follows ${prev.effective}`);
      }
      const seen = new Set<string>();
      v.items.forEach((item, j) => {
        const here = [...at, "items", j];
        if (seen.has(item)) add(here, "DUPLICATE_REF", `field "${item}" is listed twice`);
        seen.add(item);
        const f = catalog.fields[item];
        if (f === undefined) {
          // Older versions may name fields since removed; only the version in force must resolve.
          if (v === latest && !known.fields.has(item)) add(here, "UNKNOWN_FIELD_REF", `unknown field "${item}"`);
          return;
        }
        if (f.sensitivity === "rrn")
          add(here, "RRN_CONSENT_NOT_A_BASIS", `field "${item}" is an RRN; consent is never a basis for processing RRNs (PIPA Art. 24-2(1))`);
        if (n.category === "sensitive" && separateCategoryOf(f) !== "sensitive")
          add(
            here,
            "NOTICE_CATEGORY_MISMATCH",
            `a sensitive-data notice may list only sensitive or biometric fields; "${item}" is ${f.sensitivity} (PIPA Art. 22(1)5, 23(1)1)`,
          );
        if (n.category === "unique_id" && f.sensitivity !== "unique_id")
          add(
            here,
            "NOTICE_CATEGORY_MISMATCH",
            `a unique-identifier notice may list only unique_id fields; "${item}" is ${f.sensitivity} (PIPA Art. 22(1)6, 24(1)1)`,
          );
      });
    });
  }

  // ── purposes ────────────────────────────────────────────────────────────
  for (const [name, p] of Object.entries(catalog.purposes)) {
    const at = ["purposes", name];
    const seen = new Set<string>();
    p.fields.forEach((field, i) => {
      if (seen.has(field)) add([...at, "fields", i], "DUPLICATE_REF", `field "${field}" is listed twice`);
      seen.add(field);
      if (!known.fields.has(field)) add([...at, "fields", i], "UNKNOWN_FIELD_REF", `unknown field "${field}"`);
    });
    for (const key of Object.keys(p.masked)) {
      if (!p.fields.includes(key))
        add([...at, "masked", key], "MASKED_FIELD_NOT_IN_PURPOSE", `"${key}" is not one of this purpose's fields`);
    }
    p.retention.rules.forEach((rule, i) => {
      if (!known.retention_rules.has(rule))
        add([...at, "retention", "rules", i], "UNKNOWN_RETENTION_RULE", `unknown retention rule "${rule}"`);
    });

    if ((p.basis === "law" || p.basis === "public_duty") && p.statute === undefined)
      add([...at, "statute"], "STATUTE_REQUIRED", `basis ${p.basis} needs the statute that provides for the processing (PIPA Art. 15(1)${p.basis === "law" ? "2" : "3"})`);
    if (name === LEGAL_RETENTION_PURPOSE && p.basis !== "law")
      add(
        [...at, "basis"],
        "LEGAL_RETENTION_BASIS",
        "legal_retention holds data only because another law requires it, so its basis must be law (PIPA Art. 21(1) proviso, 21(3))",
      );

    // PIPA Art. 24-2: an RRN needs a specific statute (or urgent vital interest); consent is never a basis.
    const rrnIndex = p.fields.findIndex((f) => catalog.fields[f]?.sensitivity === "rrn");
    if (rrnIndex >= 0) {
      const rrn = p.fields[rrnIndex];
      if (p.basis !== "law" && p.basis !== "vital_interest")
        add(
          [...at, "basis"],
          "RRN_CONSENT_NOT_A_BASIS",
          `purpose uses the RRN field "${rrn}" (fields[${rrnIndex}]), which needs basis law with a statute; ${p.basis} is not a basis for RRNs (PIPA Art. 24-2(1))`,
        );
      else if (p.basis === "vital_interest" && p.statute === undefined)
        add(
          [...at, "statute"],
          "RRN_CONSENT_NOT_A_BASIS",
          `purpose uses the RRN field "${rrn}": name the statute or PIPC notice that permits it (PIPA Art. 24-2(1))`,
        );
    }

    // Consent rests on a notice whose version in force lists every field (PIPA Art. 15(2)2).
    let latest: NoticeVersion | undefined;
    if (p.basis === "consent") {
      if (p.notice === undefined)
        add([...at, "notice"], "NOTICE_REQUIRED", "basis consent needs the notice the consent is given on (PIPA Art. 15(2))");
      else if (!known.notices.has(p.notice)) add([...at, "notice"], "UNKNOWN_NOTICE_REF", `unknown notice "${p.notice}"`);
      else {
        const n = catalog.notices[p.notice];
        latest = n === undefined ? undefined : latestOf(n);
        if (latest !== undefined) {
          const items = new Set(latest.items);
          p.fields.forEach((field, i) => {
            if (!items.has(field) && known.fields.has(field))
              add(
                [...at, "fields", i],
                "NOTICE_ITEMS_MISSING_FIELD",
                `field "${field}" is not among the items of notice "${p.notice}" v${latest?.version} (PIPA Art. 15(2)2)`,
              );
          });
        }
      }
    }

    // Sensitive and unique-id fields: separate consent or a statute, nothing else (PIPA Art. 23(1), 24(1)).
    p.fields.forEach((field, i) => {
      const f = catalog.fields[field];
      const category = f === undefined ? null : separateCategoryOf(f);
      if (category === null) return;
      const article = category === "sensitive" ? "PIPA Art. 23(1)" : "PIPA Art. 24(1)";
      if (p.basis === "law") return;
      if (p.basis !== "consent") {
        add(
          [...at, "fields", i],
          "SEPARATE_CONSENT_REQUIRED",
          `field "${field}" is ${f?.sensitivity}: it may be processed only on separate consent or a statute, not on ${p.basis} (${article})`,
        );
        return;
      }
      const covered = Object.entries(catalog.notices).some(([, n]) => n.category === category && latestOf(n)?.items.includes(field));
      // A declared-but-malformed notice may be the one; the schema issue already reports it.
      const unparsed = [...known.notices].some((nn) => catalog.notices[nn] === undefined);
      if (!covered && !unparsed)
        add(
          [...at, "fields", i],
          "SEPARATE_CONSENT_REQUIRED",
          `field "${field}" is ${f?.sensitivity}: it needs a separate notice of category ${category} listing it (${article}, 22(1))`,
        );
    });
  }

  // ── principals ──────────────────────────────────────────────────────────
  for (const [name, pr] of Object.entries(catalog.principals)) {
    const seen = new Set<string>();
    pr.purposes.forEach((purpose, i) => {
      const here = ["principals", name, "purposes", i];
      if (seen.has(purpose)) add(here, "DUPLICATE_REF", `purpose "${purpose}" is listed twice`);
      seen.add(purpose);
      if (!known.purposes.has(purpose)) add(here, "UNKNOWN_PURPOSE_REF", `unknown purpose "${purpose}"`);
      if (pr.role === "service" && purpose === LEGAL_RETENTION_PURPOSE)
        add(
          here,
          "PRINCIPAL_ROLE_PURPOSE",
          "a service principal may not use legal_retention: retained data is kept apart with narrower access (PIPA Art. 21(3))",
        );
      if (pr.role === "legal_retention" && purpose !== LEGAL_RETENTION_PURPOSE)
        add(here, "PRINCIPAL_ROLE_PURPOSE", `a legal_retention principal may use only the legal_retention purpose, not "${purpose}"`);
    });
  }

  return issues;
};
