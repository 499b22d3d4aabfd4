/**
 * The export writer of the provision gate: turns batches of stored (encrypted) field values into
 * part files only the recipient organisation can read.
 *
 * For each subject of a part: every stored value is opened with the subject's data key, the
 * field's transform applied (keyed hash or mask), the internal id replaced by the recipient's
 * pseudonym, and the part formatted (NDJSON or CSV) and encrypted to the recipient's age X25519
 * key as one binary age file. The plaintext exists only in memory; the file written is the age
 * file and nothing else.
 *
 * The work (≈ 3 AES-GCM opens per subject for 3 fields, the formatting, and age's pure-JS
 * ChaCha20-Poly1305) runs on worker threads; each part travels there as one transferred buffer.
 */
import os from "node:os";
import { Worker } from "node:worker_threads";
import { MASKINGS, type Masking } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";
import {
  checkPartInput,
  checkSettings,
  EXPORT_WORKER_MARK,
  inputSource,
  packPart,
  partWriter,
  type ExportSettings,
  type PartOutcome,
  type WorkerReply,
} from "./export-fns.js";

export interface ExportWriterOptions {
  /** The recipient's age X25519 public key (age1…): every part is encrypted to it. */
  recipientKey: string;
  /**
   * Key of the recipient's pseudonym context (32 bytes): ids in the export are the
   * recipient-specific pseudonyms, `sub_` + base64url(AES-256-ECB(key, 16-byte internal id)),
   * exactly what pseudonyms(root).externalId(`recipient:${name}`, id) gives: the key is
   * pseudonymContextKey(root, `recipient:${name}`) from crypto/pseudonym.ts.
   */
  pseudonymKey: Buffer;
  /** Key for `hash` transforms (32 bytes): HMAC-SHA256, hex. */
  hashKey: Buffer;
  format: "ndjson" | "csv";
  /** Column order after the id. */
  fields: readonly string[];
  /**
   * Per-field transform applied to the decrypted value: "hash" (keyed HMAC of the JSON value), or
   * a masking name from core/masking.ts. Fields absent here are sent as they are. A transform for
   * a field not in `fields` is refused (it is most likely a misspelt name).
   */
  transforms: Readonly<Record<string, "hash" | Masking>>;
  /** Worker threads (0 = do the work on the calling thread; default: min(2, os.availableParallelism())). */
  threads?: number;
}

export interface PartInput {
  part: number;
  /** Absolute path of the part file to create (overwrite if it exists: a resumed run rewrites a part that was never committed). */
  file: string;
  /** Internal subject ids (base64url of 16 bytes), in order. */
  ids: readonly string[];
  /** Their unwrapped data keys (32 bytes each), same order. The writer zeroes them once read. */
  deks: readonly Buffer[];
  /** values[i][j] = stored ciphertext of fields[j] for ids[i], or null when the subject lacks it. */
  values: readonly (readonly (Buffer | null)[])[];
}

export type PartResult = PartOutcome;

export interface ExportWriter {
  /**
   * Decrypts, transforms, formats and encrypts one part, writes it and fsyncs it (file and
   * directory) before resolving. Parts may be in flight concurrently (up to `threads`); results
   * may resolve out of order. Takes ownership of `part.deks`: they are zeroed (also on failure).
   * A stored value that fails to open rejects the part.
   */
  write(part: PartInput): Promise<PartResult>;
  close(): Promise<void>;
  /** Worker threads actually running (0: the work is done on the calling thread). */
  readonly threads: number;
}

const zeroDeks = (deks: readonly Buffer[]) => {
  for (const d of deks) if (d instanceof Uint8Array) d.fill(0);
};

// ---------------------------------------------------------------- workers

interface Pending {
  resolve: (r: PartResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  failure: Error | null;
}

/**
 * Starts a worker on export-worker. From TypeScript sources (tsx, no build step) it is loaded
 * through tsx's API, since a worker does not inherit the parent's loader (as the import sealer).
 */
const spawnExportWorker = (settings: ExportSettings): Worker => {
  const workerData = { mark: EXPORT_WORKER_MARK, settings };
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./export-worker.js", here), { workerData, execArgv: [] });
  const entry = JSON.stringify(new URL("./export-worker.ts", here).href);
  const api = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${api}).then((tsx) => tsx.tsImport(${entry}, ${JSON.stringify(here)}))`, { eval: true, workerData, execArgv: [] });
};

/** Starts one worker and waits for it; null if it cannot start. */
const startSlot = async (settings: ExportSettings): Promise<Slot | null> => {
  let worker: Worker;
  try {
    worker = spawnExportWorker(settings);
  } catch {
    return null;
  }
  const ready = await new Promise<boolean>((resolve) => {
    const onMessage = (m: WorkerReply) => done("ready" in m);
    const onFailure = () => done(false);
    const timer = setTimeout(onFailure, 30_000);
    // Only our own listeners are removed: Worker keeps internal ones that start its message port.
    const done = (ok: boolean) => {
      clearTimeout(timer);
      worker.off("message", onMessage).off("error", onFailure).off("exit", onFailure);
      resolve(ok);
    };
    worker.on("message", onMessage).on("error", onFailure).on("exit", onFailure);
  });
  if (!ready) {
    await worker.terminate().catch(() => undefined);
    return null;
  }
  const slot: Slot = { worker, pending: new Map(), failure: null };
  // A worker that fails takes its parts with it. Its error is not repeated: it could quote data.
  const fail = (e: Error) => {
    slot.failure ??= e;
    for (const p of slot.pending.values()) p.reject(slot.failure);
    slot.pending.clear();
  };
  worker.on("message", (m: WorkerReply) => {
    if ("ready" in m) return;
    const p = slot.pending.get(m.seq);
    if (!p) return;
    slot.pending.delete(m.seq);
    if (m.ok) p.resolve(m.result);
    else p.reject(new HaechiError("INTERNAL", m.message));
  });
  worker.on("error", () => fail(new HaechiError("INTERNAL", "export worker failed; its parts were not written")));
  worker.on("exit", () => fail(new HaechiError("INTERNAL", "export worker stopped; its parts were not written")));
  worker.on("messageerror", () => fail(new HaechiError("INTERNAL", "export worker sent an unreadable message")));
  return slot;
};

// ---------------------------------------------------------------- the writer

/**
 * Opens a writer for one provision run. Options are checked here, so that a wrong key or a
 * misspelt transform fails before anything is sent. If a worker cannot start, the work is done by
 * the workers that did, or on the calling thread (see `threads`).
 */
export const openExportWriter = async (opts: ExportWriterOptions): Promise<ExportWriter> => {
  const settings: ExportSettings = {
    recipientKey: opts.recipientKey,
    pseudonymKey: opts.pseudonymKey,
    hashKey: opts.hashKey,
    format: opts.format,
    fields: [...opts.fields],
    transforms: { ...opts.transforms },
  };
  checkSettings(settings, MASKINGS);
  const wanted = opts.threads ?? Math.min(2, os.availableParallelism());
  if (!Number.isSafeInteger(wanted) || wanted < 0) throw new HaechiError("INTERNAL", "export writer: threads must be a whole number ≥ 0");
  const fields = settings.fields.length;
  let closed = false;
  const closedError = () => new HaechiError("INTERNAL", "export writer is closed");

  const slots = (await Promise.all(Array.from({ length: wanted }, () => startSlot(settings)))).filter((s): s is Slot => s !== null);

  if (slots.length === 0) {
    const writer = partWriter(settings);
    return {
      threads: 0,
      async write(part) {
        let plain: Buffer;
        try {
          if (closed) throw closedError();
          checkPartInput(part, fields);
          plain = writer.render(part.part, inputSource(part));
        } finally {
          zeroDeks(part.deks);
        }
        return writer.seal(part.part, part.file, part.ids.length, plain);
      },
      async close() {
        closed = true;
      },
    };
  }

  let seq = 0;
  return {
    threads: slots.length,
    write(part) {
      try {
        if (closed) throw closedError();
        checkPartInput(part, fields);
        const live = slots.filter((s) => s.failure === null);
        if (live.length === 0) throw slots[0]!.failure!;
        // The least busy worker: parts differ little in size.
        const slot = live.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
        const packed = packPart(++seq, part, fields);
        return new Promise<PartResult>((resolve, reject) => {
          slot.pending.set(packed.seq, { resolve, reject });
          // Transferred, not copied: the keys and values leave this thread's memory.
          slot.worker.postMessage(packed, [packed.data.buffer as ArrayBuffer, packed.lengths.buffer as ArrayBuffer]);
        });
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new HaechiError("INTERNAL", "export part could not be queued"));
      } finally {
        zeroDeks(part.deks);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of slots) {
        s.worker.removeAllListeners("exit");
        for (const p of s.pending.values()) p.reject(closedError());
        s.pending.clear();
      }
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => undefined)));
    },
  };
};
