/**
 * PostgreSQL schema: three schemas, one migration list (and migration table) each.
 * Ids and names are `text COLLATE "C"` so order is bytewise and matches SQLite whatever the
 * database's default collation.
 *
 * INVARIANT: an applied migration never changes. Add a new entry with a later name instead.
 */
import { sql, type Kysely } from "kysely";
import type { MigrationList } from "./migrate.js";

export const PG_DATA_SCHEMA = "haechi";
export const PG_KEYS_SCHEMA = "haechi_keys";
export const PG_AUDIT_SCHEMA = "haechi_audit";

const run = async (db: Kysely<any>, statements: readonly ReturnType<typeof sql>[]) => {
  for (const s of statements) await s.execute(db);
};

export const pgDataMigrations: MigrationList = {
  "0001_data_init": {
    up: (db) =>
      run(db, [
        sql`CREATE SCHEMA IF NOT EXISTS haechi`,
        sql`CREATE TABLE haechi.subjects (
              id text COLLATE "C" PRIMARY KEY,
              created_at timestamptz NOT NULL,
              updated_at timestamptz NOT NULL,
              status text NOT NULL CHECK (status IN ('active', 'erased'))
            )`,
        sql`CREATE TABLE haechi.fields (
              subject_id text COLLATE "C" NOT NULL REFERENCES haechi.subjects (id),
              field text COLLATE "C" NOT NULL,
              ciphertext bytea NOT NULL,
              updated_at timestamptz NOT NULL,
              PRIMARY KEY (subject_id, field)
            )`,
        sql`CREATE TABLE haechi.lookups (
              subject_id text COLLATE "C" NOT NULL REFERENCES haechi.subjects (id),
              field text COLLATE "C" NOT NULL,
              digest bytea NOT NULL,
              PRIMARY KEY (subject_id, field, digest)
            )`,
        sql`CREATE INDEX lookups_by_digest ON haechi.lookups (field, digest)`,
        // The ledger is append-only evidence (PIPA Art. 22(1)); seq is the insertion order.
        sql`CREATE TABLE haechi.consent_ledger (
              seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              id text NOT NULL UNIQUE,
              subject_id text COLLATE "C" NOT NULL REFERENCES haechi.subjects (id),
              notice text COLLATE "C" NOT NULL,
              notice_version integer NOT NULL,
              category text NOT NULL,
              action text NOT NULL CHECK (action IN ('grant', 'withdraw')),
              channel text NOT NULL,
              at timestamptz NOT NULL,
              principal text NOT NULL,
              request_id text NOT NULL
            )`,
        sql`CREATE INDEX consent_ledger_by_subject ON haechi.consent_ledger (subject_id, at, seq)`,
        sql`CREATE FUNCTION haechi.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`,
        sql`CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON haechi.consent_ledger
            FOR EACH ROW EXECUTE FUNCTION haechi.forbid_change()`,
        sql`CREATE TABLE haechi.consent_state (
              subject_id text COLLATE "C" NOT NULL REFERENCES haechi.subjects (id),
              notice text COLLATE "C" NOT NULL,
              notice_version integer NOT NULL,
              category text NOT NULL,
              status text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
              channel text NOT NULL,
              at timestamptz NOT NULL,
              PRIMARY KEY (subject_id, notice)
            )`,
        sql`CREATE INDEX consent_state_by_notice ON haechi.consent_state (notice, status, notice_version)`,
        sql`CREATE TABLE haechi.api_keys (
              key_id text COLLATE "C" PRIMARY KEY,
              principal text COLLATE "C" NOT NULL,
              secret_hash bytea NOT NULL,
              created_at timestamptz NOT NULL,
              revoked_at timestamptz,
              failed_count integer NOT NULL DEFAULT 0,
              locked_until timestamptz
            )`,
        sql`CREATE TABLE haechi.idempotency (
              principal text COLLATE "C" NOT NULL,
              key text COLLATE "C" NOT NULL,
              request_hash bytea NOT NULL,
              status integer NOT NULL,
              response text NOT NULL,
              created_at timestamptz NOT NULL,
              PRIMARY KEY (principal, key)
            )`,
        sql`CREATE TABLE haechi.meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)`,
      ]),
  },
};

export const pgKeyMigrations: MigrationList = {
  "0001_keys_init": {
    up: (db) =>
      run(db, [
        sql`CREATE SCHEMA IF NOT EXISTS haechi_keys`,
        sql`CREATE TABLE haechi_keys.wrapped_keys (
              subject_id text COLLATE "C" PRIMARY KEY,
              kek_version integer NOT NULL,
              dek_version integer NOT NULL,
              wrapped bytea NOT NULL,
              audit_ref text COLLATE "C" NOT NULL UNIQUE,
              created_at timestamptz NOT NULL
            )`,
        sql`CREATE INDEX wrapped_keys_by_kek ON haechi_keys.wrapped_keys (kek_version)`,
      ]),
  },
};

export const pgAuditMigrations: MigrationList = {
  "0001_audit_init": {
    up: (db) =>
      run(db, [
        sql`CREATE SCHEMA IF NOT EXISTS haechi_audit`,
        sql`CREATE TABLE haechi_audit.audit_log (
              seq bigint PRIMARY KEY,
              at timestamptz NOT NULL,
              subject_ref text COLLATE "C",
              principal text,
              action text NOT NULL,
              body text NOT NULL,
              hash bytea NOT NULL
            )`,
        sql`CREATE INDEX audit_log_by_subject_ref ON haechi_audit.audit_log (subject_ref, seq)
            WHERE subject_ref IS NOT NULL`,
        sql`CREATE FUNCTION haechi_audit.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`,
        sql`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON haechi_audit.audit_log
            FOR EACH ROW EXECUTE FUNCTION haechi_audit.forbid_change()`,
        // The chain-head lock: appendBatch takes this row FOR UPDATE, so several processes queue.
        sql`CREATE TABLE haechi_audit.audit_head (
              id integer PRIMARY KEY CHECK (id = 1),
              seq bigint,
              hash bytea
            )`,
        sql`INSERT INTO haechi_audit.audit_head (id, seq, hash) VALUES (1, NULL, NULL)`,
        sql`CREATE TABLE haechi_audit.checkpoints (
              seq bigint PRIMARY KEY,
              hash text NOT NULL,
              at text NOT NULL,
              key_id text NOT NULL,
              signature text NOT NULL
            )`,
      ]),
  },
};
