/**
 * The building blocks of detection, pure and deterministic: durations, sliding windows with
 * bounded memory, IP networks, and local working hours. Time is always passed in (milliseconds
 * since the epoch, from the audit entry or an injected clock); nothing here reads a clock.
 */
import { ISO_DURATION_RE, type Weekday, WEEKDAYS } from "../catalog/catalog-schema.js";

// ─── durations ───────────────────────────────────────────────────────────────

/** Milliseconds in an ISO-8601 duration of days, hours, minutes and seconds (`PT10S`, `P1D`); null if malformed. */
export const durationMs = (iso: string): number | null => {
  const m = ISO_DURATION_RE.exec(iso);
  if (m === null) return null;
  const n = (g: string | undefined) => (g === undefined ? 0 : Number.parseInt(g, 10));
  return ((n(m[1]) * 24 + n(m[2])) * 60 + n(m[3])) * 60_000 + n(m[4]) * 1000;
};

// ─── sliding windows ─────────────────────────────────────────────────────────

/**
 * A sum over a sliding window `(t − windowMs, t]` in bounded memory. Events are kept in slots:
 * an event joins the newest slot if that slot began less than `windowMs / maxSlots` ago, so the
 * window never holds more than `maxSlots + 1` slots whatever the rate. A slot leaves the window
 * with its *latest* event, so a sum may count an event up to one slot width (1/1,024 of the
 * window by default) after it left: the sum can only be over-stated, a rule fires early, never
 * late. Events farther apart than a slot width are counted exactly. Times that go backwards
 * (entries stamped before they were recorded) count as the latest time seen.
 */
export interface SlidingSum {
  /** Adds `n` at time `t`; returns the sum in the window ending at `t`. */
  add(t: number, n: number): number;
  /** The sum in the window ending at `t` (expires what fell out). */
  sum(t: number): number;
  /** When the oldest slot still in the window ending at `t` leaves it (null: empty). */
  nextExpiry(t: number): number | null;
  clear(): void;
}

export const slidingSum = (windowMs: number, maxSlots = 1024): SlidingSum => {
  if (!(windowMs > 0)) throw new RangeError("windowMs must be > 0");
  if (!Number.isSafeInteger(maxSlots) || maxSlots < 1) throw new RangeError("maxSlots must be ≥ 1");
  const width = windowMs / maxSlots;
  const capacity = maxSlots + 2;
  // Grown on demand up to `capacity`: most windows of most principals stay tiny.
  let starts = new Float64Array(4);
  let latest = new Float64Array(4);
  let counts = new Float64Array(4);
  let head = 0;
  let size = 0;
  let total = 0;
  let last = -Infinity;

  const at = (i: number) => (head + i) % starts.length;
  const expire = (t: number) => {
    const edge = t - windowMs;
    while (size > 0 && latest[head]! <= edge) {
      total -= counts[head]!;
      head = (head + 1) % starts.length;
      size--;
    }
    if (size === 0) total = 0; // no drift from floating-point sums
  };
  const grow = () => {
    const cap = Math.min(capacity, starts.length * 2);
    const s2 = new Float64Array(cap);
    const l2 = new Float64Array(cap);
    const c2 = new Float64Array(cap);
    for (let i = 0; i < size; i++) {
      s2[i] = starts[at(i)]!;
      l2[i] = latest[at(i)]!;
      c2[i] = counts[at(i)]!;
    }
    starts = s2;
    latest = l2;
    counts = c2;
    head = 0;
  };

  return {
    add(t, n) {
      const now = t < last ? last : t;
      last = now;
      expire(now);
      const tail = at(size - 1);
      if (size > 0 && now - starts[tail]! < width) {
        latest[tail] = now;
        counts[tail]! += n;
      } else {
        if (size === starts.length) grow();
        const i = at(size);
        starts[i] = now;
        latest[i] = now;
        counts[i] = n;
        size++;
      }
      total += n;
      return total;
    },
    sum(t) {
      expire(t < last ? last : t);
      return total;
    },
    nextExpiry(t) {
      expire(t < last ? last : t);
      return size === 0 ? null : latest[head]! + windowMs;
    },
    clear() {
      head = 0;
      size = 0;
      total = 0;
    },
  };
};

/**
 * Distinct keys seen in a sliding window `(t − windowMs, t]`: each key remembers when it was last
 * seen. `add` is O(1) and returns `size`, an upper bound (keys that have left the window stay until
 * the next sweep); `exact` sweeps the keys that left, only when one can have left since the last
 * sweep, and returns the exact count. A caller acting at a threshold calls `exact` only once `add`
 * reaches it, and clears the window when it acts, so the window never holds more keys than its
 * threshold. (Keys are updated in place, never moved: a Map iterated from the front after many
 * deletions walks their tombstones, which cost 30 µs a call at 20,000 keys.)
 */
export interface SlidingDistinct {
  /** Records `key` at `t`; returns how many keys are held (≥ the distinct count in the window). */
  add(t: number, key: string): number;
  /** The number of distinct keys in the window ending at `t` (sweeps those that left). */
  exact(t: number): number;
  readonly size: number;
  /** The earliest time among the keys held (null: empty). O(size): for firing, not per entry. */
  oldest(): number | null;
  clear(): void;
}

export const slidingDistinct = (windowMs: number): SlidingDistinct => {
  if (!(windowMs > 0)) throw new RangeError("windowMs must be > 0");
  const seen = new Map<string, number>();
  let last = -Infinity;
  /** No key held leaves the window before this time (a lower bound: keys only move later). */
  let nextExpiry = Infinity;
  const sweep = (now: number) => {
    const edge = now - windowMs;
    let min = Infinity;
    for (const [k, when] of seen) {
      if (when <= edge) seen.delete(k);
      else if (when < min) min = when;
    }
    nextExpiry = min + windowMs;
  };
  return {
    add(t, key) {
      const now = t < last ? last : t;
      last = now;
      if (seen.size === 0) nextExpiry = now + windowMs;
      seen.set(key, now);
      return seen.size;
    },
    exact(t) {
      const now = t < last ? last : t;
      if (now >= nextExpiry) sweep(now);
      return seen.size;
    },
    get size() {
      return seen.size;
    },
    oldest() {
      let min: number | null = null;
      for (const when of seen.values()) if (min === null || when < min) min = when;
      return min;
    },
    clear() {
      seen.clear();
      nextExpiry = Infinity;
    },
  };
};

// ─── IP networks ─────────────────────────────────────────────────────────────

/** An address as a big-endian bit string: 32 bits (IPv4) or 128 (IPv6). */
export interface IpAddress {
  version: 4 | 6;
  bytes: Uint8Array;
}

const parseV4 = (s: string): Uint8Array | null => {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith("0"))) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
};

const parseV6 = (s: string): Uint8Array | null => {
  let text = s;
  // An embedded IPv4 tail (::ffff:10.1.2.3) becomes two groups.
  const tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = parseV4(tail[2]!);
    if (v4 === null) return null;
    text = `${tail[1]}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  return out;
};

/**
 * Parses an IPv4 or IPv6 address (zone ids refused). An IPv4-mapped IPv6 address
 * (`::ffff:10.1.2.3`, how a dual-stack socket reports IPv4 clients) is the IPv4 address.
 */
export const parseIp = (s: string): IpAddress | null => {
  if (s.includes(":")) {
    const b = parseV6(s);
    if (b === null) return null;
    const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    return mapped ? { version: 4, bytes: b.slice(12) } : { version: 6, bytes: b };
  }
  const b = parseV4(s);
  return b === null ? null : { version: 4, bytes: b };
};

export interface Cidr {
  version: 4 | 6;
  bytes: Uint8Array;
  bits: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128); null if malformed. */
export const parseCidr = (s: string): Cidr | null => {
  const [addr, len, extra] = s.trim().split("/");
  if (addr === undefined || extra !== undefined) return null;
  const ip = s.includes(":") ? (() => {
    const b = parseV6(addr);
    return b === null ? null : { version: 6 as const, bytes: b };
  })() : parseIp(addr);
  if (ip === null) return null;
  const max = ip.version === 4 ? 32 : 128;
  if (len !== undefined && !/^\d{1,3}$/.test(len)) return null;
  const bits = len === undefined ? max : Number(len);
  if (bits > max) return null;
  return { version: ip.version, bytes: ip.bytes, bits };
};

/** Whether `ip` lies in `net`. */
export const cidrContains = (net: Cidr, ip: IpAddress): boolean => {
  if (net.version !== ip.version) return false;
  const full = net.bits >> 3;
  for (let i = 0; i < full; i++) if (net.bytes[i] !== ip.bytes[i]) return false;
  const rest = net.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (net.bytes[full]! & mask) === (ip.bytes[full]! & mask);
};

/**
 * The network an address belongs to for learning: its /24 (IPv4) or /48 (IPv6), the same
 * truncation the catalog's `ipv4_24_ipv6_48` minimiser applies, written as a CIDR.
 */
export const networkOf = (ip: IpAddress): string => {
  if (ip.version === 4) return `${ip.bytes[0]}.${ip.bytes[1]}.${ip.bytes[2]}.0/24`;
  const g = (i: number) => ((ip.bytes[i * 2]! << 8) | ip.bytes[i * 2 + 1]!).toString(16);
  return `${g(0)}:${g(1)}:${g(2)}::/48`;
};

// ─── local working hours ─────────────────────────────────────────────────────

/** Whether a time zone is known to this runtime's Intl (IANA names such as Asia/Seoul). */
export const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** A day of the week (0 = Monday … 6 = Sunday) and the minute of that day, in local time. */
export interface LocalTime {
  day: number;
  minute: number;
}

/**
 * Local day and minute of an instant in `tz`. The zone's offset is asked of Intl once per UTC
 * half-hour and cached (formatting costs microseconds; the rules run on every audit entry). A
 * daylight-saving change that falls inside a half-hour is therefore seen up to 30 minutes late;
 * Asia/Seoul has had none since 1988.
 */
export const localTimeIn = (tz: string): ((ms: number) => LocalTime) => {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
  });
  let cachedHalfHour = Number.NaN;
  let offset = 0;
  return (ms) => {
    const halfHour = Math.floor(ms / 1_800_000);
    if (halfHour !== cachedHalfHour) {
      const start = halfHour * 1_800_000;
      const p: Record<string, number> = {};
      for (const part of fmt.formatToParts(new Date(start))) if (part.type !== "literal") p[part.type] = Number(part.value);
      offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!) - start;
      cachedHalfHour = halfHour;
    }
    const local = ms + offset;
    const day = Math.floor(local / 86_400_000);
    // 1970-01-01 was a Thursday: day 3 when Monday is 0.
    return { day: (((day + 3) % 7) + 7) % 7, minute: Math.floor((local - day * 86_400_000) / 60_000) };
  };
};

/** Declared hours: days and a start and end time (end before start: the hours run past midnight). */
export interface Hours {
  days: readonly Weekday[];
  from: string;
  to: string;
}

const minuteOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(":");
  return Number(h) * 60 + Number(m);
};

/**
 * Compiles declared hours into a test of a local time. A span that runs past midnight
 * (22:00–06:00) belongs to the day it starts on: Monday's night shift covers Tuesday 03:00.
 */
export const hoursTest = (hours: Hours): ((t: LocalTime) => boolean) => {
  const from = minuteOf(hours.from);
  const to = minuteOf(hours.to);
  const on = WEEKDAYS.map((d) => hours.days.includes(d));
  if (from < to) return (t) => on[t.day]! && t.minute >= from && t.minute < to;
  return (t) => (on[t.day]! && t.minute >= from) || (on[(t.day + 6) % 7]! && t.minute < to);
};

/** Whether a local time falls within declared hours (see `hoursTest`). */
export const withinHours = (hours: Hours, t: LocalTime): boolean => hoursTest(hours)(t);

/** `mon 03:12` for alerts: the local day and time, nothing else. */
export const formatLocal = (t: LocalTime): string =>
  `${WEEKDAYS[t.day]} ${String(Math.floor(t.minute / 60)).padStart(2, "0")}:${String(t.minute % 60).padStart(2, "0")}`;
