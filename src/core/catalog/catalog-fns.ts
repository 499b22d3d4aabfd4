/**
 * Reading and querying the catalog (`haechi.yaml`).
 *
 * `parseCatalog` turns YAML text into a frozen `Catalog` or into every problem found, in one pass:
 * YAML syntax (with line and column), the zod schema, then the cross-reference and legal checks
 * of `catalog-checks.ts`. When the schema rejects some entries, the checks still run over the
 * entries that did parse, so an author sees everything at once.
 *
 * Everything here is pure except `loadCatalogFile`, the one function that reads a file.
 */
import { readFileSync } from "node:fs";
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from "yaml";
import { z } from "zod";
import { HaechiError } from "../errors.js";
import {
  checkCatalog,
  formatPath,
  latestOf,
  NOTICE_ITEM_LABELS,
  separateCategoryOf,
  type CatalogIssue,
  type CatalogIssueCode,
  type CatalogSections,
  type CatalogSeverity,
  type DeclaredNames,
} from "./catalog-checks.js";
import {
  catalogSchema,
  detectionSchema,
  dormancySchema,
  notificationsSchema,
  incidentResponseSchema,
  ISO_DURATION_RE,
  equivalenceDecisionSchema,
  fieldSchema,
  ISO_PERIOD_RE,
  noticeSchema,
  principalSchema,
  privacyPolicySchema,
  purposeSchema,
  recipientSchema,
  retentionRuleSchema,
  type Catalog,
  type FieldDef,
  type NoticeVersion,
} from "./catalog-schema.js";

export { CATALOG_ISSUE_CODES, checkCatalog, formatPath, LEGAL_RETENTION_PURPOSE } from "./catalog-checks.js";
export type { CatalogIssue, CatalogIssueCode, CatalogSeverity } from "./catalog-checks.js";

/**
 * A catalog with no errors loads (`ok`), warnings and all: a warning marks something a gate
 * refuses at run time (an incomplete consignment contract, say), not a catalog that cannot load.
 */
export type CatalogResult =
  | { ok: true; catalog: Catalog; warnings: CatalogIssue[] }
  | { ok: false; errors: CatalogIssue[]; warnings: CatalogIssue[] };

type Segment = string | number;

// ─── parsing ─────────────────────────────────────────────────────────────────

/**
 * Parses and validates catalog YAML. Returns every issue found in one pass, each with a YAML path
 * (`purposes.marketing.fields[2]`), a message, a stable code and a severity; errors reject the
 * catalog, warnings do not. `source` (a file name) only decorates YAML syntax messages. The
 * catalog returned is deeply frozen.
 */
export const parseCatalog = (yamlText: string, source?: string): CatalogResult => {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText.replace(/^\uFEFF/, ""), { lineCounter, uniqueKeys: true, merge: true, prettyErrors: true });
  const where = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col, text: `line ${line}, column ${col}${source ? ` of ${source}` : ""}` };
  };

  // A document with syntax errors has no trustworthy structure: report the syntax only.
  if (doc.errors.length > 0) {
    return {
      ok: false,
      warnings: [],
      errors: doc.errors.map((e): CatalogIssue => {
        const at = where(e.pos[0]);
        const first = (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "").replace(/:$/, "");
        const duplicate = e.code === "DUPLICATE_KEY";
        const path = pathAtOffset(doc, e.pos[0]);
        const message = duplicate
          ? `duplicate key ${JSON.stringify(String(path[path.length - 1] ?? ""))}: keys must be unique (${at.text})`
          : `YAML: ${first} (${at.text})`;
        return {
          path: formatPath(path),
          message,
          code: duplicate ? "YAML_DUPLICATE_KEY" : "YAML_SYNTAX",
          severity: "error",
          line: at.line,
          column: at.column,
        };
      }),
    };
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, warnings: [], errors: [{ path: "(root)", code: "YAML_SYNTAX", severity: "error", message: `YAML: ${(e as Error).message}` }] };
  }

  if (raw === null || raw === undefined) {
    return {
      ok: false,
      warnings: [],
      errors: [{ path: "(root)", code: "REQUIRED", severity: "error", message: "the catalog is empty: expected a map with version, controller, fields, purposes and principals" }],
    };
  }

  const parsed = catalogSchema.safeParse(raw);
  let issues: CatalogIssue[];
  if (parsed.success) {
    issues = checkCatalog(parsed.data);
  } else {
    issues = fromZodIssues(parsed.error.issues, raw);
    const partial = partialSections(raw);
    if (partial !== null) issues.push(...checkCatalog(partial.sections, partial.declared));
  }
  const located = dedupe(issues).map((i) => locate(doc, lineCounter, i));
  const errors = located.filter((i) => i.severity === "error");
  const warnings = located.filter((i) => i.severity === "warning");
  if (errors.length > 0 || !parsed.success) return { ok: false, errors, warnings };
  return { ok: true, catalog: deepFreeze(parsed.data), warnings };
};

/** Reads a catalog file (synchronously: it happens once, at startup or in the CLI) and parses it. The only I/O here. */
export const loadCatalogFile = (path: string): CatalogResult => {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unknown error";
    return { ok: false, warnings: [], errors: [{ path: "(file)", code: "FILE_UNREADABLE", severity: "error", message: `cannot read catalog ${path}: ${code}` }] };
  }
  return parseCatalog(text, path);
};

/** The catalog of a successful result, or a `CATALOG_INVALID` error listing every issue (for startup). */
export const requireCatalog = (result: CatalogResult): Catalog => {
  if (result.ok) return result.catalog;
  throw new HaechiError("CATALOG_INVALID", `catalog has ${result.errors.length} issue(s):\n${formatIssues(result.errors)}`, {
    issues: result.errors,
  });
};

/** One line per issue, `path: message [code]` (a warning: `path: warning: message [code]`), for the CLI. */
export const formatIssues = (issues: readonly CatalogIssue[]): string =>
  issues.map((i) => `${i.path}: ${i.severity === "warning" ? "warning: " : ""}${i.message} [${i.code}]`).join("\n");

// ─── zod issues → catalog issues ─────────────────────────────────────────────

const valueAt = (root: unknown, path: readonly PropertyKey[]): unknown => {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
};

const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "a map" : `a ${typeof v}`);

const noticeItemOf = (path: readonly Segment[]): keyof typeof NOTICE_ITEM_LABELS | null => {
  if (path[0] !== "notices" || path[2] !== "versions" || typeof path[3] !== "number") return null;
  const [key, sub, lang] = path.slice(4);
  if (key === "purpose" || key === "retention") return sub === undefined || sub === "ko" || sub === "en" ? key : null;
  if (key === "items") return sub === undefined ? "items" : null;
  if (key === "refusal") {
    if (sub === undefined) return "refusal";
    if ((sub === "right" || sub === "disadvantage") && (lang === undefined || lang === "ko" || lang === "en")) return `refusal.${sub}`;
  }
  return null;
};

/** Converts zod issues to catalog issues (all errors) with YAML paths, one issue per unknown key. */
const fromZodIssues = (zodIssues: readonly z.core.$ZodIssue[], raw: unknown): CatalogIssue[] => {
  const out: CatalogIssue[] = [];
  const severity: CatalogSeverity = "error";
  for (const issue of zodIssues) {
    const path = issue.path.filter((p): p is Segment => typeof p !== "symbol");
    const value = valueAt(raw, path);
    let code: CatalogIssueCode;
    let message: string;
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) out.push({ path: formatPath([...path, key]), code: "UNKNOWN_KEY", severity, message: `unknown key "${key}"` });
        continue;
      case "invalid_key": {
        const why = issue.issues[0]?.message ?? issue.message;
        code = "INVALID_NAME";
        message = `invalid name "${String(path[path.length - 1])}": ${why}`;
        break;
      }
      case "invalid_type":
        if (value === undefined) {
          code = "REQUIRED";
          message = "is required";
        } else {
          code = "INVALID_TYPE";
          message = `must be ${issue.expected === "array" ? "a list" : issue.expected === "record" || issue.expected === "object" ? "a map" : `a ${issue.expected}`}, not ${kindOf(value)}`;
        }
        break;
      case "invalid_union":
        if ((issue as { note?: string }).note === "No matching discriminator") {
          // A detection rule's `type` (the union's discriminator): name the types there are.
          const options = ((issue as { options?: unknown[] }).options ?? []).map(String).join(", ");
          code = value === undefined ? "REQUIRED" : "INVALID_VALUE";
          message = value === undefined ? `is required (one of: ${options})` : `must be one of: ${options}`;
          break;
        }
        code = value === undefined ? "REQUIRED" : typeof value === "string" ? "INVALID_FORMAT" : "INVALID_TYPE";
        message = value === undefined ? "is required" : issue.message;
        break;
      case "invalid_value": {
        const allowed =
          issue.values.length === 1 ? `${JSON.stringify(issue.values[0])}` : `one of: ${issue.values.map(String).join(", ")}`;
        code = value === undefined ? "REQUIRED" : "INVALID_VALUE";
        message = value === undefined ? `is required (${allowed})` : `must be ${allowed}`;
        break;
      }
      case "invalid_format":
        if (issue.format === "regex" && (issue.pattern === ISO_PERIOD_RE.toString() || issue.pattern === ISO_DURATION_RE.toString())) code = "BAD_PERIOD";
        else code = "INVALID_FORMAT";
        message = issue.format === "date" ? "must be a calendar date, YYYY-MM-DD" : issue.message;
        break;
      case "too_small":
        code = "TOO_SMALL";
        message =
          issue.origin === "array" && Number(issue.minimum) === 1
            ? "must not be empty"
            : issue.origin === "string"
              ? `must be at least ${issue.minimum} characters`
              : issue.inclusive === false
                ? `must be greater than ${issue.minimum}`
                : `must be at least ${issue.minimum}`;
        break;
      case "too_big":
        code = "TOO_BIG";
        message =
          issue.origin === "string"
            ? `must be at most ${issue.maximum} characters`
            : issue.origin === "array"
              ? `must have at most ${issue.maximum} entries`
              : issue.inclusive === false
                ? `must be less than ${issue.maximum}`
                : `must be at most ${issue.maximum}`;
        break;
      default:
        code = "SCHEMA_INVALID";
        message = issue.message;
    }
    // PIPA Art. 15(2): a missing or blank notice item is a legal defect, named as such.
    const item = noticeItemOf(path);
    if (item !== null && (code === "REQUIRED" || code === "TOO_SMALL" || code === "INVALID_FORMAT")) {
      const detail = code === "REQUIRED" ? "it is missing" : item === "items" ? "no items are listed" : "the text is blank";
      out.push({ path: formatPath(path), code: "NOTICE_MISSING_ITEM", severity, message: `notice lacks the ${NOTICE_ITEM_LABELS[item]}: ${detail}` });
      continue;
    }
    out.push({ path: formatPath(path), code, severity, message });
  }
  return out;
};

/**
 * When the whole catalog fails the schema, parse each entry on its own so the cross-reference
 * checks can still run over the entries that are well-formed.
 */
const partialSections = (raw: unknown): { sections: CatalogSections; declared: DeclaredNames } | null => {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return null;
  const root = raw as Record<string, unknown>;
  const section = <T>(key: string, schema: z.ZodType<T>): { parsed: Record<string, T>; names: Set<string> } => {
    const parsed: Record<string, T> = {};
    const names = new Set<string>();
    const value = root[key];
    if (value === null || typeof value !== "object" || Array.isArray(value)) return { parsed, names };
    for (const [name, entry] of Object.entries(value)) {
      names.add(name);
      const r = schema.safeParse(entry);
      if (r.success) parsed[name] = r.data;
    }
    return { parsed, names };
  };
  const fields = section("fields", fieldSchema);
  const purposes = section("purposes", purposeSchema);
  const notices = section("notices", noticeSchema);
  const principals = section("principals", principalSchema);
  const rules = section("retention_rules", retentionRuleSchema);
  const recipients = section("recipients", recipientSchema);
  const decisions = section("equivalence_decisions", equivalenceDecisionSchema);
  // The overseas checks need only the controller's country; without a valid one they are skipped.
  const country = (root.controller as { country?: unknown } | null | undefined)?.country;
  const dormancy = root.dormancy === undefined ? undefined : dormancySchema.safeParse(root.dormancy);
  const incidentResponse = root.incident_response === undefined ? undefined : incidentResponseSchema.safeParse(root.incident_response);
  const detection = root.detection === undefined ? undefined : detectionSchema.safeParse(root.detection);
  const notifications = root.notifications === undefined ? undefined : notificationsSchema.safeParse(root.notifications);
  const privacyPolicy = root.privacy_policy === undefined ? undefined : privacyPolicySchema.safeParse(root.privacy_policy);
  return {
    sections: {
      fields: fields.parsed,
      purposes: purposes.parsed,
      notices: notices.parsed,
      principals: principals.parsed,
      retention_rules: rules.parsed,
      recipients: recipients.parsed,
      equivalence_decisions: decisions.parsed,
      ...(typeof country === "string" && /^[A-Z]{2}$/.test(country) ? { controller: { country } } : {}),
      ...(dormancy?.success === true ? { dormancy: dormancy.data } : {}),
      ...(incidentResponse?.success === true ? { incident_response: incidentResponse.data } : {}),
      ...(detection?.success === true ? { detection: detection.data } : {}),
      ...(notifications?.success === true ? { notifications: notifications.data } : {}),
      ...(privacyPolicy?.success === true ? { privacy_policy: privacyPolicy.data } : {}),
    },
    declared: {
      fields: fields.names,
      purposes: purposes.names,
      notices: notices.names,
      retention_rules: rules.names,
      recipients: recipients.names,
      equivalence_decisions: decisions.names,
    },
  };
};

const dedupe = (issues: CatalogIssue[]): CatalogIssue[] => {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.code}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};

// ─── YAML positions ──────────────────────────────────────────────────────────

const parsePath = (path: string): Segment[] => {
  if (path.startsWith("(")) return [];
  const out: Segment[] = [];
  const re = /(?:^|\.)([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
  }
  return out;
};

/** Adds the line and column of the deepest node on the issue's path that exists in the document. */
const locate = (doc: Document, lc: LineCounter, issue: CatalogIssue): CatalogIssue => {
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0];
  for (const seg of parsePath(issue.path)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as YamlNode | undefined;
      if (item === undefined) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  if (offset === undefined) return issue;
  const { line, col } = lc.linePos(offset);
  return { ...issue, line, column: col };
};

/** Path of the deepest key or item whose range holds `offset` (for YAML errors). */
const pathAtOffset = (doc: Document, offset: number): Segment[] => {
  const inside = (n: unknown) => {
    const r = (n as YamlNode | null)?.range;
    return r !== undefined && r !== null && offset >= r[0] && offset < Math.max(r[2], r[0] + 1);
  };
  const path: Segment[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => inside(p.key) || inside(p.value));
      if (pair === undefined || !isScalar(pair.key)) return path;
      path.push(String(pair.key.value));
      if (inside(pair.key)) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => inside(item));
      if (i < 0) return path;
      path.push(i);
      node = node.items[i];
    } else return path;
  }
};

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};

// ─── queries other code needs ────────────────────────────────────────────────

/** The version of `notice` in force for new consents (the highest version), or undefined for an unknown notice. */
export const latestNoticeVersion = (catalog: Catalog, notice: string): NoticeVersion | undefined => {
  const n = catalog.notices[notice];
  return n === undefined ? undefined : latestOf(n);
};

/** A given version of a notice, or undefined if the notice or the version is unknown. */
export const noticeVersion = (catalog: Catalog, notice: string, version: number): NoticeVersion | undefined =>
  catalog.notices[notice]?.versions.find((v) => v.version === version);

const sameText = (a: unknown, b: unknown): boolean => {
  const norm = (t: unknown) => (typeof t === "string" ? t.trim() : JSON.stringify(Object.entries(t ?? {}).map(([k, v]) => [k, String(v).trim()]).sort()));
  return typeof a === typeof b && norm(a) === norm(b);
};

/**
 * What a new notice version changes for consents given on the old one (PIPA Art. 15(2) second
 * sentence; LAW §15 B5): a changed purpose, retention or refusal text makes the whole consent stale
 * (`all`); items added make only those fields stale; items removed make nothing stale.
 */
export const changedItems = (oldV: NoticeVersion, newV: NoticeVersion): { all: boolean; addedFields: string[] } => {
  const all =
    !sameText(oldV.purpose, newV.purpose) ||
    !sameText(oldV.retention, newV.retention) ||
    !sameText(oldV.refusal.right, newV.refusal.right) ||
    !sameText(oldV.refusal.disadvantage, newV.refusal.disadvantage);
  const before = new Set(oldV.items);
  return { all, addedFields: newV.items.filter((f) => !before.has(f)) };
};

/** The purpose's fields of class `required`. Throws UNKNOWN_PURPOSE for a purpose not in the catalog. */
export const requiredFieldsOf = (catalog: Catalog, purpose: string): string[] => {
  const p = catalog.purposes[purpose];
  if (p === undefined) throw new HaechiError("UNKNOWN_PURPOSE", `unknown purpose "${purpose}"`);
  return p.fields.filter((f) => catalog.fields[f]?.class === "required");
};

/**
 * The identifier context of a principal (its `id_context`, else its name). Throws ACCESS_DENIED
 * for a principal not in the catalog, so an unknown caller never gets a context of its own.
 */
export const idContextOf = (catalog: Catalog, principal: string): string => {
  const p = catalog.principals[principal];
  if (p === undefined) throw new HaechiError("ACCESS_DENIED", `unknown principal "${principal}"`);
  return p.id_context ?? principal;
};

/** The separate consent a field needs (PIPA Art. 22(1)5-6): sensitive and biometric → "sensitive", unique_id → "unique_id". */
export const separateConsentCategoryFor = (field: FieldDef): "sensitive" | "unique_id" | null => separateCategoryOf(field);

/** Notices of the field's separate-consent category whose version in force lists the field. */
export const separateConsentNoticesFor = (catalog: Catalog, field: string): string[] => {
  const def = catalog.fields[field];
  const category = def === undefined ? null : separateCategoryOf(def);
  if (category === null) return [];
  return Object.entries(catalog.notices)
    .filter(([, n]) => n.category === category && latestOf(n)?.items.includes(field))
    .map(([name]) => name);
};

// ─── periods ─────────────────────────────────────────────────────────────────

export type Period = { years: number; months: number; days: number };

/** Parses an ISO-8601 period of years, months and days (`P5Y`, `P1Y6M`, `P30D`). Throws VALIDATION_FAILED otherwise. */
export const parsePeriod = (period: string): Period => {
  const m = ISO_PERIOD_RE.exec(period);
  if (m === null) throw new HaechiError("VALIDATION_FAILED", `not an ISO-8601 period of years, months and days: ${JSON.stringify(period)}`);
  const n = (s: string | undefined) => (s === undefined ? 0 : Number.parseInt(s, 10));
  return { years: n(m[1]), months: n(m[2]), days: n(m[3]) };
};

/**
 * Adds a period to a date in UTC calendar terms: years and months first, clamping to the end of a
 * shorter month (Jan 31 + P1M = Feb 28/29), then days. The time of day is kept.
 */
export const addPeriod = (date: Date, period: Period | string): Date => {
  const p = typeof period === "string" ? parsePeriod(period) : period;
  const totalMonths = date.getUTCFullYear() * 12 + date.getUTCMonth() + p.years * 12 + p.months;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const shifted = new Date(date.getTime());
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), lastDay));
  return new Date(shifted.getTime() + p.days * 86_400_000);
};

// ─── JSON Schema for editors ─────────────────────────────────────────────────

export const CATALOG_SCHEMA_ID = "urn:haechi:schema:catalog:1";

/**
 * The JSON Schema of `haechi.yaml` (the zod schema's input side, so defaulted keys are optional),
 * for editor autocompletion. Cross-reference and legal checks are not expressible in it; run
 * `haechi catalog check` for those.
 */
export const catalogJsonSchema = (): Record<string, unknown> => {
  const { $schema, ...rest } = z.toJSONSchema(catalogSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return {
    $schema,
    $id: CATALOG_SCHEMA_ID,
    title: "Haechi catalog (haechi.yaml)",
    description:
      "Privacy as code: fields, purposes and their legal bases, consent notices, principals, retention rules, and the recipients data may be sent to. " +
      "Generated from src/core/catalog/catalog-schema.ts; do not edit by hand.",
    ...rest,
  };
};

/** Subtracts a period (the same calendar rules as `addPeriod`, with the signs reversed). */
export const subtractPeriod = (date: Date, period: Period | string): Date => {
  const p = typeof period === "string" ? parsePeriod(period) : period;
  return addPeriod(date, { years: -p.years, months: -p.months, days: -p.days });
};
