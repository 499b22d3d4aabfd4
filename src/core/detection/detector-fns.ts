/**
 * The detector: the catalog's detection rules run over audit entries as they are recorded.
 *
 * Pure and deterministic: its only input is the stream of observations (each stamped with the
 * time of its audit entry, which comes from the injected clock), its only output the firings. It
 * performs no I/O and reads no clock; the detection service (services/detection-service.ts) turns
 * firings into alerts, holds and audit entries.
 *
 * Memory is bounded per principal: state exists only for principals (and recipients) of the
 * catalog, one slot per rule and key, and each slot holds at most its rule's threshold of
 * distinct subjects or a fixed number of window slots (`slidingSum`).
 */
import type { DetectionDef, DetectionReaction, DetectionRuleDef, DetectionRuleType } from "../catalog/catalog-schema.js";
import {
  cidrContains,
  durationMs,
  formatLocal,
  hoursTest,
  localTimeIn,
  networkOf,
  parseCidr,
  parseIp,
  slidingDistinct,
  slidingSum,
  type Cidr,
  type IpAddress,
  type SlidingDistinct,
  type SlidingSum,
} from "./detection-fns.js";

/** What the detector reads of an audit entry: who, when, from where, what, and whose pseudonym; never a value. */
export interface Observation {
  /** Milliseconds since the epoch (the entry's `at`). */
  at: number;
  requestId: string;
  principal: string | null;
  source: string | null;
  action: string;
  effect: "allow" | "deny" | "error" | "info";
  purpose: string | null;
  subjectRef: string | null;
  reasons: readonly string[];
  count?: number | undefined;
  meta?: Readonly<Record<string, string | number | boolean | null>> | undefined;
}

export type FiringDetail = Record<string, string | number | boolean | null>;

/** A rule that fired for a principal: the facts of an alert, with no personal data. */
export interface Firing {
  rule: string;
  type: DetectionRuleType;
  reaction: DetectionReaction;
  /** The principal whose request tipped the rule, and whom the reaction holds. */
  principal: string;
  /** What was counted (reads, distinct subjects, misses, denials, exported subjects; 1 for a single event). */
  count: number;
  /** The count at which the rule fires. */
  threshold: number;
  windowMs: number;
  /** The earliest counted event still in the window (= `at` for single-event rules). */
  windowStart: number;
  at: number;
  /** The request whose audit entry tipped the rule. */
  requestId: string;
  detail: FiringDetail;
}

/** Actions that disclose whether a subject exists or what it holds: reads, lookups, a person's provision ledger. */
export const READ_ACTIONS: ReadonlySet<string> = new Set(["subject.read", "subject.lookup", "provision.ledger", "subject.access_export"]);
/** The audit action of one exported part of a provision run (its `count` is the subjects in the part). */
export const EXPORT_ACTION = "provision.part";
/** Learned networks kept per principal (the oldest is forgotten beyond this). */
export const MAX_NETWORKS = 256;

const HOUR = 3_600_000;

/** A miss: an id that resolves to nobody, or a lookup that finds nobody (walking an id or value space). */
export const isMiss = (o: Observation): boolean =>
  o.subjectRef === null && READ_ACTIONS.has(o.action) && (o.reasons.includes("NOT_FOUND") || (o.action === "subject.lookup" && o.count === 0));

/** The per-key state of one rule. */
interface Slot {
  principal: string;
  quietUntil: number;
  sum?: SlidingSum;
  misses?: SlidingSum;
  distinct?: SlidingDistinct;
  networks?: string[];
  /** The last source seen (new_network): the same address again needs no parsing. */
  lastSource?: string;
}

interface CompiledRule {
  name: string;
  type: DetectionRuleType;
  reaction: DetectionReaction;
  principals: ReadonlySet<string> | null;
  cooldownMs: number;
  windowMs: number;
  /** The slot key this observation counts under, or null if the rule ignores it. */
  keyOf(o: Observation & { principal: string }): string | null;
  step(slot: Slot, o: Observation & { principal: string }): Firing | null;
  /** What a firing or an operator's lift clears (counters; never learned networks). */
  clear(slot: Slot): void;
}

export interface DetectorOptions {
  /** Principals of the catalog: nothing is kept for any other name. */
  principals: readonly string[];
  /** Recipients of the catalog (export_volume per recipient). */
  recipients?: readonly string[];
  /** Audit references of the canary subjects. */
  canaries?: ReadonlySet<string>;
  /** Networks learned earlier, per principal (new_network without declared networks). */
  learned?: ReadonlyMap<string, readonly string[]>;
  /** Told when a principal's learned networks change (to keep them across restarts). */
  onLearn?: (principal: string, networks: readonly string[]) => void;
}

export interface Detector {
  /** Runs every rule over one observation; returns the rules that fired (usually none). */
  observe(o: Observation): readonly Firing[];
  /** Forget a principal's counters (an operator lifted its hold); learned networks stay. */
  reset(principal: string): void;
  /** Replace the canary references. */
  setCanaries(refs: ReadonlySet<string>): void;
  /** Slots held, for tests of the memory bound. */
  slots(): number;
}

const NONE: readonly Firing[] = Object.freeze([]);

const windowOf = (rule: { window: string }): number => {
  const ms = durationMs(rule.window);
  if (ms === null || ms <= 0) throw new RangeError(`detection window ${rule.window} is not a positive duration`);
  return ms;
};

/**
 * Builds a detector for the catalog's `detection` section. The catalog checks have already
 * refused unknown time zones and malformed networks; a bad one here throws.
 */
export const detector = (def: DetectionDef, opts: DetectorOptions): Detector => {
  const known = new Set(opts.principals);
  const recipients = new Set(opts.recipients ?? []);
  let canaries: ReadonlySet<string> = opts.canaries ?? new Set();

  const compile = (name: string, r: DetectionRuleDef): CompiledRule => {
    const principals = r.principals ? new Set(r.principals) : null;
    const fire = (slot: Slot, o: Observation, count: number, threshold: number, windowMs: number, windowStart: number, detail: FiringDetail): Firing => ({
      rule: name,
      type: r.type,
      reaction: r.reaction,
      principal: slot.principal,
      count,
      threshold,
      windowMs,
      windowStart,
      at: o.at,
      requestId: o.requestId,
      detail,
    });
    const clearCounters = (slot: Slot) => {
      slot.sum?.clear();
      slot.misses?.clear();
      slot.distinct?.clear();
    };
    const cooldown = (fallback: number) => (r.cooldown === undefined ? fallback : (durationMs(r.cooldown) ?? fallback));
    const base = { name, type: r.type, reaction: r.reaction, principals, clear: clearCounters };

    switch (r.type) {
      case "volume": {
        const windowMs = windowOf(r);
        // Slot keys made once per declared pair (no string built per entry).
        const keys = new Map(Object.entries(r.baselines).map(([p, byPurpose]) => [p, new Map(Object.keys(byPurpose).map((u) => [u, `${p}\u0000${u}`]))]));
        return {
          ...base,
          windowMs,
          cooldownMs: cooldown(windowMs),
          keyOf: (o) => (o.purpose !== null && READ_ACTIONS.has(o.action) ? (keys.get(o.principal)?.get(o.purpose) ?? null) : null),
          step(slot, o) {
            const baseline = r.baselines[o.principal]![o.purpose!]!;
            const limit = Math.floor(baseline * r.factor);
            slot.sum ??= slidingSum(windowMs);
            const n = slot.sum.add(o.at, 1);
            if (n <= limit) return null;
            return fire(slot, o, n, limit + 1, windowMs, (slot.sum.nextExpiry(o.at) ?? o.at + windowMs) - windowMs, {
              purpose: o.purpose,
              baseline,
              factor: r.factor,
            });
          },
        };
      }
      case "enumeration": {
        const windowMs = windowOf(r);
        return {
          ...base,
          windowMs,
          cooldownMs: cooldown(windowMs),
          keyOf: (o) => (READ_ACTIONS.has(o.action) ? o.principal : null),
          step(slot, o) {
            if (o.subjectRef !== null) {
              slot.distinct ??= slidingDistinct(windowMs);
              if (slot.distinct.add(o.at, o.subjectRef) < r.distinct) return null;
              const d = slot.distinct.exact(o.at);
              if (d < r.distinct) return null;
              return fire(slot, o, d, r.distinct, windowMs, slot.distinct.oldest() ?? o.at, { pattern: "scattered" });
            }
            if (r.probes === undefined || !isMiss(o)) return null;
            slot.misses ??= slidingSum(windowMs);
            const p = slot.misses.add(o.at, 1);
            if (p < r.probes) return null;
            return fire(slot, o, p, r.probes, windowMs, (slot.misses.nextExpiry(o.at) ?? o.at + windowMs) - windowMs, { pattern: "probing" });
          },
        };
      }
      case "canary":
        return {
          ...base,
          windowMs: 0,
          cooldownMs: cooldown(HOUR),
          keyOf: (o) => (o.subjectRef !== null && canaries.has(o.subjectRef) ? o.principal : null),
          step: (slot, o) => fire(slot, o, 1, 1, 0, o.at, { action: o.action, effect: o.effect }),
        };
      case "off_hours": {
        const local = localTimeIn(r.time_zone ?? def.time_zone);
        const tests = new Map(Object.entries(r.hours).map(([p, h]) => [p, hoursTest(h)]));
        return {
          ...base,
          windowMs: 0,
          cooldownMs: cooldown(HOUR),
          keyOf: (o) => (r.hours[o.principal] !== undefined ? o.principal : null),
          step(slot, o) {
            const hours = r.hours[o.principal]!;
            const t = local(o.at);
            if (tests.get(o.principal)!(t)) return null;
            return fire(slot, o, 1, 1, 0, o.at, { local: formatLocal(t), time_zone: r.time_zone ?? def.time_zone, hours: `${hours.days.join(",")} ${hours.from}-${hours.to}` });
          },
        };
      }
      case "deny_storm": {
        const windowMs = windowOf(r);
        return {
          ...base,
          windowMs,
          cooldownMs: cooldown(windowMs),
          keyOf: (o) => (o.effect === "deny" ? o.principal : null),
          step(slot, o) {
            slot.sum ??= slidingSum(windowMs);
            const n = slot.sum.add(o.at, 1);
            if (n < r.threshold) return null;
            return fire(slot, o, n, r.threshold, windowMs, (slot.sum.nextExpiry(o.at) ?? o.at + windowMs) - windowMs, {});
          },
        };
      }
      case "export_volume": {
        const windowMs = windowOf(r);
        const keyOf = (o: Observation & { principal: string }): string | null => {
          if (o.action !== EXPORT_ACTION || !((o.count ?? 0) > 0)) return null;
          if (r.per === "principal") return o.principal;
          const rec = o.meta?.recipient;
          return typeof rec === "string" && recipients.has(rec) ? rec : null;
        };
        return {
          ...base,
          windowMs,
          cooldownMs: cooldown(windowMs),
          keyOf,
          step(slot, o) {
            const key = keyOf(o)!;
            const baseline = r.baselines[key] ?? 0;
            const limit = Math.floor(baseline * r.factor);
            slot.sum ??= slidingSum(windowMs);
            const n = slot.sum.add(o.at, o.count!);
            if (n <= limit) return null;
            return fire(slot, o, n, limit + 1, windowMs, (slot.sum.nextExpiry(o.at) ?? o.at + windowMs) - windowMs, {
              [r.per]: key,
              baseline,
              factor: r.factor,
            });
          },
        };
      }
      case "new_network": {
        const declared = new Map<string, Cidr[]>();
        for (const [p, nets] of Object.entries(r.networks)) {
          declared.set(
            p,
            nets.map((n) => {
              const c = parseCidr(n);
              if (c === null) throw new RangeError(`detection rule ${name}: ${n} is not a network`);
              return c;
            }),
          );
        }
        const remember = (slot: Slot, net: string) => {
          slot.networks!.push(net);
          if (slot.networks!.length > MAX_NETWORKS) slot.networks!.shift();
        };
        return {
          ...base,
          windowMs: 0,
          // Each new network fires once (it is remembered), so no cooldown unless one is declared.
          cooldownMs: cooldown(0),
          keyOf: (o) => (o.source !== null && o.source.length <= 64 ? o.principal : null),
          clear: () => undefined,
          step(slot, o) {
            // A principal calls from the same few addresses: the answer for one is always the same.
            if (o.source === slot.lastSource) return null;
            slot.lastSource = o.source!;
            const ip: IpAddress | null = parseIp(o.source!);
            if (ip === null) return null;
            const nets = declared.get(o.principal);
            const net = networkOf(ip);
            slot.networks ??= [...(opts.learned?.get(o.principal) ?? [])];
            if (nets !== undefined) {
              if (nets.some((c) => cidrContains(c, ip)) || slot.networks.includes(net)) return null;
              remember(slot, net); // fire once per undeclared network
              return fire(slot, o, 1, 1, 0, o.at, { network: net, declared: false });
            }
            if (slot.networks.includes(net)) return null;
            const first = slot.networks.length === 0;
            remember(slot, net);
            opts.onLearn?.(o.principal, slot.networks);
            // The first network a principal is ever seen from is learned silently.
            return first ? null : fire(slot, o, 1, 1, 0, o.at, { network: net, declared: false, known: slot.networks.length - 1 });
          },
        };
      }
    }
  };

  const rules: CompiledRule[] = Object.entries(def.rules).map(([name, r]) => compile(name, r));
  const state: Map<string, Slot>[] = rules.map(() => new Map());

  return {
    observe(o) {
      const principal = o.principal;
      if (principal === null || !known.has(principal)) return NONE;
      const p = o as Observation & { principal: string };
      let out: Firing[] | null = null;
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (rule.principals !== null && !rule.principals.has(principal)) continue;
        const key = rule.keyOf(p);
        if (key === null) continue;
        const slots = state[i]!;
        let slot = slots.get(key);
        if (slot === undefined) {
          slot = { principal, quietUntil: -Infinity };
          slots.set(key, slot);
        }
        if (o.at < slot.quietUntil) continue;
        slot.principal = principal;
        const f = rule.step(slot, p);
        if (f === null) continue;
        slot.quietUntil = o.at + rule.cooldownMs;
        rule.clear(slot);
        (out ??= []).push(f);
      }
      return out ?? NONE;
    },
    reset(principal) {
      for (let i = 0; i < rules.length; i++) {
        for (const slot of state[i]!.values()) {
          if (slot.principal !== principal) continue;
          slot.quietUntil = -Infinity;
          rules[i]!.clear(slot);
        }
      }
    },
    setCanaries(refs) {
      canaries = refs;
    },
    slots: () => state.reduce((n, m) => n + m.size, 0),
  };
};
