/**
 * Idempotency keys on every write (issue 7; docs/adr/0017-idempotency.md): a retry after an
 * unknown outcome (a 503 STORE_UNAVAILABLE after a failover, a lost connection) gets the first
 * answer back if the first attempt committed, and is carried out exactly once if it did not.
 *
 * `run` looks the key up (one read, only when a key was sent), then:
 *   - answered already → the stored answer (no second effect, no second audit entry);
 *   - another request under the key → IDEMPOTENCY_MISMATCH;
 *   - claimed by an operation of several steps that did not finish → the operation is handed the
 *     claim's progress and finishes it (erasure, a data-subject request, incident notices);
 *   - nothing → the operation runs and writes the answer in the transaction that completes it.
 * Two requests with one key in this process run one after the other (the second then replays);
 * across processes the store's unique (principal, key) does it: the loser's transaction rolls
 * back and it answers as the winner did.
 */
import type { Clock } from "../core/clock.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import { KEY_RETENTION_MS, PENDING, type Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { DataStore, IdempotencyRow } from "../core/ports.js";

export type IdempotencyServiceDeps = {
  data: Pick<DataStore, "getIdempotency" | "transaction" | "pruneIdempotency">;
  clock: Clock;
  /** How often keyed requests forget keys older than 24 h on the way (default every 10 minutes). */
  pruneEveryMs?: number;
};

/** One key of one request: who sent it, the request's fingerprint, and how a result is answered. */
export interface KeySpec<T> {
  principal: string;
  key: string;
  requestHash: Buffer;
  /** The answer a retry gets back for `result`: the status and the body exactly as sent (JSON text). */
  answer(result: T): { status: number; response: string };
  /** The answer for a refusal the operation records itself (a refused provision). */
  refusal?(error: HaechiError): { status: number; response: string };
}

export type Outcome<T> = { replayed: false; result: T } | { replayed: true; status: number; response: string };

export const idempotencyService = (deps: IdempotencyServiceDeps) => {
  const pruneEveryMs = deps.pruneEveryMs ?? 10 * 60_000;
  let lastPrune = 0;
  /** Requests under way per (principal, key) in this process: a duplicate waits for the first. */
  const inFlight = new Map<string, Promise<unknown>>();

  const prune = async (): Promise<number> => {
    const before = new Date(deps.clock.now().getTime() - KEY_RETENTION_MS);
    return deps.data.pruneIdempotency(before);
  };

  /** Rows older than the retention go every few minutes, on the way of keyed requests (no job). */
  const pruneOnTheWay = () => {
    const now = deps.clock.now().getTime();
    if (now - lastPrune < pruneEveryMs) return;
    lastPrune = now;
    prune().catch(() => undefined);
  };

  const answered = (row: IdempotencyRow) => ({ replayed: true as const, status: row.status, response: row.response });

  const runOnce = async <T>(spec: KeySpec<T>, fn: (idem: Idempotency<T>) => Promise<T>): Promise<Outcome<T>> => {
    const found = await deps.data.getIdempotency(spec.principal, spec.key);
    if (found !== undefined && !found.requestHash.equals(spec.requestHash)) {
      throw new HaechiError("IDEMPOTENCY_MISMATCH", "this Idempotency-Key was used with a different request");
    }
    if (found !== undefined && found.status !== PENDING) return answered(found);
    const createdAt = deps.clock.now();
    const row = (status: number, response: string): IdempotencyRow => ({
      principal: spec.principal,
      key: spec.key,
      requestHash: spec.requestHash,
      status,
      response,
      createdAt,
    });
    const idem: Idempotency<T> = {
      principal: spec.principal,
      key: spec.key,
      requestHash: spec.requestHash,
      pending: found === undefined ? undefined : JSON.parse(found.response),
      answer: (result) => {
        const a = spec.answer(result);
        return row(a.status, a.response);
      },
      refusal: (error) => {
        if (spec.refusal === undefined) throw new HaechiError("INTERNAL", "this operation does not record refusals");
        const a = spec.refusal(error);
        return row(a.status, a.response);
      },
      claim: (progress) => row(PENDING, JSON.stringify(progress ?? null)),
      complete: (result) => deps.data.transaction((tx) => tx.putIdempotency(idem.answer(result))),
      begin: (progress) => deps.data.transaction((tx) => tx.putIdempotency(idem.claim(progress))),
      derived: (step) => `${spec.key}/${step}`,
    };
    try {
      return { replayed: false, result: await fn(idem) };
    } catch (e) {
      // Another process answered the key first (its transaction won the unique key, ours rolled
      // back), or our own commit landed and only its acknowledgement was lost: answer as stored.
      if (isHaechiError(e) && (e.code === "CONFLICT" || e.code === "STORE_UNAVAILABLE")) {
        const again = await deps.data.getIdempotency(spec.principal, spec.key).catch(() => undefined);
        if (again !== undefined && again.requestHash.equals(spec.requestHash)) {
          if (again.status !== PENDING) return answered(again);
          if (e.code === "CONFLICT" && found?.status !== PENDING) {
            throw new HaechiError("CONFLICT", "a request with this Idempotency-Key is still being carried out: retry in a moment");
          }
        }
      }
      throw e;
    }
  };

  return {
    /**
     * Carries out `fn` under the key, or answers as an earlier request with the key did (see the
     * module comment). `fn` receives the key's scope and must write `idem.answer(result)` in the
     * transaction that completes the write.
     */
    async run<T>(spec: KeySpec<T>, fn: (idem: Idempotency<T>) => Promise<T>): Promise<Outcome<T>> {
      pruneOnTheWay();
      const slot = `${spec.principal}\0${spec.key}`;
      const before = inFlight.get(slot);
      const mine = (async () => {
        if (before !== undefined) await before.catch(() => undefined);
        return runOnce(spec, fn);
      })();
      inFlight.set(slot, mine);
      try {
        return await mine;
      } finally {
        if (inFlight.get(slot) === mine) inFlight.delete(slot);
      }
    },

    /** Forgets keys older than 24 hours now (the same as keyed requests do every few minutes); returns how many. */
    prune,
  };
};

export type IdempotencyService = ReturnType<typeof idempotencyService>;

/** A step's result stored under a derived key, read back when the step is replayed (JSON results only). */
export const replayedResult = <T>(outcome: Outcome<T>): T => (outcome.replayed ? (JSON.parse(outcome.response) as T) : outcome.result);
