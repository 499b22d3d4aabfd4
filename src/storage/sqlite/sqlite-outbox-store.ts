/**
 * OutboxStore on SQLite (`data.db`; ADR 0011). No connections of its own: writes run on the data
 * store's writer under its mutex, each one synchronous transaction (so a claim is atomic: one
 * writer, `BEGIN IMMEDIATE`), reads on its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { asSubjectId, type SubjectId } from "../../core/ids.js";
import type { MessageChannel, MessageKind, MessageStatus, OutboxMessage } from "../../core/outbox/outbox-types.js";
import type { OutboxStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { dedupeKeyOf } from "../store-fns.js";
import { recordWith, type SqliteIdempotencyWriter } from "./sqlite-idempotency.js";

export interface SqliteOutboxDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Records an idempotency key in the writer's open transaction (docs/adr/0017-idempotency.md). */
  idempotency: SqliteIdempotencyWriter;
}

interface MessageDbRow {
  id: string;
  kind: string;
  subject_id: string | null;
  period: string;
  channel: string;
  address_field: string | null;
  title: string;
  body: string;
  body_sha256: string;
  status: string;
  attempts: number;
  next_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  transport: string | null;
  proof: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  sent_at: number | null;
}

const COLUMNS =
  "id, kind, subject_id, period, channel, address_field, title, body, body_sha256, status, attempts, next_at, lease_owner, lease_until, transport, proof, last_error, created_at, updated_at, sent_at";
const orNull = (n: number | null) => (n === null ? null : new Date(n));

const toMessage = (r: MessageDbRow): OutboxMessage => ({
  id: r.id,
  kind: r.kind as MessageKind,
  subjectId: r.subject_id === null ? null : asSubjectId(r.subject_id),
  period: r.period,
  channel: r.channel as MessageChannel,
  addressField: r.address_field,
  title: r.title,
  body: r.body,
  bodySha256: r.body_sha256,
  status: r.status as MessageStatus,
  attempts: r.attempts,
  nextAt: new Date(r.next_at),
  leaseOwner: r.lease_owner,
  leaseUntil: orNull(r.lease_until),
  transport: r.transport,
  proof: r.proof,
  lastError: r.last_error,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  sentAt: orNull(r.sent_at),
});

export const sqliteOutboxStore = (deps: SqliteOutboxDeps): OutboxStore => {
  const { writer, reader, exclusive, idempotency } = deps;

  const r = {
    get: reader.prepare<[string], MessageDbRow>(`SELECT ${COLUMNS} FROM outbox WHERE id = ?`),
    pref: reader.prepare<[string, string], { subject_id: string; kind: string; opted_out: number; at: number; principal: string; request_id: string }>(
      "SELECT * FROM notice_preferences WHERE subject_id = ? AND kind = ?",
    ),
    optedOut: reader.prepare<[string, string], { subject_id: string }>(
      `SELECT subject_id FROM notice_preferences
       WHERE kind = ? AND opted_out = 1 AND subject_id IN (SELECT value FROM json_each(?))`,
    ),
  };
  const w = {
    insert: writer.prepare(
      `INSERT INTO outbox (${COLUMNS}, dedupe) VALUES
       (@id, @kind, @subject_id, @period, @channel, @address_field, @title, @body, @body_sha256, 'queued', 0, @created_at,
        NULL, NULL, NULL, NULL, NULL, @created_at, @created_at, NULL, @dedupe)
       ON CONFLICT (dedupe) DO NOTHING`,
    ),
    // Due messages in due order over the partial index (the first status term is the index's own
    // condition, written out so that SQLite sees it applies); leases that ran out are due again.
    due: writer.prepare<[number, number, number], { id: string }>(
      `SELECT id FROM outbox
       WHERE status IN ('queued', 'failed', 'sending')
         AND ((status IN ('queued', 'failed') AND next_at <= ?) OR (status = 'sending' AND lease_until <= ?))
       ORDER BY next_at, id LIMIT ?`,
    ),
    dueOfKind: writer.prepare<[number, number, string, number], { id: string }>(
      `SELECT id FROM outbox
       WHERE status IN ('queued', 'failed', 'sending')
         AND ((status IN ('queued', 'failed') AND next_at <= ?) OR (status = 'sending' AND lease_until <= ?)) AND kind = ?
       ORDER BY next_at, id LIMIT ?`,
    ),
    lease: writer.prepare<[string, number, number, string], MessageDbRow>(
      `UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
       WHERE id = ? RETURNING ${COLUMNS}`,
    ),
    sent: writer.prepare<[string, string, number, number, string, string]>(
      `UPDATE outbox SET status = 'sent', proof = ?, transport = ?, last_error = NULL, sent_at = ?, updated_at = ?,
              lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
    ),
    failed: writer.prepare<[string, string, number, number, string, string]>(
      `UPDATE outbox SET status = 'failed', last_error = ?, transport = ?, next_at = ?, updated_at = ?,
              lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
    ),
    givenUp: writer.prepare<[string, string | null, number, string, string]>(
      `UPDATE outbox SET status = 'given_up', last_error = ?, transport = coalesce(?, transport), updated_at = ?,
              lease_owner = NULL, lease_until = NULL
       WHERE id = ? AND status = 'sending' AND lease_owner = ?`,
    ),
    pref: writer.prepare<[string, string, number, number, string, string]>(
      `INSERT INTO notice_preferences (subject_id, kind, opted_out, at, principal, request_id) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject_id, kind) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at,
         principal = excluded.principal, request_id = excluded.request_id`,
    ),
  };

  const enqueueNow = writer.transaction((rows: Record<string, unknown>[]) => {
    const inserted: string[] = [];
    for (const row of rows) if (w.insert.run(row).changes > 0) inserted.push(row.id as string);
    return inserted;
  });
  const claimNow = writer.transaction((owner: string, now: number, until: number, limit: number, kind: string | undefined) => {
    const ids = kind === undefined ? w.due.all(now, now, limit) : w.dueOfKind.all(now, now, kind, limit);
    return ids.map(({ id }) => toMessage(w.lease.get(owner, until, now, id)!));
  });

  const write = <T>(fn: () => T) => exclusive(() => guard(fn));
  const read = <T>(fn: () => T) => guard(fn);

  return {
    enqueue: (messages) =>
      write(() =>
        enqueueNow.immediate(
          messages.map((m) => ({
            id: m.id,
            kind: m.kind,
            subject_id: m.subjectId,
            period: m.period,
            channel: m.channel,
            address_field: m.addressField,
            title: m.title,
            body: m.body,
            body_sha256: m.bodySha256,
            created_at: m.createdAt.getTime(),
            dedupe: dedupeKeyOf(m),
          })),
        ),
      ),
    claim: (owner, now, leaseUntil, limit, filter) => write(() => claimNow.immediate(owner, now.getTime(), leaseUntil.getTime(), limit, filter?.kind)),
    complete: (id, owner, o, at) =>
      write(() => {
        const t = at.getTime();
        switch (o.status) {
          case "sent":
            return w.sent.run(o.proof, o.transport, t, t, id, owner).changes > 0;
          case "failed":
            return w.failed.run(o.error, o.transport, o.nextAt.getTime(), t, id, owner).changes > 0;
          case "given_up":
            return w.givenUp.run(o.error, o.transport, t, id, owner).changes > 0;
        }
      }),
    get: (id) =>
      read(() => {
        const row = r.get.get(id);
        return row === undefined ? undefined : toMessage(row);
      }),
    list: (f) =>
      read(() => {
        const where: string[] = ["id > ?"];
        const params: unknown[] = [f.afterId ?? ""];
        if (f.kind !== undefined) (where.push("kind = ?"), params.push(f.kind));
        if (f.period !== undefined) (where.push("period = ?"), params.push(f.period));
        if (f.status !== undefined) (where.push("status = ?"), params.push(f.status));
        if (f.subjectId !== undefined) (where.push("subject_id = ?"), params.push(f.subjectId));
        params.push(f.limit);
        return reader
          .prepare<unknown[], MessageDbRow>(`SELECT ${COLUMNS} FROM outbox WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`)
          .all(...params)
          .map(toMessage);
      }),
    counts: (f = {}) =>
      read(() => {
        const where: string[] = [];
        const params: unknown[] = [];
        if (f.kind !== undefined) (where.push("kind = ?"), params.push(f.kind));
        if (f.period !== undefined) (where.push("period = ?"), params.push(f.period));
        return reader
          .prepare<unknown[], { kind: string; period: string; status: string; count: number }>(
            `SELECT kind, period, status, count(*) AS count FROM outbox ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
             GROUP BY kind, period, status ORDER BY kind, period, status`,
          )
          .all(...params)
          .map((c) => ({ kind: c.kind as MessageKind, period: c.period, status: c.status as MessageStatus, count: c.count }));
      }),
    setPreference: (p, idem) =>
      write(() =>
        writer
          .transaction(() => {
            w.pref.run(p.subjectId, p.kind, p.optedOut ? 1 : 0, p.at.getTime(), p.principal, p.requestId);
            recordWith(idempotency, idem, undefined);
          })
          .immediate(),
      ),
    getPreference: (subjectId, kind) =>
      read(() => {
        const row = r.pref.get(subjectId, kind);
        return row === undefined
          ? undefined
          : { subjectId: asSubjectId(row.subject_id), kind: row.kind as MessageKind, optedOut: row.opted_out === 1, at: new Date(row.at), principal: row.principal, requestId: row.request_id };
      }),
    optedOut: (ids, kind) =>
      read(() => (ids.length === 0 ? new Set<SubjectId>() : new Set(r.optedOut.all(kind, JSON.stringify(ids)).map((x) => asSubjectId(x.subject_id))))),
  };
};
