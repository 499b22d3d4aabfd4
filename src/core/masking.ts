/**
 * Masks applied when a purpose reads a field masked (the catalog's `masking` and `masked`). Pure.
 *
 * Fail-safe: a value a mask does not recognise (wrong type, unexpected shape) comes back fully
 * masked ("****"), never in clear. `null` and `undefined` pass through: absence is not data.
 */
import type { Masking } from "./catalog/catalog-schema.js";
import { parseIp } from "./minimise.js";

/** What a fully masked value looks like. Fixed length, so it reveals nothing about the value. */
export const FULL_MASK = "****";

const graphemes = (s: string): string[] => Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(s), (x) => x.segment);

/** `010-1234-5678` → `010-****-5678`; `01012345678` → `010****5678`; `+82-10-1234-5678` → `+82-**-****-5678`. */
const maskPhone = (s: string): string => {
  if (!/^\+?[\d\s().-]+$/.test(s)) return FULL_MASK;
  const digits = s.replace(/\D/g, "").length;
  if (digits <= 4) return FULL_MASK;
  const sep = s.search(/[\s().-]/);
  // Keep the first group (or the first 3 digits of an unseparated 10+ digit number) and the last 4 digits.
  const keepHead = sep > 0 ? sep : digits >= 10 ? 3 : 0;
  let seen = 0;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? "";
    if (!/\d/.test(c)) {
      out += c;
      continue;
    }
    seen++;
    out += i < keepHead || seen > digits - 4 ? c : "*";
  }
  return out;
};

/** `kim@example.com` → `k***@example.com` (fixed three stars: the local part's length stays hidden). */
const maskEmail = (s: string): string => {
  const at = s.lastIndexOf("@");
  if (at <= 0 || at === s.length - 1) return FULL_MASK;
  return `${graphemes(s.slice(0, at))[0] ?? ""}***${s.slice(at)}`;
};

/** `홍길동` → `홍*동`, `남궁민수` → `남**수`, `홍길` → `홍*`, one character → `*`. */
const maskName = (s: string): string => {
  const g = graphemes(s.trim());
  if (g.length === 0) return FULL_MASK;
  if (g.length === 1) return "*";
  if (g.length === 2) return `${g[0]}*`;
  return `${g[0]}${"*".repeat(g.length - 2)}${g[g.length - 1]}`;
};

/** Card and account numbers: every character but the last four masked, separators dropped. */
const maskLast4 = (s: string): string => {
  const compact = s.replace(/[\s-]/g, "");
  if (compact.length <= 4) return FULL_MASK;
  return `${"*".repeat(compact.length - 4)}${compact.slice(-4)}`;
};

/** `900101-1234567` → `900101-1******` (birth date and the sex/century digit stay, as is customary). */
const maskRrn = (s: string): string => {
  const m = /^(\d{6})-?(\d)\d{6}$/.exec(s.trim());
  return m === null ? FULL_MASK : `${m[1]}-${m[2]}******`;
};

/** IPv4 → last octet masked (`203.0.113.***`); IPv6 → everything after the /48 masked. */
const maskIp = (s: string): string => {
  const ip = parseIp(s.trim());
  if (ip === null) return FULL_MASK;
  if (ip.version === 4) return `${ip.octets[0]}.${ip.octets[1]}.${ip.octets[2]}.***`;
  return `${ip.groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(":")}:****:****:****:****:****`;
};

/** Applies a mask. `none` returns the value unchanged; every other mask returns a string (or passes null through). */
export const mask = (kind: Masking, value: unknown): unknown => {
  if (kind === "none" || value === null || value === undefined) return value;
  if (kind === "full" || typeof value !== "string") return FULL_MASK;
  switch (kind) {
    case "phone":
      return maskPhone(value);
    case "email":
      return maskEmail(value);
    case "name":
      return maskName(value);
    case "last4":
      return maskLast4(value);
    case "rrn":
      return maskRrn(value);
    case "ip":
      return maskIp(value);
    default: {
      const unknown: never = kind;
      return unknown === undefined ? value : FULL_MASK;
    }
  }
};
