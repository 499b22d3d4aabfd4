/**
 * ProvisionStore on PostgreSQL (schema `haechi`, beside the subjects it scans), on the data
 * store's pool.
 *
 * The hot paths are one round trip each: `commitPart` is a single statement (part, every ledger
 * row from one array parameter, and the cursor: atomic without BEGIN/COMMIT), and a
 * `scanSubjects` page is a single statement.
 */
import type { Kysely } from "kysely";
import type { ConsentCategory, ConsentChannel } from "../../core/catalog/catalog-schema.js";
import { HaechiError } from "../../core/errors.js";
import { asSubjectId } from "../../core/ids.js";
import type {
  ConsentState,
  IdempotencyRecord,
  LedgerEntry,
  ProvisionPartRow,
  ProvisionStatus,
  ProvisionStore,
  ScanRow,
  ScheduleRow,
  SuspensionRow,
} from "../../core/ports.js";
import {
  PART_EXISTS,
  PROVISION_EXISTS,
  PROVISION_NOT_FOUND,
  SCHEDULE_NOT_FOUND,
  SUSPENSION_EXISTS,
  guard,
} from "../storage-errors.js";
import {
  distinct,
  populationDiffOf,
  provisionFromColumns,
  provisionPatchColumns,
  provisionToColumns,
} from "../store-fns.js";
import type pg from "pg";
import { recordOn } from "./pg-idempotency.js";
import { named, runCompiled, runNamed, type PgConn } from "./pg-query.js";
import type { PgDataDb } from "./pg-schema.js";

export interface PgProvisionDeps {
  pool: pg.Pool;
  db: Kysely<PgDataDb>;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs `fn` on one client between BEGIN and COMMIT (a write with its idempotency row). */
  withTransaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
}

// ---------------------------------------------------------------- statements

const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;

/**
 * One page of the scan in one statement: the page's active ids (k = 0), then the consents (k = 1)
 * and asked fields (k = 2) of the range (after, last id of the page] by primary-key range, as
 * flat rows tagged by `k`: a = notice / field, b category, c status, d channel, n version,
 * t time (epoch ms), x ciphertext. Measured a third of the server time of aggregating each
 * subject's rows as JSON, and a quarter less end to end. Sorted so that subjects come in id order
 * and each one's consents and fields in name order (bytewise, as `currentConsents`).
 */
const scanStatement = (withFields: boolean) => `
  WITH s AS (
    SELECT id FROM haechi.subjects WHERE id > $1 AND status = 'active' ORDER BY id LIMIT $2
  )
  SELECT 0 AS k, s.id, NULL::text AS a, NULL::text AS b, NULL::text AS c, NULL::text AS d,
         NULL::integer AS n, NULL::float8 AS t, NULL::bytea AS x
    FROM s
  UNION ALL
  SELECT 1, cs.subject_id, cs.notice, cs.category, cs.status, cs.channel, cs.notice_version, ${MS("cs.at")}, NULL
    FROM haechi.consent_state cs
   WHERE cs.subject_id > $1 AND cs.subject_id <= (SELECT max(id) FROM s)
  ${
    withFields
      ? `UNION ALL
  SELECT 2, fs.subject_id, fs.field, NULL, NULL, NULL, NULL, ${MS("fs.updated_at")}, fs.ciphertext
    FROM haechi.fields fs
   WHERE fs.subject_id > $1 AND fs.subject_id <= (SELECT max(id) FROM s) AND fs.field = ANY($3::text[])`
      : ""
  }
  ORDER BY k, id, a`;
const SCAN = named("haechi_prov_scan", scanStatement(true));
const SCAN_NO_FIELDS = named("haechi_prov_scan_no_fields", scanStatement(false));

/** Part, ledger rows and cursor in one statement: a unique violation anywhere writes nothing. */
const COMMIT_PART = named(
  "haechi_prov_commit_part",
  `WITH part AS (
     INSERT INTO haechi.provision_parts
       (provision_id, part, file, subject_count, bytes, sha256, ledger_digest, last_subject, at)
     VALUES ($1::text, $2::integer, $3, $4, $5, $6, $7, $8::text, $9::timestamptz)
     RETURNING provision_id, part
   ), ledger AS (
     INSERT INTO haechi.provision_ledger (provision_id, subject_id, part)
     SELECT part.provision_id, u.subject_id, part.part FROM part, unnest($10::text[]) AS u(subject_id)
   ), moved AS (
     UPDATE haechi.provisions SET cursor = $8::text, parts = $2::integer, updated_at = $9::timestamptz
     WHERE id = $1::text RETURNING 1
   )
   SELECT count(*)::integer AS moved FROM moved`,
);

const GET_PROVISION = named("haechi_prov_get", "SELECT * FROM haechi.provisions WHERE id = $1");
const PARTS_OF = named(
  "haechi_prov_parts",
  "SELECT * FROM haechi.provision_parts WHERE provision_id = $1 ORDER BY part",
);
const SUBJECTS_OF_PART = named(
  "haechi_prov_part_subjects",
  "SELECT subject_id FROM haechi.provision_ledger WHERE provision_id = $1 AND part = $2 ORDER BY subject_id",
);
const LEDGER_SELECT = `SELECT l.provision_id, l.subject_id, l.part, p.recipient, p.country, p.purpose, p.fields,
         p.basis, p.transfer_basis, p.status, pp.at
  FROM haechi.provision_ledger l
  JOIN haechi.provisions p ON p.id = l.provision_id
  JOIN haechi.provision_parts pp ON pp.provision_id = l.provision_id AND pp.part = l.part`;
const LEDGER_BY_SUBJECT = named(
  "haechi_prov_ledger_by_subject",
  `${LEDGER_SELECT} WHERE l.subject_id = $1 ORDER BY pp.at, l.provision_id`,
);
/**
 * The recipient's provisions in id order, each contributing at most `limit` ledger rows read by
 * primary-key range from the cursor: a page never reads (or sorts) a whole provision's ledger.
 * The bounds are written so that only the primary key can serve them, starting at the cursor:
 * the row comparison is its start key on both columns and `provision_id <= p.id` its end (with an
 * equality on provision_id, the scan started at the provision's first row and filtered up to the
 * cursor, and a plain `subject_id >` let plans walk the subject index instead).
 */
const LEDGER_BY_RECIPIENT = named(
  "haechi_prov_ledger_by_recipient",
  `SELECT p.id AS provision_id, l.subject_id, l.part, p.recipient, p.country, p.purpose, p.fields,
          p.basis, p.transfer_basis, p.status, l.at
   FROM (SELECT id, recipient, country, purpose, fields, basis, transfer_basis, status
           FROM haechi.provisions
          WHERE recipient = $1 AND id >= $2::text AND parts > 0
          ORDER BY id) p
   CROSS JOIN LATERAL (
     SELECT l.subject_id, l.part, pp.at
       FROM haechi.provision_ledger l
       JOIN haechi.provision_parts pp ON pp.provision_id = l.provision_id AND pp.part = l.part
      WHERE (l.provision_id, l.subject_id) > (p.id, CASE WHEN p.id = $2::text THEN $3::text ELSE '' END)
        AND l.provision_id <= p.id
      ORDER BY l.provision_id, l.subject_id
      LIMIT $4
   ) l
   ORDER BY p.id, l.subject_id
   LIMIT $4`,
);
/** Both runs' sizes and their overlap in one statement (one snapshot); bigint counts arrive as strings. */
const POPULATION_DIFF = named(
  "haechi_prov_population_diff",
  `SELECT (SELECT count(*) FROM haechi.provision_ledger WHERE provision_id = $1) AS previous,
          (SELECT count(*) FROM haechi.provision_ledger WHERE provision_id = $2) AS current,
          (SELECT count(*) FROM haechi.provision_ledger a
             JOIN haechi.provision_ledger b ON b.provision_id = $2 AND b.subject_id = a.subject_id
            WHERE a.provision_id = $1) AS kept`,
);
const LIFT_SUSPENSION = named(
  "haechi_prov_lift_suspension",
  "UPDATE haechi.suspensions SET lifted_at = $2, lifted_by = $3 WHERE id = $1 AND lifted_at IS NULL",
);
const DUE_SCHEDULES = named(
  "haechi_prov_due_schedules",
  "SELECT * FROM haechi.provision_schedules WHERE active AND next_at <= $1 ORDER BY next_at, id",
);

// ---------------------------------------------------------------- row mapping

type PartDbRow = PgDataDb["haechi.provision_parts"];
type SuspensionDbRow = PgDataDb["haechi.suspensions"];
type ScheduleDbRow = PgDataDb["haechi.provision_schedules"];
interface ScanDbRow {
  k: 0 | 1 | 2;
  id: string;
  a: string | null;
  b: string | null;
  c: string | null;
  d: string | null;
  n: number | null;
  t: number | null;
  x: Buffer | null;
}
interface LedgerDbRow {
  provision_id: string;
  subject_id: string;
  part: number;
  recipient: string;
  country: string;
  purpose: string;
  fields: string;
  basis: string;
  transfer_basis: string | null;
  status: string;
  at: Date;
}

const same = (d: Date): Date => d;

/** Subjects from the k = 0 rows; consents and fields attached to them (erased subjects in the range drop out). */
const toScanRows = (dbRows: readonly ScanDbRow[]): ScanRow[] => {
  const rows = new Map<string, ScanRow>();
  for (const r of dbRows) {
    if (r.k === 0) {
      rows.set(r.id, { id: asSubjectId(r.id), consents: [], fields: [] });
      continue;
    }
    const row = rows.get(r.id);
    if (row === undefined) continue;
    const at = new Date(Math.round(r.t ?? 0));
    if (r.k === 1) {
      row.consents.push({
        notice: r.a ?? "",
        noticeVersion: r.n ?? 0,
        category: r.b as ConsentCategory,
        status: r.c as ConsentState["status"],
        channel: r.d as ConsentChannel,
        at,
      });
    } else {
      row.fields.push({ field: r.a ?? "", ciphertext: r.x ?? Buffer.alloc(0), updatedAt: at });
    }
  }
  return [...rows.values()];
};
const toPart = (r: PartDbRow): ProvisionPartRow => ({
  provisionId: r.provision_id,
  part: r.part,
  file: r.file,
  subjects: r.subject_count,
  bytes: Number(r.bytes),
  sha256: r.sha256,
  ledgerDigest: r.ledger_digest,
  lastSubject: asSubjectId(r.last_subject),
  at: r.at,
});
const toSuspension = (r: SuspensionDbRow): SuspensionRow => ({
  id: r.id,
  scope: r.scope as SuspensionRow["scope"],
  target: r.target,
  order: r.order_ref,
  reason: r.reason,
  at: r.at,
  by: r.issued_by,
  liftedAt: r.lifted_at,
  liftedBy: r.lifted_by,
});
const toSchedule = (r: ScheduleDbRow): ScheduleRow => ({
  id: r.id,
  principal: r.principal,
  request: r.request,
  every: r.period,
  nextAt: r.next_at,
  lastProvisionId: r.last_provision_id,
  active: r.active,
  createdAt: r.created_at,
});
/** Ledger rows share their provision's `fields` JSON: parse it once per provision. */
const ledgerMapper = () => {
  const fieldsOf = new Map<string, string[]>();
  return (r: LedgerDbRow): LedgerEntry => {
    let fields = fieldsOf.get(r.provision_id);
    if (fields === undefined) {
      fields = JSON.parse(r.fields) as string[];
      fieldsOf.set(r.provision_id, fields);
    }
    return {
      provisionId: r.provision_id,
      subjectId: asSubjectId(r.subject_id),
      part: r.part,
      recipient: r.recipient,
      country: r.country,
      purpose: r.purpose,
      fields: [...fields],
      basis: r.basis,
      transferBasis: r.transfer_basis,
      status: r.status as ProvisionStatus,
      at: r.at,
    };
  };
};

// ---------------------------------------------------------------- store

/** The provision store on the data store's pool. */
export const pgProvisionStore = (deps: PgProvisionDeps): ProvisionStore => {
  const { pool, db, outsideTransaction, withTransaction } = deps;
  const write = <T>(fn: () => Promise<T>, mapping?: Parameters<typeof guard>[1]) =>
    outsideTransaction(() => guard(fn, mapping));
  /**
   * One statement on its own (atomic as it is), or, when the caller sent an idempotency key, the
   * statement and the key's row in one transaction (docs/adr/0017-idempotency.md).
   */
  const withKey = <T>(stmt: (conn: PgConn) => Promise<T>, idem: IdempotencyRecord<void> | undefined, recordIf: (result: T) => boolean = () => true) =>
    idem === undefined
      ? stmt(pool)
      : withTransaction(async (client) => {
          const result = await stmt(client);
          if (recordIf(result)) await recordOn(client, idem, undefined);
          return result;
        });

  return {
    scanSubjects: (afterId, limit, fields) =>
      guard(async () => {
        const names = distinct(fields);
        const after = afterId ?? "";
        const res =
          names.length === 0
            ? await runNamed<ScanDbRow>(pool, SCAN_NO_FIELDS, [after, limit])
            : await runNamed<ScanDbRow>(pool, SCAN, [after, limit, names]);
        return toScanRows(res.rows);
      }),

    insertProvision: (row, idem) =>
      write(
        () =>
          withKey(async (conn) => {
            await runCompiled(conn, db.insertInto("haechi.provisions").values(provisionToColumns(row, same)).compile());
          }, idem),
        { unique: PROVISION_EXISTS },
      ),
    updateProvision: (id, patch, idem) =>
      write(() =>
        withKey(async (conn) => {
          const set = provisionPatchColumns(patch, same);
          const q =
            Object.keys(set).length === 0
              ? db.selectFrom("haechi.provisions").select("id").where("id", "=", id).compile()
              : db.updateTable("haechi.provisions").set(set).where("id", "=", id).compile();
          if (((await runCompiled(conn, q)).rowCount ?? 0) === 0) throw new HaechiError("NOT_FOUND", PROVISION_NOT_FOUND);
        }, idem),
      ),
    getProvision: (id) =>
      guard(async () => {
        const row = (await runNamed<PgDataDb["haechi.provisions"]>(pool, GET_PROVISION, [id])).rows[0];
        return row === undefined ? undefined : provisionFromColumns(row, same);
      }),
    listProvisions: (filter) =>
      guard(async () => {
        let q = db.selectFrom("haechi.provisions").selectAll();
        if (filter.recipient !== undefined) q = q.where("recipient", "=", filter.recipient);
        if (filter.principal !== undefined) q = q.where("principal", "=", filter.principal);
        if (filter.scheduleId !== undefined) q = q.where("schedule_id", "=", filter.scheduleId);
        const rows = await q.orderBy("created_at", "desc").orderBy("id", "desc").limit(filter.limit).execute();
        return rows.map((row) => provisionFromColumns(row, same));
      }),

    commitPart: (part, subjects) =>
      write(
        async () => {
          const res = await runNamed<{ moved: number }>(pool, COMMIT_PART, [
            part.provisionId,
            part.part,
            part.file,
            part.subjects,
            part.bytes,
            part.sha256,
            part.ledgerDigest,
            part.lastSubject,
            part.at,
            subjects,
          ]);
          // Unreachable while the part's foreign key holds; kept so a missing row never passes.
          if ((res.rows[0]?.moved ?? 0) === 0) throw new HaechiError("NOT_FOUND", PROVISION_NOT_FOUND);
        },
        { unique: PART_EXISTS, foreignKey: PROVISION_NOT_FOUND },
      ),
    partsOf: (provisionId) => guard(async () => (await runNamed<PartDbRow>(pool, PARTS_OF, [provisionId])).rows.map(toPart)),
    subjectsOfPart: (provisionId, part) =>
      guard(async () =>
        (await runNamed<{ subject_id: string }>(pool, SUBJECTS_OF_PART, [provisionId, part])).rows.map((r) =>
          asSubjectId(r.subject_id),
        ),
      ),
    ledgerBySubject: (subjectId) =>
      guard(async () => (await runNamed<LedgerDbRow>(pool, LEDGER_BY_SUBJECT, [subjectId])).rows.map(ledgerMapper())),
    ledgerByRecipient: (recipient, after, limit) =>
      guard(async () =>
        (
          await runNamed<LedgerDbRow>(pool, LEDGER_BY_RECIPIENT, [recipient, after?.provisionId ?? "", after?.subjectId ?? "", limit])
        ).rows.map(ledgerMapper()),
      ),
    populationDiff: (previousId, currentId) =>
      guard(async () => {
        const c = (await runNamed<{ previous: string; current: string; kept: string }>(pool, POPULATION_DIFF, [previousId, currentId]))
          .rows[0];
        return populationDiffOf(previousId, Number(c?.previous ?? 0), Number(c?.current ?? 0), Number(c?.kept ?? 0));
      }),

    putSuspension: (row, idem) =>
      write(
        () =>
          withKey(async (conn) => {
            const q = db
              .insertInto("haechi.suspensions")
              .values({
                id: row.id,
                scope: row.scope,
                target: row.target,
                order_ref: row.order,
                reason: row.reason,
                at: row.at,
                issued_by: row.by,
                lifted_at: row.liftedAt,
                lifted_by: row.liftedBy,
              })
              .compile();
            await runCompiled(conn, q);
          }, idem),
        { unique: SUSPENSION_EXISTS },
      ),
    liftSuspension: (id, at, by, idem) =>
      write(() => withKey(async (conn) => ((await runNamed(conn, LIFT_SUSPENSION, [id, at, by])).rowCount ?? 0) > 0, idem, (lifted) => lifted)),
    activeSuspensions: () =>
      guard(async () =>
        (
          await db.selectFrom("haechi.suspensions").selectAll().where("lifted_at", "is", null).orderBy("at").orderBy("id").execute()
        ).map(toSuspension),
      ),
    listSuspensions: () =>
      guard(async () =>
        (await db.selectFrom("haechi.suspensions").selectAll().orderBy("at").orderBy("id").execute()).map(toSuspension),
      ),

    putSchedule: (row, idem) =>
      write(() =>
        withKey(async (conn) => {
          const rest = {
            principal: row.principal,
            request: row.request,
            period: row.every,
            next_at: row.nextAt,
            last_provision_id: row.lastProvisionId,
            active: row.active,
            created_at: row.createdAt,
          };
          await runCompiled(
            conn,
            db
              .insertInto("haechi.provision_schedules")
              .values({ id: row.id, ...rest })
              .onConflict((oc) => oc.column("id").doUpdateSet(rest))
              .compile(),
          );
        }, idem),
      ),
    updateSchedule: (id, patch) =>
      write(async () => {
        const set: Partial<ScheduleDbRow> = {};
        if (patch.nextAt !== undefined) set.next_at = patch.nextAt;
        if (patch.lastProvisionId !== undefined) set.last_provision_id = patch.lastProvisionId;
        if (patch.active !== undefined) set.active = patch.active;
        const found =
          Object.keys(set).length === 0
            ? (await db.selectFrom("haechi.provision_schedules").select("id").where("id", "=", id).executeTakeFirst()) !== undefined
            : (await db.updateTable("haechi.provision_schedules").set(set).where("id", "=", id).executeTakeFirst()).numUpdatedRows >
              0n;
        if (!found) throw new HaechiError("NOT_FOUND", SCHEDULE_NOT_FOUND);
      }),
    getSchedule: (id) =>
      guard(async () => {
        const row = await db.selectFrom("haechi.provision_schedules").selectAll().where("id", "=", id).executeTakeFirst();
        return row === undefined ? undefined : toSchedule(row);
      }),
    listSchedules: () =>
      guard(async () =>
        (await db.selectFrom("haechi.provision_schedules").selectAll().orderBy("created_at").orderBy("id").execute()).map(toSchedule),
      ),
    dueSchedules: (now) =>
      guard(async () => (await runNamed<ScheduleDbRow>(pool, DUE_SCHEDULES, [now])).rows.map(toSchedule)),
  };
};
