/**
 * IncidentStore on SQLite (`data.db`). Like the provision store it has no connections of its
 * own: writes run on the data store's writer under its mutex, each a synchronous transaction
 * (change + timeline event together), reads on its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { HaechiError } from "../../core/errors.js";
import { asSubjectId } from "../../core/ids.js";
import type {
  IncidentEvent,
  IncidentNoticeRow,
  IncidentAct,
  NewIncidentEvent,
  NoticeAudience,
  NoticeKind,
  OutboxRow,
  OutboxStatus,
} from "../../core/incident/incident-types.js";
import type { IdempotencyRecord, IncidentStore } from "../../core/ports.js";
import { INCIDENT_EXISTS, INCIDENT_NOT_FOUND, NOTICE_EXISTS, guard } from "../storage-errors.js";
import { recordWith, type SqliteIdempotencyWriter } from "./sqlite-idempotency.js";
import {
  checkNoticeBatch,
  incidentFromColumns,
  incidentPatchColumns,
  incidentToColumns,
  scopeSetsOf,
  scopeSubjectReader,
  type IncidentColumns,
} from "../store-fns.js";

export interface SqliteIncidentDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Records an idempotency key in the writer's open transaction (docs/adr/0017-idempotency.md). */
  idempotency: SqliteIdempotencyWriter;
}

type IncidentDbRow = IncidentColumns<number>;
interface EventDbRow {
  seq: number;
  incident_id: string;
  at: number;
  actor: string;
  act: string;
  detail: string;
  audit_seq: number;
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
  created_at: number;
  post_until: number | null;
}
interface OutboxDbRow {
  id: string;
  incident_id: string;
  notice_id: string;
  subject_id: string | null;
  channel: string;
  status: string;
  queued_at: number;
  sent_at: number | null;
  proof: string | null;
  error: string | null;
}

const ms = (d: Date): number => d.getTime();
const date = (n: number): Date => new Date(n);
const INCIDENT_COLUMNS =
  "id, kind, status, source, summary, aware_at, deadline, opened_at, opened_by, facts, scope, updated_at, closed_at";

const toEvent = (r: EventDbRow): IncidentEvent => ({
  seq: r.seq,
  incidentId: r.incident_id,
  at: new Date(r.at),
  actor: r.actor,
  act: r.act as IncidentAct,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  auditSeq: r.audit_seq,
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
  createdAt: new Date(r.created_at),
  postUntil: r.post_until === null ? null : new Date(r.post_until),
});
const toOutbox = (r: OutboxDbRow): OutboxRow => ({
  id: r.id,
  incidentId: r.incident_id,
  noticeId: r.notice_id,
  subjectId: r.subject_id === null ? null : asSubjectId(r.subject_id),
  channel: r.channel,
  status: r.status as OutboxStatus,
  queuedAt: new Date(r.queued_at),
  sentAt: r.sent_at === null ? null : new Date(r.sent_at),
  proof: r.proof,
  error: r.error,
});

export const sqliteIncidentStore = (deps: SqliteIncidentDeps): IncidentStore => {
  const { writer, reader, exclusive, idempotency } = deps;

  const r = {
    get: reader.prepare<[string], IncidentDbRow>(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE id = ?`),
    list: reader.prepare<[number], IncidentDbRow>(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents ORDER BY aware_at DESC, id DESC LIMIT ?`,
    ),
    listByStatus: reader.prepare<[string, number], IncidentDbRow>(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE status = ? ORDER BY aware_at DESC, id DESC LIMIT ?`,
    ),
    events: reader.prepare<[string], EventDbRow>("SELECT * FROM incident_events WHERE incident_id = ? ORDER BY seq"),
    // The sets joined in the same statement: one snapshot, whatever a rescope does meanwhile.
    subjects: reader
      .prepare<[string, string, number], [string, string, string]>(
        `SELECT s.subject_id, f.names, v.names FROM incident_subjects s
         JOIN incident_scope_sets f ON f.incident_id = s.incident_id AND f.set_no = s.fields_set
         JOIN incident_scope_sets v ON v.incident_id = s.incident_id AND v.set_no = s.via_set
         WHERE s.incident_id = ? AND s.subject_id > ? ORDER BY s.subject_id LIMIT ?`,
      )
      .raw(true),
    // No index by subject (0011_scope_sets): one primary-key probe per scoped incident.
    bySubject: reader.prepare<[string], IncidentDbRow>(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents i
       WHERE i.scope IS NOT NULL AND EXISTS (SELECT 1 FROM incident_subjects s WHERE s.incident_id = i.id AND s.subject_id = ?)
       ORDER BY i.aware_at DESC, i.id DESC`,
    ),
    notices: reader.prepare<[string], NoticeDbRow>("SELECT * FROM incident_notices WHERE incident_id = ? ORDER BY created_at, id"),
    outbox: reader.prepare<[string, string, number], OutboxDbRow>(
      "SELECT * FROM incident_outbox WHERE incident_id = ? AND id > ? ORDER BY id LIMIT ?",
    ),
    outboxByStatus: reader.prepare<[string, string, string, number], OutboxDbRow>(
      "SELECT * FROM incident_outbox WHERE incident_id = ? AND status = ? AND id > ? ORDER BY id LIMIT ?",
    ),
    outboxCounts: reader.prepare<[string], { kind: string; audience: string; channel: string; status: string; count: number }>(
      `SELECT n.kind, n.audience, o.channel, o.status, count(*) AS count
       FROM incident_outbox o JOIN incident_notices n ON n.id = o.notice_id
       WHERE o.incident_id = ? GROUP BY n.kind, n.audience, o.channel, o.status
       ORDER BY n.kind, n.audience, o.channel, o.status`,
    ),
  };

  const w = {
    insert: writer.prepare<IncidentDbRow>(
      `INSERT INTO incidents (${INCIDENT_COLUMNS}) VALUES
       (@id, @kind, @status, @source, @summary, @aware_at, @deadline, @opened_at, @opened_by, @facts, @scope, @updated_at, @closed_at)`,
    ),
    event: writer.prepare<[string, number, string, string, string, number], EventDbRow>(
      `INSERT INTO incident_events (incident_id, at, actor, act, detail, audit_seq) VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
    ),
    setScope: writer.prepare<[string, number, string]>("UPDATE incidents SET scope = ?, updated_at = ? WHERE id = ?"),
    clearSubjects: writer.prepare<[string]>("DELETE FROM incident_subjects WHERE incident_id = ?"),
    clearSets: writer.prepare<[string]>("DELETE FROM incident_scope_sets WHERE incident_id = ?"),
    // The sets as a JSON array of their texts, numbered by position.
    insertSets: writer.prepare<[string, string]>(
      "INSERT INTO incident_scope_sets (incident_id, set_no, names) SELECT ?, key, value FROM json_each(?)",
    ),
    // One JSON array of [subject, fields set, via set] per call: one statement for a whole scope.
    insertSubjects: writer.prepare<[string, string]>(
      `INSERT INTO incident_subjects (incident_id, subject_id, fields_set, via_set)
       SELECT ?, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)`,
    ),
    insertNotice: writer.prepare<[string, string, string, string, string, string, string, number, number, number | null]>(
      `INSERT INTO incident_notices (id, incident_id, kind, audience, title, body, sha256, recipients, created_at, post_until)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // [id, notice, subject, channel, queued_at] per message.
    insertOutbox: writer.prepare<[string, string]>(
      `INSERT INTO incident_outbox (id, incident_id, notice_id, subject_id, channel, status, queued_at)
       SELECT value ->> 0, ?, value ->> 1, value ->> 2, value ->> 3, 'queued', value ->> 4 FROM json_each(?)`,
    ),
    markOutbox: writer.prepare<[string, number, string | null, string | null, string, string]>(
      `UPDATE incident_outbox SET status = ?, sent_at = ?, proof = ?, error = ?
       WHERE id = ? AND incident_id = ? AND status = 'queued'`,
    ),
    touch: writer.prepare<[number, string]>("UPDATE incidents SET updated_at = ? WHERE id = ?"),
  };

  const appendEvent = (id: string, e: NewIncidentEvent): IncidentEvent =>
    toEvent(w.event.get(id, ms(e.at), e.actor, e.act, JSON.stringify(e.detail), e.auditSeq)!);
  const requireTouched = (changes: number) => {
    if (changes === 0) throw new HaechiError("NOT_FOUND", INCIDENT_NOT_FOUND);
  };

  const insertNow = writer.transaction((row: IncidentDbRow, e: NewIncidentEvent, idem: IdempotencyRecord<IncidentEvent> | undefined) => {
    w.insert.run(row);
    return recordWith(idempotency, idem, appendEvent(row.id, e));
  });
  const updateNow = writer.transaction(
    (id: string, set: Partial<IncidentDbRow>, events: readonly NewIncidentEvent[], idem: IdempotencyRecord<IncidentEvent[]> | undefined) => {
      const cols = Object.keys(set);
      const stmt = writer.prepare(`UPDATE incidents SET ${cols.map((c) => `${c} = @${c}`).join(", ")} WHERE id = @__id`);
      requireTouched(stmt.run({ ...set, __id: id }).changes);
      return recordWith(idempotency, idem, events.map((e) => appendEvent(id, e)));
    },
  );
  const putScopeNow = writer.transaction(
    (id: string, scope: string, sets: string, people: string, e: NewIncidentEvent, idem: IdempotencyRecord<IncidentEvent> | undefined) => {
      requireTouched(w.setScope.run(scope, ms(e.at), id).changes);
      w.clearSubjects.run(id);
      w.clearSets.run(id);
      w.insertSets.run(id, sets);
      w.insertSubjects.run(id, people);
      return recordWith(idempotency, idem, appendEvent(id, e));
    },
  );
  const putNoticesNow = writer.transaction(
    (id: string, notices: readonly IncidentNoticeRow[], outbox: string, e: NewIncidentEvent, idem: IdempotencyRecord<IncidentEvent> | undefined) => {
      requireTouched(w.touch.run(ms(e.at), id).changes);
      for (const n of notices) {
        w.insertNotice.run(n.id, id, n.kind, n.audience, n.title, n.body, n.sha256, n.recipients, ms(n.createdAt), n.postUntil === null ? null : ms(n.postUntil));
      }
      w.insertOutbox.run(id, outbox);
      return recordWith(idempotency, idem, appendEvent(id, e));
    },
  );
  const markNow = writer.transaction((id: string, updates: Parameters<IncidentStore["markOutbox"]>[1], e: NewIncidentEvent) => {
    requireTouched(w.touch.run(ms(e.at), id).changes);
    let n = 0;
    for (const u of updates) n += w.markOutbox.run(u.status, ms(u.at), u.proof, u.error, u.id, id).changes;
    appendEvent(id, e);
    return n;
  });

  const write = <T>(fn: () => T, mapping?: Parameters<typeof guard>[1]) => exclusive(() => guard(fn, mapping));
  const read = <T>(fn: () => T) => guard(fn);

  return {
    insert: (row, event, idem) => write(() => insertNow.immediate(incidentToColumns(row, ms), event, idem), { unique: INCIDENT_EXISTS }),
    update: (id, patch, events, idem) => write(() => updateNow.immediate(id, incidentPatchColumns(patch, ms), events, idem)),
    putScope: (id, scope, subjects, event, idem) =>
      write(() => {
        const { sets, people } = scopeSetsOf(subjects);
        return putScopeNow.immediate(id, JSON.stringify(scope), JSON.stringify(sets), JSON.stringify(people), event, idem);
      }),
    get: (id) =>
      read(() => {
        const row = r.get.get(id);
        return row === undefined ? undefined : incidentFromColumns(row, date);
      }),
    list: (filter) =>
      read(() =>
        (filter.status === undefined ? r.list.all(filter.limit) : r.listByStatus.all(filter.status, filter.limit)).map((row) =>
          incidentFromColumns(row, date),
        ),
      ),
    events: (id) => read(() => r.events.all(id).map(toEvent)),
    subjects: (id, afterId, limit) =>
      read(() => {
        const row = scopeSubjectReader();
        return r.subjects.all(id, afterId ?? "", limit).map(([subjectId, fields, via]) => row(subjectId, fields, via));
      }),
    bySubject: (subjectId) => read(() => r.bySubject.all(subjectId).map((row) => incidentFromColumns(row, date))),
    putNotices: (id, notices, outbox, event, idem) =>
      write(
        () => {
          checkNoticeBatch(id, notices, outbox);
          const rows = JSON.stringify(outbox.map((o) => [o.id, o.noticeId, o.subjectId, o.channel, ms(o.queuedAt)]));
          return putNoticesNow.immediate(id, notices, rows, event, idem);
        },
        { unique: NOTICE_EXISTS },
      ),
    notices: (id) => read(() => r.notices.all(id).map(toNotice)),
    outbox: (id, filter) =>
      read(() =>
        (filter.status === undefined
          ? r.outbox.all(id, filter.afterId ?? "", filter.limit)
          : r.outboxByStatus.all(id, filter.status, filter.afterId ?? "", filter.limit)
        ).map(toOutbox),
      ),
    markOutbox: (id, updates, event) => write(() => markNow.immediate(id, updates, event)),
    outboxCounts: (id) =>
      read(() =>
        r.outboxCounts.all(id).map((c) => ({
          kind: c.kind as NoticeKind,
          audience: c.audience as NoticeAudience,
          channel: c.channel,
          status: c.status as OutboxStatus,
          count: c.count,
        })),
      ),
  };
};
