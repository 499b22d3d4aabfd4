/**
 * SubjectRequestStore on SQLite (`data.db`: `subject_requests`, `subject_request_events`). Like
 * the incident store it has no connections of its own: writes run on the data store's writer
 * under its mutex, each one synchronous transaction (change + history event together), reads on
 * its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { HaechiError } from "../../core/errors.js";
import type { IdempotencyRecord, NewRequestEvent, RequestEvent, SubjectRequestRow, SubjectRequestStore } from "../../core/ports.js";
import type { RequestStatus } from "../../core/requests/request-fns.js";
import { REQUEST_COLUMNS, requestEventFromColumns, requestFromColumns, requestToColumns, type RequestColumns, type RequestEventColumns } from "../request-columns.js";
import { REQUEST_EXISTS, REQUEST_NOT_FOUND, guard } from "../storage-errors.js";
import { recordWith, type SqliteIdempotencyWriter } from "./sqlite-idempotency.js";

export interface SqliteRequestDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Records an idempotency key in the writer's open transaction (docs/adr/0017-idempotency.md). */
  idempotency: SqliteIdempotencyWriter;
}

type Row = RequestColumns<number>;
const ms = (d: Date): number => d.getTime();
const date = (n: number): Date => new Date(n);
const fromRow = (r: Row): SubjectRequestRow => requestFromColumns(r, date);
const toEvent = (r: RequestEventColumns<number>): RequestEvent => requestEventFromColumns(r, date);

export const sqliteRequestStore = (deps: SqliteRequestDeps): SubjectRequestStore => {
  const { writer, reader, exclusive, idempotency } = deps;

  const r = {
    get: reader.prepare<[string], Row>(`SELECT ${REQUEST_COLUMNS} FROM subject_requests WHERE id = ?`),
    // Optional filters as NULL-able parameters: one statement for every combination.
    list: reader.prepare<[string | null, string | null, string | null, string | null, number | null, number | null, string | null, string | null, string | null, string | null, number], Row>(
      `SELECT ${REQUEST_COLUMNS} FROM subject_requests
       WHERE (? IS NULL OR status IN (SELECT value FROM json_each(?)))
         AND (? IS NULL OR kind = ?)
         AND (? IS NULL OR deadline < ?)
         AND (? IS NULL OR filed_by = ?)
         AND (? IS NULL OR subject_id = ?)
       ORDER BY deadline, id LIMIT ?`,
    ),
    openCounts: reader.prepare<[number], { open: number; overdue: number | null }>(
      `SELECT count(*) AS open, sum(deadline < ?) AS overdue FROM subject_requests
       WHERE status IN ('received', 'in_progress', 'extended')`,
    ),
    events: reader.prepare<[string], RequestEventColumns<number>>(
      "SELECT seq, request_id, at, actor, act, detail, audit_seq FROM subject_request_events WHERE request_id = ? ORDER BY seq",
    ),
  };
  const w = {
    insert: writer.prepare<Row>(
      `INSERT INTO subject_requests (${REQUEST_COLUMNS}) VALUES
       (@id, @kind, @subject_id, @subject_external, @filed_by, @channel, @received_at, @deadline, @status, @detail, @extension, @outcome, @updated_at, @closed_at)`,
    ),
    current: writer.prepare<[string], Row>(`SELECT ${REQUEST_COLUMNS} FROM subject_requests WHERE id = ?`),
    update: writer.prepare<Row>(
      `UPDATE subject_requests SET status = @status, deadline = @deadline, extension = @extension, outcome = @outcome,
         updated_at = @updated_at, closed_at = @closed_at WHERE id = @id`,
    ),
    event: writer.prepare<[string, number, string, string, string, number], RequestEventColumns<number>>(
      "INSERT INTO subject_request_events (request_id, at, actor, act, detail, audit_seq) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
    ),
  };

  const appendEvent = (id: string, e: NewRequestEvent): RequestEvent =>
    toEvent(w.event.get(id, ms(e.at), e.actor, e.act, JSON.stringify(e.detail), e.auditSeq)!);

  const insertNow = writer.transaction((row: Row, e: NewRequestEvent, idem: IdempotencyRecord<RequestEvent> | undefined) => {
    w.insert.run(row);
    return recordWith(idempotency, idem, appendEvent(row.id, e));
  });
  const updateNow = writer.transaction(
    (id: string, from: readonly RequestStatus[], patch: Parameters<SubjectRequestStore["update"]>[2], e: NewRequestEvent, idem: IdempotencyRecord<RequestEvent> | undefined) => {
      const row = w.current.get(id);
      if (row === undefined) throw new HaechiError("NOT_FOUND", REQUEST_NOT_FOUND);
      if (!from.includes(row.status as RequestStatus)) return undefined;
      const merged = requestToColumns({ ...fromRow(row), ...patch }, ms);
      w.update.run(merged);
      return recordWith(idempotency, idem, appendEvent(id, e));
    },
  );

  const write = <T>(fn: () => T, mapping?: Parameters<typeof guard>[1]) => exclusive(() => guard(fn, mapping));

  return {
    insert: (row, event, idem) => write(() => insertNow.immediate(requestToColumns(row, ms), event, idem), { unique: REQUEST_EXISTS }),
    update: (id, from, patch, event, idem) => write(() => updateNow.immediate(id, from, patch, event, idem)),
    get: (id) =>
      guard(() => {
        const row = r.get.get(id);
        return row === undefined ? undefined : fromRow(row);
      }),
    list: (f) =>
      guard(() => {
        const statuses = f.statuses === undefined ? null : JSON.stringify(f.statuses);
        const due = f.dueBefore === undefined ? null : ms(f.dueBefore);
        return r.list
          .all(statuses, statuses, f.kind ?? null, f.kind ?? null, due, due, f.filedBy ?? null, f.filedBy ?? null, f.subjectId ?? null, f.subjectId ?? null, f.limit)
          .map(fromRow);
      }),
    events: (id) => guard(() => r.events.all(id).map(toEvent)),
    openCounts: (now) =>
      guard(() => {
        const c = r.openCounts.get(ms(now))!;
        return { open: c.open, overdue: c.overdue ?? 0 };
      }),
  };
};
