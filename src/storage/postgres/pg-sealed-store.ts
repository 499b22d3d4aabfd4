/**
 * SealedStore on PostgreSQL (schema `haechi`, table `sealed_fields`, apart from the live
 * `fields`), on the data store's pool. Every method is one named statement: a `put` of many rows
 * is one INSERT over array parameters, atomic without BEGIN/COMMIT.
 */
import type pg from "pg";
import { asSubjectId } from "../../core/ids.js";
import type { SealedFieldRow, SealedStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { dedupeSealed, distinct } from "../store-fns.js";
import { iso, named, runNamed } from "./pg-query.js";
import type { PgDataDb } from "./pg-schema.js";

export interface PgSealedDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
}

// ---------------------------------------------------------------- statements

const SEALED_COLUMNS = "subject_id, field, ciphertext, rule, until, sealed_at";

// A put replaces: an interrupted erasure is simply repeated.
const PUT = named(
  "haechi_sealed_put",
  `INSERT INTO haechi.sealed_fields (${SEALED_COLUMNS})
   SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::timestamptz[], $6::timestamptz[])
   ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,
     rule = EXCLUDED.rule, until = EXCLUDED.until, sealed_at = EXCLUDED.sealed_at`,
);
const GET_ALL = named(
  "haechi_sealed_get_all",
  `SELECT ${SEALED_COLUMNS} FROM haechi.sealed_fields WHERE subject_id = $1 ORDER BY field`,
);
const GET_SOME = named(
  "haechi_sealed_get_some",
  `SELECT ${SEALED_COLUMNS} FROM haechi.sealed_fields WHERE subject_id = $1 AND field = ANY($2::text[]) ORDER BY field`,
);
const DESTROY_ALL = named("haechi_sealed_destroy_all", "DELETE FROM haechi.sealed_fields WHERE subject_id = $1");
const DESTROY_DUE = named(
  "haechi_sealed_destroy_due",
  "DELETE FROM haechi.sealed_fields WHERE subject_id = $1 AND until <= $2",
);
// Over the (until, subject_id) index's due range; each subject once, with its earliest due value.
const DUE = named(
  "haechi_sealed_due",
  `SELECT subject_id, min(until) AS first_until FROM haechi.sealed_fields WHERE until <= $1
   GROUP BY subject_id ORDER BY first_until, subject_id LIMIT $2`,
);

type SealedDbRow = PgDataDb["haechi.sealed_fields"];

const toSealed = (r: SealedDbRow): SealedFieldRow => ({
  subjectId: asSubjectId(r.subject_id),
  field: r.field,
  ciphertext: r.ciphertext,
  rule: r.rule,
  until: r.until,
  sealedAt: r.sealed_at,
});

// ---------------------------------------------------------------- store

/** The sealed store on the data store's pool. */
export const pgSealedStore = (deps: PgSealedDeps): SealedStore => {
  const { pool, outsideTransaction } = deps;
  const write = <T>(fn: () => Promise<T>) => outsideTransaction(() => guard(fn));

  return {
    put: (rows) =>
      write(async () => {
        if (rows.length === 0) return;
        // Last row per (subject, field) wins: ON CONFLICT cannot touch one row twice in a statement.
        const unique = dedupeSealed(rows);
        await runNamed(pool, PUT, [
          unique.map((r) => r.subjectId),
          unique.map((r) => r.field),
          unique.map((r) => r.ciphertext),
          unique.map((r) => r.rule),
          unique.map((r) => iso(r.until)),
          unique.map((r) => iso(r.sealedAt)),
        ]);
      }),
    get: (subjectId, fields) =>
      guard(async () => {
        const wanted = distinct(fields);
        const res =
          wanted.length === 0
            ? await runNamed<SealedDbRow>(pool, GET_ALL, [subjectId])
            : await runNamed<SealedDbRow>(pool, GET_SOME, [subjectId, wanted]);
        return res.rows.map(toSealed);
      }),
    destroy: (subjectId, now) =>
      write(async () => {
        const res =
          now === null
            ? await runNamed(pool, DESTROY_ALL, [subjectId])
            : await runNamed(pool, DESTROY_DUE, [subjectId, now]);
        return res.rowCount ?? 0;
      }),
    due: (now, limit) =>
      guard(async () =>
        (await runNamed<{ subject_id: string; first_until: Date }>(pool, DUE, [now, limit])).rows.map((r) => ({
          subjectId: asSubjectId(r.subject_id),
          until: r.first_until,
        })),
      ),
  };
};
