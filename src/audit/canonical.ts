/**
 * The frozen canonical form of an audit entry: the exact bytes the chain hashes and the store
 * keeps as `body`. See docs/adr/0002-audit-chain.md.
 */
import { HaechiError } from "../core/errors.js";
import { AUDIT_EFFECTS, type AuditEntry, type AuditMetaValue } from "./audit-types.js";

/** Canonical form version; the first key of every body. */
export const CANONICAL_VERSION = 1;

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const invalid = (what: string): never => {
  // The message names the field only: entry values may be personal data.
  throw new HaechiError("VALIDATION_FAILED", `invalid audit entry: ${what}`, { field: what });
};

const str = (v: unknown, name: string): string => (typeof v === "string" ? v : invalid(name));
const strOrNull = (v: unknown, name: string): string | null =>
  v === null || typeof v === "string" ? v : invalid(name);
const strArray = (v: unknown, name: string): string[] => {
  if (!Array.isArray(v)) return invalid(name);
  for (const s of v) if (typeof s !== "string") invalid(name);
  return v as string[];
};
const num = (v: unknown, name: string): number =>
  typeof v === "number" && Number.isFinite(v) ? v : invalid(name);

/**
 * Serialise an entry to its canonical JSON: `"v":1` first, then the fields in a fixed order;
 * optional `count`/`meta` only when present; meta keys sorted (UTF-16 code unit order); arrays
 * kept in the given order; strings and numbers as `JSON.stringify` writes them. Throws
 * `VALIDATION_FAILED` for a malformed entry (non-ISO-ms `at`, unknown effect, non-finite number…).
 */
// INVARIANT: never change canonicalize(); it breaks every chain.
export function canonicalize(entry: AuditEntry): string {
  const at = str(entry.at, "at");
  if (!ISO_MS.test(at)) invalid("at");
  if (!AUDIT_EFFECTS.includes(entry.effect)) invalid("effect");
  let out =
    `{"v":${CANONICAL_VERSION}` +
    `,"at":${JSON.stringify(at)}` +
    `,"requestId":${JSON.stringify(str(entry.requestId, "requestId"))}` +
    `,"principal":${JSON.stringify(strOrNull(entry.principal, "principal"))}` +
    `,"source":${JSON.stringify(strOrNull(entry.source, "source"))}` +
    `,"action":${JSON.stringify(str(entry.action, "action"))}` +
    `,"effect":${JSON.stringify(entry.effect)}` +
    `,"purpose":${JSON.stringify(strOrNull(entry.purpose, "purpose"))}` +
    `,"subjectRef":${JSON.stringify(strOrNull(entry.subjectRef, "subjectRef"))}` +
    `,"fields":${JSON.stringify(strArray(entry.fields, "fields"))}` +
    `,"reasons":${JSON.stringify(strArray(entry.reasons, "reasons"))}`;
  if (entry.count !== undefined) out += `,"count":${JSON.stringify(num(entry.count, "count"))}`;
  if (entry.meta !== undefined) {
    const meta = entry.meta;
    if (meta === null || typeof meta !== "object" || Array.isArray(meta)) invalid("meta");
    const parts: string[] = [];
    for (const k of Object.keys(meta).sort()) {
      const v: AuditMetaValue | undefined = meta[k];
      if (v === undefined) continue;
      if (typeof v === "number") num(v, "meta");
      else if (v !== null && typeof v !== "string" && typeof v !== "boolean") invalid("meta");
      parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    out += `,"meta":{${parts.join(",")}}`;
  }
  return out + "}";
}

/**
 * Parse a stored body back into an entry. Strict: the body must be exactly what `canonicalize`
 * produces for the parsed entry (so a hand-edited or re-serialised body is refused).
 * Throws `VALIDATION_FAILED`.
 */
export function parseCanonical(body: string): AuditEntry {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return invalid("body is not JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return invalid("body");
  const o = raw as Record<string, unknown>;
  if (o.v !== CANONICAL_VERSION) return invalid("v");
  const entry: AuditEntry = {
    at: o.at as string,
    requestId: o.requestId as string,
    principal: o.principal as string | null,
    source: o.source as string | null,
    action: o.action as string,
    effect: o.effect as AuditEntry["effect"],
    purpose: o.purpose as string | null,
    subjectRef: o.subjectRef as string | null,
    fields: o.fields as string[],
    reasons: o.reasons as string[],
  };
  if ("count" in o) entry.count = o.count as number;
  if ("meta" in o) entry.meta = o.meta as Record<string, AuditMetaValue>;
  if (canonicalize(entry) !== body) invalid("body is not canonical");
  return entry;
}

/**
 * The effect and the field names of a canonical body, without parsing all of it: an incident's
 * scope reads them from every entry of a principal's window (ADR 0010). Relies on the frozen form:
 * keys in canonicalize's order, strings escaped by JSON.stringify, so `,"effect":"`, `,"fields":`
 * and `,"reasons":` appear unescaped only where canonicalize put them (a `"` inside any string
 * value is written `\"`). Throws VALIDATION_FAILED on a body that is not in that form.
 */
export function effectAndFieldsOf(body: string, seen?: Map<string, string[]>): { effect: string; fields: string[] } {
  const e = body.indexOf(',"effect":"');
  const eEnd = e < 0 ? -1 : body.indexOf('"', e + 11);
  const f = eEnd < 0 ? -1 : body.indexOf(',"fields":[', eEnd);
  const fEnd = f < 0 ? -1 : body.indexOf('],"reasons":[', f);
  if (fEnd < 0 || !body.startsWith(`{"v":${CANONICAL_VERSION},`)) return invalid("body is not canonical");
  const text = body.slice(f + 10, fEnd + 1);
  // `seen`: the same field lists recur; each distinct text is parsed once and its array shared.
  let fields = seen?.get(text);
  if (fields === undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return invalid("fields");
    }
    fields = strArray(parsed, "fields");
    if (seen !== undefined && seen.size < 4096) seen.set(text, fields);
  }
  return { effect: body.slice(e + 11, eEnd), fields };
}

/**
 * The purpose of a canonical body without parsing all of it (the console's access charts read it
 * from every entry of a window). As for `effectAndFieldsOf`: in the frozen form `,"purpose":`
 * appears unescaped only where canonicalize put it. Throws VALIDATION_FAILED on a body not in that form.
 */
export function purposeOf(body: string): string | null {
  const p = body.indexOf(',"purpose":');
  if (p < 0 || !body.startsWith(`{"v":${CANONICAL_VERSION},`)) return invalid("body is not canonical");
  const v = p + 11;
  if (body.startsWith("null", v)) return null;
  if (body.charCodeAt(v) !== 0x22) return invalid("purpose");
  const end = body.indexOf('","subjectRef":', v);
  if (end < 0) return invalid("purpose");
  const text = body.slice(v, end + 1);
  // Catalog names need no escapes; anything else (a caller's unknown purpose) is parsed properly.
  if (!text.includes("\\")) return text.slice(1, -1);
  try {
    return str(JSON.parse(text), "purpose");
  } catch {
    return invalid("purpose");
  }
}
