/**
 * Idempotency rows on SQLite (`data.db`: `idempotency`), written on the data store's writer inside
 * whatever transaction records the write they answer (docs/adr/0017-idempotency.md), so the
 * sub-stores (provisions, requests, incidents, holds, preferences) commit a key with their effect.
 */
import type Database from "better-sqlite3";
import { HaechiError } from "../../core/errors.js";
import type { IdempotencyRecord, IdempotencyRow } from "../../core/ports.js";
import { IDEMPOTENCY_EXISTS, mapDriverError } from "../storage-errors.js";

/** Writes one idempotency row, synchronously, in the writer's open transaction. */
export type SqliteIdempotencyWriter = (row: IdempotencyRow) => void;

/**
 * A new row, or the answer to a claim (status 0) under the same request hash; anything else (the
 * key answered already, a second claim, another request) changes nothing and is CONFLICT, which
 * rolls back the transaction around it.
 */
export const sqliteIdempotencyWriter = (writer: Database.Database): SqliteIdempotencyWriter => {
  const put = writer.prepare<[string, string, Buffer, number, string, number]>(
    `INSERT INTO idempotency (principal, key, request_hash, status, response, created_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (principal, key) DO UPDATE SET status = excluded.status, response = excluded.response
     WHERE idempotency.status = 0 AND excluded.status <> 0 AND idempotency.request_hash = excluded.request_hash`,
  );
  return (row) => {
    let changes: number;
    try {
      changes = put.run(row.principal, row.key, row.requestHash, row.status, row.response, row.createdAt.getTime()).changes;
    } catch (e) {
      throw mapDriverError(e, { unique: IDEMPOTENCY_EXISTS });
    }
    if (changes === 0) throw new HaechiError("CONFLICT", IDEMPOTENCY_EXISTS);
  };
};

/** Records the row a write's result calls for, if the caller sent a key. */
export const recordWith = <R>(put: SqliteIdempotencyWriter, idem: IdempotencyRecord<R> | undefined, result: R): R => {
  if (idem !== undefined) put(idem(result));
  return result;
};
