/**
 * An incident's scope over a large audit log (target ≤ 1 s over 10M entries), and what the index
 * behind it (migration 0002_audit_by_principal) costs the audit append path.
 *
 *   node --import tsx bench/incident-scope.bench.ts [--store sqlite|postgres] [--entries 10000000]
 *        [--subjects 1000000] [--scraped 65719] [--runs 3] [--append 100000] [--max-load 1.5] [--keep]
 *        [--reuse <home> [--scope-only]]
 *
 * Load (not measured as the target): a key store of --subjects keys (each with its audit
 * reference; 1 % of the scraped people's keys then destroyed, as if they had deleted their account),
 * and an audit log of --entries entries over 30 days, written through the store's `appendBatch`
 * with the real canonical form and keyed chain: eight demo principals reading (and looking up,
 * and writing) subjects spread over the key store, and, in a 6-hour window on day 20, the
 * open-chat scrape: `support-console`, which otherwise reads a few thousand people a day, looks
 * up and reads --scraped distinct people (the PIPC counted 65,719), interleaved with everyone
 * else's traffic.
 *
 * Measured:
 *  - scope: `services.incidents.scope()` end to end (the window of `support-console` from the
 *    index, each counted entry's body parsed, one `findByAuditRefs` pass over the key store, the
 *    people stored with the incident): first run (cold) apart, then the median of --runs; and its
 *    parts timed alone (the audit read, the key pass).
 *  - appends: --append entries recorded through the AuditLog (32 callers at once, as 32 HTTP
 *    connections would; group commit, durable) at the tail of the full log, with the index, then
 *    after DROP INDEX, then with the index rebuilt (its build time is the upgrade's cost on a log
 *    this size). The ratio with/without is the index's cost to the append path.
 * Writes bench/results/incident-scope-<store>.json. PostgreSQL: HAECHI_PG_URL if set, else a fresh
 * database on HAECHI_TEST_PG_URL's server, else a throw-away server of its own.
 *
 * Filling the log takes minutes. `--keep` leaves the home (and, on a server that outlives the run,
 * the PostgreSQL database) with a `bench-meta.json`; `--reuse <home>` measures that load again
 * without filling it, so a change can be compared against the same database, runs alternated.
 * `--scope-only` skips the append measurements (which add to the log and rebuild the index).
 * Incidents opened by earlier runs stay in a reused database.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import type { AuditEntry } from "../src/audit/audit-types.js";
import { canonicalize, effectAndFieldsOf } from "../src/audit/canonical.js";
import { chainHasher, ZERO_HASH } from "../src/audit/chain.js";
import { asAuditRef, asSubjectId, type AuditRef, type SubjectId } from "../src/core/ids.js";
import type { AuditRow, WrappedKeyRow } from "../src/core/ports.js";
import { appendChained } from "./lib/audit-fill.js";
import { MiB, openBenchContainer, progress } from "./lib/bench-container.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "sqlite" },
    entries: { type: "string", default: "10000000" },
    subjects: { type: "string", default: "1000000" },
    scraped: { type: "string", default: "65719" },
    runs: { type: "string", default: "3" },
    append: { type: "string", default: "100000" },
    "max-load": { type: "string", default: "1.5" },
    keep: { type: "boolean", default: false },
    reuse: { type: "string" },
    "scope-only": { type: "boolean", default: false },
  },
});
const kind = values.store;
if (kind !== "sqlite" && kind !== "postgres") throw new Error("--store must be sqlite or postgres");
const N = Number(values.entries);
const SUBJECTS = Number(values.subjects);
const SCRAPED = Number(values.scraped);
const RUNS = Math.max(1, Number(values.runs));
const APPEND = Number(values.append);
for (const [k, v] of Object.entries({ entries: N, subjects: SUBJECTS, scraped: SCRAPED, append: APPEND })) {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
if (SCRAPED > SUBJECTS) throw new Error("--scraped cannot exceed --subjects");
const TARGET_SECONDS = 1;

/** What a filled home holds, written after the fill so that `--reuse` can check it and skip the fill. */
interface BenchMeta {
  store: string;
  entries: number;
  subjects: number;
  scraped: number;
  people: number;
  erased: number;
  fillSeconds: number;
  pgUrl?: string;
}
const META = "bench-meta.json";
const reused: BenchMeta | undefined = values.reuse === undefined ? undefined : JSON.parse(fs.readFileSync(path.join(values.reuse, META), "utf8"));
if (reused !== undefined && (reused.store !== kind || reused.entries !== N || reused.subjects !== SUBJECTS || reused.scraped !== SCRAPED)) {
  throw new Error(`${values.reuse} holds ${JSON.stringify(reused)}, not this run's --store/--entries/--subjects/--scraped`);
}
const { c, home, pgUrl, dispose } = await openBenchContainer(
  "incident-scope",
  kind,
  {},
  reused === undefined ? undefined : { home: values.reuse!, ...(reused.pgUrl !== undefined ? { pgUrl: reused.pgUrl } : {}) },
);
const ctx = { principal: "privacy-office", source: "bench", requestId: "bench" };

// ---------------------------------------------------------------- the key store
const ref = (i: number): AuditRef => asAuditRef(`ar_${crypto.createHash("sha256").update(`ref${i}`).digest().subarray(0, 16).toString("base64url")}`);
const sid = (i: number): SubjectId => asSubjectId(crypto.createHash("sha256").update(`sub${i}`).digest().subarray(0, 16).toString("base64url"));
/** The scraped people: distinct indices spread over the key store. */
const scrapedIndex = (k: number) => (k * 7919) % SUBJECTS;
if (reused === undefined) {
  const t0 = performance.now();
  const created = new Date("2026-01-01T00:00:00.000Z");
  const wrapped = crypto.randomBytes(60);
  for (let i = 0; i < SUBJECTS; i += 50_000) {
    const rows: WrappedKeyRow[] = [];
    for (let j = i; j < Math.min(SUBJECTS, i + 50_000); j++) rows.push({ subjectId: sid(j), kekVersion: 1, dekVersion: 1, wrapped, auditRef: ref(j), createdAt: created });
    await c.stores.keys.putMany(rows);
    progress("keys", Math.min(SUBJECTS, i + 50_000), SUBJECTS, t0);
  }
  process.stderr.write("\n");
}

// ---------------------------------------------------------------- the audit log
const T0 = Date.parse("2026-10-01T00:00:00.000Z");
const DAYS = 30;
const SPAN = DAYS * 24 * 3600_000;
const WINDOW = { from: new Date(T0 + 20 * 24 * 3600_000), to: new Date(T0 + 20 * 24 * 3600_000 + 6 * 3600_000) };
const SCRAPER = "support-console";
const SCRAPE_ENTRIES = 2 * SCRAPED; // a lookup and a read per person
const BACKGROUND = N - SCRAPE_ENTRIES;
if (BACKGROUND < 1) throw new Error("--entries must exceed twice --scraped");
const PRINCIPALS: [string, string, string[], string][] = [
  ["talk-app", "subject.read", ["name", "nickname", "phone"], "talk_service"],
  ["talk-app", "subject.read", ["name", "nickname", "phone"], "talk_service"],
  ["openchat-app", "subject.read", ["openchat_nickname", "user_id"], "openchat_service"],
  ["openchat-app", "subject.read", ["openchat_nickname", "user_id"], "openchat_service"],
  ["pay-app", "subject.read", ["name", "phone", "transaction_history"], "pay_service"],
  ["pay-app", "subject.update", ["transaction_history"], "pay_service"],
  ["marketing-svc", "subject.read", ["email", "nickname", "phone"], "marketing"],
  ["security-ops", "subject.read", ["device_id", "ip_address", "last_seen"], "security_monitoring"],
  ["talk-app", "subject.lookup", ["phone"], "talk_service"],
  [SCRAPER, "subject.read", ["name", "phone"], "customer_support"],
];
const chain = chainHasher(c.keyring.secrets.chainKey);
const entry = (at: number, principal: string, action: string, fields: string[], purpose: string, subject: number, k: number): AuditEntry => ({
  at: new Date(at).toISOString(),
  requestId: `r${k.toString(36)}`,
  principal,
  source: `10.1.${(k >> 8) & 255}.${k & 255}`,
  action,
  effect: k % 97 === 0 ? "deny" : "allow",
  purpose,
  subjectRef: ref(subject),
  fields,
  reasons: k % 97 === 0 ? ["CONSENT_ABSENT"] : [],
});
/** Everyone the scraper read or looked up in the window (its ordinary support work too): what the scope must find. */
const expected = new Set<number>();
const inWindow = (at: number) => at >= WINDOW.from.getTime() && at < WINDOW.to.getTime();
/** Entry k of the log: background traffic spread over 30 days, and the scrape's burst in its window. */
function* entries(): Generator<AuditEntry> {
  let b = 0;
  let s = 0;
  const sAt = (x: number) => WINDOW.from.getTime() + Math.floor(((x + 0.5) * (WINDOW.to.getTime() - WINDOW.from.getTime())) / SCRAPE_ENTRIES);
  for (let k = 0; k < N; k++) {
    const bAt = T0 + Math.floor((b * SPAN) / BACKGROUND);
    if (s < SCRAPE_ENTRIES && (b >= BACKGROUND || sAt(s) <= bAt)) {
      const person = scrapedIndex(s >> 1);
      const lookup = s % 2 === 0;
      expected.add(person);
      yield { ...entry(sAt(s), SCRAPER, lookup ? "subject.lookup" : "subject.read", lookup ? ["phone"] : ["name", "phone"], "customer_support", person, k), effect: "allow", reasons: [] };
      s += 1;
    } else {
      const [principal, action, fields, purpose] = PRINCIPALS[(b * 2654435761) % PRINCIPALS.length]!;
      const e = entry(bAt, principal, action, fields, purpose, (b * 40503 + 17) % SUBJECTS, k);
      if (principal === SCRAPER && e.effect === "allow" && inWindow(bAt)) expected.add((b * 40503 + 17) % SUBJECTS);
      yield e;
      b += 1;
    }
  }
}
let fillSeconds = reused?.fillSeconds ?? 0;
if (reused === undefined) {
  const t0 = performance.now();
  const gen = entries();
  for (let done = 0; done < N; ) {
    const n = Math.min(20_000, N - done);
    const batch: AuditEntry[] = [];
    for (let k = 0; k < n; k++) batch.push(gen.next().value as AuditEntry);
    await appendChained(c.stores.audit, chain, batch);
    done += n;
    progress("audit entries", done, N, t0);
  }
  fillSeconds = (performance.now() - t0) / 1000;
  process.stderr.write("\n");
}
// 1 % of the scraped people deleted their account since: their keys are gone, they are "erased, unlinkable".
const erasedIdx = Array.from({ length: Math.floor(SCRAPED / 100) }, (_, k) => scrapedIndex(k * 100));
if (reused === undefined) await c.stores.keys.destroyMany(erasedIdx.map(sid));
const ERASED = erasedIdx.length;
const PEOPLE = reused?.people ?? expected.size;
if (reused === undefined) {
  const meta: BenchMeta = { store: kind, entries: N, subjects: SUBJECTS, scraped: SCRAPED, people: PEOPLE, erased: ERASED, fillSeconds, ...(pgUrl !== undefined ? { pgUrl } : {}) };
  fs.writeFileSync(path.join(home, META), `${JSON.stringify(meta)}\n`, { mode: 0o600 });
}

const sqliteFile = kind === "sqlite" ? path.join(home, "db", "audit.db") : undefined;
const storeMiB = sqliteFile ? Number((fs.statSync(sqliteFile).size / 2 ** 20).toFixed(1)) : undefined;
const quiet = async () => {
  const deadline = Date.now() + 120_000;
  while (os.loadavg()[0]! >= Number(values["max-load"]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5000));
  return Number(os.loadavg()[0]!.toFixed(2));
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------------------------------------------------------------- scope
/** One scope of a new incident (or of `id` again: a rescope replaces its people). */
let lastIncident = "";
const scopeOnce = async (id?: string) => {
  if (id === undefined) {
    lastIncident = (await c.services.incidents.open(ctx, { kind: "leak", summary: "bench: the open-chat scrape", source: { type: "external", channel: "press" } })).id;
  }
  const t0 = performance.now();
  const v = await c.services.incidents.scope(ctx, id ?? lastIncident, { from: WINDOW.from.toISOString(), to: WINDOW.to.toISOString(), principals: [SCRAPER] });
  const seconds = (performance.now() - t0) / 1000;
  if (v.scope?.people.total !== PEOPLE || v.scope.people.unlinkable !== ERASED) {
    throw new Error(`scope found ${JSON.stringify(v.scope?.people)}; expected ${PEOPLE} people, ${ERASED} unlinkable`);
  }
  return { seconds: Number(seconds.toFixed(3)), people: v.scope.people, entries: v.scope.through[0]?.entries ?? 0 };
};
const cold = { ...(await scopeOnce()), loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)) };
console.log(`scope (cold): ${cold.seconds} s for ${cold.people.total} people from ${cold.entries} entries`);
const runs: { seconds: number; loadAverage1m: number }[] = [];
for (let i = 0; i < RUNS; i++) {
  const loadAverage1m = await quiet();
  const r = await scopeOnce();
  runs.push({ seconds: r.seconds, loadAverage1m });
  console.log(`scope: ${r.seconds} s (load ${loadAverage1m})`);
}
const rescope = await scopeOnce(lastIncident);
console.log(`rescope (replacing the people stored): ${rescope.seconds} s`);
// Its parts, alone.
const parts = await (async () => {
  let t0 = performance.now();
  const refs = new Set<string>();
  const seen = new Map<string, string[]>();
  let rows = 0;
  let read = 0;
  // As the service reads: the next page asked for before this one is parsed.
  const pageOf = (after: { at: Date; seq: number } | null) => c.stores.audit.byPrincipal(SCRAPER, WINDOW.from, WINDOW.to, after, 10_000);
  let next = pageOf(null);
  for (;;) {
    const r0 = performance.now();
    const page = await next;
    read += performance.now() - r0;
    const full = page.length === 10_000;
    // Timed too: on SQLite the read runs inside this call, on PostgreSQL it only sends the query.
    const r1 = performance.now();
    if (full) next = pageOf({ at: page[page.length - 1]!.at, seq: page[page.length - 1]!.seq });
    read += performance.now() - r1;
    for (const r of page) {
      rows += 1;
      if (r.subjectRef !== null) {
        effectAndFieldsOf(r.body, seen);
        refs.add(r.subjectRef);
      }
    }
    if (!full) break;
  }
  const auditSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const found = await c.stores.keys.findByAuditRefs([...refs] as AuditRef[]);
  const keySeconds = (performance.now() - t0) / 1000;
  const people = await c.stores.data.incidents.subjects(lastIncident, null, 10 * SCRAPED);
  const fresh = await c.services.incidents.open(ctx, { kind: "leak", summary: "bench: storing a scope", source: { type: "manual" } });
  const scope = (await c.stores.data.incidents.get(lastIncident))!.scope!;
  t0 = performance.now();
  await c.stores.data.incidents.putScope(fresh.id, scope, people, { at: new Date(), actor: "bench", act: "scoped", detail: {}, auditSeq: 0 });
  const storeSeconds = (performance.now() - t0) / 1000;
  return {
    auditRows: rows,
    /** Time spent waiting for pages (on PostgreSQL the next page is read while this one is parsed). */
    auditReadSeconds: Number((read / 1000).toFixed(3)),
    auditReadAndParseSeconds: Number(auditSeconds.toFixed(3)),
    distinctRefs: refs.size,
    keys: SUBJECTS,
    keyPassSeconds: Number(keySeconds.toFixed(3)),
    linked: found.size,
    storePeopleSeconds: Number(storeSeconds.toFixed(3)),
  };
})();
console.log(`parts: audit read ${parts.auditReadSeconds} s, + parse ${parts.auditReadAndParseSeconds} s (${parts.auditRows} rows), key pass ${parts.keyPassSeconds} s (${parts.distinctRefs} refs over ${SUBJECTS} keys), storing the people ${parts.storePeopleSeconds} s`);
if (values["scope-only"]) {
  // No result file: this is for comparing changes on a kept load, not the recorded result.
  const seconds = median(runs.map((r) => r.seconds));
  console.log(JSON.stringify({ store: kind, seconds, cold: cold.seconds, runs, rescope: rescope.seconds, parts, loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))) }));
  await dispose(values.keep || reused !== undefined);
  process.exit(0);
}

// ---------------------------------------------------------------- appends with and without the index
const appendRun = async (label: string) => {
  await c.audit.flush();
  const loadAverage1m = await quiet();
  let next = 0;
  const t0 = performance.now();
  const base = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < APPEND) {
        const k = next++;
        const [principal, action, fields, purpose] = PRINCIPALS[k % 9]!;
        await c.audit.record({ ...entry(base + k, principal, action, fields, purpose, (k * 7 + 3) % SUBJECTS, k), at: undefined });
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = Math.round(APPEND / seconds);
  console.log(`appends ${label}: ${perSecond.toLocaleString()} entries/s (${seconds.toFixed(2)} s, load ${loadAverage1m})`);
  return { label, entries: APPEND, seconds: Number(seconds.toFixed(3)), entriesPerSecond: perSecond, loadAverage1m };
};
const INDEX_SQL = {
  sqlite: {
    drop: "DROP INDEX audit_log_by_principal",
    create: "CREATE INDEX audit_log_by_principal ON audit_log (principal, at) WHERE principal IS NOT NULL",
  },
  postgres: {
    drop: "DROP INDEX haechi_audit.audit_log_by_principal",
    create: "CREATE INDEX audit_log_by_principal ON haechi_audit.audit_log (principal, at, seq) WHERE principal IS NOT NULL",
  },
}[kind];
const ddl = async (text: string) => {
  const t0 = performance.now();
  if (kind === "sqlite") {
    const db = new Database(sqliteFile!);
    try {
      db.pragma("busy_timeout = 60000");
      db.exec(text);
    } finally {
      db.close();
    }
  } else {
    const client = new pg.Client({ connectionString: c.config.store.kind === "postgres" ? c.config.store.url : "" });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }
  return Number(((performance.now() - t0) / 1000).toFixed(1));
};
/** Bulk appends as an import or a sweep makes them: 20,000 entries per commit through appendBatch. */
const bulkRun = async (label: string) => {
  await c.audit.flush();
  const loadAverage1m = await quiet();
  const rows: { e: AuditEntry; body: string }[] = [];
  const base = Date.now();
  for (let k = 0; k < 20_000; k++) {
    const [principal, action, fields, purpose] = PRINCIPALS[k % 9]!;
    const e = entry(base + k, principal, action, fields, purpose, (k * 11 + 5) % SUBJECTS, k);
    rows.push({ e, body: canonicalize(e) });
  }
  const t0 = performance.now();
  for (let b = 0; b < 5; b++) {
    await c.stores.audit.appendBatch((head) => {
      let prev = head?.hash ?? ZERO_HASH;
      let seq = head?.seq ?? 0;
      return rows.map(({ e, body }): AuditRow => {
        seq += 1;
        const hash = chain.hash(prev, seq, body);
        prev = hash;
        return { seq, at: new Date(e.at), subjectRef: e.subjectRef, principal: e.principal, action: e.action, body, hash };
      });
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = Math.round(100_000 / seconds);
  console.log(`bulk appends ${label}: ${perSecond.toLocaleString()} entries/s (load ${loadAverage1m})`);
  return { label, entries: 100_000, seconds: Number(seconds.toFixed(3)), entriesPerSecond: perSecond, loadAverage1m };
};
// Three runs each way in the order ABBAAB: the machine is shared, its speed drifts, and a run
// right after another may inherit its write-ahead log.
const live: { with: number[]; without: number[] } = { with: [], without: [] };
const bulk: { with: number[]; without: number[] } = { with: [], without: [] };
const appendRuns: Awaited<ReturnType<typeof appendRun>>[] = [];
const buildSeconds: number[] = [];
let indexed = true;
for (const want of [true, false, false, true, true, false]) {
  if (want !== indexed) {
    if (want) {
      buildSeconds.push(await ddl(INDEX_SQL.create));
      console.log(`index rebuilt in ${buildSeconds.at(-1)} s`);
    } else await ddl(INDEX_SQL.drop);
    indexed = want;
  }
  const label = want ? "with the index" : "without the index";
  const l = await appendRun(label);
  const b = await bulkRun(label);
  appendRuns.push(l, b);
  (want ? live.with : live.without).push(l.entriesPerSecond);
  (want ? bulk.with : bulk.without).push(b.entriesPerSecond);
}
if (!indexed) buildSeconds.push(await ddl(INDEX_SQL.create));
const withRate = median(live.with);
const withoutRate = median(live.without);
const appendCost = Number((1 - withRate / withoutRate).toFixed(3));
const bulkCost = Number((1 - median(bulk.with) / median(bulk.without)).toFixed(3));

const seconds = median(runs.map((r) => r.seconds));
const file = writeResult(`incident-scope-${kind}`, {
  store: kind,
  entries: N,
  subjects: SUBJECTS,
  scraped: SCRAPED,
  /** The scraped people and those the console read in the window in its ordinary work. */
  people: PEOPLE,
  erasedUnlinkable: ERASED,
  window: { from: WINDOW.from.toISOString(), to: WINDOW.to.toISOString() },
  scraperEntriesInWindow: cold.entries,
  seconds,
  target: TARGET_SECONDS,
  met: seconds <= TARGET_SECONDS,
  coldRun: cold,
  runs,
  rescope: { seconds: rescope.seconds },
  parts,
  fill: { seconds: Number(fillSeconds.toFixed(1)), entriesPerSecond: Math.round(N / fillSeconds), ...(storeMiB !== undefined ? { storeMiB } : {}) },
  appends: {
    live: "AuditLog.record from 32 concurrent callers (durable group commit, batches of up to 32), at the tail of the full log",
    bulk: "appendBatch of 20,000 entries per commit, 5 commits",
    runs: appendRuns,
    withIndexEntriesPerSecond: withRate,
    withoutIndexEntriesPerSecond: withoutRate,
    /** Share of live append throughput the index costs (median of three alternated rounds each). */
    cost: appendCost,
    bulkWithIndexEntriesPerSecond: median(bulk.with),
    bulkWithoutIndexEntriesPerSecond: median(bulk.without),
    bulkCost,
    indexBuildSeconds: buildSeconds,
  },
  peakRssMiB: MiB(process.resourceUsage().maxRSS * 1024),
});
console.log(`${kind}: scope ${seconds} s over ${N.toLocaleString()} entries (target ≤ ${TARGET_SECONDS} s: ${seconds <= TARGET_SECONDS ? "met" : "MISSED"}); live appends ${withRate}/s with the index vs ${withoutRate}/s without (cost ${(appendCost * 100).toFixed(1)} %), bulk cost ${(bulkCost * 100).toFixed(1)} %; wrote ${path.relative(process.cwd(), file)}`);
await dispose(values.keep);
