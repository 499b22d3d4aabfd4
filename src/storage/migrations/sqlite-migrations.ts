/**
 * SQLite schema, one list per database file. Dates are INTEGER milliseconds since the epoch;
 * ids compare bytewise (BINARY), like PostgreSQL's `COLLATE "C"` columns.
 *
 * INVARIANT: an applied migration never changes. Add a new entry with a later name instead.
 */
import { sql, type Kysely } from "kysely";
import type { MigrationList } from "./migrate.js";

const run = async (db: Kysely<any>, statements: readonly ReturnType<typeof sql>[]) => {
  for (const s of statements) await s.execute(db);
};

/** data.db: subjects, encrypted fields, blind indexes, consent ledger, API keys, idempotency. */
export const sqliteDataMigrations: MigrationList = {
  "0001_data_init": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE subjects (
              id TEXT PRIMARY KEY,
              created_at INTEGER NOT NULL,
              updated_at INTEGER NOT NULL,
              status TEXT NOT NULL CHECK (status IN ('active', 'erased'))
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE TABLE fields (
              subject_id TEXT NOT NULL REFERENCES subjects (id),
              field TEXT NOT NULL,
              ciphertext BLOB NOT NULL,
              updated_at INTEGER NOT NULL,
              PRIMARY KEY (subject_id, field)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE TABLE lookups (
              subject_id TEXT NOT NULL REFERENCES subjects (id),
              field TEXT NOT NULL,
              digest BLOB NOT NULL,
              PRIMARY KEY (subject_id, field, digest)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE INDEX lookups_by_digest ON lookups (field, digest)`,
        // The ledger is append-only evidence (PIPA Art. 22(1)); seq is the insertion order.
        sql`CREATE TABLE consent_ledger (
              seq INTEGER PRIMARY KEY,
              id TEXT NOT NULL UNIQUE,
              subject_id TEXT NOT NULL REFERENCES subjects (id),
              notice TEXT NOT NULL,
              notice_version INTEGER NOT NULL,
              category TEXT NOT NULL,
              action TEXT NOT NULL CHECK (action IN ('grant', 'withdraw')),
              channel TEXT NOT NULL,
              at INTEGER NOT NULL,
              principal TEXT NOT NULL,
              request_id TEXT NOT NULL
            ) STRICT`,
        sql`CREATE INDEX consent_ledger_by_subject ON consent_ledger (subject_id, at, seq)`,
        sql`CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
            BEGIN SELECT RAISE(ABORT, 'consent ledger is append-only'); END`,
        sql`CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
            BEGIN SELECT RAISE(ABORT, 'consent ledger is append-only'); END`,
        sql`CREATE TABLE consent_state (
              subject_id TEXT NOT NULL REFERENCES subjects (id),
              notice TEXT NOT NULL,
              notice_version INTEGER NOT NULL,
              category TEXT NOT NULL,
              status TEXT NOT NULL CHECK (status IN ('granted', 'withdrawn')),
              channel TEXT NOT NULL,
              at INTEGER NOT NULL,
              PRIMARY KEY (subject_id, notice)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE INDEX consent_state_by_notice ON consent_state (notice, status, notice_version)`,
        sql`CREATE TABLE api_keys (
              key_id TEXT PRIMARY KEY,
              principal TEXT NOT NULL,
              secret_hash BLOB NOT NULL,
              created_at INTEGER NOT NULL,
              revoked_at INTEGER,
              failed_count INTEGER NOT NULL DEFAULT 0,
              locked_until INTEGER
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE TABLE idempotency (
              principal TEXT NOT NULL,
              key TEXT NOT NULL,
              request_hash BLOB NOT NULL,
              status INTEGER NOT NULL,
              response TEXT NOT NULL,
              created_at INTEGER NOT NULL,
              PRIMARY KEY (principal, key)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID`,
      ]),
  },
};

/** keys.db: wrapped data keys and audit references (deleting a row is crypto-shredding). */
export const sqliteKeyMigrations: MigrationList = {
  "0001_keys_init": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE wrapped_keys (
              subject_id TEXT PRIMARY KEY,
              kek_version INTEGER NOT NULL,
              dek_version INTEGER NOT NULL,
              wrapped BLOB NOT NULL,
              audit_ref TEXT NOT NULL UNIQUE,
              created_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID`,
      ]),
  },
};

/** audit.db: the chained log, its head (one row, created here) and signed checkpoints. */
export const sqliteAuditMigrations: MigrationList = {
  "0001_audit_init": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE audit_log (
              seq INTEGER PRIMARY KEY,
              at INTEGER NOT NULL,
              subject_ref TEXT,
              principal TEXT,
              action TEXT NOT NULL,
              body TEXT NOT NULL,
              hash BLOB NOT NULL
            ) STRICT`,
        sql`CREATE INDEX audit_log_by_subject_ref ON audit_log (subject_ref, seq) WHERE subject_ref IS NOT NULL`,
        sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
        sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
        sql`CREATE TABLE audit_head (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              seq INTEGER,
              hash BLOB
            ) STRICT`,
        sql`INSERT INTO audit_head (id, seq, hash) VALUES (1, NULL, NULL)`,
        sql`CREATE TABLE checkpoints (
              seq INTEGER PRIMARY KEY,
              hash TEXT NOT NULL,
              at TEXT NOT NULL,
              key_id TEXT NOT NULL,
              signature TEXT NOT NULL
            ) STRICT`,
      ]),
  },
};
