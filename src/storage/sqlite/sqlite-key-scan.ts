/**
 * The key table scanned on several threads at once (ADR 0015): `findByAuditRefs` over a large
 * keys.db splits the subject-id space into one range per thread (key-scan.worker.mjs, each with a
 * read-only connection of its own) and merges what they find.
 *
 * The threads start at the first scan and stay for the store's lifetime, unreferenced while idle
 * (they never keep the process alive); `close` ends them.
 */
import { Worker } from "node:worker_threads";
import { storageFailure } from "../storage-errors.js";

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

interface ScanReply {
  id: number;
  found?: string;
  ok?: true;
  error?: string;
}

/** One scan thread and a promise-per-message channel to it (answered in order). */
const scanThread = (file: string) => {
  const worker = new Worker(new URL("./key-scan.worker.mjs", import.meta.url), { workerData: { file }, execArgv: [] });
  worker.unref();
  const pending = new Map<number, { resolve: (r: ScanReply) => void; reject: (e: unknown) => void }>();
  let next = 1;
  let dead: unknown = null;
  const failAll = (e: unknown) => {
    dead = e;
    for (const p of pending.values()) p.reject(storageFailure(e, "key scan thread stopped"));
    pending.clear();
  };
  worker.on("message", (m: ScanReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (m.error !== undefined) p.reject(storageFailure(new Error(m.error)));
    else p.resolve(m);
  });
  worker.on("error", failAll);
  worker.on("exit", (code) => failAll(new Error(`key scan thread exited (${code})`)));
  const call = (msg: Record<string, unknown>): Promise<ScanReply> =>
    new Promise((resolve, reject) => {
      if (dead !== null) return reject(storageFailure(dead, "key scan thread stopped"));
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...msg, id });
    });
  return {
    call,
    async close() {
      if (dead === null) await call({ type: "close" }).catch(() => undefined);
      await worker.terminate();
    },
  };
};

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
