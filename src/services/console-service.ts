/**
 * What the console's pages show that no other service keeps (issue 6; ADR 0013): access volume by
 * purpose and by principal over time, the monthly review's status, and the last audit
 * verification run from the console.
 *
 * The charts and the review status come from one reader of the audit log's tail: the first page
 * view reads the window once (from the earlier of 30 KST days ago and the start of this KST month,
 * found by binary search, then in pages, each body's purpose taken without a full parse); every
 * later view reads only what was appended since. Memory is bounded by the window: an hour bucket
 * per (principal, purpose) and a handful of review entries.
 */
import { firstSeqFrom } from "../audit/audit-window.js";
import type { VerifyResult } from "../audit/audit-types.js";
import { parseCanonical, purposeOf } from "../audit/canonical.js";
import { accessCounter, accessWeight, activityFrom, type ActivityChart, type ActivityView } from "../core/console/activity-fns.js";
import type { Clock } from "../core/clock.js";
import type { AuditStore, Checkpoint } from "../core/ports.js";
import { monthOf, monthWindow } from "../core/review/access-review-fns.js";
import type { ReviewStatus } from "./review-service.js";

export interface ConsoleServiceDeps {
  clock: Clock;
  store: Pick<AuditStore, "iterate" | "seqRange" | "head" | "latestCheckpoint">;
  /** Resolves once everything recorded so far is in the store. */
  flush: () => Promise<void>;
  verify: () => Promise<VerifyResult>;
  /** Rows per read of the tail (default 2000: each page is read without yielding). */
  pageSize?: number;
  /** How long a page view waits for the tail to be read before it shows what is counted so far (default 2000 ms). */
  waitMs?: number;
}

export interface TailStats {
  /** The first instant counted, and the last seq read. */
  from: string | null;
  lastSeq: number;
  /** Rows read by the last refresh (so far, while it runs) and how long it took (so far). */
  readLast: number;
  msLast: number;
  /** False while a refresh is still reading: the counts are complete up to `lastSeq`. */
  complete: boolean;
  /** Rows read since the tail was (re)started. */
  readTotal: number;
}

export const consoleService = (deps: ConsoleServiceDeps) => {
  const pageSize = deps.pageSize ?? 2000;
  let counter = accessCounter();
  let from: number | null = null;
  let lastSeq = 0;
  const reviews = new Map<string, ReviewStatus>();
  let refreshing: Promise<void> | null = null;
  const stats: TailStats = { from: null, lastSeq: 0, readLast: 0, msLast: 0, complete: false, readTotal: 0 };
  const waitMs = deps.waitMs ?? 2000;
  let lastVerify: { at: string; by: string; ms: number; result: VerifyResult } | null = null;

  const reviewOf = (month: string): ReviewStatus => {
    let r = reviews.get(month);
    if (r === undefined) {
      r = { month, generated: null, signedOff: null };
      reviews.set(month, r);
    }
    return r;
  };

  const readTail = async () => {
    const started = performance.now();
    const now = deps.clock.now();
    const want = Math.min(activityFrom(now), monthWindow(monthOf(now)).start.getTime());
    await deps.flush();
    if (from === null || want < from) {
      // First read (or a clock moved back): start over at the window's first entry.
      counter = accessCounter();
      reviews.clear();
      stats.readTotal = 0;
      from = want;
      lastSeq = ((await firstSeqFrom(deps.store, new Date(want))) ?? ((await deps.store.head())?.seq ?? 0) + 1) - 1;
    } else if (want > from) {
      counter.prune(want);
      from = want;
    }
    let read = 0;
    stats.from = new Date(want).toISOString();
    stats.complete = false;
    for await (const page of deps.store.iterate(lastSeq, pageSize)) {
      stats.lastSeq = lastSeq;
      stats.readLast = read;
      stats.msLast = Math.round(performance.now() - started);
      // A store that reads synchronously (SQLite) would otherwise hold the event loop for the
      // whole window: let requests (and the page's wait) in between pages.
      await new Promise<void>((resolve) => setImmediate(resolve));
      stats.readTotal += page.length;
      for (const row of page) {
        lastSeq = row.seq;
        read++;
        const t = row.at.getTime();
        if (t < want) continue;
        if (row.action.startsWith("review.")) {
          const e = parseCanonical(row.body);
          const month = e.meta?.month;
          if (typeof month !== "string") continue;
          const r = reviewOf(month);
          if (e.action === "review.generate") {
            r.generated = { at: e.at, by: e.principal, sha256: String(e.meta?.sha256) };
            r.signedOff = null; // a regenerated report needs a new sign-off
          } else if (e.action === "review.signoff") {
            r.signedOff = { at: e.at, by: e.principal, sha256: String(e.meta?.sha256), note: (e.meta?.note as string | null) ?? null };
          }
          continue;
        }
        const purpose = purposeOf(row.body);
        // Only a bulk entry (no subject, a purpose) needs its count: parse just those.
        const weight = row.subjectRef !== null ? 1 : purpose === null ? 0 : accessWeight(parseCanonical(row.body));
        counter.add(t, row.principal, purpose, weight);
      }
    }
    stats.lastSeq = lastSeq;
    stats.readLast = read;
    stats.msLast = Math.round(performance.now() - started);
    stats.complete = true;
  };

  /** One refresh at a time: concurrent page views share it. */
  const refresh = async () => {
    while (refreshing !== null) await refreshing;
    refreshing = readTail().finally(() => {
      refreshing = null;
    });
    return refreshing;
  };

  /**
   * A refresh, waited for at most `waitMs`: a first read of a large window (seconds at millions of
   * entries) goes on in the background and the page shows what is counted so far, marked so.
   */
  const refreshWithin = async (ms: number) => {
    const running = refresh();
    running.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    try {
      await Promise.race([running, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    /** Access volume by purpose or principal: the last 30 KST days by day, or the last 48 hours by hour. */
    async activity(view: ActivityView, by: "purpose" | "principal"): Promise<ActivityChart & { stats: TailStats }> {
      await refreshWithin(waitMs);
      return { ...counter.chart(view, by, deps.clock.now()), stats: { ...stats } };
    },

    /** Reads the window now (the server calls it at start, so the first page view finds it counted); what that read did. */
    async warm(): Promise<TailStats> {
      await refresh();
      return { ...stats };
    },

    /**
     * Where last month's review (and this month's, never due yet) stands, from the same tail; null
     * when the tail does not cover the month or is still being read.
     */
    async reviewStatus(month: string): Promise<ReviewStatus | null> {
      await refreshWithin(waitMs);
      if (!stats.complete) return null;
      const r = reviews.get(month);
      if (r !== undefined) return { ...r };
      // Months the tail covers entirely (their reviews come after they end) have no entry yet.
      return from !== null && monthWindow(month).end.getTime() >= from ? { month, generated: null, signedOff: null } : null;
    },

    /** Runs the whole chain's verification (worker threads) and remembers the result for the page. */
    async verify(by: string): Promise<{ at: string; by: string; ms: number; result: VerifyResult }> {
      const at = deps.clock.now().toISOString();
      const started = performance.now();
      const result = await deps.verify();
      lastVerify = { at, by, ms: Math.round(performance.now() - started), result };
      return lastVerify;
    },

    async auditStatus(): Promise<{ head: number; checkpoint: Checkpoint | null; lastVerify: typeof lastVerify }> {
      await deps.flush();
      return { head: (await deps.store.head())?.seq ?? 0, checkpoint: (await deps.store.latestCheckpoint()) ?? null, lastVerify };
    },
  };
};

export type ConsoleService = ReturnType<typeof consoleService>;
