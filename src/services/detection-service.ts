/**
 * Detection over the live access stream (issue 5; Safety Standard Art. 6(1), 8; ADR 0009).
 *
 * `observe` is the audit log's observer: every entry, as it is recorded, runs through the
 * catalog's rules (core/detection/detector-fns.ts, pure). A firing is acted on at once, in memory
 * and synchronously: a `throttle` or `suspend` hold is in force before the request that tipped
 * the rule has even been answered, so the principal's next request meets it (`admit`, on the
 * authentication path). Then, off the request path: the alert is audited (`detection.alert`) and
 * stored, the hold is audited (`principal.suspend` / `principal.throttle`) and stored (a restart
 * keeps it), and `onAlert` listeners (incidents) are told.
 *
 * Holds and canaries are re-read from the store every few seconds, so a lift by an operator
 * (`haechi principal lift`, another process) and canaries created meanwhile are seen by every
 * running server.
 */
import crypto from "node:crypto";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { durationMs, slidingSum, type SlidingSum } from "../core/detection/detection-fns.js";
import { detector, type Detector, type Firing } from "../core/detection/detector-fns.js";
import { HaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { AlertRow, DataStore, DetectionStore, HoldRow } from "../core/ports.js";
import type { AuditEntry } from "../audit/audit-types.js";
import type { BaseDeps } from "./service-types.js";

export type DetectionServiceDeps = BaseDeps & {
  store: DetectionStore;
  /** Learned networks are kept as data-store settings (`detection.networks.<principal>`). */
  meta: Pick<DataStore, "getMeta" | "setMeta">;
  /** How often holds and canaries are re-read (default 5 s). */
  refreshMs?: number;
  /** Told about failures of the work done off the request path (never entry contents). */
  onError?: (e: unknown) => void;
};

/** Who asks for something to be done (an operator at the CLI, an operator principal). */
export interface OperatorContext {
  by: string;
  source: string | null;
  requestId: string;
}

export type AlertListener = (alert: AlertRow) => void | Promise<void>;

interface Held {
  suspend: HoldRow | null;
  throttle: HoldRow | null;
}

const NETWORKS_KEY = (principal: string) => `detection.networks.${principal}`;
const newId = (prefix: string) => `${prefix}_${crypto.randomBytes(12).toString("base64url")}`;

/** A human line for an alert or hold; counts and rule names only. */
const describeFiring = (f: Firing): string => {
  const window = f.windowMs > 0 ? ` in ${Math.round(f.windowMs / 1000)} s` : "";
  switch (f.type) {
    case "enumeration":
      return f.detail.pattern === "probing" ? `${f.count} misses${window} (probing)` : `${f.count} distinct subjects${window}`;
    case "volume":
      return `${f.count} reads for ${String(f.detail.purpose)}${window} (baseline ${String(f.detail.baseline)} × ${String(f.detail.factor)})`;
    case "deny_storm":
      return `${f.count} denied requests${window}`;
    case "export_volume":
      return `${f.count} subjects exported${window}`;
    case "canary":
      return "a canary subject was accessed";
    case "off_hours":
      return `a request at ${String(f.detail.local)} (${String(f.detail.time_zone)}), outside ${String(f.detail.hours)}`;
    case "new_network":
      return `a request from ${String(f.detail.network)}, a network not seen or declared before`;
  }
};

export const detectionService = (deps: DetectionServiceDeps) => {
  const refreshMs = deps.refreshMs ?? 5_000;
  const report = (e: unknown) => {
    try {
      deps.onError?.(e);
    } catch {
      // reporting must never fail the caller
    }
  };

  let builtFor: Catalog | null = null;
  let det: Detector | null = null;
  let canaries: ReadonlySet<string> = new Set();
  const learned = new Map<string, readonly string[]>();
  /** Active holds by principal, as last read from the store plus those placed here since. */
  let holds = new Map<string, Held>();
  /**
   * Holds placed here, kept across refreshes until a refresh that began after the hold was stored
   * has read the store (fail safe: a hold whose row could not be written stays in force here).
   */
  const unsaved = new Map<string, { hold: HoldRow; savedBefore: number | null }>();
  /** Refreshes begun so far. */
  let generation = 0;
  /** Each throttled principal's allowance window, for the throttle hold it belongs to. */
  const throttles = new Map<string, { hold: string; window: SlidingSum }>();
  const pending = new Set<Promise<unknown>>();
  const listeners: AlertListener[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastAt = "";
  let lastAtMs = 0;
  /** The timer's refresh in flight (close waits for it; settle does not). */
  let refreshing: Promise<void> | null = null;

  const track = (p: Promise<unknown>) => {
    const q = p.catch(report).finally(() => pending.delete(q));
    pending.add(q);
  };

  /** The detector for the current catalog (rebuilt, with fresh counters, when the catalog changes). */
  const current = (): Detector | null => {
    const catalog = deps.catalog.current();
    if (catalog === builtFor) return det;
    builtFor = catalog;
    det =
      catalog.detection === undefined || Object.keys(catalog.detection.rules).length === 0
        ? null
        : detector(catalog.detection, {
            principals: Object.keys(catalog.principals),
            recipients: Object.keys(catalog.recipients),
            canaries,
            learned,
            onLearn: (principal, networks) => {
              learned.set(principal, [...networks]);
              track(deps.meta.setMeta(NETWORKS_KEY(principal), JSON.stringify(networks)));
            },
          });
    return det;
  };

  const heldOf = (principal: string): Held => {
    let h = holds.get(principal);
    if (h === undefined) {
      h = { suspend: null, throttle: null };
      holds.set(principal, h);
    }
    return h;
  };
  const place = (h: HoldRow) => {
    const held = heldOf(h.principal);
    if (h.kind === "suspend") held.suspend ??= h;
    else if (held.throttle === null || (h.until?.getTime() ?? Infinity) > (held.throttle.until?.getTime() ?? Infinity)) held.throttle = h;
  };

  const entryAt = (at: Date) => at.toISOString();

  /** The work after a firing, off the request path: audit then store, for the alert and the hold. */
  const persist = async (alert: AlertRow, hold: HoldRow | null, f: Firing) => {
    await deps.audit.record({
      at: entryAt(alert.at),
      requestId: f.requestId,
      principal: null,
      source: null,
      action: "detection.alert",
      effect: "info",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: [`DETECTION:${f.rule}`],
      count: f.count,
      meta: {
        alert: alert.id,
        rule: f.rule,
        type: f.type,
        principal: f.principal,
        reaction: f.reaction,
        threshold: f.threshold,
        windowSeconds: Math.round(f.windowMs / 1000),
        windowStart: alert.windowStart.toISOString(),
        ...f.detail,
      },
    });
    await deps.store.putAlert(alert);
    if (hold !== null) {
      await deps.audit.record({
        at: entryAt(hold.at),
        requestId: f.requestId,
        principal: null,
        source: null,
        action: `principal.${hold.kind}`,
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [`DETECTION:${f.rule}`],
        meta: { hold: hold.id, principal: hold.principal, alert: alert.id, until: hold.until?.toISOString() ?? null },
      });
      await deps.store.putHold(hold);
      const u = unsaved.get(hold.id);
      if (u !== undefined) u.savedBefore = generation + 1;
    }
    for (const fn of listeners) {
      try {
        await fn(alert);
      } catch (e) {
        report(e);
      }
    }
  };

  const react = (catalog: Catalog, f: Firing) => {
    const at = new Date(f.at);
    const alert: AlertRow = {
      id: newId("alt"),
      at,
      principal: f.principal,
      rule: f.rule,
      type: f.type,
      reaction: f.reaction,
      count: f.count,
      threshold: f.threshold,
      windowStart: new Date(f.windowStart),
      requestId: f.requestId,
      detail: f.detail,
    };
    let hold: HoldRow | null = null;
    if (f.reaction !== "alert") {
      const forMs = durationMs(catalog.detection!.throttle.for) ?? 15 * 60_000;
      hold = {
        id: newId("hold"),
        principal: f.principal,
        kind: f.reaction,
        rule: f.rule,
        alertId: alert.id,
        reason: `${f.rule}: ${describeFiring(f)}`,
        at,
        until: f.reaction === "throttle" ? new Date(f.at + forMs) : null,
        liftedAt: null,
        liftedBy: null,
        liftReason: null,
      };
      // In force now, before anything is written: the principal's next request meets it.
      unsaved.set(hold.id, { hold, savedBefore: null });
      place(hold);
    }
    track(persist(alert, hold, f));
  };

  /** Re-reads the holds (lifts by other processes) and the canaries. */
  const refresh = async () => {
    const now = deps.clock.now();
    const started = ++generation;
    const [active, canaryRows] = await Promise.all([deps.store.activeHolds(now), deps.store.canaries()]);
    const before = holds;
    holds = new Map();
    for (const h of active) place(h);
    const stored = new Set(active.map((h) => h.id));
    for (const [id, u] of unsaved) {
      // Stored before this read began: the store's answer stands (read back, or lifted elsewhere).
      if (stored.has(id) || (u.savedBefore !== null && u.savedBefore <= started)) unsaved.delete(id);
      else place(u.hold);
    }
    for (const principal of before.keys()) {
      if (holds.has(principal)) continue;
      // Lifted elsewhere (or a throttle ran out): count afresh from now.
      current()?.reset(principal);
      throttles.delete(principal);
    }
    canaries = new Set(canaryRows.map((c) => c.auditRef));
    current()?.setCanaries(canaries);
  };

  /** Refuses a held principal's request (audited), or lets it through (a throttle's allowance). */
  const refuse = async (principal: string, held: Held, source: string | null, requestId: string): Promise<void> => {
    const now = deps.clock.now();
    const catalog = deps.catalog.current();
    const audit = (code: "PRINCIPAL_SUSPENDED" | "PRINCIPAL_THROTTLED", hold: HoldRow) =>
      deps.audit.record({
        at: now.toISOString(),
        requestId,
        principal,
        source,
        action: "principal.refused",
        effect: "deny",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [code],
        meta: { hold: hold.id },
      });
    if (held.suspend !== null) {
      const h = held.suspend;
      await audit("PRINCIPAL_SUSPENDED", h);
      throw new HaechiError(
        "PRINCIPAL_SUSPENDED",
        `principal "${principal}" is suspended since ${h.at.toISOString()} (${h.reason}); every request is refused until an operator lifts it`,
        { hold: h.id, rule: h.rule, since: h.at.toISOString() },
      );
    }
    const h = held.throttle;
    if (h === null) return;
    if (h.until !== null && h.until.getTime() <= now.getTime()) {
      held.throttle = null;
      throttles.delete(principal);
      return;
    }
    const t = catalog.detection?.throttle ?? { requests: 5, per: "PT1M" };
    let allowance = throttles.get(principal);
    if (allowance === undefined || allowance.hold !== h.id) {
      // A new throttle counts its own allowance.
      allowance = { hold: h.id, window: slidingSum(durationMs(t.per) ?? 60_000) };
      throttles.set(principal, allowance);
    }
    const window = allowance.window;
    if (window.sum(now.getTime()) < t.requests) {
      window.add(now.getTime(), 1);
      return;
    }
    const retryAt = window.nextExpiry(now.getTime()) ?? now.getTime() + 1000;
    const retryAfterSeconds = Math.max(1, Math.ceil((Math.min(retryAt, h.until?.getTime() ?? retryAt) - now.getTime()) / 1000));
    await audit("PRINCIPAL_THROTTLED", h);
    throw new HaechiError(
      "PRINCIPAL_THROTTLED",
      `principal "${principal}" is throttled until ${h.until?.toISOString() ?? "an operator lifts it"} (${h.reason}): at most ${t.requests} requests per ${t.per}; retry in ${retryAfterSeconds} s`,
      { hold: h.id, rule: h.rule, until: h.until?.toISOString() ?? null, retryAfterSeconds },
    );
  };

  return {
    /** Loads holds, canaries and learned networks, and starts re-reading them. Await before serving. */
    async start(): Promise<void> {
      for (const principal of Object.keys(deps.catalog.current().principals)) {
        const saved = await deps.meta.getMeta(NETWORKS_KEY(principal));
        if (saved === undefined) continue;
        try {
          const list = JSON.parse(saved) as unknown;
          if (Array.isArray(list)) learned.set(principal, list.filter((x): x is string => typeof x === "string"));
        } catch {
          // A damaged setting is relearned.
        }
      }
      await refresh();
      if (refreshMs > 0 && timer === undefined) {
        timer = setInterval(() => {
          if (refreshing !== null) return;
          refreshing = refresh()
            .catch(report)
            .finally(() => {
              refreshing = null;
            });
        }, refreshMs);
        timer.unref();
      }
    },

    /** The audit log's observer: runs the rules over one entry and reacts to what fires. */
    observe(entry: Readonly<AuditEntry>): void {
      const principal = entry.principal;
      if (principal === null) return;
      // A suspended principal is refused at the door; its refusals need no more detection.
      if ((holds.get(principal)?.suspend ?? null) !== null) return;
      const d = current();
      if (d === null) return;
      // Entries recorded together share their time: parse it once.
      if (entry.at !== lastAt) {
        lastAt = entry.at;
        lastAtMs = Date.parse(entry.at);
      }
      const firings = d.observe({
        at: lastAtMs,
        requestId: entry.requestId,
        principal,
        source: entry.source,
        action: entry.action,
        effect: entry.effect,
        purpose: entry.purpose,
        subjectRef: entry.subjectRef,
        reasons: entry.reasons,
        count: entry.count,
        meta: entry.meta,
      });
      if (firings.length === 0) return;
      const catalog = deps.catalog.current();
      for (const f of firings) react(catalog, f);
    },

    /**
     * The authentication path: refuses a suspended principal (403 PRINCIPAL_SUSPENDED) and a
     * throttled one beyond its allowance (429 PRINCIPAL_THROTTLED), each refusal audited.
     * Returns undefined at once (no promise) for a principal without a hold: the common case
     * costs one map lookup.
     */
    admit(principal: string, source: string | null, requestId: string): Promise<void> | undefined {
      const held = holds.get(principal);
      if (held === undefined || (held.suspend === null && held.throttle === null)) return undefined;
      return refuse(principal, held, source, requestId);
    },

    /** Registers an alert listener (the incident hook); returns a function that removes it. */
    onAlert(fn: AlertListener): () => void {
      listeners.push(fn);
      return () => {
        const i = listeners.indexOf(fn);
        if (i >= 0) listeners.splice(i, 1);
      };
    },

    /** Alerts, newest first. */
    alerts(filter: { principal?: string; rule?: string; since?: Date; limit?: number } = {}): Promise<AlertRow[]> {
      return deps.store.listAlerts({ ...filter, limit: Math.min(Math.max(filter.limit ?? 100, 1), 1000) });
    },

    /** Holds (active and lifted), newest first. */
    holdsOf(filter: { principal?: string; limit?: number } = {}): Promise<HoldRow[]> {
      return deps.store.listHolds({ ...filter, limit: Math.min(Math.max(filter.limit ?? 100, 1), 1000) });
    },

    /** Holds in force in this process now (a suspension, a throttle), for status and tests. */
    heldNow(principal: string): { suspend: HoldRow | null; throttle: HoldRow | null } {
      const h = holds.get(principal);
      const now = deps.clock.now().getTime();
      const throttle = h?.throttle && (h.throttle.until === null || h.throttle.until.getTime() > now) ? h.throttle : null;
      return { suspend: h?.suspend ?? null, throttle };
    },

    /**
     * An operator lifts every hold of a principal (suspension and throttle), with a reason.
     * Audited (`principal.lift`) before the holds are lifted; this process counts afresh at once,
     * other servers within their refresh interval. NOT_FOUND if nothing holds the principal.
     */
    async lift(ctx: OperatorContext, principal: string, reason: string, idem?: Idempotency<HoldRow[]>): Promise<HoldRow[]> {
      const why = reason.trim();
      if (why === "") throw new HaechiError("VALIDATION_FAILED", "a reason is required to lift a hold (it is kept with the hold and in the audit log)");
      if (why.length > 500) throw new HaechiError("VALIDATION_FAILED", "the reason is longer than 500 characters");
      const now = deps.clock.now();
      // Every hold not lifted yet, a throttle that ran out included: the lift closes them all.
      const open = (await deps.store.listHolds({ principal, limit: 1000 })).filter((h) => h.liftedAt === null);
      const local = [...unsaved.values()].map((u) => u.hold).filter((h) => h.principal === principal && !open.some((o) => o.id === h.id));
      if (open.length === 0 && local.length === 0) throw new HaechiError("NOT_FOUND", `principal "${principal}" has no suspension or throttle to lift`);
      await deps.audit.record({
        at: now.toISOString(),
        requestId: ctx.requestId,
        principal: ctx.by,
        source: ctx.source,
        action: "principal.lift",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        count: open.length + local.length,
        meta: { principal, holds: [...open, ...local].map((h) => h.id).join(","), reason: why },
      });
      const lifted = await deps.store.liftHolds(principal, now, ctx.by, why, idem && ((rows) => idem.answer(rows)));
      // Every hold of the principal this process still keeps for storing is closed by the lift,
      // stored already or not (else a second lift would find it "open" here).
      for (const [id, u] of unsaved) if (u.hold.principal === principal) unsaved.delete(id);
      holds.delete(principal);
      throttles.delete(principal);
      current()?.reset(principal);
      return lifted;
    },

    /** Re-read holds and canaries now (as the timer does). */
    refresh,

    /** Resolves when the work after every firing so far (audit, store, listeners, learned networks) is done. */
    async settle(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },

    async close(): Promise<void> {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await refreshing;
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
};

export type DetectionService = ReturnType<typeof detectionService>;
