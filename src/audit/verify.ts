/**
 * Chain verification. Each row is checked against the *stored* hash of the row before it:
 *
 *   stored h_i  ==  SHA-256(chainKey ‖ stored h_{i-1} ‖ uint64be(seq_i) ‖ uint32be(len) ‖ body_i)
 *
 * so each row's check needs only its predecessor's stored hash: an edited body breaks one row,
 * an edited hash two (the row and its successor, reported as one run), not the whole rest of the
 * log; and disjoint seq ranges can be checked independently and stitched at their boundaries.
 * audit/parallel-verify.ts does that for a store, on worker threads with their own connections;
 * verifyChain is the single-thread reference it must agree with (test/unit/audit-parallel.test.ts).
 *
 * Hashes are compared with a plain early-exit byte loop, not `timingSafeEqual`: chain hashes are
 * not secrets (they sit in the table next to the rows), so a timing side channel leaks nothing,
 * and the loop avoids allocating a Buffer per digest (which would halve throughput).
 */
import type { KeyObject } from "node:crypto";
import type { AuditHead, AuditRow, Checkpoint } from "../core/ports.js";
import type { VerifyProblem, VerifyProblemKind, VerifyResult } from "./audit-types.js";
import { parseCanonical } from "./canonical.js";
import { assertChainKey, CHAIN_HASH_BYTES, CHAIN_HEADER_BYTES, latin1Equals, sha256Latin1, ZERO_HASH } from "./chain.js";
import { verifyCheckpoint } from "./checkpoint.js";

export interface VerifyOptions {
  chainKey: Buffer;
  /** Trusted checkpoints (ideally read back from outside the database). */
  checkpoints?: readonly Checkpoint[];
  /** When given, checkpoint signatures are checked and bad ones are reported and not trusted. */
  publicKey?: KeyObject;
  /** Called after each page with the number of rows read so far. */
  onProgress?: (n: number) => void;
  /**
   * A trusted point to start from (e.g. a verified checkpoint, after old entries were pruned
   * under the retention rules): the first row must then be `after.seq + 1` and chain to `after.hash`.
   */
  after?: AuditHead;
  /**
   * Also parse every body (`body_invalid`) and compare the searchable copies with it
   * (`copy_mismatch`). About 6× slower (~170k entries/s here); the monthly inspection should use it.
   */
  checkBodies?: boolean;
  /** Problems kept in the result (default 100); all are counted in `problemCount`. */
  maxProblems?: number;
}

const OFF_PREV = 32;
const OFF_SEQ = 64;
const OFF_LEN = 72;

// ---------------------------------------------------------------- shared with parallel-verify.ts

/** The problems kept (the first `maxProblems`) and the count of all of them. */
export interface ProblemLog {
  report(seq: number, kind: VerifyProblemKind, detail: string): void;
  /** Counts `n` problems found after the list was already full. */
  countOnly(n: number): void;
  readonly problems: VerifyProblem[];
  readonly count: number;
}

export const problemLog = (maxProblems: number): ProblemLog => {
  const problems: VerifyProblem[] = [];
  let count = 0;
  return {
    report(seq, kind, detail) {
      count++;
      if (problems.length < maxProblems) problems.push({ seq, kind, detail });
    },
    countOnly(n) {
      count += n;
    },
    problems,
    get count() {
      return count;
    },
  };
};

/** A checkpoint that passed its signature check, with its hash as bytes. */
export interface TrustedCheckpoint {
  cp: Checkpoint;
  hash: Buffer;
}

/**
 * Checks the signatures of `opts.checkpoints` (reporting `bad_signature` for bad or malformed
 * ones, which are then not trusted) and returns the trusted ones past the starting seq.
 */
export const trustCheckpoints = (opts: VerifyOptions, log: ProblemLog): TrustedCheckpoint[] => {
  const startSeq = opts.after?.seq ?? 0;
  const trusted: TrustedCheckpoint[] = [];
  for (const cp of opts.checkpoints ?? []) {
    if (opts.publicKey && !verifyCheckpoint(cp, opts.publicKey)) {
      log.report(cp.seq, "bad_signature", `checkpoint at seq ${cp.seq} (key ${cp.keyId}) does not verify`);
      continue;
    }
    if (!/^[0-9a-f]{64}$/.test(cp.hash) || !Number.isSafeInteger(cp.seq)) {
      log.report(cp.seq, "bad_signature", `checkpoint at seq ${cp.seq} is malformed`);
      continue;
    }
    if (cp.seq <= startSeq) continue; // before the verified range: nothing to compare with
    trusted.push({ cp, hash: Buffer.from(cp.hash, "hex") });
  }
  return trusted;
};

/** The wording of each problem, so that both verification paths report the same text. */
export const problemText = {
  /** `every`: the run holds every linked entry so far (and more than one). */
  hashRun: (start: number, len: number, every: boolean) =>
    len === 1
      ? `entry ${start} does not match its chain hash`
      : `${len} consecutive entries from ${start} do not match their chain hashes${every ? " — every entry: wrong chain key?" : ""}`,
  gap: (first: number, last: number) => (first === last ? `entry ${first} is missing` : `entries ${first}–${last} are missing`),
  order: (seq: number, after: number) => `entry ${seq} comes after entry ${after}`,
  checkpointMismatch: (seq: number, cp: Checkpoint) => `chain hash at seq ${seq} differs from the checkpoint of ${cp.at}`,
  checkpointNoEntry: (seq: number) => `checkpoint at seq ${seq}: no entry with that seq`,
};

/**
 * Checkpoints never met by a row, in seq order: beyond the last entry (`maxSeq`) the tail was
 * cut (or the log replaced), reported once as `truncated`; inside the range their entry is
 * missing (`checkpoint_mismatch`).
 */
export const reportUnmetCheckpoints = (unmet: readonly Checkpoint[], maxSeq: number, log: ProblemLog): void => {
  const beyond: Checkpoint[] = [];
  for (const cp of [...unmet].sort((a, b) => a.seq - b.seq)) {
    if (cp.seq > maxSeq) beyond.push(cp);
    else log.report(cp.seq, "checkpoint_mismatch", problemText.checkpointNoEntry(cp.seq));
  }
  if (beyond.length > 0) {
    const top = beyond[beyond.length - 1]!;
    log.report(
      beyond[0]!.seq,
      "truncated",
      `log ends at seq ${maxSeq} but ${beyond.length} checkpoint(s) reach seq ${top.seq} (signed ${top.at})`,
    );
  }
};

// ---------------------------------------------------------------- the reference verifier

/**
 * Verify an audit chain read in order (e.g. `store.iterate(0, 10_000)`). Detects edited bodies or
 * hashes (`hash_mismatch`, consecutive mismatches reported once with their count), deleted rows
 * (`seq_gap`), reordering (`seq_order`), a tail cut below a trusted checkpoint (`truncated`),
 * a chain that differs from a checkpoint (`checkpoint_mismatch`, which also catches a chain
 * rewritten by someone holding the chain key) and forged checkpoints (`bad_signature`).
 */
export async function verifyChain(
  pages: AsyncIterable<readonly AuditRow[]> | Iterable<readonly AuditRow[]>,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const key = opts.chainKey;
  assertChainKey(key);
  const log = problemLog(opts.maxProblems ?? 100);
  const report = log.report;

  // Checkpoints: signatures first; bad ones are reported and not trusted.
  const startSeq = opts.after?.seq ?? 0;
  const trusted = trustCheckpoints(opts, log);
  // By seq; a checkpoint is compared when its row arrives (in whatever order) and removed.
  const pendingCps = new Map<number, TrustedCheckpoint[]>();
  for (const t of trusted) pendingCps.set(t.cp.seq, [...(pendingCps.get(t.cp.seq) ?? []), t]);
  let checkpointsChecked = 0;

  /** Seq of the last row read (for messages). */
  let lastSeq = startSeq;
  /**
   * The highest seq read so far and its stored hash: the next row in order must be maxSeq + 1
   * and chain to it. Tracking the maximum (not the last row) keeps one swapped pair from also
   * breaking the row after it.
   */
  let maxSeq = startSeq;
  let prev: Buffer = opts.after?.hash ?? ZERO_HASH;
  /** A gap is reported one row late: if the next row fills a one-entry gap it was a swap. */
  let pendingGap: { seq: number; first: number; last: number } | null = null;
  let entries = 0;
  let head: { seq: number; hash: Buffer } | null = null;
  // The open run of consecutive hash mismatches.
  let runStart = 0;
  let runLen = 0;
  let linkedRows = 0;

  const closeRun = () => {
    if (runLen === 0) return;
    report(runStart, "hash_mismatch", problemText.hashRun(runStart, runLen, runLen === linkedRows && runLen > 1));
    runLen = 0;
  };

  /** Compare the checkpoints at `seq` with the recomputed hash (or the stored one if unlinked). */
  const checkpointAt = (seq: number, recomputed: string | null, stored: Buffer) => {
    const at = pendingCps.get(seq);
    if (at === undefined) return;
    pendingCps.delete(seq);
    for (const t of at) {
      checkpointsChecked++;
      if (recomputed !== null ? !latin1Equals(recomputed, t.hash) : !t.hash.equals(stored)) {
        report(seq, "checkpoint_mismatch", problemText.checkpointMismatch(seq, t.cp));
      }
    }
  };

  const flushGap = () => {
    if (pendingGap === null) return;
    const { seq, first, last } = pendingGap;
    report(seq, "seq_gap", problemText.gap(first, last));
    pendingGap = null;
  };

  const checkBody = (row: AuditRow) => {
    let e;
    try {
      e = parseCanonical(row.body);
    } catch {
      report(row.seq, "body_invalid", `entry ${row.seq} is not in canonical form`);
      return;
    }
    const bad: string[] = [];
    if (!(row.at instanceof Date) || row.at.getTime() !== Date.parse(e.at)) bad.push("at");
    if (row.subjectRef !== e.subjectRef) bad.push("subjectRef");
    if (row.principal !== e.principal) bad.push("principal");
    if (row.action !== e.action) bad.push("action");
    if (bad.length > 0) report(row.seq, "copy_mismatch", `entry ${row.seq}: searchable ${bad.join(", ")} differ from the body`);
  };

  // One scratch buffer holds key ‖ prev ‖ seq ‖ len ‖ body; one view per total length is
  // reused, so a row costs a UTF-8 write and a digest string, nothing else.
  let buf = Buffer.allocUnsafe(4096);
  key.copy(buf, 0);
  let views: Buffer[] = [];

  const consume = (page: readonly AuditRow[]) => {
    for (let i = 0; i < page.length; i++) {
      const row = page[i]!;
      const seq = row.seq;
      const stored = row.hash;
      let h: string | null = null; // recomputed hash, latin1
      if (pendingGap !== null) {
        const g: { first: number; last: number } = pendingGap;
        if (seq === g.first && g.first === g.last) pendingGap = null; // a swap, reported as seq_order below
        else flushGap();
      }
      if (seq === maxSeq + 1 && Number.isSafeInteger(seq)) {
        const body = row.body;
        if (CHAIN_HEADER_BYTES + body.length * 3 > buf.length) {
          buf = Buffer.allocUnsafe(CHAIN_HEADER_BYTES + body.length * 3);
          key.copy(buf, 0);
          views = [];
        }
        if (prev.length === CHAIN_HASH_BYTES) buf.set(prev, OFF_PREV);
        else {
          buf.fill(0, OFF_PREV, OFF_SEQ);
          prev.copy(buf, OFF_PREV, 0, Math.min(prev.length, CHAIN_HASH_BYTES));
        }
        buf.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), OFF_SEQ);
        buf.writeUInt32BE(seq >>> 0, OFF_SEQ + 4);
        const n = buf.write(body, CHAIN_HEADER_BYTES, "utf8");
        buf.writeUInt32BE(n, OFF_LEN);
        const total = CHAIN_HEADER_BYTES + n;
        h = sha256Latin1(views[total] ?? (views[total] = buf.subarray(0, total)));
        linkedRows++;
        if (stored.length !== CHAIN_HASH_BYTES || !latin1Equals(h, stored)) {
          if (runLen === 0) runStart = seq;
          runLen++;
        } else closeRun();
        maxSeq = seq;
        prev = stored;
      } else {
        // The seq itself breaks the link; the row's hash cannot be checked without its predecessor.
        closeRun();
        if (Number.isSafeInteger(seq) && seq > maxSeq + 1) {
          pendingGap = { seq, first: maxSeq + 1, last: seq - 1 };
          maxSeq = seq;
          prev = stored;
        } else {
          report(seq, "seq_order", problemText.order(seq, lastSeq));
        }
      }
      if (pendingCps.size > 0) checkpointAt(seq, h, stored);
      if (opts.checkBodies) checkBody(row);
      lastSeq = seq;
    }
    if (page.length > 0) {
      const last = page[page.length - 1]!;
      head = { seq: last.seq, hash: last.hash };
      entries += page.length;
    }
  };

  for await (const page of pages) {
    consume(page);
    opts.onProgress?.(entries);
  }
  closeRun();
  flushGap();

  // Checkpoints never met: beyond the last entry the tail was cut; inside, their entry is missing.
  const unmet = [...pendingCps.values()].flat().map((t) => t.cp);
  checkpointsChecked += unmet.length;
  reportUnmetCheckpoints(unmet, maxSeq, log);

  const h = head as { seq: number; hash: Buffer } | null;
  return {
    ok: log.count === 0,
    entries,
    head: h ? { seq: h.seq, hash: h.hash.toString("hex") } : null,
    problems: log.problems,
    problemCount: log.count,
    checkpointsChecked,
  };
}
