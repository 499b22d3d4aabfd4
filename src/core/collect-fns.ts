/**
 * Pure checks applied when data is collected or changed: value shapes, required items
 * (PIPA Art. 16), and the consent events that may accompany a collection (Art. 22, 24-2).
 */
import type { Catalog, ConsentChannel, FieldDef } from "./catalog/catalog-schema.js";
import { CONSENT_CHANNELS } from "./catalog/catalog-schema.js";
import { effectiveVersion } from "./consent/consent-fns.js";
import { HaechiError } from "./errors.js";
import { minimise } from "./minimise.js";

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Checks one value against its field definition; returns a problem (never echoing the value) or null. */
export const fieldValueProblem = (name: string, def: FieldDef, value: unknown): string | null => {
  if (value === null || value === undefined) return `field "${name}" has no value`;
  switch (def.type) {
    case "string":
      if (typeof value !== "string") return `field "${name}" must be a string`;
      if (value.length === 0) return `field "${name}" must not be empty`;
      if (value.length > def.max_length) return `field "${name}" is longer than ${def.max_length} characters`;
      if (def.pattern && !new RegExp(def.pattern).test(value)) return `field "${name}" does not match its pattern`;
      return null;
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? null : `field "${name}" must be a finite number`;
    case "boolean":
      return typeof value === "boolean" ? null : `field "${name}" must be true or false`;
    case "date":
      return typeof value === "string" && ISO_DATE.test(value) && !Number.isNaN(Date.parse(value))
        ? null
        : `field "${name}" must be a date (YYYY-MM-DD)`;
    case "datetime":
      return typeof value === "string" && !Number.isNaN(Date.parse(value)) && /^\d{4}-\d{2}-\d{2}T/.test(value)
        ? null
        : `field "${name}" must be an ISO-8601 date-time`;
    case "json": {
      const size = JSON.stringify(value)?.length ?? 0;
      return size > def.max_length ? `field "${name}" is larger than ${def.max_length} characters of JSON` : null;
    }
  }
};

/**
 * Validates and minimises the values of a write: unknown fields and bad values are refused
 * with every problem listed; auto fields are minimised at collection (e.g. IP truncation).
 */
export const prepareValues = (catalog: Catalog, values: Record<string, unknown>, allowNull: boolean): Record<string, unknown> => {
  const unknown = Object.keys(values).filter((f) => !catalog.fields[f]);
  if (unknown.length > 0) {
    throw new HaechiError("UNKNOWN_FIELD", `unknown field${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`, { fields: unknown });
  }
  const problems: { field: string; message: string }[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    const def = catalog.fields[name]!;
    if (value === null && allowNull) {
      out[name] = null;
      continue;
    }
    const p = fieldValueProblem(name, def, value);
    if (p) {
      problems.push({ field: name, message: p });
      continue;
    }
    out[name] = def.minimise ? minimise(def.minimise, value) : value;
  }
  if (problems.length > 0) {
    throw new HaechiError("VALIDATION_FAILED", problems.map((p) => p.message).join("; "), { problems });
  }
  return out;
};

/** Required items of the collecting purpose that are missing (Art. 16: optional ones never block). */
export const missingRequired = (catalog: Catalog, purpose: string, values: Record<string, unknown>): string[] =>
  (catalog.purposes[purpose]?.fields ?? []).filter((f) => catalog.fields[f]?.class === "required" && (values[f] === undefined || values[f] === null));

export interface ConsentInput {
  notice: string;
  version?: number | undefined;
  action: "grant" | "withdraw";
  channel: ConsentChannel;
}

/** Notices a principal may record consents for: those its purposes rest on or whose items it collects. */
export const noticesFor = (catalog: Catalog, principal: string): Set<string> => {
  const p = catalog.principals[principal];
  const out = new Set<string>();
  if (!p) return out;
  const collected = new Set<string>();
  for (const name of p.purposes) {
    const purpose = catalog.purposes[name];
    if (!purpose) continue;
    if (purpose.notice) out.add(purpose.notice);
    if (purpose.collects) for (const f of purpose.fields) collected.add(f);
  }
  // The provision and overseas-transfer consents for the recipients the principal provides to.
  for (const r of p.recipients) {
    const rec = catalog.recipients[r];
    if (rec?.notice) out.add(rec.notice);
    if (rec?.transfer?.notice) out.add(rec.transfer.notice);
  }
  for (const [name, n] of Object.entries(catalog.notices)) {
    if (n.versions.some((v) => v.items.some((i) => collected.has(i)))) out.add(name);
  }
  return out;
};

/**
 * Checks consent events before they are recorded: the notice exists and the principal may
 * record it; a grant names the version in force (a superseded text cannot be agreed to);
 * an RRN can never be consented to (Art. 24-2). Returns events with the version filled in.
 */
export const checkConsentInputs = (
  catalog: Catalog,
  principal: string,
  inputs: readonly ConsentInput[],
  now: Date,
  /** The notices that may be recorded (default: the principal's, `noticesFor`). */
  allowedNotices?: ReadonlySet<string>,
): (ConsentInput & { version: number; category: string })[] => {
  const allowed = allowedNotices ?? noticesFor(catalog, principal);
  return inputs.map((c, i) => {
    const notice = catalog.notices[c.notice];
    if (!notice) throw new HaechiError("UNKNOWN_NOTICE", `consents[${i}]: notice "${c.notice}" is not in the catalog`);
    if (!allowed.has(c.notice)) {
      throw new HaechiError("ACCESS_DENIED", `consents[${i}]: principal "${principal}" may not record consent for notice "${c.notice}"`, {
        reasons: [{ code: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL", notice: c.notice, message: "notice not linked to the principal's purposes" }],
      });
    }
    if (!CONSENT_CHANNELS.includes(c.channel)) throw new HaechiError("VALIDATION_FAILED", `consents[${i}]: unknown channel`);
    const current = effectiveVersion(notice, now);
    if (!current) throw new HaechiError("CONFLICT", `consents[${i}]: notice "${c.notice}" has no version in force yet`);
    const version = c.version ?? current.version;
    if (c.action === "grant") {
      if (version !== current.version) {
        throw new HaechiError("CONFLICT", `consents[${i}]: notice "${c.notice}" v${version} is not the version in force (v${current.version})`);
      }
      const rrn = current.items.filter((f) => catalog.fields[f]?.sensitivity === "rrn");
      if (rrn.length > 0) {
        throw new HaechiError("RRN_CONSENT_NOT_A_BASIS", `consents[${i}]: consent is not a basis for resident registration numbers (PIPA Art. 24-2)`, {
          fields: rrn,
        });
      }
    } else if (!notice.versions.some((v) => v.version === version)) {
      throw new HaechiError("VALIDATION_FAILED", `consents[${i}]: notice "${c.notice}" has no version ${version}`);
    }
    return { ...c, version, category: notice.category };
  });
};
