/**
 * IncidentStore on PostgreSQL (schema `haechi`), on the data store's pool. Each write is one
 * transaction on one client (the change and its timeline event together); a scope's people and
 * a batch of outbox messages go in as array parameters, one statement each.
 */
import type pg from "pg";
import { HaechiError } from "../../core/errors.js";
import { asSubjectId } from "../../core/ids.js";
import type {
  IncidentAct,
  IncidentEvent,
  IncidentNoticeRow,
  NewIncidentEvent,
  NoticeAudience,
  NoticeKind,
  OutboxRow,
  OutboxStatus,
} from "../../core/incident/incident-types.js";
import type { IncidentStore } from "../../core/ports.js";
import { INCIDENT_EXISTS, INCIDENT_NOT_FOUND, NOTICE_EXISTS, guard } from "../storage-errors.js";
import {
  checkNoticeBatch,
  incidentFromColumns,
  incidentPatchColumns,
  incidentToColumns,
  scopeSetsOf,
  scopeSubjectReader,
  type IncidentColumns,
} from "../store-fns.js";
import { recordOn } from "./pg-idempotency.js";
import { iso, named, runNamed, type PgConn } from "./pg-query.js";

export interface PgIncidentDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs `fn` on one client between BEGIN and COMMIT; any failure rolls back. */
  withTransaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
}

type IncidentDbRow = IncidentColumns<Date>;
interface EventDbRow {
  seq: string;
  incident_id: string;
  at: Date;
  actor: string;
  act: string;
  detail: string;
  audit_seq: string;
}
interface NoticeDbRow {
  id: string;
  incident_id: string;
  kind: string;
  audience: string;
  title: string;
  body: string;
  sha256: string;
  recipients: number;
  created_at: Date;
  post_until: Date | null;
}
interface OutboxDbRow {
  id: string;
  incident_id: string;
  notice_id: string;
  subject_id: string | null;
  channel: string;
  status: string;
  queued_at: Date;
  sent_at: Date | null;
  proof: string | null;
  error: string | null;
}

const COLUMNS = ["id", "kind", "status", "source", "summary", "aware_at", "deadline", "opened_at", "opened_by", "facts", "scope", "updated_at", "closed_at"] as const;
const INCIDENT_COLUMNS = COLUMNS.join(", ");

const INSERT = named(
  "haechi_inc_insert",
  `INSERT INTO haechi.incidents (${INCIDENT_COLUMNS}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})`,
);
const EVENT = named(
  "haechi_inc_event",
  `INSERT INTO haechi.incident_events (incident_id, at, actor, act, detail, audit_seq)
   VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
);
const GET = named("haechi_inc_get", `SELECT ${INCIDENT_COLUMNS} FROM haechi.incidents WHERE id = $1`);
const LIST = named(
  "haechi_inc_list",
  `SELECT ${INCIDENT_COLUMNS} FROM haechi.incidents WHERE ($1::text IS NULL OR status = $1)
   ORDER BY aware_at DESC, id DESC LIMIT $2`,
);
const EVENTS = named("haechi_inc_events", "SELECT * FROM haechi.incident_events WHERE incident_id = $1 ORDER BY seq");
const SET_SCOPE = named("haechi_inc_set_scope", "UPDATE haechi.incidents SET scope = $1, updated_at = $2 WHERE id = $3");
const CLEAR_SUBJECTS = named("haechi_inc_clear_subjects", "DELETE FROM haechi.incident_subjects WHERE incident_id = $1");
const CLEAR_SETS = named("haechi_inc_clear_sets", "DELETE FROM haechi.incident_scope_sets WHERE incident_id = $1");
/** The field and channel sets (0011_scope_sets) as a JSON array of their texts, numbered from 0. */
const INSERT_SETS = named(
  "haechi_inc_insert_sets",
  `INSERT INTO haechi.incident_scope_sets (incident_id, set_no, names)
   SELECT $1, (n - 1)::integer, t FROM json_array_elements_text($2::json) WITH ORDINALITY AS s(t, n)`,
);
/**
 * A scope's people as one JSON document of [subject, fields set, via set] triples: serialising
 * 66k-element arrays into PostgreSQL's array format cost more than the insert (0.63 s against
 * the JSON form's, measured on 65,719 people).
 */
const INSERT_SUBJECTS = named(
  "haechi_inc_insert_subjects_sets",
  `INSERT INTO haechi.incident_subjects (incident_id, subject_id, fields_set, via_set)
   SELECT $1, r->>0, (r->>1)::integer, (r->>2)::integer FROM json_array_elements($2::json) AS r`,
);
/** The sets joined in the same statement: one snapshot, whatever a rescope does meanwhile. */
const SUBJECTS = named(
  "haechi_inc_subjects_sets",
  `SELECT s.subject_id, f.names, v.names FROM haechi.incident_subjects s
   JOIN haechi.incident_scope_sets f ON f.incident_id = s.incident_id AND f.set_no = s.fields_set
   JOIN haechi.incident_scope_sets v ON v.incident_id = s.incident_id AND v.set_no = s.via_set
   WHERE s.incident_id = $1 AND s.subject_id > $2 ORDER BY s.subject_id LIMIT $3`,
);
/** No index by subject (0011_scope_sets): one primary-key probe per scoped incident. */
const BY_SUBJECT = named(
  "haechi_inc_by_subject_probe",
  `SELECT ${INCIDENT_COLUMNS} FROM haechi.incidents i
   WHERE i.scope IS NOT NULL AND EXISTS (SELECT 1 FROM haechi.incident_subjects s WHERE s.incident_id = i.id AND s.subject_id = $1)
   ORDER BY i.aware_at DESC, i.id DESC`,
);
const TOUCH = named("haechi_inc_touch", "UPDATE haechi.incidents SET updated_at = $1 WHERE id = $2");
const INSERT_NOTICES = named(
  "haechi_inc_insert_notices",
  `INSERT INTO haechi.incident_notices (id, incident_id, kind, audience, title, body, sha256, recipients, created_at, post_until)
   SELECT n.id, $1, n.kind, n.audience, n.title, n.body, n.sha256, n.recipients, n.created_at, n.post_until
   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::timestamptz[], $10::timestamptz[])
     AS n(id, kind, audience, title, body, sha256, recipients, created_at, post_until)`,
);
const INSERT_OUTBOX = named(
  "haechi_inc_insert_outbox",
  `INSERT INTO haechi.incident_outbox (id, incident_id, notice_id, subject_id, channel, status, queued_at)
   SELECT o.id, $1, o.notice_id, o.subject_id, o.channel, 'queued', o.queued_at
   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS o(id, notice_id, subject_id, channel, queued_at)`,
);
const NOTICES = named("haechi_inc_notices", "SELECT * FROM haechi.incident_notices WHERE incident_id = $1 ORDER BY created_at, id");
const OUTBOX = named(
  "haechi_inc_outbox",
  `SELECT * FROM haechi.incident_outbox WHERE incident_id = $1 AND ($2::text IS NULL OR status = $2) AND id > $3
   ORDER BY id LIMIT $4`,
);
const MARK_OUTBOX = named(
  "haechi_inc_mark_outbox",
  `UPDATE haechi.incident_outbox o SET status = u.status, sent_at = u.at, proof = u.proof, error = u.error
   FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS u(id, status, at, proof, error)
   WHERE o.id = u.id AND o.incident_id = $1 AND o.status = 'queued'`,
);
const OUTBOX_COUNTS = named(
  "haechi_inc_outbox_counts",
  `SELECT n.kind, n.audience, o.channel, o.status, count(*)::integer AS count
   FROM haechi.incident_outbox o JOIN haechi.incident_notices n ON n.id = o.notice_id
   WHERE o.incident_id = $1 GROUP BY n.kind, n.audience, o.channel, o.status
   ORDER BY n.kind, n.audience, o.channel, o.status`,
);

const toEvent = (r: EventDbRow): IncidentEvent => ({
  seq: Number(r.seq),
  incidentId: r.incident_id,
  at: r.at,
  actor: r.actor,
  act: r.act as IncidentAct,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  auditSeq: Number(r.audit_seq),
});
const toNotice = (r: NoticeDbRow): IncidentNoticeRow => ({
  id: r.id,
  incidentId: r.incident_id,
  kind: r.kind as NoticeKind,
  audience: r.audience as NoticeAudience,
  title: r.title,
  body: r.body,
  sha256: r.sha256,
  recipients: r.recipients,
  createdAt: r.created_at,
  postUntil: r.post_until,
});
const toOutbox = (r: OutboxDbRow): OutboxRow => ({
  id: r.id,
  incidentId: r.incident_id,
  noticeId: r.notice_id,
  subjectId: r.subject_id === null ? null : asSubjectId(r.subject_id),
  channel: r.channel,
  status: r.status as OutboxStatus,
  queuedAt: r.queued_at,
  sentAt: r.sent_at,
  proof: r.proof,
  error: r.error,
});
const same = (d: Date) => d;

export const pgIncidentStore = (deps: PgIncidentDeps): IncidentStore => {
  const { pool, outsideTransaction, withTransaction } = deps;

  const appendEvent = async (client: PgConn, id: string, e: NewIncidentEvent): Promise<IncidentEvent> =>
    toEvent((await runNamed<EventDbRow>(client, EVENT, [id, e.at, e.actor, e.act, JSON.stringify(e.detail), e.auditSeq])).rows[0]!);
  const requireTouched = (count: number | null) => {
    if (!count) throw new HaechiError("NOT_FOUND", INCIDENT_NOT_FOUND);
  };
  const write = <T>(fn: (client: pg.PoolClient) => Promise<T>, mapping?: Parameters<typeof guard>[1]) =>
    outsideTransaction(() => guard(() => withTransaction(fn), mapping));

  return {
    insert: (row, event, idem) =>
      write(
        async (client) => {
          const c = incidentToColumns(row, same);
          await runNamed(client, INSERT, COLUMNS.map((k) => c[k]));
          return recordOn(client, idem, await appendEvent(client, row.id, event));
        },
        { unique: INCIDENT_EXISTS },
      ),
    update: (id, patch, events, idem) =>
      write(async (client) => {
        const set = incidentPatchColumns(patch, same);
        const cols = Object.keys(set) as (keyof typeof set)[];
        const res = await client.query(
          `UPDATE haechi.incidents SET ${cols.map((c, i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`,
          [id, ...cols.map((c) => set[c])],
        );
        requireTouched(res.rowCount);
        const appended: IncidentEvent[] = [];
        for (const e of events) appended.push(await appendEvent(client, id, e));
        return recordOn(client, idem, appended);
      }),
    putScope: (id, scope, subjects, event, idem) =>
      write(async (client) => {
        requireTouched((await runNamed(client, SET_SCOPE, [JSON.stringify(scope), event.at, id])).rowCount);
        await runNamed(client, CLEAR_SUBJECTS, [id]);
        await runNamed(client, CLEAR_SETS, [id]);
        if (subjects.length > 0) {
          const { sets, people } = scopeSetsOf(subjects);
          await runNamed(client, INSERT_SETS, [id, JSON.stringify(sets)]);
          await runNamed(client, INSERT_SUBJECTS, [id, JSON.stringify(people)]);
        }
        return recordOn(client, idem, await appendEvent(client, id, event));
      }),
    get: (id) =>
      guard(async () => {
        const row = (await runNamed<IncidentDbRow>(pool, GET, [id])).rows[0];
        return row === undefined ? undefined : incidentFromColumns(row, same);
      }),
    list: (filter) =>
      guard(async () =>
        (await runNamed<IncidentDbRow>(pool, LIST, [filter.status ?? null, filter.limit])).rows.map((r) => incidentFromColumns(r, same)),
      ),
    events: (id) => guard(async () => (await runNamed<EventDbRow>(pool, EVENTS, [id])).rows.map(toEvent)),
    subjects: (id, afterId, limit) =>
      guard(async () => {
        const row = scopeSubjectReader();
        const { rows } = await pool.query<[string, string, string]>({ ...SUBJECTS, values: [id, afterId ?? "", limit], rowMode: "array" });
        return rows.map(([subjectId, fields, via]) => row(subjectId, fields, via));
      }),
    bySubject: (subjectId) =>
      guard(async () => (await runNamed<IncidentDbRow>(pool, BY_SUBJECT, [subjectId])).rows.map((r) => incidentFromColumns(r, same))),
    putNotices: (id, notices, outbox, event, idem) =>
      write(
        async (client) => {
          checkNoticeBatch(id, notices, outbox);
          requireTouched((await runNamed(client, TOUCH, [event.at, id])).rowCount);
          if (notices.length > 0) {
            await runNamed(client, INSERT_NOTICES, [
              id,
              notices.map((n) => n.id),
              notices.map((n) => n.kind),
              notices.map((n) => n.audience),
              notices.map((n) => n.title),
              notices.map((n) => n.body),
              notices.map((n) => n.sha256),
              notices.map((n) => n.recipients),
              notices.map((n) => iso(n.createdAt)),
              notices.map((n) => (n.postUntil === null ? null : iso(n.postUntil))),
            ]);
          }
          if (outbox.length > 0) {
            await runNamed(client, INSERT_OUTBOX, [
              id,
              outbox.map((o) => o.id),
              outbox.map((o) => o.noticeId),
              outbox.map((o) => o.subjectId),
              outbox.map((o) => o.channel),
              outbox.map((o) => iso(o.queuedAt)),
            ]);
          }
          return recordOn(client, idem, await appendEvent(client, id, event));
        },
        { unique: NOTICE_EXISTS },
      ),
    notices: (id) => guard(async () => (await runNamed<NoticeDbRow>(pool, NOTICES, [id])).rows.map(toNotice)),
    outbox: (id, filter) =>
      guard(async () =>
        (await runNamed<OutboxDbRow>(pool, OUTBOX, [id, filter.status ?? null, filter.afterId ?? "", filter.limit])).rows.map(toOutbox),
      ),
    markOutbox: (id, updates, event) =>
      write(async (client) => {
        requireTouched((await runNamed(client, TOUCH, [event.at, id])).rowCount);
        const res =
          updates.length === 0
            ? { rowCount: 0 }
            : await runNamed(client, MARK_OUTBOX, [
                id,
                updates.map((u) => u.id),
                updates.map((u) => u.status),
                updates.map((u) => iso(u.at)),
                updates.map((u) => u.proof),
                updates.map((u) => u.error),
              ]);
        await appendEvent(client, id, event);
        return res.rowCount ?? 0;
      }),
    outboxCounts: (id) =>
      guard(async () =>
        (await runNamed<{ kind: string; audience: string; channel: string; status: string; count: number }>(pool, OUTBOX_COUNTS, [id])).rows.map(
          (c) => ({
            kind: c.kind as NoticeKind,
            audience: c.audience as NoticeAudience,
            channel: c.channel,
            status: c.status as OutboxStatus,
            count: c.count,
          }),
        ),
      ),
  };
};
