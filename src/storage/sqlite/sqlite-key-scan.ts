/**
 * The key table scanned on several threads at once (ADR 0015): `findByAuditRefs` over a large
 * keys.db splits the subject-id space into one range per thread (key-scan.worker.mjs, each with a
 * read-only connection of its own) and merges what they find.
 *
 * The threads start at the first scan and stay for the store's lifetime, unreferenced while idle
 * (they never keep the process alive); `close` ends them.
 */
import { storageFailure } from "../storage-errors.js";
import { workerChannel, type WorkerReply } from "./worker-channel.js";

/** Subject ids are 16 random bytes in base64url (core/ids.ts); its alphabet in byte order. */
const BASE64URL_SORTED = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/**
 * `n` ranges of subject ids, together covering every string exactly once: [from, to), the first
 * from "" and the last to the end (null). Cut by the first character, so random base64url ids
 * fall evenly into them; any other id still falls into exactly one (it only evens out less).
 */
export const idRanges = (n: number): { from: string; to: string | null }[] => {
  const cuts = Array.from({ length: Math.max(1, n) - 1 }, (_, i) => BASE64URL_SORTED[Math.round(((i + 1) * BASE64URL_SORTED.length) / n)]!);
  const bounds = ["", ...cuts];
  return bounds.map((from, i) => ({ from, to: cuts[i] ?? null }));
};

interface ScanReply extends WorkerReply {
  found?: string;
  ok?: true;
  error?: string;
}

/** One scan thread on `file`. */
const scanThread = (file: string) => workerChannel<ScanReply>(new URL("./key-scan.worker.mjs", import.meta.url), { file }, "key scan thread");

export interface KeyScanPool {
  /** [audit_ref, subject_id] of every key whose reference is in `refsJson` (a JSON array). */
  find(refsJson: string): Promise<[string, string][]>;
  close(): Promise<void>;
}

/** `threads` scan threads on `file`, started at the first `find`. */
export const keyScanPool = (file: string, threads: number): KeyScanPool => {
  const ranges = idRanges(threads);
  let pool: ReturnType<typeof scanThread>[] | null = null;
  let closed = false;
  return {
    async find(refsJson) {
      if (closed) throw storageFailure(new Error("key store closed"));
      pool ??= ranges.map(() => scanThread(file));
      const replies = await Promise.all(pool.map((t, i) => t.call({ type: "find", from: ranges[i]!.from, to: ranges[i]!.to, refs: refsJson })));
      return replies.flatMap((r) => JSON.parse(r.found ?? "[]") as [string, string][]);
    },
    async close() {
      closed = true;
      const threads = pool ?? [];
      pool = null;
      await Promise.all(threads.map((t) => t.close()));
    },
  };
};
