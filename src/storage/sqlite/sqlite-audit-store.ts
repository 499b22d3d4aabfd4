/**
 * AuditStore on SQLite (`audit.db`).
 *
 * Appends run on a writer thread (audit-writer.worker.mjs) with its own connection, so the
 * durable commit (an fsync) never blocks the event loop and entries arriving meanwhile form the
 * next batch (docs/adr/0003-audit-before-effect.md). The head is cached here — predicted as soon
 * as a batch is sent, so the next batch can be sent behind it — and the writer appends only if
 * the log still ends where the rows were chained (compare-and-set on seq and hash); otherwise it
 * answers with the new head (another process appended, or an earlier batch failed) and the rows
 * are chained again.
 * Reads use this thread's connection (WAL: readers never wait for the writer).
 */
import type Database from "better-sqlite3";
import type { Kysely } from "kysely";
import type { AuditEntryRow, AuditHead, AuditReadSource, AuditRow, AuditStore, Checkpoint } from "../../core/ports.js";
import { migrate } from "../migrations/migrate.js";
import { sqliteAuditMigrations } from "../migrations/sqlite-migrations.js";
import { CHECKPOINT_EXISTS, guard, mapDriverError, storageFailure } from "../storage-errors.js";
import { checkAuditRows } from "../store-fns.js";
import { kyselyOn, openSqlite, type SqliteSynchronous } from "./sqlite-connection.js";
import type { SqliteAuditDb } from "./sqlite-schema.js";
import { workerChannel, type WorkerReply } from "./worker-channel.js";

export interface SqliteAuditStoreOptions {
  file: string;
  synchronous: SqliteSynchronous;
}

/** hash arrives as hex: Buffer.from(hex) is pooled, and reading is ~1.7× faster than BLOB copies. */
type RawAuditRow = [number, number, string | null, string | null, string, string, string];
type CheckpointDbRow = SqliteAuditDb["checkpoints"];

const AUDIT_COLUMNS = "seq, at, subject_ref, principal, action, body, hash";
const AUDIT_READ_COLUMNS = "seq, at, subject_ref, principal, action, body, hex(hash)";
/** A search needs no hash: leaving it out saves a third of the read (measured on 133k rows). */
const ENTRY_COLUMNS = "seq, at, subject_ref, principal, action, body";
type RawEntryRow = [number, number, string | null, string | null, string, string];

/**
 * What a verification worker runs on its own read-only connection (ports.ts `AuditReadSource`).
 * A page comes back as one row of concatenated values: better-sqlite3 spends most of a row-wise
 * read making a JS value per column per row, so this reads about twice as fast. The aggregates
 * run over one rowid range scan (seq is the rowid), so they all see the rows in the same order.
 */
const VERIFY_SQL: Extract<AuditReadSource, { kind: "sqlite" }>["sql"] = {
  packed: `SELECT count(*), group_concat(seq), group_concat(octet_length(body)),
                  CAST(group_concat(body, '') AS BLOB), CAST(group_concat(hash, '') AS BLOB), sum(length(hash) <> 32)
           FROM audit_log WHERE seq > ? AND seq <= ?`,
  next: "SELECT min(seq) FROM audit_log WHERE seq > ?",
  rows: "SELECT seq, body, hash FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq",
  before: "SELECT seq, hash FROM audit_log WHERE seq <= ? AND seq > ? ORDER BY seq DESC LIMIT 1",
};

const fromRaw = (r: RawAuditRow): AuditRow => ({
  seq: r[0],
  at: new Date(r[1]),
  subjectRef: r[2],
  principal: r[3],
  action: r[4],
  body: r[5],
  hash: Buffer.from(r[6], "hex"),
});
const fromRawEntry = (r: RawEntryRow): AuditEntryRow => ({ seq: r[0], at: new Date(r[1]), subjectRef: r[2], principal: r[3], action: r[4], body: r[5] });
const toCheckpoint = (r: CheckpointDbRow): Checkpoint => ({
  seq: r.seq,
  hash: r.hash,
  at: r.at,
  keyId: r.key_id,
  signature: r.signature,
});

/** Opens (creating and migrating) `audit.db`. */
export const openSqliteAuditStore = async (opts: SqliteAuditStoreOptions): Promise<AuditStore> => {
  const conn = openSqlite(opts.file, { synchronous: opts.synchronous, secureDelete: false });
  const db = kyselyOn<SqliteAuditDb>(conn);
  try {
    await migrate(db, sqliteAuditMigrations);
  } catch (e) {
    conn.close();
    throw e;
  }
  return sqliteAuditStore(conn, db, auditWriter(opts.file, opts.synchronous), opts.file);
};

interface WriterReply extends WorkerReply {
  head?: { seq: number; hash: Uint8Array } | null;
  ok?: true;
  conflict?: { seq: number; hash: Uint8Array } | null;
  error?: string;
}

/** The writer thread (it alone writes audit.db). */
const auditWriter = (file: string, synchronous: SqliteSynchronous) =>
  workerChannel<WriterReply>(new URL("./audit-writer.worker.mjs", import.meta.url), { file, synchronous }, "audit writer");

const toHead = (h: { seq: number; hash: Uint8Array } | null | undefined): AuditHead | null =>
  h ? { seq: h.seq, hash: Buffer.from(h.hash.buffer, h.hash.byteOffset, h.hash.byteLength) } : null;

/** Marks an error thrown by the caller's `build`, which must reach the caller unchanged. */
class BuildFailure {
  constructor(readonly error: unknown) {}
}

const sqliteAuditStore = (
  conn: Database.Database,
  db: Kysely<SqliteAuditDb>,
  writer: ReturnType<typeof auditWriter>,
  file: string,
): AuditStore => {
  const st = {
    head: conn.prepare<[], { seq: number | null; hash: Buffer | null }>("SELECT seq, hash FROM audit_head WHERE id = 1"),
    insert: conn.prepare<[number, number, string | null, string | null, string, string, Buffer]>(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    setHead: conn.prepare<[number, Buffer]>("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"),
    page: conn
      .prepare<[number, number], RawAuditRow>(`SELECT ${AUDIT_READ_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`)
      .raw(true),
    bySubjectRef: conn
      .prepare<[string, number], RawAuditRow>(
        `SELECT ${AUDIT_READ_COLUMNS} FROM audit_log WHERE subject_ref = ? ORDER BY seq LIMIT ?`,
      )
      .raw(true),
    bySubjectRefNewest: conn
      .prepare<[string, number], RawAuditRow>(
        `SELECT ${AUDIT_READ_COLUMNS} FROM audit_log WHERE subject_ref = ? ORDER BY seq DESC LIMIT ?`,
      )
      .raw(true),
    // Incident scope over the index (principal, at) of 0002_audit_by_principal: the row value
    // (at, seq) > (?, ?) resumes after the last row of the previous page, still from the index.
    byPrincipalFirst: conn
      .prepare<[string, number, number, number], RawEntryRow>(
        `SELECT ${ENTRY_COLUMNS} FROM audit_log INDEXED BY audit_log_by_principal
         WHERE principal = ? AND at >= ? AND at < ? ORDER BY at, seq LIMIT ?`,
      )
      .raw(true),
    byPrincipalAfter: conn
      .prepare<[string, number, number, number, number], RawEntryRow>(
        `SELECT ${ENTRY_COLUMNS} FROM audit_log INDEXED BY audit_log_by_principal
         WHERE principal = ? AND (at, seq) > (?, ?) AND at < ? ORDER BY at, seq LIMIT ?`,
      )
      .raw(true),
    detectionAlerts: conn
      .prepare<[number, number], RawAuditRow>(
        `SELECT ${AUDIT_READ_COLUMNS} FROM audit_log WHERE action = 'detection.alert' AND seq > ? ORDER BY seq LIMIT ?`,
      )
      .raw(true),
    count: conn.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_log"),
    seqRange: conn.prepare<[], { first: number | null; last: number | null }>(
      "SELECT min(seq) AS first, max(seq) AS last FROM audit_log",
    ),
  };
  const readHead = (): AuditHead | null => {
    const row = st.head.get();
    return row === undefined || row.seq === null || row.hash === null ? null : { seq: row.seq, hash: row.hash };
  };
  /** The head as this process last saw it; `undefined` until first asked. */
  let cachedHead: AuditHead | null | undefined;
  let closed = false;

  return {
    appendBatch: async (build) => {
      let head = cachedHead !== undefined ? cachedHead : toHead((await writer.call({ type: "head" })).head);
      for (let attempt = 0; attempt < 20; attempt++) {
        let rows: AuditRow[];
        try {
          rows = build(head);
        } catch (e) {
          throw e instanceof BuildFailure ? e.error : e; // the caller's own error, unchanged
        }
        if (rows.length === 0) return rows;
        checkAuditRows(head, rows);
        // Packed as flat columns and one hash buffer: far cheaper to clone than row objects.
        const flat: (string | number | null)[] = new Array(rows.length * 6);
        const hashes = Buffer.allocUnsafe(rows.length * 32);
        rows.forEach((r, i) => {
          flat[i * 6] = r.seq;
          flat[i * 6 + 1] = r.at.getTime();
          flat[i * 6 + 2] = r.subjectRef;
          flat[i * 6 + 3] = r.principal;
          flat[i * 6 + 4] = r.action;
          flat[i * 6 + 5] = r.body;
          r.hash.copy(hashes, i * 32);
        });
        // Predict the head this append leaves, so a concurrent append (AuditLog maxInFlight > 1)
        // is chained onto it and queued behind it in the writer, instead of waiting for the reply.
        const last = rows[rows.length - 1]!;
        cachedHead = { seq: last.seq, hash: last.hash };
        let reply: WriterReply;
        try {
          reply = await writer.call({ type: "append", expected: head?.seq ?? 0, expectedHash: head?.hash ?? null, flat, hashes });
        } catch (e) {
          cachedHead = undefined;
          throw e;
        }
        if (reply.ok) return rows;
        head = toHead(reply.conflict);
        cachedHead = head;
      }
      throw storageFailure(new Error("audit head kept moving"), "audit append did not settle");
    },
    head: () => guard(readHead),
    async *iterate(afterSeq, pageSize) {
      const size = Math.max(1, Math.trunc(pageSize));
      let after = afterSeq;
      for (;;) {
        let raw: RawAuditRow[];
        try {
          raw = st.page.all(after, size);
        } catch (e) {
          throw mapDriverError(e);
        }
        if (raw.length === 0) return;
        const rows = raw.map(fromRaw);
        after = rows[rows.length - 1]!.seq;
        yield rows;
        if (raw.length < size) return;
      }
    },
    bySubjectRef: (ref, limit, order = "oldest") =>
      guard(() => (order === "newest" ? st.bySubjectRefNewest : st.bySubjectRef).all(ref, Math.max(0, Math.trunc(limit))).map(fromRaw)),
    byPrincipal: (principal, from, to, after, limit) =>
      guard(() => {
        const n = Math.max(0, Math.trunc(limit));
        const raw =
          after === null
            ? st.byPrincipalFirst.all(principal, from.getTime(), to.getTime(), n)
            : st.byPrincipalAfter.all(principal, after.at.getTime(), after.seq, to.getTime(), n);
        return raw.map(fromRawEntry);
      }),
    detectionAlerts: (afterSeq, limit) => guard(() => st.detectionAlerts.all(afterSeq, Math.max(0, Math.trunc(limit))).map(fromRaw)),
    count: () => guard(() => st.count.get()?.n ?? 0),
    seqRange: () =>
      guard(() => {
        const r = st.seqRange.get();
        return r === undefined || r.first === null || r.last === null ? null : { first: r.first, last: r.last };
      }),
    readSource: () => ({ kind: "sqlite", file, sql: VERIFY_SQL }),
    putCheckpoint: (cp) =>
      guard(
        async () => {
          await db
            .insertInto("checkpoints")
            .values({ seq: cp.seq, hash: cp.hash, at: cp.at, key_id: cp.keyId, signature: cp.signature })
            .execute();
        },
        { unique: CHECKPOINT_EXISTS },
      ),
    latestCheckpoint: () =>
      guard(async () => {
        const row = await db.selectFrom("checkpoints").selectAll().orderBy("seq", "desc").limit(1).executeTakeFirst();
        return row === undefined ? undefined : toCheckpoint(row);
      }),
    listCheckpoints: () =>
      guard(async () => (await db.selectFrom("checkpoints").selectAll().orderBy("seq").execute()).map(toCheckpoint)),
    close: async () => {
      if (closed) return;
      closed = true;
      await writer.close();
      await db.destroy();
    },
  };
};
