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

/** data.db: subjects, encrypted fields, blind indexes, consent ledger, API keys, idempotency, provisions, sealed values. */
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
  // The provision gate: runs and their parts, the per-subject ledger, suspensions, schedules.
  "0002_provisions": {
    up: (db) =>
      run(db, [
        // A rowid table: `request` and `manifest` can be large, which WITHOUT ROWID handles badly.
        // fields, reasons, counts and diff are JSON text.
        sql`CREATE TABLE provisions (
              id TEXT NOT NULL PRIMARY KEY,
              schedule_id TEXT,
              principal TEXT NOT NULL,
              recipient TEXT NOT NULL,
              country TEXT NOT NULL,
              purpose TEXT NOT NULL,
              label TEXT NOT NULL CHECK (label IN ('consignment', 'provision')),
              classification TEXT NOT NULL CHECK (classification IN ('consignment', 'provision')),
              basis TEXT NOT NULL,
              transfer_basis TEXT,
              fields TEXT NOT NULL,
              format TEXT NOT NULL CHECK (format IN ('ndjson', 'csv')),
              request TEXT NOT NULL,
              status TEXT NOT NULL
                CHECK (status IN ('planned', 'refused', 'running', 'completed', 'stopped', 'failed')),
              reasons TEXT NOT NULL,
              counts TEXT NOT NULL,
              diff TEXT,
              manifest TEXT,
              cursor TEXT,
              parts INTEGER NOT NULL,
              created_at INTEGER NOT NULL,
              updated_at INTEGER NOT NULL,
              finished_at INTEGER
            ) STRICT`,
        sql`CREATE INDEX provisions_by_recipient ON provisions (recipient, created_at)`,
        // Unique, so a recipient's provisions in id order can drive the ledger join without a sort.
        sql`CREATE UNIQUE INDEX provisions_by_recipient_id ON provisions (recipient, id)`,
        sql`CREATE INDEX provisions_by_principal ON provisions (principal, created_at)`,
        sql`CREATE INDEX provisions_by_schedule ON provisions (schedule_id, created_at) WHERE schedule_id IS NOT NULL`,
        sql`CREATE INDEX provisions_by_created ON provisions (created_at)`,
        sql`CREATE TABLE provision_parts (
              provision_id TEXT NOT NULL REFERENCES provisions (id),
              part INTEGER NOT NULL,
              file TEXT NOT NULL,
              subject_count INTEGER NOT NULL,
              bytes INTEGER NOT NULL,
              sha256 TEXT NOT NULL,
              ledger_digest TEXT NOT NULL,
              last_subject TEXT NOT NULL,
              at INTEGER NOT NULL,
              PRIMARY KEY (provision_id, part)
            ) STRICT, WITHOUT ROWID`,
        // One row per subject per provision; recipient, purpose, fields… come from the provision
        // and the time from the part. No foreign keys: a part commits thousands of rows at once and
        // every row's lookups would cost more than the insert; commitPart writes them consistently.
        sql`CREATE TABLE provision_ledger (
              provision_id TEXT NOT NULL,
              subject_id TEXT NOT NULL,
              part INTEGER NOT NULL,
              PRIMARY KEY (provision_id, subject_id)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE INDEX provision_ledger_by_subject ON provision_ledger (subject_id)`,
        sql`CREATE TABLE suspensions (
              id TEXT NOT NULL PRIMARY KEY,
              scope TEXT NOT NULL CHECK (scope IN ('recipient', 'country')),
              target TEXT NOT NULL,
              order_ref TEXT NOT NULL,
              reason TEXT NOT NULL,
              at INTEGER NOT NULL,
              issued_by TEXT NOT NULL,
              lifted_at INTEGER,
              lifted_by TEXT
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE TABLE provision_schedules (
              id TEXT NOT NULL PRIMARY KEY,
              principal TEXT NOT NULL,
              request TEXT NOT NULL,
              period TEXT NOT NULL,
              next_at INTEGER NOT NULL,
              last_provision_id TEXT,
              active INTEGER NOT NULL CHECK (active IN (0, 1)),
              created_at INTEGER NOT NULL
            ) STRICT`,
        sql`CREATE INDEX provision_schedules_due ON provision_schedules (next_at) WHERE active = 1`,
      ]),
  },
  // PIPA Art. 21(3): values another law keeps after deletion, sealed under a separate key and
  // kept apart from the live `fields` table. No foreign key to `subjects`: the sealed copy must
  // not depend on the live record's lifecycle. `until` (epoch ms) drives the destruction sweep.
  "0003_sealed": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE sealed_fields (
              subject_id TEXT NOT NULL,
              field TEXT NOT NULL,
              ciphertext BLOB NOT NULL,
              rule TEXT NOT NULL,
              until INTEGER NOT NULL,
              sealed_at INTEGER NOT NULL,
              PRIMARY KEY (subject_id, field)
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE INDEX sealed_fields_by_until ON sealed_fields (until, subject_id)`,
      ]),
  },
  // The dormancy action `separate` (former Decree Art. 48-5; LAW §11.1): a `dormant` status, the
  // time of separation, and the dormant store `dormant_fields`, apart from the live `fields`.
  "0004_dormant": { up: (db) => rebuildSubjectsForDormancy(db) },
  // Bulk erasure destroys the keys and marks the subjects first, and deletes their rows after
  // (ADR 0008): the erased subjects whose values and blind indexes still await deletion.
  "0005_erase_backlog": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE erase_backlog (
              subject_id TEXT NOT NULL PRIMARY KEY,
              erased_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID`,
      ]),
  },
  // Detection (issue 5, ADR 0009): holds on principals (suspensions, throttles) that must outlive
  // a restart, the alerts incidents are opened from, and the canary subjects' audit references.
  "0006_principal_holds": { up: (db) => inOneTransaction(db, DETECTION_TABLES) },
  // Incidents (PIPA Art. 34; ADR 0010): the incident, its append-only timeline (the 72-hour
  // proof), the people of its latest scope (findable per person), the rendered notices and
  // reports, and the outbox of messages with their delivery proof.
  "0007_incidents": { up: (db) => inOneTransaction(db, INCIDENT_TABLES) },
  // The general outbox (ADR 0011): messages to people with attempts, leases and delivery proof,
  // and people's notice preferences (the annual notice opt-out, PIPA Art. 20-2).
  "0009_outbox": { up: (db) => inOneTransaction(db, OUTBOX_TABLES) },
  // The privacy policy's published versions (PIPA Art. 30; LAW §15 J1): append-only evidence of
  // what was public when, with the texts as published and the change log.
  "0008_policy_versions": { up: (db) => inOneTransaction(db, POLICY_TABLES) },
  // Data-subject requests (PIPA Arts. 35–37; Decree Arts. 41–44): the request with its 10-day
  // deadline, and its append-only history.
  "0010_subject_requests": { up: (db) => inOneTransaction(db, SUBJECT_REQUEST_TABLES) },
  // A scope's people stored cheaply (ADR 0015): each incident's distinct field and channel sets
  // once in `incident_scope_sets`, a person's row naming theirs by number, and no index by
  // subject (`bySubject` probes each incident's primary key instead). Storing the 65,719 people
  // of the open-chat scrape cost about a quarter as much. The table is rebuilt with its rows
  // converted, in one transaction of its own (Kysely runs SQLite migrations in autocommit); a rerun
  // after a crash before Kysely recorded it finds the new form and only commits.
  "0011_scope_sets": {
    up: async (db) => {
      await sql`BEGIN IMMEDIATE`.execute(db);
      try {
        const current = (await sql<{ sql: string }>`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'incident_subjects'`.execute(db)).rows[0];
        if (current === undefined) throw new Error("0011_scope_sets: table incident_subjects is missing");
        if (!/\bfields_set\b/.test(current.sql)) {
          await run(db, [
            sql`CREATE TABLE incident_scope_sets (
                  incident_id TEXT NOT NULL,
                  set_no INTEGER NOT NULL,
                  names TEXT NOT NULL,
                  PRIMARY KEY (incident_id, set_no)
                ) STRICT, WITHOUT ROWID`,
            sql`INSERT INTO incident_scope_sets (incident_id, set_no, names)
                SELECT incident_id, row_number() OVER (PARTITION BY incident_id ORDER BY names) - 1, names
                FROM (SELECT incident_id, fields AS names FROM incident_subjects UNION SELECT incident_id, via FROM incident_subjects)`,
            sql`CREATE TABLE new_incident_subjects (
                  incident_id TEXT NOT NULL,
                  subject_id TEXT NOT NULL,
                  fields_set INTEGER NOT NULL,
                  via_set INTEGER NOT NULL,
                  PRIMARY KEY (incident_id, subject_id)
                ) STRICT, WITHOUT ROWID`,
            sql`INSERT INTO new_incident_subjects (incident_id, subject_id, fields_set, via_set)
                SELECT s.incident_id, s.subject_id, f.set_no, v.set_no FROM incident_subjects s
                JOIN incident_scope_sets f ON f.incident_id = s.incident_id AND f.names = s.fields
                JOIN incident_scope_sets v ON v.incident_id = s.incident_id AND v.names = s.via`,
            sql`DROP TABLE incident_subjects`,
            sql`ALTER TABLE new_incident_subjects RENAME TO incident_subjects`,
          ]);
        }
        await sql`COMMIT`.execute(db);
      } catch (e) {
        await sql`ROLLBACK`.execute(db).catch(() => undefined);
        throw e;
      }
    },
  },
  // The console's staff accounts (issue 6; ADR 0013; Safety Standard Arts. 5–7).
  "0012_operators": { up: (db) => inOneTransaction(db, OPERATOR_TABLES) },
  // The portal for people (ADR 0012): links already exchanged for a session (single use) and
  // sessions ended before their time. No person is named; rows go once their session expired.
  "0013_portal_links": { up: (db) => inOneTransaction(db, PORTAL_TABLES) },
  // Idempotency keys on every write (issue 7; ADR 0017) are forgotten after 24 hours: the prune
  // finds the old rows by age instead of reading the whole table. IF NOT EXISTS, as for 0006.
  "0014_idempotency_by_age": {
    up: (db) => inOneTransaction(db, [sql`CREATE INDEX IF NOT EXISTS idempotency_by_created ON idempotency (created_at)`]),
  },
};

/** The tables of `0009_outbox` (ADR 0011); `IF NOT EXISTS` throughout, as for 0006. */
const OUTBOX_TABLES = [
  // `dedupe` = kind, subject and period: enqueueing the same notice twice inserts nothing.
  // No foreign key to subjects: an erased subject's row goes, the proof of what was sent stays.
  sql`CREATE TABLE IF NOT EXISTS outbox (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        subject_id TEXT,
        period TEXT NOT NULL,
        dedupe TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        address_field TEXT,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'given_up')),
        attempts INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER,
        transport TEXT,
        proof TEXT,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        sent_at INTEGER
      ) STRICT, WITHOUT ROWID`,
  // What a worker claims: only messages still to send, in due order.
  sql`CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at, id) WHERE status IN ('queued', 'failed', 'sending')`,
  sql`CREATE INDEX IF NOT EXISTS outbox_by_kind ON outbox (kind, period, status)`,
  sql`CREATE INDEX IF NOT EXISTS outbox_by_subject ON outbox (subject_id) WHERE subject_id IS NOT NULL`,
  sql`CREATE TABLE IF NOT EXISTS notice_preferences (
        subject_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        opted_out INTEGER NOT NULL CHECK (opted_out IN (0, 1)),
        at INTEGER NOT NULL,
        principal TEXT NOT NULL,
        request_id TEXT NOT NULL,
        PRIMARY KEY (subject_id, kind)
      ) STRICT, WITHOUT ROWID`,
];

/** The tables of `0008_policy_versions`; `IF NOT EXISTS` throughout, as for 0006. content, texts, text_sha256 and changes are JSON text. */
const POLICY_TABLES = [
  sql`CREATE TABLE IF NOT EXISTS policy_versions (
        version INTEGER PRIMARY KEY CHECK (version > 0),
        effective TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        published_by TEXT NOT NULL,
        catalog_sha256 TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        content TEXT NOT NULL,
        texts TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        changes TEXT NOT NULL,
        audit_seq INTEGER NOT NULL
      ) STRICT`,
  sql`CREATE TRIGGER IF NOT EXISTS policy_versions_no_update BEFORE UPDATE ON policy_versions
      BEGIN SELECT RAISE(ABORT, 'policy versions are append-only'); END`,
  sql`CREATE TRIGGER IF NOT EXISTS policy_versions_no_delete BEFORE DELETE ON policy_versions
      BEGIN SELECT RAISE(ABORT, 'policy versions are append-only'); END`,
];

/**
 * The table of `0012_operators`. One row per person (never shared, never reused); the password as
 * a scrypt hash and the TOTP secret sealed; grants and revocations are audit entries (kept with
 * the log, ≥ 3 years). `IF NOT EXISTS`, as for 0006.
 */
const OPERATOR_TABLES = [
  sql`CREATE TABLE IF NOT EXISTS operators (
        id TEXT NOT NULL PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('cpo', 'security', 'auditor')),
        password_hash TEXT NOT NULL,
        totp_sealed BLOB NOT NULL,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        failed_count INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        disabled_at INTEGER,
        last_login_at INTEGER
      ) STRICT, WITHOUT ROWID`,
];

/** The table of `0013_portal_links`; `IF NOT EXISTS`, as for 0006. */
const PORTAL_TABLES = [
  sql`CREATE TABLE IF NOT EXISTS portal_links (
        jti TEXT PRIMARY KEY,
        used_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ended_at INTEGER
      ) STRICT, WITHOUT ROWID`,
  sql`CREATE INDEX IF NOT EXISTS portal_links_by_expiry ON portal_links (expires_at)`,
];

/**
 * The tables of `0006_principal_holds`. `IF NOT EXISTS` throughout: Kysely records a SQLite
 * migration after `up` returns, outside any transaction, so a crash in between runs it again.
 */
const DETECTION_TABLES = [
  sql`CREATE TABLE IF NOT EXISTS principal_holds (
        id TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('suspend', 'throttle')),
        rule TEXT,
        alert_id TEXT,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        until INTEGER,
        lifted_at INTEGER,
        lifted_by TEXT,
        lift_reason TEXT
      ) STRICT, WITHOUT ROWID`,
  // Only holds not lifted: what every server reads at start and every few seconds.
  sql`CREATE INDEX IF NOT EXISTS principal_holds_open ON principal_holds (principal) WHERE lifted_at IS NULL`,
  sql`CREATE TABLE IF NOT EXISTS detection_alerts (
        id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        principal TEXT NOT NULL,
        rule TEXT NOT NULL,
        type TEXT NOT NULL,
        reaction TEXT NOT NULL CHECK (reaction IN ('alert', 'throttle', 'suspend')),
        count INTEGER NOT NULL,
        threshold INTEGER NOT NULL,
        window_start INTEGER NOT NULL,
        request_id TEXT,
        detail TEXT NOT NULL
      ) STRICT, WITHOUT ROWID`,
  sql`CREATE INDEX IF NOT EXISTS detection_alerts_by_at ON detection_alerts (at, id)`,
  sql`CREATE INDEX IF NOT EXISTS detection_alerts_by_principal ON detection_alerts (principal, at)`,
  // Audit references only: the decoys' ids are never stored, so the table names no one a
  // principal could look up; no route lists it.
  sql`CREATE TABLE IF NOT EXISTS canaries (
        audit_ref TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID`,
];

/** The tables of `0007_incidents` (ADR 0010); `IF NOT EXISTS` throughout, as for 0006. */
const INCIDENT_TABLES = [
  // source, facts and scope are JSON text.
  sql`CREATE TABLE IF NOT EXISTS incidents (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL
          CHECK (kind IN ('leak', 'loss', 'theft', 'forgery', 'alteration', 'damage', 'possible')),
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        source TEXT NOT NULL,
        summary TEXT NOT NULL,
        aware_at INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        opened_at INTEGER NOT NULL,
        opened_by TEXT NOT NULL,
        facts TEXT NOT NULL,
        scope TEXT,
        updated_at INTEGER NOT NULL,
        closed_at INTEGER
      ) STRICT`,
  sql`CREATE INDEX IF NOT EXISTS incidents_by_aware ON incidents (aware_at, id)`,
  sql`CREATE TABLE IF NOT EXISTS incident_events (
        seq INTEGER PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (id),
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        act TEXT NOT NULL,
        detail TEXT NOT NULL,
        audit_seq INTEGER NOT NULL
      ) STRICT`,
  sql`CREATE INDEX IF NOT EXISTS incident_events_by_incident ON incident_events (incident_id, seq)`,
  sql`CREATE TRIGGER IF NOT EXISTS incident_events_no_update BEFORE UPDATE ON incident_events
      BEGIN SELECT RAISE(ABORT, 'incident timeline is append-only'); END`,
  sql`CREATE TRIGGER IF NOT EXISTS incident_events_no_delete BEFORE DELETE ON incident_events
      BEGIN SELECT RAISE(ABORT, 'incident timeline is append-only'); END`,
  // No foreign keys: to subjects, because an erased subject's row goes and the fact it was
  // affected stays; to incidents, because a scope writes tens of thousands of rows at once
  // (putScope writes them in the transaction that checks the incident).
  sql`CREATE TABLE IF NOT EXISTS incident_subjects (
        incident_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        fields TEXT NOT NULL,
        via TEXT NOT NULL,
        PRIMARY KEY (incident_id, subject_id)
      ) STRICT, WITHOUT ROWID`,
  sql`CREATE INDEX IF NOT EXISTS incident_subjects_by_subject ON incident_subjects (subject_id)`,
  sql`CREATE TABLE IF NOT EXISTS incident_notices (
        id TEXT NOT NULL PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (id),
        kind TEXT NOT NULL,
        audience TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        recipients INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        post_until INTEGER
      ) STRICT`,
  sql`CREATE INDEX IF NOT EXISTS incident_notices_by_incident ON incident_notices (incident_id, created_at)`,
  sql`CREATE TABLE IF NOT EXISTS incident_outbox (
        id TEXT NOT NULL PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (id),
        notice_id TEXT NOT NULL REFERENCES incident_notices (id),
        subject_id TEXT,
        channel TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
        queued_at INTEGER NOT NULL,
        sent_at INTEGER,
        proof TEXT,
        error TEXT
      ) STRICT, WITHOUT ROWID`,
  sql`CREATE INDEX IF NOT EXISTS incident_outbox_by_incident ON incident_outbox (incident_id, status, id)`,
];

/** The tables of `0010_subject_requests`; `IF NOT EXISTS` throughout, as for 0006. */
const SUBJECT_REQUEST_TABLES = [
  // No foreign key to subjects: the record of a deletion request outlives the subject's row.
  // detail, extension and outcome are JSON text (no personal data).
  sql`CREATE TABLE IF NOT EXISTS subject_requests (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL
          CHECK (kind IN ('access', 'portability', 'correction', 'deletion', 'suspension', 'withdrawal')),
        subject_id TEXT NOT NULL,
        subject_external TEXT NOT NULL,
        filed_by TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('portal', 'service_api', 'operator')),
        received_at INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        status TEXT NOT NULL
          CHECK (status IN ('received', 'in_progress', 'extended', 'completed', 'refused', 'withdrawn')),
        detail TEXT NOT NULL,
        extension TEXT,
        outcome TEXT,
        updated_at INTEGER NOT NULL,
        closed_at INTEGER
      ) STRICT, WITHOUT ROWID`,
  sql`CREATE INDEX IF NOT EXISTS subject_requests_by_deadline ON subject_requests (status, deadline, id)`,
  sql`CREATE INDEX IF NOT EXISTS subject_requests_by_subject ON subject_requests (subject_id)`,
  sql`CREATE TABLE IF NOT EXISTS subject_request_events (
        seq INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES subject_requests (id),
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        act TEXT NOT NULL,
        detail TEXT NOT NULL,
        audit_seq INTEGER NOT NULL
      ) STRICT`,
  sql`CREATE INDEX IF NOT EXISTS subject_request_events_by_request ON subject_request_events (request_id, seq)`,
  sql`CREATE TRIGGER IF NOT EXISTS subject_request_events_no_update BEFORE UPDATE ON subject_request_events
      BEGIN SELECT RAISE(ABORT, 'request history is append-only'); END`,
  sql`CREATE TRIGGER IF NOT EXISTS subject_request_events_no_delete BEFORE DELETE ON subject_request_events
      BEGIN SELECT RAISE(ABORT, 'request history is append-only'); END`,
];

/**
 * Runs statements atomically. Kysely runs SQLite migrations without a transaction of their own
 * (its SQLite adapter has no transactional DDL), on the one writer connection: a crash halfway
 * would otherwise leave half the tables.
 */
const inOneTransaction = async (db: Kysely<any>, statements: readonly ReturnType<typeof sql>[]): Promise<void> => {
  await sql`BEGIN IMMEDIATE`.execute(db);
  try {
    await run(db, statements);
    await sql`COMMIT`.execute(db);
  } catch (e) {
    await sql`ROLLBACK`.execute(db).catch(() => undefined);
    throw e;
  }
};

/**
 * Widens `subjects.status` to admit 'dormant' and adds `dormant_at`. SQLite cannot alter a CHECK
 * constraint, so the table is rebuilt by the 12-step procedure of
 * https://www.sqlite.org/lang_altertable.html section 7, with the data kept:
 *
 *  1. foreign keys off: `fields`, `lookups`, `consent_ledger` and `consent_state` reference
 *     `subjects`; with enforcement on, DROP TABLE would first delete every subject (refused by
 *     the children, or worse). The pragma is a no-op inside a transaction, so it is set here,
 *     before BEGIN: Kysely runs SQLite migrations without a transaction of their own (its SQLite
 *     adapter has no transactional DDL), on the one writer connection, in autocommit. That it
 *     really is off is checked, not assumed.
 *  2. BEGIN IMMEDIATE (takes the write lock: another process opening the store waits);
 *  3. remember the indexes and triggers on `subjects` (none today; kept general);
 *  4. CREATE TABLE new_subjects with the new definition;
 *  5. copy every row;
 *  6. DROP TABLE subjects;
 *  7. ALTER TABLE new_subjects RENAME TO subjects. The new table is renamed to the old name, never
 *     the old one away first: since 3.26 a rename also rewrites foreign keys that point at the
 *     renamed table, which would leave the children pointing at the dropped copy;
 *  8. recreate what step 3 remembered; 9. no views refer to `subjects`;
 * 10. PRAGMA foreign_key_check must return no row (else everything is rolled back);
 * 11. COMMIT; 12. foreign keys back on (as they were).
 *
 * Kysely records the migration after `up` returns, outside this transaction. If the process dies
 * in between, the next open runs `up` again: it then finds `subjects` already admitting
 * 'dormant' and only commits the (idempotent) rest, so a rerun never rebuilds twice.
 */
const rebuildSubjectsForDormancy = async (db: Kysely<any>): Promise<void> => {
  const fkWasOn = (await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(db)).rows[0]?.foreign_keys === 1;
  await sql`PRAGMA foreign_keys = OFF`.execute(db);
  const fkNow = (await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(db)).rows[0]?.foreign_keys;
  if (fkNow !== 0) throw new Error("0004_dormant: foreign keys could not be turned off (is the migration running inside a transaction?)");
  try {
    await sql`BEGIN IMMEDIATE`.execute(db);
    try {
      const current = (await sql<{ sql: string }>`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'subjects'`.execute(db)).rows[0];
      if (current === undefined) throw new Error("0004_dormant: table subjects is missing");
      if (!current.sql.includes("'dormant'")) {
        const attached = (
          await sql<{ sql: string }>`SELECT sql FROM sqlite_schema
                                     WHERE tbl_name = 'subjects' AND type IN ('index', 'trigger') AND sql IS NOT NULL`.execute(db)
        ).rows;
        await run(db, [
          sql`CREATE TABLE new_subjects (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'dormant', 'erased')),
                dormant_at INTEGER
              ) STRICT, WITHOUT ROWID`,
          sql`INSERT INTO new_subjects (id, created_at, updated_at, status)
              SELECT id, created_at, updated_at, status FROM subjects`,
          sql`DROP TABLE subjects`,
          sql`ALTER TABLE new_subjects RENAME TO subjects`,
          ...attached.map((a) => sql.raw(a.sql)),
        ]);
      }
      await run(db, [
        // Only dormant subjects: the sweep pages them in id order without walking every subject.
        sql`CREATE INDEX IF NOT EXISTS subjects_dormant ON subjects (id, dormant_at) WHERE status = 'dormant'`,
        // The dormant store: the separated values, same ciphertexts (under the same subject key),
        // apart from `fields` so no ordinary read or scan can reach them.
        sql`CREATE TABLE IF NOT EXISTS dormant_fields (
              subject_id TEXT NOT NULL REFERENCES subjects (id),
              field TEXT NOT NULL,
              ciphertext BLOB NOT NULL,
              updated_at INTEGER NOT NULL,
              PRIMARY KEY (subject_id, field)
            ) STRICT, WITHOUT ROWID`,
      ]);
      const broken = (await sql`PRAGMA foreign_key_check`.execute(db)).rows;
      if (broken.length > 0) throw new Error(`0004_dormant: ${broken.length} rows fail their foreign keys after the rebuild`);
      await sql`COMMIT`.execute(db);
    } catch (e) {
      await sql`ROLLBACK`.execute(db).catch(() => undefined);
      throw e;
    }
  } finally {
    if (fkWasOn) await sql`PRAGMA foreign_keys = ON`.execute(db);
  }
};

/** keys.db: wrapped data keys, audit references and sealed-store keys (deleting a row is crypto-shredding). */
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
  // The sealed-store keys (PIPA Art. 21(3)): one per subject, destroyed when `until` passes.
  "0002_keys_sealed": {
    up: (db) =>
      run(db, [
        sql`CREATE TABLE sealed_keys (
              subject_id TEXT PRIMARY KEY,
              kek_version INTEGER NOT NULL,
              wrapped BLOB NOT NULL,
              until INTEGER NOT NULL,
              created_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID`,
        sql`CREATE INDEX sealed_keys_by_until ON sealed_keys (until, subject_id)`,
      ]),
  },
  // No index on audit_ref (ADR 0008): the unique index made every destroyed key dirty a random
  // page of its own (10.5 against 2.1 µs per key at 1M). SQLite cannot drop a column constraint,
  // so the table is rebuilt (nothing references it). In one transaction of its own (Kysely runs
  // SQLite migrations in autocommit); a rerun after a crash before Kysely recorded it finds the
  // new table and only commits.
  "0003_audit_ref_unindexed": {
    up: async (db) => {
      await sql`BEGIN IMMEDIATE`.execute(db);
      try {
        const current = (await sql<{ sql: string }>`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'wrapped_keys'`.execute(db)).rows[0];
        if (current === undefined) throw new Error("0003_audit_ref_unindexed: table wrapped_keys is missing");
        if (/\bUNIQUE\b/i.test(current.sql)) {
          await run(db, [
            sql`CREATE TABLE new_wrapped_keys (
                  subject_id TEXT PRIMARY KEY,
                  kek_version INTEGER NOT NULL,
                  dek_version INTEGER NOT NULL,
                  wrapped BLOB NOT NULL,
                  audit_ref TEXT NOT NULL,
                  created_at INTEGER NOT NULL
                ) STRICT, WITHOUT ROWID`,
            sql`INSERT INTO new_wrapped_keys SELECT subject_id, kek_version, dek_version, wrapped, audit_ref, created_at FROM wrapped_keys`,
            sql`DROP TABLE wrapped_keys`,
            sql`ALTER TABLE new_wrapped_keys RENAME TO wrapped_keys`,
          ]);
        }
        await sql`COMMIT`.execute(db);
      } catch (e) {
        await sql`ROLLBACK`.execute(db).catch(() => undefined);
        throw e;
      }
    },
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
  // An incident's scope (ADR 0010): one principal's entries in a time window without reading the
  // rest of the log. (principal, at): the rowid (seq) is the index's last key, so (at, seq) pages
  // come out of the index in order. Entries without a principal (failed authentications, alerts)
  // are left out. Appends add one entry to the end of their principal's range (measured in
  // bench/incident-scope.bench.ts). The alerts' partial index holds `detection.alert` entries
  // only, so an incident can be opened from an alert's id. Building both over an existing log
  // reads it once (docs/operations.md); IF NOT EXISTS makes a rerun after a crash finish the job.
  "0002_audit_by_principal": {
    up: (db) =>
      inOneTransaction(db, [
        sql`CREATE INDEX IF NOT EXISTS audit_log_by_principal ON audit_log (principal, at) WHERE principal IS NOT NULL`,
        sql`CREATE INDEX IF NOT EXISTS audit_log_alerts ON audit_log (seq) WHERE action = 'detection.alert'`,
      ]),
  },
};
