/**
 * OutboxStore on PostgreSQL (schema `haechi`, on the data store's pool; ADR 0011). A claim is one
 * statement: `FOR UPDATE SKIP LOCKED` picks due rows no other worker is claiming at that moment
 * and the UPDATE leases them, so two workers never get the same message.
 */
import type pg from "pg";
import { asSubjectId, type SubjectId } from "../../core/ids.js";
import type { MessageChannel, MessageKind, MessageStatus, OutboxMessage } from "../../core/outbox/outbox-types.js";
import type { OutboxStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { dedupeKeyOf } from "../store-fns.js";
import { recordOn } from "./pg-idempotency.js";
import { iso, named, runNamed } from "./pg-query.js";

export interface PgOutboxDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs `fn` on one client between BEGIN and COMMIT (a preference with its idempotency row). */
  withTransaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
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
  next_at: Date;
  lease_owner: string | null;
  lease_until: Date | null;
  transport: string | null;
  proof: string | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
}

const COLUMNS =
  "id, kind, subject_id, period, channel, address_field, title, body, body_sha256, status, attempts, next_at, lease_owner, lease_until, transport, proof, last_error, created_at, updated_at, sent_at";

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
  nextAt: r.next_at,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  transport: r.transport,
  proof: r.proof,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  sentAt: r.sent_at,
});

const ENQUEUE = named(
  "haechi_outbox_enqueue",
  `INSERT INTO haechi.outbox (id, kind, subject_id, period, dedupe, channel, address_field, title, body, body_sha256,
                             status, attempts, next_at, created_at, updated_at)
   SELECT m.id, m.kind, m.subject_id, m.period, m.dedupe, m.channel, m.address_field, m.title, m.body, m.body_sha256,
          'queued', 0, m.created_at, m.created_at, m.created_at
   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
     AS m(id, kind, subject_id, period, dedupe, channel, address_field, title, body, body_sha256, created_at)
   ON CONFLICT (dedupe) DO NOTHING
   RETURNING id`,
);
const CLAIM = named(
  "haechi_outbox_claim",
  `UPDATE haechi.outbox o SET status = 'sending', lease_owner = $1, lease_until = $3, attempts = o.attempts + 1, updated_at = $2
   WHERE o.id IN (
     SELECT id FROM haechi.outbox
     WHERE status IN ('queued', 'failed', 'sending')
       AND ((status IN ('queued', 'failed') AND next_at <= $2) OR (status = 'sending' AND lease_until <= $2))
       AND ($5::text IS NULL OR kind = $5)
     ORDER BY next_at, id LIMIT $4
     FOR UPDATE SKIP LOCKED)
   RETURNING ${COLUMNS.split(", ").map((c) => `o.${c}`).join(", ")}`,
);
const SENT = named(
  "haechi_outbox_sent",
  `UPDATE haechi.outbox SET status = 'sent', proof = $3, transport = $4, last_error = NULL, sent_at = $5, updated_at = $5,
          lease_owner = NULL, lease_until = NULL
   WHERE id = $1 AND status = 'sending' AND lease_owner = $2`,
);
const FAILED = named(
  "haechi_outbox_failed",
  `UPDATE haechi.outbox SET status = 'failed', last_error = $3, transport = $4, next_at = $6, updated_at = $5,
          lease_owner = NULL, lease_until = NULL
   WHERE id = $1 AND status = 'sending' AND lease_owner = $2`,
);
const GIVEN_UP = named(
  "haechi_outbox_given_up",
  `UPDATE haechi.outbox SET status = 'given_up', last_error = $3, transport = coalesce($4, transport), updated_at = $5,
          lease_owner = NULL, lease_until = NULL
   WHERE id = $1 AND status = 'sending' AND lease_owner = $2`,
);
const GET = named("haechi_outbox_get", `SELECT ${COLUMNS} FROM haechi.outbox WHERE id = $1`);
const LIST = named(
  "haechi_outbox_list",
  `SELECT ${COLUMNS} FROM haechi.outbox
   WHERE id > $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR period = $3)
     AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR subject_id = $5)
   ORDER BY id LIMIT $6`,
);
const COUNTS = named(
  "haechi_outbox_counts",
  `SELECT kind, period, status, count(*)::integer AS count FROM haechi.outbox
   WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR period = $2)
   GROUP BY kind, period, status ORDER BY kind, period, status`,
);
const SET_PREF = named(
  "haechi_outbox_set_pref",
  `INSERT INTO haechi.notice_preferences (subject_id, kind, opted_out, at, principal, request_id) VALUES ($1, $2, $3, $4, $5, $6)
   ON CONFLICT (subject_id, kind) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at,
     principal = excluded.principal, request_id = excluded.request_id`,
);
const GET_PREF = named("haechi_outbox_get_pref", "SELECT * FROM haechi.notice_preferences WHERE subject_id = $1 AND kind = $2");
const OPTED_OUT = named(
  "haechi_outbox_opted_out",
  "SELECT subject_id FROM haechi.notice_preferences WHERE kind = $1 AND opted_out AND subject_id = ANY($2::text[])",
);

export const pgOutboxStore = (deps: PgOutboxDeps): OutboxStore => {
  const { pool, outsideTransaction } = deps;
  const write = <T>(fn: () => Promise<T>) => outsideTransaction(() => guard(fn));

  return {
    enqueue: (messages) =>
      write(async () => {
        if (messages.length === 0) return [];
        const col = <K extends keyof (typeof messages)[number]>(k: K) => messages.map((m) => m[k]);
        const res = await runNamed<{ id: string }>(pool, ENQUEUE, [
          col("id"),
          col("kind"),
          col("subjectId"),
          col("period"),
          messages.map(dedupeKeyOf),
          col("channel"),
          col("addressField"),
          col("title"),
          col("body"),
          col("bodySha256"),
          messages.map((m) => iso(m.createdAt)),
        ]);
        const inserted = new Set(res.rows.map((r) => r.id));
        return messages.filter((m) => inserted.has(m.id)).map((m) => m.id);
      }),
    claim: (owner, now, leaseUntil, limit, filter) =>
      write(async () => {
        const rows = (await runNamed<MessageDbRow>(pool, CLAIM, [owner, now, leaseUntil, limit, filter?.kind ?? null])).rows.map(toMessage);
        return rows.sort((a, b) => a.nextAt.getTime() - b.nextAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      }),
    complete: (id, owner, o, at) =>
      write(async () => {
        const res =
          o.status === "sent"
            ? await runNamed(pool, SENT, [id, owner, o.proof, o.transport, at])
            : o.status === "failed"
              ? await runNamed(pool, FAILED, [id, owner, o.error, o.transport, at, o.nextAt])
              : await runNamed(pool, GIVEN_UP, [id, owner, o.error, o.transport, at]);
        return (res.rowCount ?? 0) > 0;
      }),
    get: (id) =>
      guard(async () => {
        const row = (await runNamed<MessageDbRow>(pool, GET, [id])).rows[0];
        return row === undefined ? undefined : toMessage(row);
      }),
    list: (f) =>
      guard(async () =>
        (await runNamed<MessageDbRow>(pool, LIST, [f.afterId ?? "", f.kind ?? null, f.period ?? null, f.status ?? null, f.subjectId ?? null, f.limit])).rows.map(
          toMessage,
        ),
      ),
    counts: (f = {}) =>
      guard(async () =>
        (await runNamed<{ kind: string; period: string; status: string; count: number }>(pool, COUNTS, [f.kind ?? null, f.period ?? null])).rows.map((c) => ({
          kind: c.kind as MessageKind,
          period: c.period,
          status: c.status as MessageStatus,
          count: c.count,
        })),
      ),
    setPreference: (p, idem) =>
      write(async () => {
        const values = [p.subjectId, p.kind, p.optedOut, p.at, p.principal, p.requestId];
        if (idem === undefined) await runNamed(pool, SET_PREF, values);
        else await deps.withTransaction(async (client) => recordOn(client, idem, void (await runNamed(client, SET_PREF, values))));
      }),
    getPreference: (subjectId, kind) =>
      guard(async () => {
        const row = (await runNamed<{ subject_id: string; kind: string; opted_out: boolean; at: Date; principal: string; request_id: string }>(pool, GET_PREF, [subjectId, kind])).rows[0];
        return row === undefined
          ? undefined
          : { subjectId: asSubjectId(row.subject_id), kind: row.kind as MessageKind, optedOut: row.opted_out, at: row.at, principal: row.principal, requestId: row.request_id };
      }),
    optedOut: (ids, kind) =>
      guard(async () => {
        if (ids.length === 0) return new Set<SubjectId>();
        return new Set((await runNamed<{ subject_id: string }>(pool, OPTED_OUT, [kind, ids])).rows.map((r) => asSubjectId(r.subject_id)));
      }),
  };
};
