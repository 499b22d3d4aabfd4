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
  // The provision gate: runs and their parts, the per-subject ledger, suspensions, schedules.
  "0002_provisions": {
    up: (db) =>
      run(db, [
        // fields, reasons, counts and diff are JSON text (as on SQLite: stored exactly as given).
        sql`CREATE TABLE haechi.provisions (
              id text COLLATE "C" PRIMARY KEY,
              schedule_id text COLLATE "C",
              principal text COLLATE "C" NOT NULL,
              recipient text COLLATE "C" NOT NULL,
              country text COLLATE "C" NOT NULL,
              purpose text COLLATE "C" NOT NULL,
              label text NOT NULL CHECK (label IN ('consignment', 'provision')),
              classification text NOT NULL CHECK (classification IN ('consignment', 'provision')),
              basis text NOT NULL,
              transfer_basis text,
              fields text NOT NULL,
              format text NOT NULL CHECK (format IN ('ndjson', 'csv')),
              request text NOT NULL,
              status text NOT NULL
                CHECK (status IN ('planned', 'refused', 'running', 'completed', 'stopped', 'failed')),
              reasons text NOT NULL,
              counts text NOT NULL,
              diff text,
              manifest text,
              cursor text COLLATE "C",
              parts integer NOT NULL,
              created_at timestamptz NOT NULL,
              updated_at timestamptz NOT NULL,
              finished_at timestamptz
            )`,
        sql`CREATE INDEX provisions_by_recipient ON haechi.provisions (recipient, created_at)`,
        sql`CREATE UNIQUE INDEX provisions_by_recipient_id ON haechi.provisions (recipient, id)`,
        sql`CREATE INDEX provisions_by_principal ON haechi.provisions (principal, created_at)`,
        sql`CREATE INDEX provisions_by_schedule ON haechi.provisions (schedule_id, created_at) WHERE schedule_id IS NOT NULL`,
        sql`CREATE INDEX provisions_by_created ON haechi.provisions (created_at)`,
        sql`CREATE TABLE haechi.provision_parts (
              provision_id text COLLATE "C" NOT NULL REFERENCES haechi.provisions (id),
              part integer NOT NULL,
              file text NOT NULL,
              subject_count integer NOT NULL,
              bytes bigint NOT NULL,
              sha256 text NOT NULL,
              ledger_digest text NOT NULL,
              last_subject text COLLATE "C" NOT NULL,
              at timestamptz NOT NULL,
              PRIMARY KEY (provision_id, part)
            )`,
        // One row per subject per provision; recipient, purpose, fields… come from the provision
        // and the time from the part. No foreign keys: a part commits thousands of rows at once and
        // a per-row referential check would cost more than the insert; commitPart writes them
        // consistently.
        sql`CREATE TABLE haechi.provision_ledger (
              provision_id text COLLATE "C" NOT NULL,
              subject_id text COLLATE "C" NOT NULL,
              part integer NOT NULL,
              PRIMARY KEY (provision_id, subject_id)
            )`,
        sql`CREATE INDEX provision_ledger_by_subject ON haechi.provision_ledger (subject_id)`,
        sql`CREATE TABLE haechi.suspensions (
              id text COLLATE "C" PRIMARY KEY,
              scope text NOT NULL CHECK (scope IN ('recipient', 'country')),
              target text COLLATE "C" NOT NULL,
              order_ref text NOT NULL,
              reason text NOT NULL,
              at timestamptz NOT NULL,
              issued_by text NOT NULL,
              lifted_at timestamptz,
              lifted_by text
            )`,
        sql`CREATE TABLE haechi.provision_schedules (
              id text COLLATE "C" PRIMARY KEY,
              principal text COLLATE "C" NOT NULL,
              request text NOT NULL,
              period text NOT NULL,
              next_at timestamptz NOT NULL,
              last_provision_id text COLLATE "C",
              active boolean NOT NULL,
              created_at timestamptz NOT NULL
            )`,
        sql`CREATE INDEX provision_schedules_due ON haechi.provision_schedules (next_at) WHERE active`,
      ]),
  },
  // PIPA Art. 21(3): values another law keeps after deletion, sealed under a separate key and
  // kept apart from the live `fields` table. No foreign key to `subjects`: the sealed copy must
  // not depend on the live record's lifecycle. `until` drives the destruction sweep.
  "0003_sealed": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.sealed_fields (
              subject_id text COLLATE "C" NOT NULL,
              field text COLLATE "C" NOT NULL,
              ciphertext bytea NOT NULL,
              rule text NOT NULL,
              until timestamptz NOT NULL,
              sealed_at timestamptz NOT NULL,
              PRIMARY KEY (subject_id, field)
            )`,
        sql`CREATE INDEX sealed_fields_by_until ON haechi.sealed_fields (until, subject_id)`,
      ]),
  },
  // The dormancy action `separate` (former Decree Art. 48-5; LAW §11.1): a `dormant` status, the
  // time of separation, and the dormant store `dormant_fields`, apart from the live `fields`.
  // Kysely runs PostgreSQL migrations in one transaction (transactional DDL): the constraint is
  // swapped atomically, under the table's ACCESS EXCLUSIVE lock, with the rows checked against
  // the new one; `dormant_at` is nullable, so adding it rewrites nothing.
  "0004_dormant": {
    up: (db) =>
      run(db, [
        sql`ALTER TABLE haechi.subjects
              DROP CONSTRAINT subjects_status_check,
              ADD CONSTRAINT subjects_status_check CHECK (status IN ('active', 'dormant', 'erased')),
              ADD COLUMN dormant_at timestamptz`,
        // Only dormant subjects: the sweep pages them in id order without walking every subject.
        sql`CREATE INDEX subjects_dormant ON haechi.subjects (id, dormant_at) WHERE status = 'dormant'`,
        // The dormant store: the separated values, same ciphertexts, apart from `fields`.
        sql`CREATE TABLE haechi.dormant_fields (
              subject_id text COLLATE "C" NOT NULL REFERENCES haechi.subjects (id),
              field text COLLATE "C" NOT NULL,
              ciphertext bytea NOT NULL,
              updated_at timestamptz NOT NULL,
              PRIMARY KEY (subject_id, field)
            )`,
      ]),
  },
  // Bulk erasure destroys the keys and marks the subjects first, and deletes their rows after
  // (ADR 0008): the erased subjects whose values and blind indexes still await deletion.
  "0005_erase_backlog": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.erase_backlog (
              subject_id text COLLATE "C" PRIMARY KEY,
              erased_at timestamptz NOT NULL
            )`,
      ]),
  },
  // Detection (issue 5, ADR 0009): holds on principals (suspensions, throttles) that must outlive
  // a restart, the alerts incidents are opened from, and the canary subjects' audit references.
  // Kysely runs it in one transaction (PostgreSQL has transactional DDL).
  "0006_principal_holds": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.principal_holds (
              id text COLLATE "C" PRIMARY KEY,
              principal text NOT NULL,
              kind text NOT NULL CHECK (kind IN ('suspend', 'throttle')),
              rule text,
              alert_id text,
              reason text NOT NULL,
              at timestamptz NOT NULL,
              until timestamptz,
              lifted_at timestamptz,
              lifted_by text,
              lift_reason text
            )`,
        // Only holds not lifted: what every server reads at start and every few seconds.
        sql`CREATE INDEX principal_holds_open ON haechi.principal_holds (principal) WHERE lifted_at IS NULL`,
        sql`CREATE TABLE haechi.detection_alerts (
              id text COLLATE "C" PRIMARY KEY,
              at timestamptz NOT NULL,
              principal text NOT NULL,
              rule text NOT NULL,
              type text NOT NULL,
              reaction text NOT NULL CHECK (reaction IN ('alert', 'throttle', 'suspend')),
              count bigint NOT NULL,
              threshold bigint NOT NULL,
              window_start timestamptz NOT NULL,
              request_id text,
              detail jsonb NOT NULL
            )`,
        sql`CREATE INDEX detection_alerts_by_at ON haechi.detection_alerts (at, id)`,
        sql`CREATE INDEX detection_alerts_by_principal ON haechi.detection_alerts (principal, at)`,
        // Audit references only: the decoys' ids are never stored; no route lists this table.
        sql`CREATE TABLE haechi.canaries (
              audit_ref text COLLATE "C" PRIMARY KEY,
              principal text NOT NULL,
              created_at timestamptz NOT NULL
            )`,
      ]),
  },
  // Incidents (PIPA Art. 34; ADR 0010): the incident, its append-only timeline (the 72-hour
  // proof), the people of its latest scope (findable per person), the rendered notices and
  // reports, and the outbox of messages with their delivery proof. source, facts, scope, detail,
  // fields and via are JSON text, as on SQLite.
  "0007_incidents": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.incidents (
              id text COLLATE "C" PRIMARY KEY,
              kind text NOT NULL
                CHECK (kind IN ('leak', 'loss', 'theft', 'forgery', 'alteration', 'damage', 'possible')),
              status text NOT NULL CHECK (status IN ('open', 'closed')),
              source text NOT NULL,
              summary text NOT NULL,
              aware_at timestamptz NOT NULL,
              deadline timestamptz NOT NULL,
              opened_at timestamptz NOT NULL,
              opened_by text NOT NULL,
              facts text NOT NULL,
              scope text,
              updated_at timestamptz NOT NULL,
              closed_at timestamptz
            )`,
        sql`CREATE INDEX incidents_by_aware ON haechi.incidents (aware_at, id)`,
        sql`CREATE TABLE haechi.incident_events (
              seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              incident_id text COLLATE "C" NOT NULL REFERENCES haechi.incidents (id),
              at timestamptz NOT NULL,
              actor text NOT NULL,
              act text NOT NULL,
              detail text NOT NULL,
              audit_seq bigint NOT NULL
            )`,
        sql`CREATE INDEX incident_events_by_incident ON haechi.incident_events (incident_id, seq)`,
        sql`CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON haechi.incident_events
            FOR EACH ROW EXECUTE FUNCTION haechi.forbid_change()`,
        // No foreign keys: to subjects, because an erased subject's row goes and the fact it was
        // affected stays; to incidents, because a scope writes tens of thousands of rows at once and
        // a per-row referential check cost more than the insert (putScope writes them in the
        // transaction that checks the incident).
        sql`CREATE TABLE haechi.incident_subjects (
              incident_id text COLLATE "C" NOT NULL,
              subject_id text COLLATE "C" NOT NULL,
              fields text NOT NULL,
              via text NOT NULL,
              PRIMARY KEY (incident_id, subject_id)
            )`,
        sql`CREATE INDEX incident_subjects_by_subject ON haechi.incident_subjects (subject_id)`,
        sql`CREATE TABLE haechi.incident_notices (
              id text COLLATE "C" PRIMARY KEY,
              incident_id text COLLATE "C" NOT NULL REFERENCES haechi.incidents (id),
              kind text NOT NULL,
              audience text NOT NULL,
              title text NOT NULL,
              body text NOT NULL,
              sha256 text NOT NULL,
              recipients integer NOT NULL,
              created_at timestamptz NOT NULL,
              post_until timestamptz
            )`,
        sql`CREATE INDEX incident_notices_by_incident ON haechi.incident_notices (incident_id, created_at)`,
        sql`CREATE TABLE haechi.incident_outbox (
              id text COLLATE "C" PRIMARY KEY,
              incident_id text COLLATE "C" NOT NULL REFERENCES haechi.incidents (id),
              notice_id text COLLATE "C" NOT NULL REFERENCES haechi.incident_notices (id),
              subject_id text COLLATE "C",
              channel text NOT NULL,
              status text NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
              queued_at timestamptz NOT NULL,
              sent_at timestamptz,
              proof text,
              error text
            )`,
        sql`CREATE INDEX incident_outbox_by_incident ON haechi.incident_outbox (incident_id, status, id)`,
      ]),
  },
  // The general outbox (ADR 0011): messages to people with attempts, leases and delivery proof,
  // and people's notice preferences (the annual notice opt-out, PIPA Art. 20-2).
  "0009_outbox": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.outbox (
              id text COLLATE "C" PRIMARY KEY,
              kind text NOT NULL,
              subject_id text COLLATE "C",
              period text NOT NULL,
              dedupe text COLLATE "C" NOT NULL UNIQUE,
              channel text NOT NULL,
              address_field text,
              title text NOT NULL,
              body text NOT NULL,
              body_sha256 text NOT NULL,
              status text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'given_up')),
              attempts integer NOT NULL,
              next_at timestamptz NOT NULL,
              lease_owner text,
              lease_until timestamptz,
              transport text,
              proof text,
              last_error text,
              created_at timestamptz NOT NULL,
              updated_at timestamptz NOT NULL,
              sent_at timestamptz
            )`,
        sql`CREATE INDEX outbox_due ON haechi.outbox (next_at, id) WHERE status IN ('queued', 'failed', 'sending')`,
        sql`CREATE INDEX outbox_by_kind ON haechi.outbox (kind, period, status)`,
        sql`CREATE INDEX outbox_by_subject ON haechi.outbox (subject_id) WHERE subject_id IS NOT NULL`,
        sql`CREATE TABLE haechi.notice_preferences (
              subject_id text COLLATE "C" NOT NULL,
              kind text NOT NULL,
              opted_out boolean NOT NULL,
              at timestamptz NOT NULL,
              principal text NOT NULL,
              request_id text NOT NULL,
              PRIMARY KEY (subject_id, kind)
            )`,
      ]),
  },
  // The privacy policy's published versions (PIPA Art. 30; LAW §15 J1): append-only evidence of
  // what was public when, with the texts as published and the change log.
  "0008_policy_versions": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.policy_versions (
              version integer PRIMARY KEY CHECK (version > 0),
              effective text NOT NULL,
              published_at timestamptz NOT NULL,
              published_by text NOT NULL,
              catalog_sha256 text NOT NULL,
              content_sha256 text NOT NULL,
              content jsonb NOT NULL,
              texts jsonb NOT NULL,
              text_sha256 jsonb NOT NULL,
              changes jsonb NOT NULL,
              audit_seq bigint NOT NULL
            )`,
        sql`CREATE TRIGGER policy_versions_append_only BEFORE UPDATE OR DELETE ON haechi.policy_versions
            FOR EACH ROW EXECUTE FUNCTION haechi.forbid_change()`,
      ]),
  },
  // Data-subject requests (PIPA Arts. 35–37; Decree Arts. 41–44): the request with its 10-day
  // deadline, and its append-only history. No foreign key to subjects: the record of a deletion
  // request outlives the subject's row. detail, extension, outcome and the event detail are JSON
  // text, as on SQLite.
  "0010_subject_requests": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.subject_requests (
              id text COLLATE "C" PRIMARY KEY,
              kind text NOT NULL
                CHECK (kind IN ('access', 'portability', 'correction', 'deletion', 'suspension', 'withdrawal')),
              subject_id text COLLATE "C" NOT NULL,
              subject_external text NOT NULL,
              filed_by text NOT NULL,
              channel text NOT NULL CHECK (channel IN ('portal', 'service_api', 'operator')),
              received_at timestamptz NOT NULL,
              deadline timestamptz NOT NULL,
              status text NOT NULL
                CHECK (status IN ('received', 'in_progress', 'extended', 'completed', 'refused', 'withdrawn')),
              detail text NOT NULL,
              extension text,
              outcome text,
              updated_at timestamptz NOT NULL,
              closed_at timestamptz
            )`,
        sql`CREATE INDEX subject_requests_by_deadline ON haechi.subject_requests (status, deadline, id)`,
        sql`CREATE INDEX subject_requests_by_subject ON haechi.subject_requests (subject_id)`,
        sql`CREATE TABLE haechi.subject_request_events (
              seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              request_id text COLLATE "C" NOT NULL REFERENCES haechi.subject_requests (id),
              at timestamptz NOT NULL,
              actor text NOT NULL,
              act text NOT NULL,
              detail text NOT NULL,
              audit_seq bigint NOT NULL
            )`,
        sql`CREATE INDEX subject_request_events_by_request ON haechi.subject_request_events (request_id, seq)`,
        sql`CREATE TRIGGER subject_request_events_append_only BEFORE UPDATE OR DELETE ON haechi.subject_request_events
              FOR EACH ROW EXECUTE FUNCTION haechi.forbid_change()`,
      ]),
  },
  // A scope's people stored cheaply (ADR 0015): each incident's distinct field and channel sets
  // once in `incident_scope_sets`, a person's row naming theirs by number, and no index by
  // subject (`bySubject` probes each incident's primary key instead). Existing rows converted.
  "0011_scope_sets": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.incident_scope_sets (
              incident_id text COLLATE "C" NOT NULL,
              set_no integer NOT NULL,
              names text NOT NULL,
              PRIMARY KEY (incident_id, set_no)
            )`,
        sql`INSERT INTO haechi.incident_scope_sets (incident_id, set_no, names)
            SELECT incident_id, (row_number() OVER (PARTITION BY incident_id ORDER BY names COLLATE "C"))::integer - 1, names
            FROM (SELECT incident_id, fields AS names FROM haechi.incident_subjects
                  UNION SELECT incident_id, via FROM haechi.incident_subjects) u`,
        sql`ALTER TABLE haechi.incident_subjects ADD COLUMN fields_set integer, ADD COLUMN via_set integer`,
        sql`UPDATE haechi.incident_subjects s SET fields_set = f.set_no, via_set = v.set_no
            FROM haechi.incident_scope_sets f, haechi.incident_scope_sets v
            WHERE f.incident_id = s.incident_id AND f.names = s.fields AND v.incident_id = s.incident_id AND v.names = s.via`,
        sql`ALTER TABLE haechi.incident_subjects ALTER COLUMN fields_set SET NOT NULL, ALTER COLUMN via_set SET NOT NULL,
              DROP COLUMN fields, DROP COLUMN via`,
        sql`DROP INDEX haechi.incident_subjects_by_subject`,
      ]),
  },
  // The console's staff accounts (issue 6; ADR 0013; Safety Standard Arts. 5–7).
  "0012_operators": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.operators (
              id text COLLATE "C" PRIMARY KEY,
              role text NOT NULL CHECK (role IN ('cpo', 'security', 'auditor')),
              password_hash text NOT NULL,
              totp_sealed bytea NOT NULL,
              totp_last_step bigint NOT NULL DEFAULT 0,
              failed_count integer NOT NULL DEFAULT 0,
              locked_until timestamptz,
              created_at timestamptz NOT NULL,
              created_by text NOT NULL,
              disabled_at timestamptz,
              last_login_at timestamptz
            )`,
      ]),
  },
  // The portal for people (ADR 0012): links already exchanged for a session (single use) and
  // sessions ended before their time. No person is named; rows go once their session expired.
  "0013_portal_links": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi.portal_links (
              jti text COLLATE "C" PRIMARY KEY,
              used_at timestamptz NOT NULL,
              expires_at timestamptz NOT NULL,
              ended_at timestamptz
            )`,
        sql`CREATE INDEX portal_links_by_expiry ON haechi.portal_links (expires_at)`,
      ]),
  },
  // Idempotency keys on every write (issue 7; ADR 0017) are forgotten after 24 hours: the prune
  // finds the old rows by age instead of reading the whole table.
  "0014_idempotency_by_age": {
    up: (db) => run(db, [sql`CREATE INDEX IF NOT EXISTS idempotency_by_created ON haechi.idempotency (created_at)`]),
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
  // The sealed-store keys (PIPA Art. 21(3)): one per subject, destroyed when `until` passes.
  "0002_keys_sealed": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE haechi_keys.sealed_keys (
              subject_id text COLLATE "C" PRIMARY KEY,
              kek_version integer NOT NULL,
              wrapped bytea NOT NULL,
              until timestamptz NOT NULL,
              created_at timestamptz NOT NULL
            )`,
        sql`CREATE INDEX sealed_keys_by_until ON haechi_keys.sealed_keys (until, subject_id)`,
      ]),
  },
  // No index on audit_ref (ADR 0008): one less index to write per key, and the same key layout as SQLite.
  "0003_audit_ref_unindexed": {
    up: (db) => run(db, [sql`ALTER TABLE haechi_keys.wrapped_keys DROP CONSTRAINT IF EXISTS wrapped_keys_audit_ref_key`]),
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
  // An incident's scope (ADR 0010): one principal's entries in a time window, in (at, seq) order,
  // from the index alone; entries without a principal are left out. The alerts' partial index
  // holds `detection.alert` entries only. Inside Kysely's migration transaction a plain CREATE
  // INDEX blocks appends (and so every audited request) while it reads the log: on a large log,
  // build them first with CREATE INDEX CONCURRENTLY under these names (docs/operations.md); IF
  // NOT EXISTS then skips them here.
  "0002_audit_by_principal": {
    up: (db) =>
      run(db, [
        sql`CREATE INDEX IF NOT EXISTS audit_log_by_principal ON haechi_audit.audit_log (principal, at, seq)
            WHERE principal IS NOT NULL`,
        sql`CREATE INDEX IF NOT EXISTS audit_log_alerts ON haechi_audit.audit_log (seq) WHERE action = 'detection.alert'`,
      ]),
  },
};
