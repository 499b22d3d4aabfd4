/**
 * Verifying a store's audit chain on worker threads (docs/adr/0002-audit-chain.md, "Verification
 * throughput").
 *
 * Each row is checked against its predecessor's *stored* hash, so disjoint seq ranges can be
 * verified independently: a worker (parallel-verify.worker.mjs) opens its own read connection
 * from the store's `readSource()`, starts from the last row below its range, verifies the range
 * and reports structured events. Here the ranges are stitched back together — a run of hash
 * mismatches crossing a boundary becomes one run again — and the events are worded with
 * verify.ts's own texts, so the result equals verifyChain's over the same rows (the unit tests
 * compare both on tampered chains). No row crosses between threads, and the calling thread's
 * event loop stays free while the workers read and hash.
 *
 * Fails closed: a worker that errs or exits without a result makes verification throw
 * `INTERNAL`; it never yields "ok".
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { AuditReadSource, AuditSeqRange, AuditStore, Checkpoint } from "../core/ports.js";
import { HaechiError } from "../core/errors.js";
import type { VerifyResult } from "./audit-types.js";
import { assertChainKey, ZERO_HASH } from "./chain.js";
import {
  problemLog,
  problemText,
  reportUnmetCheckpoints,
  trustCheckpoints,
  verifyChain,
  type ProblemLog,
  type VerifyOptions,
} from "./verify.js";

export interface StoreVerifyOptions extends VerifyOptions {
  /** Rows per page read (default 10,000). */
  pageSize?: number;
  /** At most this many worker threads (default: the machine's available parallelism, at most 4). */
  threads?: number;
  /** Each worker gets at least this many rows (default 100,000): starting one costs ~50 ms. */
  minRowsPerThread?: number;
}

export type VerifiableStore = Pick<AuditStore, "iterate" | "seqRange" | "readSource">;

const DEFAULT_PAGE = 10_000;
const DEFAULT_MIN_ROWS_PER_THREAD = 100_000;

/**
 * Verifies the chain held by `store`. With `readSource` and `seqRange` (both real stores) the log
 * is read and hashed on worker threads, each over its own connection; otherwise (or with
 * `checkBodies`, which needs every row's searchable copies) `verifyChain` reads `iterate` here.
 * Both give the same result for the same rows.
 */
export async function verifyStore(store: VerifiableStore, opts: StoreVerifyOptions): Promise<VerifyResult> {
  const pageSize = Math.max(1, Math.trunc(opts.pageSize ?? DEFAULT_PAGE));
  if (opts.checkBodies || store.readSource === undefined || store.seqRange === undefined) {
    return verifyChain(store.iterate(opts.after?.seq ?? 0, pageSize), opts);
  }
  const source = store.readSource();
  const span = await store.seqRange();
  return verifyInWorkers(source, span, { ...opts, pageSize });
}

/** One worker's result (see rangeVerifier in parallel-verify.worker.mjs). */
interface RangeResult {
  entries: number;
  linked: number;
  first: "ok" | "bad" | "break" | null;
  events: RangeEvent[];
  eventCount: number;
  open: { start: number; len: number; linkedBefore: number; lead: 0 | 1 } | null;
  last: { seq: number; hash: Uint8Array } | null;
  maxSeq: number;
  unmet: number[];
}

/** A run of hash mismatches not closed yet; `linkedBefore`: linked rows before it. */
interface OpenRun {
  start: number;
  len: number;
  linkedBefore: number;
}

/** Problems in the order the worker met them. */
type RangeEvent =
  | [kind: 0, start: number, len: number, linkedBefore: number, closedByMatch: 0 | 1, lead: 0 | 1] // hash mismatch run
  | [kind: 1, seq: number, first: number, last: number] // seq gap
  | [kind: 2, seq: number, after: number] // seq order
  | [kind: 3, seq: number, checkpoint: number]; // checkpoint mismatch (index into `trusted`)

const WORKER_URL = new URL("./parallel-verify.worker.mjs", import.meta.url);

/** Splits (startSeq, ∞) into `n` ranges of about equal seq span; the last one is open-ended. */
export const splitRanges = (startSeq: number, span: AuditSeqRange | null, n: number): { lo: number; hi: number | null }[] => {
  const from = span === null ? startSeq : Math.max(startSeq, span.first - 1);
  const to = span === null ? startSeq : span.last;
  const parts = to - from < n ? 1 : n;
  const out: { lo: number; hi: number | null }[] = [];
  let lo = startSeq;
  for (let i = 1; i < parts; i++) {
    const hi = from + Math.round(((to - from) * i) / parts);
    out.push({ lo, hi });
    lo = hi;
  }
  out.push({ lo, hi: null });
  return out;
};

/**
 * Verifies the log behind `source` on worker threads: `span` (from `seqRange`) decides how
 * many and where the ranges split; the last range runs to whatever end the log has by then.
 */
export async function verifyInWorkers(
  source: AuditReadSource,
  span: AuditSeqRange | null,
  opts: StoreVerifyOptions,
): Promise<VerifyResult> {
  assertChainKey(opts.chainKey);
  const maxProblems = opts.maxProblems ?? 100;
  const log = problemLog(maxProblems);
  const trusted = trustCheckpoints(opts, log);
  const startSeq = opts.after?.seq ?? 0;
  const origin = { seq: startSeq, hash: new Uint8Array(opts.after?.hash ?? ZERO_HASH) };

  const rows = span === null ? 0 : span.last - Math.max(startSeq, span.first - 1);
  const maxThreads = Math.max(1, Math.trunc(opts.threads ?? Math.min(availableParallelism(), 4)));
  const perThread = Math.max(1, Math.trunc(opts.minRowsPerThread ?? DEFAULT_MIN_ROWS_PER_THREAD));
  const ranges = splitRanges(startSeq, span, Math.max(1, Math.min(maxThreads, Math.floor(rows / perThread))));

  const progress = ranges.map(() => 0);
  const results = await runWorkers(
    ranges.map((r) => ({
      haechiVerifyRange: true,
      source,
      chainKey: new Uint8Array(opts.chainKey),
      lo: r.lo,
      hi: r.hi,
      origin,
      pageSize: opts.pageSize ?? DEFAULT_PAGE,
      checkpoints: trusted.flatMap((t, index) =>
        t.cp.seq > r.lo && (r.hi === null || t.cp.seq <= r.hi) ? [{ seq: t.cp.seq, hash: new Uint8Array(t.hash), index }] : [],
      ),
      maxEvents: maxProblems,
    })),
    (i, n) => {
      progress[i] = n;
      opts.onProgress?.(progress.reduce((a, b) => a + b, 0));
    },
  );
  return stitch(results, trusted.map((t) => t.cp), log);
}

/**
 * Joins the ranges' results into verifyChain's: events in range order, a mismatch run left open
 * at a range's end joined with the run that starts the next range (or closed by that range's
 * first row), then the checkpoints no row met.
 */
export const stitch = (parts: readonly RangeResult[], checkpoints: readonly Checkpoint[], log: ProblemLog): VerifyResult => {
  /** Linked rows in the ranges before the current one. */
  let linkedPrior = 0;
  /** A mismatch run still open at the end of the ranges so far (linkedBefore counted globally). */
  let carry: OpenRun | null = null;
  let entries = 0;
  let head: { seq: number; hash: string } | null = null;
  const unmet: Checkpoint[] = [];
  const reportRun = (start: number, len: number, linkedBefore: number, closedByMatch: boolean) =>
    log.report(start, "hash_mismatch", problemText.hashRun(start, len, !closedByMatch && linkedBefore === 0 && len > 1));

  for (const part of parts) {
    for (const i of part.unmet) unmet.push(checkpoints[i]!);
    if (part.entries === 0) continue; // an empty range leaves the state as it was
    entries += part.entries;
    if (part.last !== null) head = { seq: part.last.seq, hash: Buffer.from(part.last.hash).toString("hex") };

    /** The run open before this range, when this range's first row carries it on. */
    const before = carry as OpenRun | null; // (the cast stops TS narrowing `carry` to null across iterations)
    const lead = before !== null && part.first === "bad" ? before : null;
    if (before !== null && lead === null) reportRun(before.start, before.len, before.linkedBefore, part.first === "ok");
    carry = null;
    for (const ev of part.events) {
      switch (ev[0]) {
        case 0:
          if (ev[5] === 1 && lead !== null) reportRun(lead.start, lead.len + ev[2], lead.linkedBefore, ev[4] === 1);
          else reportRun(ev[1], ev[2], linkedPrior + ev[3], ev[4] === 1);
          break;
        case 1:
          log.report(ev[1], "seq_gap", problemText.gap(ev[2], ev[3]));
          break;
        case 2:
          log.report(ev[1], "seq_order", problemText.order(ev[1], ev[2]));
          break;
        case 3:
          log.report(ev[1], "checkpoint_mismatch", problemText.checkpointMismatch(ev[1], checkpoints[ev[2]]!));
          break;
      }
    }
    // Events past the worker's cap: the list was full by then, so they only count.
    log.countOnly(part.eventCount - part.events.length);
    if (part.open !== null) {
      carry =
        part.open.lead === 1 && lead !== null
          ? { start: lead.start, len: lead.len + part.open.len, linkedBefore: lead.linkedBefore }
          : { start: part.open.start, len: part.open.len, linkedBefore: linkedPrior + part.open.linkedBefore };
    }
    linkedPrior += part.linked;
  }
  if (carry !== null) reportRun(carry.start, carry.len, carry.linkedBefore, false);

  const maxSeq = parts[parts.length - 1]?.maxSeq ?? 0;
  reportUnmetCheckpoints(unmet, maxSeq, log);
  return {
    ok: log.count === 0,
    entries,
    head,
    problems: log.problems,
    problemCount: log.count,
    checkpointsChecked: checkpoints.length,
  };
};

/**
 * Runs one worker per range and collects their results in order. The first failure stops the
 * others and rejects with `INTERNAL` (the worker's error kept as `cause`, never in the message:
 * a driver error may quote SQL).
 */
const runWorkers = (jobs: readonly object[], onProgress: (i: number, rows: number) => void): Promise<RangeResult[]> =>
  new Promise((resolve, reject) => {
    const results: (RangeResult | undefined)[] = jobs.map(() => undefined);
    const workers: Worker[] = [];
    let pending = jobs.length;
    let failed = false;
    const fail = (cause: unknown) => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.terminate();
      const err = new HaechiError("INTERNAL", "audit verification failed: a verification worker stopped");
      err.cause = cause;
      reject(err);
    };
    jobs.forEach((workerData, i) => {
      let worker: Worker;
      try {
        // No inherited --import: a worker would load tsx (~60 ms) for nothing; it is plain JS.
        worker = new Worker(WORKER_URL, { workerData, execArgv: [] });
      } catch (e) {
        fail(e);
        return;
      }
      workers.push(worker);
      worker.on("message", (m: { type: "progress"; rows: number } | { type: "done"; result: RangeResult }) => {
        if (m.type === "progress") onProgress(i, m.rows);
        else if (m.type === "done" && results[i] === undefined) {
          results[i] = m.result;
          onProgress(i, m.result.entries);
          if (--pending === 0 && !failed) resolve(results as RangeResult[]);
        }
      });
      worker.on("error", fail);
      worker.on("messageerror", fail);
      worker.on("exit", (code) => {
        if (results[i] === undefined) fail(new Error(`verification worker exited (${code}) without a result`));
      });
    });
  });
