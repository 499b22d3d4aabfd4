/**
 * Sizing for 50 million subjects on PostgreSQL (issue 7, item 5): what one person, one consent and
 * one audit entry cost in bytes — heap, indexes, TOAST, and WAL — measured on a real database
 * filled through the services, then extrapolated with stated assumptions.
 *
 *   node --import tsx bench/sizing.bench.ts [--subjects 100000] [--reads 300000] [--idempotent 10000]
 *        [--pay-share 0.8] [--marketing-share 0.5] [--history-bytes 1024] [--concurrency 32]
 *        [--scale-entries 10000000] [--steady-reads 30000] [--steady-updates 10000] [--keep]
 *   node --import tsx bench/sizing.bench.ts --render bench/results/sizing-postgres.json   (the chart only)
 *
 * The fill, each phase through the services a server would call (nothing written straight to
 * the stores, so every row, index entry and audit body is the production one):
 *  1. import (`services.import`, talk-app, talk_service): --subjects people with the messenger's
 *     fields of the demo catalog (user_id, phone, name, nickname, email, birth_date,
 *     profile_photo; 90 % give an e-mail, 60 % a birth date, 70 % a photo reference) and, for
 *     --marketing-share of them, the marketing consent; one `subject.import` audit entry each;
 *  2. the generated items (talk-app, security_monitoring: ip_address, device_id, last_seen), one
 *     `subject.update` per person;
 *  3. the payment items for --pay-share of them (pay-app, pay_service: bank_account,
 *     card_number and a transaction_history summary of about --history-bytes bytes of JSON);
 *  4. --idempotent more people created one by one with an Idempotency-Key (the `POST
 *     /v1/subjects` path: the stored response is kept per key);
 *  5. --reads checked reads spread over everyone (talk-app talk_service 60 %, pay-app
 *     pay_service 30 % over the payers, talk-app security_monitoring 10 %), each writing its
 *     audit entry first, as a server does.
 * The demo catalog's detection rules watch the services as in a server and fire on this
 * synthetic load (a few hundred `detection.alert` entries, counted with the rest).
 * WAL: `pg_current_wal_lsn()` before and after each phase (full_page_writes on), and
 * `pg_waldump --stats` for the share of full-page images. Sizes: after VACUUM (ANALYZE) and
 * CHECKPOINT, `pg_relation_size` of every table, its TOAST and each index, with exact row
 * counts; the audit log and the fill's WAL segments gzip'd, for archives and cold copies.
 * Then the steady state: the log grown to --scale-entries (random people), and WAL per read and
 * per update measured after a CHECKPOINT, once per `wal_compression` setting (off, lz4, zstd):
 * in production nearly every append lands on an index page untouched since the last checkpoint,
 * and the first change to a page after a checkpoint writes the whole page to the WAL.
 *
 * Measures sizes, not speed: other work on the machine changes nothing here. PostgreSQL: a
 * throw-away PostgreSQL 15 of its own (test/helpers/pg.ts) with production WAL settings; with
 * HAECHI_PG_URL (an empty database) or HAECHI_TEST_PG_URL (a fresh database on that server) the
 * sizes are measured there, without the WAL breakdown and the steady state, which need the
 * server's own WAL files and ALTER SYSTEM. Writes bench/results/sizing-postgres.json
 * and the growth chart bench/results/sizing-growth.svg; the extrapolation's assumptions are
 * recorded in the JSON (`model.assumptions`).
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import pg from "pg";
import { pseudonyms } from "../src/crypto/pseudonym.js";
import { findPgBin } from "../test/helpers/pg.js";
import type { AuditEntry } from "../src/audit/audit-types.js";
import { chainHasher } from "../src/audit/chain.js";
import { appendChained } from "./lib/audit-fill.js";
import { openBenchContainer, progress } from "./lib/bench-container.js";
import { growthSvg } from "./lib/sizing-chart.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    subjects: { type: "string", default: "100000" },
    reads: { type: "string", default: "300000" },
    idempotent: { type: "string", default: "10000" },
    "pay-share": { type: "string", default: "0.8" },
    "marketing-share": { type: "string", default: "0.5" },
    "history-bytes": { type: "string", default: "1024" },
    concurrency: { type: "string", default: "32" },
    "scale-entries": { type: "string", default: "10000000" },
    "steady-reads": { type: "string", default: "30000" },
    "steady-updates": { type: "string", default: "10000" },
    keep: { type: "boolean", default: false },
    /** Only draw the chart again from a result file (no database, no fill). */
    render: { type: "string" },
  },
});
if (values.render !== undefined) {
  const r = JSON.parse(fs.readFileSync(values.render, "utf8")) as { model: Parameters<typeof growthSvg>[0] };
  const out = path.join(path.dirname(values.render), "sizing-growth.svg");
  fs.writeFileSync(out, growthSvg(r.model));
  console.log(`wrote ${out}`);
  process.exit(0);
}
const N = Number(values.subjects);
const READS = Number(values.reads);
const IDEMPOTENT = Number(values.idempotent);
const PAY_SHARE = Number(values["pay-share"]);
const MARKETING_SHARE = Number(values["marketing-share"]);
const HISTORY_BYTES = Number(values["history-bytes"]);
const CONCURRENCY = Number(values.concurrency);
const SCALE = Number(values["scale-entries"]);
const STEADY_READS = Number(values["steady-reads"]);
const STEADY_UPDATES = Number(values["steady-updates"]);
for (const [k, v] of Object.entries({ subjects: N, reads: READS, concurrency: CONCURRENCY, "history-bytes": HISTORY_BYTES, "steady-reads": STEADY_READS, "steady-updates": STEADY_UPDATES })) {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
if (!Number.isSafeInteger(IDEMPOTENT) || IDEMPOTENT < 0) throw new Error("--idempotent must be a non-negative integer");
if (!Number.isSafeInteger(SCALE) || SCALE < 0) throw new Error("--scale-entries must be a non-negative integer");
for (const [k, v] of Object.entries({ "pay-share": PAY_SHARE, "marketing-share": MARKETING_SHARE })) {
  if (!(v >= 0 && v <= 1)) throw new Error(`--${k} must be between 0 and 1`);
}

// ---------------------------------------------------------------- the database
// Production WAL settings on a server of our own: full-page images after each checkpoint are
// part of what a primary ships to its standbys (fsync stays off: it changes no byte count), and
// wal_keep_size keeps the fill's WAL segments for pg_waldump and the compression measure.
const { c, home, pgUrl, ownServer, dispose } = await openBenchContainer("sizing", "postgres", {}, undefined, {
  full_page_writes: "on",
  wal_level: "replica",
  max_wal_size: "1GB",
  checkpoint_timeout: "5min",
  wal_keep_size: "16GB",
});
const admin = new pg.Client({ connectionString: pgUrl });
await admin.connect();
const one = async <T>(text: string): Promise<T> => (await admin.query(text)).rows[0] as T;
const serverVersion = (await one<{ server_version: string }>("SHOW server_version")).server_version;
const dataDirectory = (await one<{ data_directory: string }>("SHOW data_directory")).data_directory;
const settings = Object.fromEntries(
  (await admin.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('full_page_writes','wal_level','wal_compression','checkpoint_timeout','max_wal_size','block_size')",
  )).rows.map((r) => [r.name, r.setting]),
);

/** The WAL position now (pg_stat_wal is flushed lazily by backends, so positions are what counts). */
const walMark = async (): Promise<string> => (await one<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).lsn;
const walSince = async (start: string, ops: number) => {
  const end = await walMark();
  const bytes = Number((await one<{ d: string }>(`SELECT pg_wal_lsn_diff('${end}', '${start}') AS d`)).d);
  return { operations: ops, walBytes: bytes, walBytesPerOperation: Math.round(bytes / Math.max(1, ops)), start, end };
};

// ---------------------------------------------------------------- phases
// As the server makes them: a random prefix per process and a counter (server.ts genReqId).
const reqPrefix = `${crypto.randomBytes(4).toString("hex")}-`;
let reqCounter = 0;
const ctx = (principal: string, k: number) => ({ principal, source: `10.20.${(k >> 8) & 255}.${k & 255}`, requestId: `${reqPrefix}${k.toString(36)}` });
const SURNAMES = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
const GIVEN = ["민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지민"];
const pad4 = (n: number) => String(n % 10_000).padStart(4, "0");
const rnd = (i: number, salt: string) => crypto.createHash("sha256").update(`${salt}${i}`).digest().readUInt32BE(0) / 2 ** 32;

/** Runs `fn(i)` for i in [0, n) with `CONCURRENCY` in flight. */
const pool = async (label: string, n: number, fn: (i: number) => Promise<void>) => {
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      await fn(i);
      done++;
      if (done % 2000 === 0) progress(label, done, n, t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  progress(label, n, n, t0);
  process.stderr.write("\n");
};

const wal: Record<string, Awaited<ReturnType<typeof walSince>>> = {};
// Each principal sees its own pseudonym of a person (ADR 0004): pay-app's id of a talk-app subject.
const ids_ = pseudonyms(c.keyring.secrets.pseudonymKey);
const asPayApp = (talkId: string) => ids_.externalId("pay-app", ids_.resolve("talk-app", talkId)!);
const ids: string[] = new Array(N);
const payers: number[] = [];

// 1. import
{
  const file = path.join(home, "people.ndjson");
  const fd = fs.openSync(file, "w");
  let buf: string[] = [];
  let marketing = 0;
  for (let i = 0; i < N; i++) {
    const fields: Record<string, string> = {
      user_id: `user-${i}`,
      phone: `010-${pad4(Math.floor(i / 10_000) + 1000)}-${pad4(i)}`,
      name: `${SURNAMES[i % 10]}${GIVEN[Math.floor(i / 10) % 10]}`,
      nickname: `nick${i.toString(36)}`,
    };
    if (rnd(i, "email") < 0.9) fields.email = `user${i}@example.com`;
    if (rnd(i, "birth") < 0.6) fields.birth_date = `19${50 + (i % 50)}-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")}`;
    if (rnd(i, "photo") < 0.7) fields.profile_photo = `https://img.example.com/p/${crypto.createHash("sha1").update(`p${i}`).digest("hex")}.jpg`;
    const consents = rnd(i, "mkt") < MARKETING_SHARE ? [{ notice: "marketing", action: "grant", channel: "app" }] : [];
    if (consents.length > 0) marketing++;
    buf.push(JSON.stringify({ ref: `r${i}`, fields, ...(consents.length > 0 ? { consents } : {}) }));
    if (buf.length === 10_000) {
      fs.writeSync(fd, `${buf.join("\n")}\n`);
      buf = [];
    }
  }
  if (buf.length > 0) fs.writeSync(fd, `${buf.join("\n")}\n`);
  fs.closeSync(fd);
  const m = await walMark();
  const t0 = performance.now();
  let rejected = 0;
  const res = await c.services.import.run({
    file,
    principal: "talk-app",
    purpose: "talk_service",
    onImported: (r) => {
      ids[r.line - 1] = r.id;
    },
    onProgress: (p) => progress("import", p.imported, N, t0),
    onRejected: (r) => {
      if (rejected++ < 5) console.error(`rejected line ${r.line}: ${r.code} ${r.message}`);
    },
  });
  process.stderr.write("\n");
  if (res.imported !== N) throw new Error(`imported ${res.imported} of ${N} (${res.rejected} rejected)`);
  wal.import = await walSince(m, N);
  console.log(`imported ${N.toLocaleString("en-US")} people (${marketing.toLocaleString("en-US")} with the marketing consent)`);
}

// 2. generated items
{
  const m = await walMark();
  await pool("auto fields", N, async (i) => {
    await c.services.subjects.update(ctx("talk-app", reqCounter++), ids[i]!, {
      purpose: "security_monitoring",
      fields: {
        ip_address: `211.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        device_id: crypto.createHash("sha256").update(`dev${i}`).digest("hex").slice(0, 32),
        last_seen: "2026-11-20T09:00:00Z",
      },
    });
  });
  wal.autoFields = await walSince(m, N);
}

// 3. payment items
const history = (i: number) => {
  const items: unknown[] = [];
  let s = JSON.stringify(items);
  for (let k = 0; s.length < HISTORY_BYTES; k++) {
    items.push({ at: `2026-11-${String(1 + ((i + k) % 28)).padStart(2, "0")}T1${k % 10}:00:00+09:00`, kind: k % 3 === 0 ? "transfer" : "payment", amount: 1000 + ((i * 7919 + k * 104729) % 500_000), merchant: `m${(i + k) % 9973}` });
    s = JSON.stringify(items);
  }
  return items;
};
{
  for (let i = 0; i < N; i++) if (rnd(i, "pay") < PAY_SHARE) payers.push(i);
  const m = await walMark();
  await pool("pay fields", payers.length, async (k) => {
    const i = payers[k]!;
    await c.services.subjects.update(ctx("pay-app", reqCounter++), asPayApp(ids[i]!), {
      purpose: "pay_service",
      fields: {
        bank_account: `${100 + (i % 900)}-${pad4(i)}${pad4(i * 7)}-${String(i % 100).padStart(2, "0")}`,
        card_number: `9410-${pad4(i)}-${pad4(i * 13)}-${pad4(i * 17)}`,
        transaction_history: history(i),
      },
    });
  });
  wal.payFields = await walSince(m, payers.length);
}

// 4. creates with an Idempotency-Key
if (IDEMPOTENT > 0) {
  const m = await walMark();
  await pool("creates", IDEMPOTENT, async (k) => {
    const i = N + k;
    // As the route does it (src/http/idempotency.ts): the key's answer commits with the creation.
    const input = {
      purpose: "talk_service",
      fields: { user_id: `user-${i}`, phone: `010-${pad4(Math.floor(i / 10_000) + 1000)}-${pad4(i)}`, name: `${SURNAMES[i % 10]}${GIVEN[Math.floor(i / 10) % 10]}`, nickname: `nick${i.toString(36)}`, email: `user${i}@example.com` },
      consents: rnd(i, "mkt") < MARKETING_SHARE ? [{ notice: "marketing" as const, action: "grant" as const, channel: "app" as const }] : [],
    };
    const spec = {
      principal: "talk-app",
      key: crypto.randomUUID(),
      requestHash: crypto.createHash("sha256").update(JSON.stringify(input)).digest(),
      answer: (r: unknown) => ({ status: 201, response: JSON.stringify(r) }),
    };
    await c.services.idempotency.run(spec, (idem) => c.services.subjects.create(ctx("talk-app", reqCounter++), input, idem));
  });
  wal.createWithKey = await walSince(m, IDEMPOTENT);
}

// 5. checked reads
{
  const m = await walMark();
  await pool("reads", READS, async (k) => {
    const r = rnd(k, "read");
    if (r < 0.3 && payers.length > 0) {
      const i = payers[Math.floor(rnd(k, "who") * payers.length)]!;
      await c.services.subjects.read(ctx("pay-app", reqCounter++), asPayApp(ids[i]!), "pay_service", ["name", "phone", "card_number"]);
    } else if (r < 0.4) {
      const i = Math.floor(rnd(k, "who") * N);
      await c.services.subjects.read(ctx("talk-app", reqCounter++), ids[i]!, "security_monitoring", ["ip_address", "device_id", "last_seen"]);
    } else {
      const i = Math.floor(rnd(k, "who") * N);
      await c.services.subjects.read(ctx("talk-app", reqCounter++), ids[i]!, "talk_service", ["phone", "name", "nickname"]);
    }
  });
  wal.read = await walSince(m, READS);
}
await c.audit.flush();

// ---------------------------------------------------------------- WAL: full-page images, compressibility
/**
 * Per phase, `pg_waldump --stats` over its LSN range: record bytes and full-page-image bytes
 * (only on our own server, whose pg_wal this process can read). Then the fill's WAL segments and
 * a text dump of the audit log, gzip'd (level 6), for what an archive or a cold copy costs.
 */
const walDetail: Record<string, { recordBytes: number; fpiBytes: number; fpiShare: number }> = {};
let walGzipRatio: number | null = null;
if (ownServer) {
  const dataDir = dataDirectory;
  const waldump = path.join(findPgBin(), "pg_waldump");
  for (const [phase, w] of Object.entries(wal)) {
    const out = spawnSync(waldump, ["--path", path.join(dataDir, "pg_wal"), "--start", w.start, "--end", w.end, "--stats"], { encoding: "utf8", maxBuffer: 1 << 24 });
    const total = /^Total\s+(\d+)\s+(\d+)\s+\[[^\]]*\]\s+(\d+)\s+\[[^\]]*\]\s+(\d+)/m.exec(out.stdout ?? "");
    if (out.status !== 0 || total === null) {
      console.error(`pg_waldump for ${phase}: ${(out.stderr ?? "").trim().split("\n")[0]}`);
      continue;
    }
    const record = Number(total[2]);
    const fpi = Number(total[3]);
    walDetail[phase] = { recordBytes: record, fpiBytes: fpi, fpiShare: +(fpi / Math.max(1, record + fpi)).toFixed(3) };
  }
  const first = (await one<{ f: string }>(`SELECT pg_walfile_name('${wal.import!.start}') AS f`)).f;
  const last = (await one<{ f: string }>(`SELECT pg_walfile_name('${wal.read!.end}') AS f`)).f;
  let raw = 0;
  let packed = 0;
  for (const f of fs.readdirSync(path.join(dataDir, "pg_wal")).filter((x) => /^[0-9A-F]{24}$/.test(x) && x >= first && x < last).sort()) {
    const bytes = fs.readFileSync(path.join(dataDir, "pg_wal", f));
    raw += bytes.length;
    packed += zlib.gzipSync(bytes, { level: 6 }).length;
  }
  if (raw > 0) walGzipRatio = +(packed / raw).toFixed(3);
}
/** The audit log as text rows (what a monthly partition archived to files holds), gzip'd. */
const auditDump = await (async () => {
  const gz = zlib.createGzip({ level: 6 });
  let packed = 0;
  let raw = 0;
  gz.on("data", (b: Buffer) => (packed += b.length));
  const done = new Promise((r) => gz.on("end", r));
  let after = 0;
  for (;;) {
    const page = (await admin.query<{ seq: string; line: string }>(
      `SELECT seq, concat_ws(E'\t', seq, at, subject_ref, principal, action, body, encode(hash, 'hex')) AS line
       FROM haechi_audit.audit_log WHERE seq > $1 ORDER BY seq LIMIT 50000`,
      [after],
    )).rows;
    if (page.length === 0) break;
    const text = `${page.map((r) => r.line).join("\n")}\n`;
    raw += Buffer.byteLength(text);
    if (!gz.write(text)) await new Promise((r) => gz.once("drain", r));
    after = Number(page[page.length - 1]!.seq);
  }
  gz.end();
  await done;
  return { rawBytes: raw, gzipBytes: packed };
})();

// ---------------------------------------------------------------- sizes
console.log("VACUUM (ANALYZE), CHECKPOINT…");
await admin.query("VACUUM (ANALYZE)");
await admin.query("CHECKPOINT");
interface Table {
  table: string;
  rows: number;
  heapBytes: number;
  toastBytes: number;
  indexes: Record<string, number>;
  totalBytes: number;
}
const tables: Table[] = [];
for (const t of (await admin.query<{ oid: number; name: string; toast: number }>(
  `SELECT c.oid, n.nspname || '.' || c.relname AS name, c.reltoastrelid::int AS toast FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND n.nspname IN ('haechi', 'haechi_keys', 'haechi_audit') ORDER BY 2`,
)).rows) {
  const rows = Number((await one<{ n: string }>(`SELECT count(*) AS n FROM ${t.name}`)).n);
  if (rows === 0) continue;
  const heap = Number((await one<{ b: string }>(`SELECT pg_relation_size(${t.oid}) AS b`)).b);
  const toast = t.toast === 0 ? 0 : Number((await one<{ b: string }>(`SELECT pg_total_relation_size(${t.toast}) AS b`)).b);
  const idx = (await admin.query<{ name: string; b: string }>(
    `SELECT i.relname AS name, pg_relation_size(i.oid) AS b FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ${t.oid} ORDER BY 1`,
  )).rows;
  const indexes = Object.fromEntries(idx.map((r) => [r.name, Number(r.b)]));
  const total = Number((await one<{ b: string }>(`SELECT pg_total_relation_size(${t.oid}) AS b`)).b);
  tables.push({ table: t.name, rows, heapBytes: heap, toastBytes: toast, indexes, totalBytes: total });
}
const databaseBytes = Number((await one<{ b: string }>("SELECT pg_database_size(current_database()) AS b")).b);
const get = (name: string) => tables.find((t) => t.table === name);
const sum = (names: string[], f: (t: Table) => number) => names.reduce((a, n) => a + (get(n) ? f(get(n)!) : 0), 0);
const idxSum = (t: Table) => Object.values(t.indexes).reduce((a, b) => a + b, 0);

const people = N + IDEMPOTENT;
const dataTables = ["haechi.subjects", "haechi.fields", "haechi.lookups"];
const consentTables = ["haechi.consent_ledger", "haechi.consent_state"];
const audit = get("haechi_audit.audit_log")!;
const keys = get("haechi_keys.wrapped_keys")!;
const idem = get("haechi.idempotency");
const consentsGiven = get("haechi.consent_ledger")?.rows ?? 0;
const fieldRows = get("haechi.fields")?.rows ?? 0;
const perPerson = {
  /** subjects + fields + lookups (heap, TOAST and indexes) per person, with this profile. */
  dataBytes: Math.round(sum(dataTables, (t) => t.totalBytes) / people),
  dataHeapAndToastBytes: Math.round(sum(dataTables, (t) => t.heapBytes + t.toastBytes) / people),
  dataIndexBytes: Math.round(sum(dataTables, idxSum) / people),
  fieldsPerPerson: +(fieldRows / people).toFixed(2),
  fieldRowBytes: Math.round((get("haechi.fields")!.totalBytes) / fieldRows),
  keyBytes: Math.round(keys.totalBytes / keys.rows),
  consentBytesPerConsent: consentsGiven === 0 ? 0 : Math.round(sum(consentTables, (t) => t.totalBytes) / consentsGiven),
  idempotencyBytesPerKey: idem ? Math.round(idem.totalBytes / idem.rows) : null,
};
const auditBody = await one<{ avg: string; min: string; max: string }>("SELECT avg(octet_length(body)) AS avg, min(octet_length(body)) AS min, max(octet_length(body)) AS max FROM haechi_audit.audit_log");
const perAuditEntry = {
  totalBytes: Math.round(audit.totalBytes / audit.rows),
  heapBytes: Math.round(audit.heapBytes / audit.rows),
  indexBytes: Object.fromEntries(Object.entries(audit.indexes).map(([k, v]) => [k, +(v / audit.rows).toFixed(1)])),
  bodyBytes: { mean: Math.round(Number(auditBody.avg)), min: Number(auditBody.min), max: Number(auditBody.max) },
  /** As tab-separated text (every column), gzip level 6: a month archived outside the database. */
  textBytes: Math.round(auditDump.rawBytes / audit.rows),
  gzipBytes: Math.round(auditDump.gzipBytes / audit.rows),
};
const auditByAction = (await admin.query<{ action: string; n: string; body: string }>(
  "SELECT action, count(*) AS n, round(avg(octet_length(body))) AS body FROM haechi_audit.audit_log GROUP BY 1 ORDER BY 2 DESC",
)).rows.map((r) => ({ action: r.action, entries: Number(r.n), meanBodyBytes: Number(r.body) }));

// ---------------------------------------------------------------- WAL in the steady state
/**
 * The WAL above was written into small, fresh indexes. In production the audit log's index by
 * subject (and the data store's by subject id) is far larger than what a checkpoint interval
 * touches, so nearly every append after a checkpoint dirties a leaf page no one has touched since:
 * the first change to a page after a checkpoint writes the whole page into the WAL (full-page
 * image). To see that regime, the log is grown with --scale-entries chained entries for random
 * people (the sizes above are already taken), then, after a CHECKPOINT, --steady-reads checked
 * reads and --steady-updates updates are measured, once per `wal_compression` setting the server
 * offers (off, lz4, zstd). Own server only (ALTER SYSTEM, pg_waldump).
 */
const steady: Array<{ walCompression: string; readWalBytes: number; readFpiShare: number | null; updateWalBytes: number; updateFpiShare: number | null }> = [];
let steadyIndex: { entries: number; subjectRefIndexBytes: number; subjectRefIndexPages: number } | null = null;
if (ownServer && SCALE > 0) {
  await c.audit.flush();
  const chain = chainHasher(c.keyring.secrets.chainKey);
  const t0 = performance.now();
  const paths = [
    ["talk-app", "subject.read", ["name", "nickname", "phone"], "talk_service"],
    ["pay-app", "subject.read", ["card_number", "name", "phone"], "pay_service"],
    ["talk-app", "subject.read", ["device_id", "ip_address", "last_seen"], "security_monitoring"],
  ] as const;
  for (let done = 0; done < SCALE; ) {
    const n = Math.min(20_000, SCALE - done);
    const batch: AuditEntry[] = [];
    for (let k = done; k < done + n; k++) {
      const [principal, action, fields, purpose] = paths[k % 3]!;
      batch.push({
        at: new Date(Date.parse("2026-11-01T00:00:00Z") + k * 10).toISOString(),
        requestId: `${reqPrefix}s${k.toString(36)}`,
        principal,
        source: `10.20.${(k >> 8) & 255}.${k & 255}`,
        action,
        effect: "allow",
        purpose,
        subjectRef: `ar_${crypto.randomBytes(16).toString("base64url")}`,
        fields: [...fields],
        reasons: [],
      });
    }
    await appendChained(c.stores.audit, chain, batch);
    done += n;
    progress("steady-state log", done, SCALE, t0);
  }
  process.stderr.write("\n");
  await admin.query("VACUUM (ANALYZE) haechi_audit.audit_log");
  const ix = await one<{ b: string; p: string; n: string }>(
    "SELECT pg_relation_size('haechi_audit.audit_log_by_subject_ref') AS b, (SELECT relpages FROM pg_class WHERE relname = 'audit_log_by_subject_ref') AS p, (SELECT count(*) FROM haechi_audit.audit_log) AS n",
  );
  steadyIndex = { entries: Number(ix.n), subjectRefIndexBytes: Number(ix.b), subjectRefIndexPages: Number(ix.p) };
  const offered = (await one<{ enumvals: string[] }>("SELECT enumvals FROM pg_settings WHERE name = 'wal_compression'")).enumvals;
  const modes = ["off", "lz4", "zstd"].filter((m) => offered.includes(m));
  const fpiOf = (start: string, end: string): number | null => {
    const dataDir = dataDirectory;
    const out = spawnSync(path.join(findPgBin(), "pg_waldump"), ["--path", path.join(dataDir, "pg_wal"), "--start", start, "--end", end, "--stats"], { encoding: "utf8", maxBuffer: 1 << 24 });
    const total = /^Total\s+(\d+)\s+(\d+)\s+\[[^\]]*\]\s+(\d+)/m.exec(out.stdout ?? "");
    return total === null ? null : +(Number(total[3]) / Math.max(1, Number(total[2]) + Number(total[3]))).toFixed(3);
  };
  let k0 = 0;
  for (const mode of modes) {
    await admin.query(`ALTER SYSTEM SET wal_compression = '${mode}'`);
    await admin.query("SELECT pg_reload_conf()");
    await new Promise((r) => setTimeout(r, 500));
    await admin.query("CHECKPOINT");
    const r0 = await walMark();
    await pool(`reads, wal_compression=${mode}`, STEADY_READS, async (k) => {
      const i = Math.floor(rnd(k0 + k, "steady") * N);
      await c.services.subjects.read(ctx("talk-app", reqCounter++), ids[i]!, "talk_service", ["phone", "name", "nickname"]);
    });
    await c.audit.flush();
    const r = await walSince(r0, STEADY_READS);
    await admin.query("CHECKPOINT");
    const u0 = await walMark();
    await pool(`updates, wal_compression=${mode}`, STEADY_UPDATES, async (k) => {
      const i = Math.floor(rnd(k0 + k, "steady-u") * N);
      await c.services.subjects.update(ctx("talk-app", reqCounter++), ids[i]!, {
        purpose: "security_monitoring",
        fields: { ip_address: `175.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, last_seen: "2026-11-21T10:00:00Z" },
      });
    });
    const u = await walSince(u0, STEADY_UPDATES);
    k0 += STEADY_READS;
    steady.push({ walCompression: mode, readWalBytes: r.walBytesPerOperation, readFpiShare: fpiOf(r.start, r.end), updateWalBytes: u.walBytesPerOperation, updateFpiShare: fpiOf(u.start, u.end) });
  }
  await admin.query("ALTER SYSTEM RESET wal_compression");
  await admin.query("SELECT pg_reload_conf()");
}

// ---------------------------------------------------------------- the model
/**
 * Assumptions for a 47M-user messenger-and-payment service (seed 004: KakaoTalk MAU 47.03 million;
 * seeds 001/003: KakaoPay 40.45 million customers). Every figure here is an assumption except the
 * measured bytes above.
 */
const assumptions = {
  subjects: 50_000_000,
  payShare: PAY_SHARE,
  marketingShare: MARKETING_SHARE,
  transactionHistoryBytes: HISTORY_BYTES,
  /** Daily active people: 85 % of the 47.03 million monthly users. */
  dailyActive: 40_000_000,
  /** Checked reads of an active person's record per day, across all services (a login, profile and friend lookups, a payment, support). */
  readsPerActivePerDay: 10,
  /** Writes per active person per day (last_seen / ip / device refreshed once, a consent or profile change now and then). */
  writesPerActivePerDay: 1,
  /** Busiest hour over the day's average hour. */
  peakFactor: 3,
  /** Safety Standard Art. 8(1): ≥ 2 years for ≥ 50,000 subjects or unique identifiers / sensitive data. */
  auditRetentionYears: 2,
  /** Copies of the database: a primary and two standbys, one per site. */
  sites: 3,
};
const a = assumptions;
const GB = 1e9;
const TB = 1e12;
/**
 * WAL per operation for the model: the steady state (large indexes, after a checkpoint) with the
 * recommended `wal_compression = lz4` when it was measured; else the fresh-database figures.
 */
const steadyFor = (mode: string) => steady.find((w) => w.walCompression === mode);
const walBasis = steadyFor("lz4") ?? steadyFor("off");
const readWal = walBasis?.readWalBytes ?? wal.read!.walBytesPerOperation;
const updateWal = walBasis?.updateWalBytes ?? wal.autoFields!.walBytesPerOperation;
const walOff = steadyFor("off");
const auditGzipPerEntry = auditDump.gzipBytes / audit.rows;
/** Storage, audit and WAL for `reads` checked reads per active person per day. */
const scenario = (reads: number) => {
  const dailyReads = a.dailyActive * reads;
  const dailyWrites = a.dailyActive * a.writesPerActivePerDay;
  const entries = dailyReads + dailyWrites;
  const auditBytes = entries * perAuditEntry.totalBytes;
  const walBytes = dailyReads * readWal + dailyWrites * updateWal;
  return {
    readsPerActivePerDay: reads,
    auditEntriesPerDay: entries,
    auditEntriesPerSecond: { average: Math.round(entries / 86_400), peak: Math.round((entries / 86_400) * a.peakFactor) },
    auditGBPerDay: +(auditBytes / GB).toFixed(1),
    auditTBPerYear: +((auditBytes * 365) / TB).toFixed(1),
    auditTBRetained: +((auditBytes * 365 * a.auditRetentionYears) / TB).toFixed(1),
    /** The same years as gzip'd text files outside the database (cold, verifiable copies). */
    auditArchiveTBRetained: +((entries * auditGzipPerEntry * 365 * a.auditRetentionYears) / TB).toFixed(1),
    walGBPerDay: +(walBytes / GB).toFixed(0),
    /** The same with wal_compression off (PostgreSQL's default). */
    walGBPerDayCompressionOff: walOff === undefined ? null : +((dailyReads * walOff.readWalBytes + dailyWrites * walOff.updateWalBytes) / GB).toFixed(0),
    walMBps: { average: +(walBytes / 86_400 / 1e6).toFixed(1), peak: +((walBytes / 86_400 / 1e6) * a.peakFactor).toFixed(1) },
    /** The primary's site sends the whole WAL stream to each standby (the two other sites). */
    primaryOutboundMbitPeak: Math.round(((walBytes / 86_400) * a.peakFactor * 8 * (a.sites - 1)) / 1e6),
    walArchiveGBPerDay: walGzipRatio === null ? null : +((walBytes * walGzipRatio) / GB).toFixed(0),
  };
};
const base = scenario(a.readsPerActivePerDay);
const dataBytes50m = a.subjects * perPerson.dataBytes;
const keyBytes50m = a.subjects * perPerson.keyBytes;
const consentBytes50m = a.subjects * a.marketingShare * perPerson.consentBytesPerConsent;
const dailyAuditBytes = base.auditEntriesPerDay * perAuditEntry.totalBytes;
const years = [1, 2, 3, 4, 5].map((y) => {
  const kept = Math.min(y, a.auditRetentionYears + 1 / 12); // monthly partitions: up to one month beyond the period
  return {
    year: y,
    dataTB: +((dataBytes50m + consentBytes50m) / TB).toFixed(3),
    keysTB: +(keyBytes50m / TB).toFixed(3),
    auditPartitionedTB: +((dailyAuditBytes * 365 * kept) / TB).toFixed(1),
    auditUnprunedTB: +((dailyAuditBytes * 365 * y) / TB).toFixed(1),
  };
});
const model = {
  assumptions,
  measuredInputs: {
    perPersonDataBytes: perPerson.dataBytes,
    perKeyBytes: perPerson.keyBytes,
    perConsentBytes: perPerson.consentBytesPerConsent,
    perAuditEntryBytes: perAuditEntry.totalBytes,
    perAuditEntryGzipBytes: Math.round(auditGzipPerEntry),
    walPerReadBytes: readWal,
    walPerWriteBytes: updateWal,
    walBasis: walBasis === undefined ? "fresh database (no steady-state measurement)" : `steady state, wal_compression=${walBasis.walCompression}`,
    walGzipRatio,
  },
  storage: {
    dataGB: +((dataBytes50m + consentBytes50m) / GB).toFixed(0),
    keysGB: +(keyBytes50m / GB).toFixed(1),
    /** Data, keys and the retained audit log in one PostgreSQL copy; three sites hold three. */
    onePrimaryTB: +((dataBytes50m + consentBytes50m + keyBytes50m) / TB + base.auditTBRetained).toFixed(1),
    onePrimaryWithoutAuditGB: +((dataBytes50m + consentBytes50m + keyBytes50m) / GB).toFixed(0),
  },
  base,
  /** The same with fewer and more reads per active person per day. */
  sensitivity: [3, 10, 30].map(scenario),
  years,
};

const chart = growthSvg(model);

const result = {
  store: "postgres",
  serverVersion,
  settings,
  fill: {
    imported: N,
    createdWithIdempotencyKey: IDEMPOTENT,
    payers: payers.length,
    reads: READS,
    concurrency: CONCURRENCY,
    profile: "demo catalog: talk_service fields (user_id, phone, name, nickname; email 90 %, birth_date 60 %, profile_photo 70 %), security_monitoring (ip_address, device_id, last_seen) for all, pay_service (bank_account, card_number, transaction_history) for the payers; marketing consent for --marketing-share",
  },
  databaseBytes,
  tables,
  perPerson,
  perAuditEntry,
  auditByAction,
  wal,
  walDetail,
  walGzipRatio,
  steadyState: { index: steadyIndex, windows: steady },
  model,
  loadAverage: os.loadavg().slice(0, 2).map((x) => +x.toFixed(2)),
};
const file = writeResult("sizing-postgres", result);
fs.writeFileSync(path.join(path.dirname(file), "sizing-growth.svg"), chart);
console.log(JSON.stringify({ perPerson, perAuditEntry, wal, walDetail, walGzipRatio, steady, steadyIndex, model: { storage: model.storage, base: model.base, sensitivity: model.sensitivity } }, null, 2));
console.log(`wrote ${file} and sizing-growth.svg`);

await admin.end();
await dispose(Boolean(values.keep));
