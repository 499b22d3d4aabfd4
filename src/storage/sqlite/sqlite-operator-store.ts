/**
 * OperatorStore on SQLite (`data.db`: `operators`, migration 0012_operators). No connections of
 * its own: writes go through the data store's writer under its mutex, reads through its reader.
 * The two login writes are single statements, so they are atomic without a transaction.
 */
import type Database from "better-sqlite3";
import type { OperatorRow, OperatorStore, StaffRole } from "../../core/ports.js";
import { guard, OPERATOR_EXISTS } from "../storage-errors.js";
import type { SqliteDataDb } from "./sqlite-schema.js";

export interface SqliteOperatorDeps {
  writer: Database.Database;
  reader: Database.Database;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

type OperatorDbRow = SqliteDataDb["operators"];

const COLUMNS =
  "id, role, password_hash, totp_sealed, totp_last_step, failed_count, locked_until, created_at, created_by, disabled_at, last_login_at";

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

const toOperator = (r: OperatorDbRow): OperatorRow => ({
  id: r.id,
  role: r.role as StaffRole,
  passwordHash: r.password_hash,
  totpSealed: r.totp_sealed,
  totpLastStep: r.totp_last_step,
  failedCount: r.failed_count,
  lockedUntil: date(r.locked_until),
  createdAt: new Date(r.created_at),
  createdBy: r.created_by,
  disabledAt: date(r.disabled_at),
  lastLoginAt: date(r.last_login_at),
});

export const sqliteOperatorStore = (deps: SqliteOperatorDeps): OperatorStore => {
  const { writer, reader, exclusive } = deps;
  const r = {
    get: reader.prepare<[string], OperatorDbRow>(`SELECT ${COLUMNS} FROM operators WHERE id = ?`),
    list: reader.prepare<[], OperatorDbRow>(`SELECT ${COLUMNS} FROM operators ORDER BY id`),
  };
  const w = {
    insert: writer.prepare<[string, string, string, Buffer, number, number, number | null, number, string, number | null, number | null]>(
      `INSERT INTO operators (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    failure: writer.prepare<[number, number, string], { failed_count: number; locked_until: number | null }>(
      `UPDATE operators SET failed_count = failed_count + 1,
         locked_until = CASE WHEN failed_count + 1 >= ? THEN ? ELSE locked_until END
       WHERE id = ? RETURNING failed_count, locked_until`,
    ),
    accept: writer.prepare<[number, number, string, number]>(
      `UPDATE operators SET totp_last_step = ?, last_login_at = ?, failed_count = 0, locked_until = NULL
       WHERE id = ? AND totp_last_step < ? AND disabled_at IS NULL`,
    ),
    disable: writer.prepare<[number, string]>("UPDATE operators SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL"),
  };
  const write = <T>(fn: () => T) => exclusive(() => guard(fn, { unique: OPERATOR_EXISTS }));
  return {
    insert: (o) =>
      write(() => {
        w.insert.run(
          o.id,
          o.role,
          o.passwordHash,
          o.totpSealed,
          o.totpLastStep,
          o.failedCount,
          o.lockedUntil?.getTime() ?? null,
          o.createdAt.getTime(),
          o.createdBy,
          o.disabledAt?.getTime() ?? null,
          o.lastLoginAt?.getTime() ?? null,
        );
      }),
    get: (id) => guard(() => {
      const row = r.get.get(id);
      return row === undefined ? undefined : toOperator(row);
    }),
    list: () => guard(() => r.list.all().map(toOperator)),
    recordFailure: (id, max, lockUntil) =>
      write(() => {
        const row = w.failure.get(max, lockUntil.getTime(), id);
        return row === undefined ? undefined : { failedCount: row.failed_count, lockedUntil: date(row.locked_until) };
      }),
    acceptLogin: (id, step, at) => write(() => w.accept.run(step, at.getTime(), id, step).changes === 1),
    disable: (id, at) => write(() => w.disable.run(at.getTime(), id).changes === 1),
  };
};
