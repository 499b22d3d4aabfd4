/**
 * The audit log service: canonicalises entries, chains them and writes them with group commit.
 *
 * Fail closed (STYLE habit 8): `record` resolves only once the entry is durable and rejects with
 * `AUDIT_UNAVAILABLE` otherwise; callers must not release data before it resolves.
 */
import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { AuditHead, AuditRow, AuditStore } from "../core/ports.js";
import type { AuditEntry, AuditInput } from "./audit-types.js";
import { canonicalize } from "./canonical.js";
import { chainHasher, ZERO_HASH } from "./chain.js";

export interface AuditLogDeps {
  /** Only `appendBatch` is used: the head comes from the store under its lock. */
  store: Pick<AuditStore, "appendBatch">;
  /** 32-byte chain key. */
  chainKey: Buffer;
  /** Stamps entries recorded without `at`. */
  clock?: Clock;
  /** Most entries per appendBatch (default 512). */
  maxBatch?: number;
  /**
   * Batches in flight at once (default 1). A store whose appends are network round trips with a
   * durable commit (PostgreSQL) keeps the pipe full with several: each is chained to the head the
   * previous one will leave, and the store's compare-and-set re-chains any that lost a race.
   */
  maxInFlight?: number;
  /** Told about every failed write (e.g. to log and raise an alarm); never about entry contents. */
  onError?: (e: unknown) => void;
}

export interface AuditLog {
  /** Write one entry; resolves with its seq once durable. Rejects with AUDIT_UNAVAILABLE. */
  record(entry: AuditInput): Promise<number>;
  /** Write several entries (consecutive seqs when no other writer interleaves). */
  recordMany(entries: readonly AuditInput[]): Promise<number[]>;
  /**
   * Calls `fn` with every entry as it is recorded: stamped and canonicalised, synchronously and in
   * record order, before it is durable (an entry whose write then fails was still attempted).
   * This is the live access stream detection reads instead of reading the store back. An
   * observer must be cheap (it runs on the request path) and must not throw; a throw is ignored
   * and reported to `onError`. Returns a function that stops the observation.
   */
  observe(fn: (entry: Readonly<AuditEntry>) => void): () => void;
  /** Resolves once everything recorded so far has been written or has failed. */
  flush(): Promise<void>;
  /** Refuse new entries and flush. Does not close the store (the container owns it). */
  close(): Promise<void>;
}

interface Pending {
  entry: AuditEntry;
  body: string;
  resolve: (seq: number) => void;
  reject: (e: HaechiError) => void;
}

const unavailable = (message: string, cause?: unknown): HaechiError =>
  new HaechiError("AUDIT_UNAVAILABLE", message, {
    // Only the code of a known failure: driver messages may echo SQL or values.
    cause: isHaechiError(cause) ? cause.code : cause === undefined ? undefined : "STORE_ERROR",
  });

/**
 * Group commit: entries recorded in the same event-loop turn, or while a batch is being written,
 * go to the store together in one `appendBatch` (one durable transaction). At most
 * `maxInFlight` appendBatch calls run at once per AuditLog (default one); batches hold at most
 * `maxBatch` entries. The chain is
 * computed inside the store's `build` callback from the head the store hands over, so several
 * processes can share one store.
 */
export const auditLog = (deps: AuditLogDeps): AuditLog => {
  const clock = deps.clock ?? systemClock;
  const maxBatch = deps.maxBatch ?? 512;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError("maxBatch must be ≥ 1");
  const hasher = chainHasher(deps.chainKey);

  const maxInFlight = deps.maxInFlight ?? 1;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new RangeError("maxInFlight must be ≥ 1");
  const queue: Pending[] = [];
  const inFlight = new Set<Promise<void>>();
  let scheduled = false;
  let closed = false;

  /** Pure and synchronous, as appendBatch requires; may be called again if the store retries. */
  const build = (head: AuditHead | null, batch: readonly Pending[]): AuditRow[] => {
    let prev = head ? head.hash : ZERO_HASH;
    let seq = head ? head.seq : 0;
    const rows: AuditRow[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      seq += 1;
      const hash = hasher.hash(prev, seq, p.body);
      rows[i] = {
        seq,
        at: new Date(p.entry.at),
        subjectRef: p.entry.subjectRef,
        principal: p.entry.principal,
        action: p.entry.action,
        body: p.body,
        hash,
      };
      prev = hash;
    }
    return rows;
  };

  const writeBatch = async (batch: Pending[]): Promise<void> => {
    let rows: AuditRow[];
    try {
      rows = await deps.store.appendBatch((head) => build(head, batch));
      if (rows.length !== batch.length) throw unavailable("audit store returned a different number of rows");
    } catch (e) {
      try {
        deps.onError?.(e);
      } catch {
        // An observer's failure must not change the outcome reported to callers.
      }
      const err = unavailable("audit entry could not be written", e);
      for (const p of batch) p.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(rows[i]!.seq);
  };

  /** Starts batches while there is room in flight; each finished batch makes room for the next. */
  const pump = (): void => {
    while (inFlight.size < maxInFlight && queue.length > 0) {
      const p: Promise<void> = writeBatch(queue.splice(0, maxBatch)).finally(() => {
        inFlight.delete(p);
        pump();
      });
      inFlight.add(p);
    }
  };

  const kick = (): void => {
    if (scheduled || inFlight.size >= maxInFlight) return; // a finishing batch pumps again
    scheduled = true;
    // setImmediate rather than a microtask: entries from every request handled in this
    // event-loop turn join the same batch.
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };

  const prepare = (input: AuditInput): { entry: AuditEntry; body: string } => {
    try {
      const entry: AuditEntry = { ...input, at: input.at ?? clock.now().toISOString() };
      return { entry, body: canonicalize(entry) };
    } catch (e) {
      throw unavailable("audit entry is malformed", e);
    }
  };

  let observers: readonly ((entry: Readonly<AuditEntry>) => void)[] = [];
  const notify = (entry: AuditEntry): void => {
    for (const fn of observers) {
      try {
        fn(entry);
      } catch (e) {
        try {
          deps.onError?.(e);
        } catch {
          // An observer's failure must not change the outcome reported to callers.
        }
      }
    }
  };

  const enqueue = (prepared: { entry: AuditEntry; body: string }): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      queue.push({ ...prepared, resolve, reject });
      kick();
    });

  const record = async (input: AuditInput): Promise<number> => {
    if (closed) throw unavailable("audit log is closed");
    const prepared = prepare(input);
    if (observers.length > 0) notify(prepared.entry);
    return enqueue(prepared);
  };

  /** All or nothing at validation: one malformed entry refuses the whole call before any write. */
  const recordMany = async (inputs: readonly AuditInput[]): Promise<number[]> => {
    if (closed) throw unavailable("audit log is closed");
    const prepared = inputs.map(prepare);
    if (observers.length > 0) for (const p of prepared) notify(p.entry);
    return Promise.all(prepared.map(enqueue));
  };

  const flush = async (): Promise<void> => {
    while (scheduled || inFlight.size > 0 || queue.length > 0) {
      if (inFlight.size > 0) await Promise.all(inFlight);
      else await new Promise<void>((r) => setImmediate(r));
    }
  };

  return {
    record,
    recordMany,
    observe(fn) {
      observers = [...observers, fn];
      return () => {
        observers = observers.filter((o) => o !== fn);
      };
    },
    flush,
    async close() {
      closed = true;
      await flush();
    },
  };
};
