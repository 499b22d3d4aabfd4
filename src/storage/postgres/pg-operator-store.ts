/**
 * OperatorStore on PostgreSQL (schema `haechi`: `operators`, migration 0012_operators), on the data
 * store's pool. Every method is one named statement, so the login writes are atomic on their own.
 */
import type pg from "pg";
import type { OperatorRow, OperatorStore, StaffRole } from "../../core/ports.js";
import { guard, OPERATOR_EXISTS } from "../storage-errors.js";
import { named, runNamed } from "./pg-query.js";
import type { PgDataDb } from "./pg-schema.js";

export interface PgOperatorDeps {
  pool: pg.Pool;
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
}

const COLUMNS =
  "id, role, password_hash, totp_sealed, totp_last_step, failed_count, locked_until, created_at, created_by, disabled_at, last_login_at";

const INSERT = named("haechi_operators_insert", `INSERT INTO haechi.operators (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`);
const GET = named("haechi_operators_get", `SELECT ${COLUMNS} FROM haechi.operators WHERE id = $1`);
const LIST = named("haechi_operators_list", `SELECT ${COLUMNS} FROM haechi.operators ORDER BY id`);
const FAILURE = named(
  "haechi_operators_failure",
  `UPDATE haechi.operators SET failed_count = failed_count + 1,
     locked_until = CASE WHEN failed_count + 1 >= $2 THEN $3 ELSE locked_until END
   WHERE id = $1 RETURNING failed_count, locked_until`,
);
const ACCEPT = named(
  "haechi_operators_accept",
  `UPDATE haechi.operators SET totp_last_step = $2, last_login_at = $3, failed_count = 0, locked_until = NULL
   WHERE id = $1 AND totp_last_step < $2 AND disabled_at IS NULL`,
);
const DISABLE = named("haechi_operators_disable", "UPDATE haechi.operators SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL");

type OperatorDbRow = PgDataDb["haechi.operators"];

const toOperator = (r: OperatorDbRow): OperatorRow => ({
  id: r.id,
  role: r.role as StaffRole,
  passwordHash: r.password_hash,
  totpSealed: r.totp_sealed,
  totpLastStep: Number(r.totp_last_step),
  failedCount: r.failed_count,
  lockedUntil: r.locked_until,
  createdAt: r.created_at,
  createdBy: r.created_by,
  disabledAt: r.disabled_at,
  lastLoginAt: r.last_login_at,
});

export const pgOperatorStore = (deps: PgOperatorDeps): OperatorStore => {
  const { pool, outsideTransaction } = deps;
  const write = <T>(fn: () => Promise<T>) => outsideTransaction(() => guard(fn, { unique: OPERATOR_EXISTS }));
  return {
    insert: (o) =>
      write(async () => {
        await runNamed(pool, INSERT, [
          o.id,
          o.role,
          o.passwordHash,
          o.totpSealed,
          o.totpLastStep,
          o.failedCount,
          o.lockedUntil,
          o.createdAt,
          o.createdBy,
          o.disabledAt,
          o.lastLoginAt,
        ]);
      }),
    get: (id) =>
      guard(async () => {
        const row = (await runNamed<OperatorDbRow>(pool, GET, [id])).rows[0];
        return row === undefined ? undefined : toOperator(row);
      }),
    list: () => guard(async () => (await runNamed<OperatorDbRow>(pool, LIST, [])).rows.map(toOperator)),
    recordFailure: (id, max, lockUntil) =>
      write(async () => {
        const row = (await runNamed<{ failed_count: number; locked_until: Date | null }>(pool, FAILURE, [id, max, lockUntil])).rows[0];
        return row === undefined ? undefined : { failedCount: row.failed_count, lockedUntil: row.locked_until };
      }),
    acceptLogin: (id, step, at) => write(async () => (await runNamed(pool, ACCEPT, [id, step, at])).rowCount === 1),
    disable: (id, at) => write(async () => (await runNamed(pool, DISABLE, [id, at])).rowCount === 1),
  };
};
