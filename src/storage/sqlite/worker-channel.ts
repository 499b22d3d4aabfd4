/**
 * A worker thread (plain JavaScript: no TypeScript loader, so no start-up cost in every process)
 * and a promise-per-message channel to it, answered in order. Only pending calls keep the process
 * alive. If the thread dies, every pending and later call fails as a storage failure ("<name> stopped").
 * The SQLite audit writer and the key-scan threads both use it.
 */
import { Worker } from "node:worker_threads";
import { storageFailure } from "../storage-errors.js";

export interface WorkerReply {
  id: number;
  error?: string;
}

export const workerChannel = <R extends WorkerReply>(script: URL, workerData: unknown, name: string) => {
  const worker = new Worker(script, { workerData, execArgv: [] });
  worker.unref();
  const pending = new Map<number, { resolve: (r: R) => void; reject: (e: unknown) => void }>();
  let next = 1;
  let dead: unknown = null;
  const failAll = (e: unknown) => {
    dead = e;
    for (const p of pending.values()) p.reject(storageFailure(e, `${name} stopped`));
    pending.clear();
  };
  worker.on("message", (m: R) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (m.error !== undefined) p.reject(storageFailure(new Error(m.error)));
    else p.resolve(m);
  });
  worker.on("error", failAll);
  worker.on("exit", (code) => failAll(new Error(`${name} exited (${code})`)));
  const call = (msg: Record<string, unknown>): Promise<R> =>
    new Promise((resolve, reject) => {
      if (dead !== null) return reject(storageFailure(dead, `${name} stopped`));
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...msg, id });
    });
  return {
    call,
    /** Asks the thread to close its database, then ends it. */
    async close() {
      if (dead === null) await call({ type: "close" }).catch(() => undefined);
      await worker.terminate();
    },
  };
};
