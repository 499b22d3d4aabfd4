/**
 * Idempotency rows on PostgreSQL (`haechi.idempotency`), written on the client of whatever
 * transaction records the write they answer (docs/adr/0017-idempotency.md), so the sub-stores
 * (provisions, requests, incidents, holds, preferences) commit a key with their effect.
 */
import { HaechiError } from "../../core/errors.js";
import type { IdempotencyRecord, IdempotencyRow } from "../../core/ports.js";
import { IDEMPOTENCY_EXISTS, mapDriverError } from "../storage-errors.js";
import { named, runNamed, type PgConn } from "./pg-query.js";

/**
 * A new row, or the answer to a claim (status 0) under the same request hash. The conflicting row
 * is locked, so of two transactions answering one claim the second waits and then finds it
 * answered.
 */
const PUT_IDEMPOTENCY = named(
  "haechi_put_idempotency",
  `INSERT INTO haechi.idempotency (principal, key, request_hash, status, response, created_at)
   VALUES ($1, $2, $3, $4, $5, $6)
   ON CONFLICT (principal, key) DO UPDATE SET status = EXCLUDED.status, response = EXCLUDED.response
   WHERE haechi.idempotency.status = 0 AND EXCLUDED.status <> 0 AND haechi.idempotency.request_hash = EXCLUDED.request_hash`,
);

/** Writes one idempotency row on `conn` (a transaction's client); CONFLICT if the key is answered already. */
export const putIdempotencyOn = async (conn: PgConn, row: IdempotencyRow): Promise<void> => {
  let count: number;
  try {
    count = (await runNamed(conn, PUT_IDEMPOTENCY, [row.principal, row.key, row.requestHash, row.status, row.response, row.createdAt])).rowCount ?? 0;
  } catch (e) {
    throw mapDriverError(e, { unique: IDEMPOTENCY_EXISTS });
  }
  if (count === 0) throw new HaechiError("CONFLICT", IDEMPOTENCY_EXISTS);
};

/** Records the row a write's result calls for, if the caller sent a key. */
export const recordOn = async <R>(conn: PgConn, idem: IdempotencyRecord<R> | undefined, result: R): Promise<R> => {
  if (idem !== undefined) await putIdempotencyOn(conn, idem(result));
  return result;
};
