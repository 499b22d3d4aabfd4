/**
 * SealedStore on SQLite (`data.db`, table `sealed_fields`, apart from the live `fields`).
 *
 * Like the provision store it has no connections of its own: writes go through the data store's
 * writer under the data store's mutex (a second writer connection on this thread would wait
 * forever behind an open async transaction), reads through its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { asSubjectId } from "../../core/ids.js";
import type { SealedFieldRow, SealedStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { dedupeSealed, distinct } from "../store-fns.js";
import type { SqliteDataDb } from "./sqlite-schema.js";

export interface SqliteSealedDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

type SealedDbRow = SqliteDataDb["sealed_fields"];

const SEALED_COLUMNS = "subject_id, field, ciphertext, rule, until, sealed_at";

const toSealed = (r: SealedDbRow): SealedFieldRow => ({
  subjectId: asSubjectId(r.subject_id),
  field: r.field,
  ciphertext: r.ciphertext,
  rule: r.rule,
  until: new Date(r.until),
  sealedAt: new Date(r.sealed_at),
});

/** The sealed store over the data store's connections. */
export const sqliteSealedStore = (deps: SqliteSealedDeps): SealedStore => {
  const { writer, reader, exclusive } = deps;

  const r = {
    all: reader.prepare<[string], SealedDbRow>(
      `SELECT ${SEALED_COLUMNS} FROM sealed_fields WHERE subject_id = ? ORDER BY field`,
    ),
    // One JSON array parameter whatever the count: no per-arity statements, no parameter limit.
    some: reader.prepare<[string, string], SealedDbRow>(
      `SELECT ${SEALED_COLUMNS} FROM sealed_fields
       WHERE subject_id = ? AND field IN (SELECT value FROM json_each(?)) ORDER BY field`,
    ),
    // Walks the (until, subject_id) index over the due range; each subject once, with its
    // earliest due value.
    due: reader.prepare<[number, number], { subject_id: string; first_until: number }>(
      `SELECT subject_id, min(until) AS first_until FROM sealed_fields WHERE until <= ?
       GROUP BY subject_id ORDER BY first_until, subject_id LIMIT ?`,
    ),
  };

  const w = {
    // A put replaces: an interrupted erasure is simply repeated.
    upsert: writer.prepare<[string, string, Buffer, string, number, number]>(
      `INSERT INTO sealed_fields (${SEALED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = excluded.ciphertext,
         rule = excluded.rule, until = excluded.until, sealed_at = excluded.sealed_at`,
    ),
    destroyAll: writer.prepare<[string]>("DELETE FROM sealed_fields WHERE subject_id = ?"),
    destroyDue: writer.prepare<[string, number]>("DELETE FROM sealed_fields WHERE subject_id = ? AND until <= ?"),
  };

  const putNow = writer.transaction((rows: readonly SealedFieldRow[]) => {
    for (const row of rows) {
      w.upsert.run(row.subjectId, row.field, row.ciphertext, row.rule, row.until.getTime(), row.sealedAt.getTime());
    }
  });

  const write = <T>(fn: () => T | Promise<T>) => exclusive(() => guard(fn));
  const read = <T>(fn: () => T | Promise<T>) => guard(fn);

  return {
    put: (rows) =>
      write(() => {
        if (rows.length > 0) putNow.immediate(dedupeSealed(rows));
      }),
    get: (subjectId, fields) =>
      read(() => {
        const wanted = distinct(fields);
        const rows = wanted.length === 0 ? r.all.all(subjectId) : r.some.all(subjectId, JSON.stringify(wanted));
        return rows.map(toSealed);
      }),
    destroy: (subjectId, now) =>
      write(() =>
        Number(now === null ? w.destroyAll.run(subjectId).changes : w.destroyDue.run(subjectId, now.getTime()).changes),
      ),
    due: (now, limit) =>
      read(() =>
        r.due.all(now.getTime(), limit).map((row) => ({ subjectId: asSubjectId(row.subject_id), until: new Date(row.first_until) })),
      ),
  };
};
