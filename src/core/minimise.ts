/**
 * Minimisation applied when a value is collected (PIPA Art. 3(1), 16(1)): keep only the precision
 * the purpose needs. Pure. Invalid input throws VALIDATION_FAILED with a message that names the
 * problem and never echoes the value (it is personal data).
 */
import { HaechiError } from "./errors.js";
import type { Minimiser } from "./catalog/catalog-schema.js";

const invalid = (kind: Minimiser, expected: string): never => {
  throw new HaechiError("VALIDATION_FAILED", `value to minimise (${kind}) is not ${expected}`, { minimiser: kind, expected });
};

// ─── IP addresses ────────────────────────────────────────────────────────────

export type ParsedIp = { version: 4; octets: [number, number, number, number] } | { version: 6; groups: number[] };

/** Parses dotted-quad IPv4 (no leading zeros: `010` is ambiguous octal) or IPv6 (zone ids dropped). */
export const parseIp = (text: string): ParsedIp | null => {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { version: 4, octets: v4 };
  const v6 = parseIpv6(text);
  return v6 === null ? null : { version: 6, groups: v6 };
};

const parseIpv4 = (text: string): [number, number, number, number] | null => {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (m === null) return null;
  const o = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  return o.every((n) => n <= 255) ? o : null;
};

const parseIpv6 = (input: string): number[] | null => {
  const text = input.replace(/%[0-9A-Za-z._~-]+$/, "");
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parsePart = (part: string, allowV4Tail: boolean): number[] | null => {
    if (part === "") return [];
    const pieces = part.split(":");
    const out: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i] ?? "";
      if (allowV4Tail && i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else return null;
    }
    return out;
  };
  if (halves.length === 1) {
    const all = parsePart(text, true);
    return all !== null && all.length === 8 ? all : null;
  }
  const head = parsePart(halves[0] ?? "", false);
  const tail = parsePart(halves[1] ?? "", true);
  if (head === null || tail === null || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
};

/** RFC 5952 text form: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export const formatIpv6 = (groups: readonly number[]): string => {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
};

/** True for `::ffff:a.b.c.d`, an IPv4 address carried in IPv6. */
const isV4Mapped = (g: readonly number[]) => g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;

// ─── dates and times ─────────────────────────────────────────────────────────

const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;

type DateParts = { date: string; hour?: string; offset?: string };

const parseDateTime = (value: unknown): DateParts | null => {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return null;
    const iso = value.toISOString();
    return { date: iso.slice(0, 10), hour: iso.slice(11, 13), offset: "Z" };
  }
  if (typeof value !== "string") return null;
  const m = DATETIME_RE.exec(value);
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, off] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return null;
  let offset: string | undefined;
  if (off !== undefined) {
    if (off === "Z" || off === "z") offset = "Z";
    else {
      const o = /^([+-])(\d{2}):?(\d{2})$/.exec(off);
      if (o === null || Number(o[2]) > 23 || Number(o[3]) > 59) return null;
      offset = `${o[1]}${o[2]}:${o[3]}`;
    }
  }
  const parts: DateParts = { date: `${y}-${mo}-${d}` };
  if (h !== undefined) parts.hour = h;
  if (offset !== undefined) parts.offset = offset;
  return parts;
};

// ─── the minimisers ──────────────────────────────────────────────────────────

/**
 * Applies a minimiser to a collected value and returns the minimised string.
 * - `ipv4_24_ipv6_48`: `203.0.113.57` → `203.0.113.0`; `2001:db8:85a3:8d3::1` → `2001:db8:85a3::`;
 *   an IPv4-mapped IPv6 address is treated as the IPv4 address it carries.
 * - `date_only`: a date or ISO datetime → `YYYY-MM-DD` (the calendar date as written, offset ignored).
 * - `hour_only`: an ISO datetime → `YYYY-MM-DDTHH:00:00` plus its offset, if it had one.
 * Throws VALIDATION_FAILED for anything else, without echoing the value.
 */
export const minimise = (kind: Minimiser, value: unknown): string => {
  switch (kind) {
    case "ipv4_24_ipv6_48": {
      const ip = typeof value === "string" ? parseIp(value.trim()) : null;
      if (ip === null) return invalid(kind, "an IPv4 or IPv6 address");
      if (ip.version === 4) return `${ip.octets[0]}.${ip.octets[1]}.${ip.octets[2]}.0`;
      const g = ip.groups;
      if (isV4Mapped(g)) return `${(g[6] ?? 0) >> 8}.${(g[6] ?? 0) & 0xff}.${(g[7] ?? 0) >> 8}.0`;
      return formatIpv6([g[0] ?? 0, g[1] ?? 0, g[2] ?? 0, 0, 0, 0, 0, 0]);
    }
    case "date_only": {
      const parts = parseDateTime(value);
      if (parts === null) return invalid(kind, "a date (YYYY-MM-DD) or ISO-8601 datetime");
      return parts.date;
    }
    case "hour_only": {
      const parts = parseDateTime(value);
      if (parts === null || parts.hour === undefined) return invalid(kind, "an ISO-8601 datetime (YYYY-MM-DDTHH:MM…)");
      return `${parts.date}T${parts.hour}:00:00${parts.offset ?? ""}`;
    }
    default:
      return invalid(kind satisfies never, "minimisable (unknown minimiser)");
  }
};
