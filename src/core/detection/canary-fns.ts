/**
 * Canary (decoy) subjects: real subjects with made-up, real-looking values that no person owns
 * and no legitimate flow reads. Their audit references are known to the detector; any access to
 * one trips the `canary` rule. This file makes the values, from an injected random source.
 */
import type { Catalog, FieldDef } from "../catalog/catalog-schema.js";
import { fieldValueProblem } from "../collect-fns.js";
import { HaechiError } from "../errors.js";

/** A uniform integer in [0, n): injected so tests are deterministic and production uses the CSPRNG. */
export type RandomInt = (n: number) => number;

const FAMILY = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황"];
const GIVEN = ["민", "서", "지", "현", "준", "우", "예", "하", "도", "윤", "수", "연", "진", "영", "성", "은", "유", "재"];
const WORDS = ["sky", "moon", "river", "pine", "cloud", "maple", "tiger", "star", "wave", "stone", "mint", "coral"];

const pick = <T>(r: RandomInt, xs: readonly T[]): T => xs[r(xs.length)]!;
const digits = (r: RandomInt, n: number) => Array.from({ length: n }, () => String(r(10))).join("");

/** A plausible value for a field, guessed from its name and type; null when none fits. */
export const decoyValue = (field: string, def: FieldDef, r: RandomInt): unknown => {
  const n = field.toLowerCase();
  if (def.type === "date") return `${1970 + r(35)}-${String(1 + r(12)).padStart(2, "0")}-${String(1 + r(28)).padStart(2, "0")}`;
  if (def.type === "datetime") return new Date(Date.UTC(2024, r(12), 1 + r(28), r(24))).toISOString();
  if (def.type === "number") return r(1000);
  if (def.type === "boolean") return r(2) === 1;
  if (def.type === "json") return [];
  if (n.includes("phone")) return `010-${digits(r, 4)}-${digits(r, 4)}`;
  if (n.includes("email")) return `${pick(r, WORDS)}${digits(r, 4)}@${pick(r, ["mail", "inbox", "post"])}.example`;
  if (n === "name" || n.endsWith("_name")) return `${pick(r, FAMILY)}${pick(r, GIVEN)}${pick(r, GIVEN)}`;
  if (n.includes("nickname")) return `${pick(r, WORDS)}${pick(r, WORDS)}${digits(r, 2)}`;
  if (n.endsWith("_id") || n === "id") return `u${digits(r, 9)}`;
  return `${pick(r, WORDS)}-${digits(r, 6)}`;
};

/**
 * Values for one canary subject collected under `purpose`: every required field of the purpose
 * and its lookup fields (so a decoy is found by the lookups an attacker would walk), each checked
 * against the field's own type, length and pattern. Sensitive, unique-id, RRN, card, account,
 * credit and biometric fields are never invented. Throws VALIDATION_FAILED when a required field
 * cannot be given a plausible value.
 */
export const canaryValues = (catalog: Catalog, purpose: string, r: RandomInt): Record<string, unknown> => {
  const p = catalog.purposes[purpose];
  if (p === undefined) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${purpose}" is not registered`);
  const out: Record<string, unknown> = {};
  for (const field of p.fields) {
    const def = catalog.fields[field];
    if (def === undefined || (def.class !== "required" && !def.lookup)) continue;
    const plain = def.sensitivity === "general";
    let value: unknown = null;
    for (let attempt = 0; plain && attempt < 20 && value === null; attempt++) {
      const v = decoyValue(field, def, r);
      value = fieldValueProblem(field, def, v) === null ? v : null;
    }
    if (value !== null) out[field] = value;
    else if (def.class === "required")
      throw new HaechiError("VALIDATION_FAILED", `cannot invent a plausible value for required field "${field}" of purpose "${purpose}"`);
  }
  return out;
};
