/**
 * SubjectRequestStore on PostgreSQL (schema `haechi`: `subject_requests`,
 * `subject_request_events`), on the data store's pool. A change and its history event are one
 * transaction; the request row is locked (FOR UPDATE) while its status is compared and set.
 */
import type pg from "pg";
import { HaechiError } from "../../core/errors.js";
import type { NewRequestEvent, RequestEvent, SubjectRequestStore } from "../../core/ports.js";
import { REQUEST_COLUMNS, REQUEST_COLUMN_LIST, requestEventFromColumns, requestFromColumns, requestToColumns, type RequestColumns, type RequestEventColumns } from "../request-columns.js";
import { REQUEST_EXISTS, REQUEST_NOT_FOUND, guard } from "../storage-errors.js";
import { recordOn } from "./pg-idempotency.js";
import { named, runNamed, type PgConn } from "./pg-query.js";

export interface PgRequestDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs `fn` on one client between BEGIN and COMMIT. */
  withTransaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
}

type Row = RequestColumns<Date>;
const same = (d: Date) => d;

const INSERT = named(
  "haechi_requests_insert",
  `INSERT INTO haechi.subject_requests (${REQUEST_COLUMNS}) VALUES (${REQUEST_COLUMN_LIST.map((_, i) => `$${i + 1}`).join(", ")})`,
);
const GET = named("haechi_requests_get", `SELECT ${REQUEST_COLUMNS} FROM haechi.subject_requests WHERE id = $1`);
const LOCK = named("haechi_requests_lock", `SELECT ${REQUEST_COLUMNS} FROM haechi.subject_requests WHERE id = $1 FOR UPDATE`);
const UPDATE = named(
  "haechi_requests_update",
  `UPDATE haechi.subject_requests SET status = $2, deadline = $3, extension = $4, outcome = $5, updated_at = $6, closed_at = $7 WHERE id = $1`,
);
const LIST = named(
  "haechi_requests_list",
  `SELECT ${REQUEST_COLUMNS} FROM haechi.subject_requests
   WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
     AND ($2::text IS NULL OR kind = $2)
     AND ($3::timestamptz IS NULL OR deadline < $3)
     AND ($4::text IS NULL OR filed_by = $4)
     AND ($5::text IS NULL OR subject_id = $5)
   ORDER BY deadline, id LIMIT $6`,
);
const EVENT = named(
  "haechi_requests_event",
  `INSERT INTO haechi.subject_request_events (request_id, at, actor, act, detail, audit_seq) VALUES ($1, $2, $3, $4, $5, $6)
   RETURNING seq, request_id, at, actor, act, detail, audit_seq`,
);
const OPEN_COUNTS = named(
  "haechi_requests_open_counts",
  `SELECT count(*) AS open, count(*) FILTER (WHERE deadline < $1) AS overdue FROM haechi.subject_requests
   WHERE status IN ('received', 'in_progress', 'extended')`,
);
const EVENTS = named(
  "haechi_requests_events",
  "SELECT seq, request_id, at, actor, act, detail, audit_seq FROM haechi.subject_request_events WHERE request_id = $1 ORDER BY seq",
);

export const pgRequestStore = (deps: PgRequestDeps): SubjectRequestStore => {
  const { pool, outsideTransaction, withTransaction } = deps;
  const appendEvent = async (client: PgConn, id: string, e: NewRequestEvent): Promise<RequestEvent> =>
    requestEventFromColumns((await runNamed<RequestEventColumns<Date>>(client, EVENT, [id, e.at, e.actor, e.act, JSON.stringify(e.detail), e.auditSeq])).rows[0]!, same);
  const write = <T>(fn: (client: pg.PoolClient) => Promise<T>, mapping?: Parameters<typeof guard>[1]) =>
    outsideTransaction(() => guard(() => withTransaction(fn), mapping));

  return {
    insert: (row, event, idem) =>
      write(
        async (client) => {
          const c = requestToColumns(row, same);
          await runNamed(client, INSERT, REQUEST_COLUMN_LIST.map((k) => c[k as keyof Row]));
          return recordOn(client, idem, await appendEvent(client, row.id, event));
        },
        { unique: REQUEST_EXISTS },
      ),
    update: (id, from, patch, event, idem) =>
      write(async (client) => {
        const row = (await runNamed<Row>(client, LOCK, [id])).rows[0];
        if (row === undefined) throw new HaechiError("NOT_FOUND", REQUEST_NOT_FOUND);
        const current = requestFromColumns(row, same);
        if (!from.includes(current.status)) return undefined;
        const m = requestToColumns({ ...current, ...patch }, same);
        await runNamed(client, UPDATE, [id, m.status, m.deadline, m.extension, m.outcome, m.updated_at, m.closed_at]);
        return recordOn(client, idem, await appendEvent(client, id, event));
      }),
    get: (id) =>
      guard(async () => {
        const row = (await runNamed<Row>(pool, GET, [id])).rows[0];
        return row === undefined ? undefined : requestFromColumns(row, same);
      }),
    list: (f) =>
      guard(async () =>
        (
          await runNamed<Row>(pool, LIST, [f.statuses === undefined ? null : [...f.statuses], f.kind ?? null, f.dueBefore ?? null, f.filedBy ?? null, f.subjectId ?? null, f.limit])
        ).rows.map((r) => requestFromColumns(r, same)),
      ),
    events: (id) => guard(async () => (await runNamed<RequestEventColumns<Date>>(pool, EVENTS, [id])).rows.map((r) => requestEventFromColumns(r, same))),
    openCounts: (now) =>
      guard(async () => {
        const c = (await runNamed<{ open: string; overdue: string }>(pool, OPEN_COUNTS, [now])).rows[0]!;
        return { open: Number(c.open), overdue: Number(c.overdue) };
      }),
  };
};
