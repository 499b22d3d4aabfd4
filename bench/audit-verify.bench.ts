/**
 * Audit chain verification throughput (target ≥ 500,000 entries/s on the 2-core dev box).
 *
 *   node --import tsx bench/audit-verify.bench.ts [--store sqlite|postgres|memory] [--entries 1000000]
 *        [--page 10000] [--threads N] [--runs 3] [--max-load 1.0] [--deep] [--no-single]
 *
 * sqlite / postgres: fills a fresh store with N realistic entries (≈ 275-byte canonical bodies made
 * with the real canonicalize + chain hash, appended through `appendBatch` in batches of 20,000),
 * signs a checkpoint, then times what `haechi audit verify` and `GET /v1/audit/verify` run —
 * `auditService.verify()` — end to end: listing checkpoints, starting the workers, reading every
 * row from the database and hashing it. For comparison it also times the single-thread
 * reference (verifyChain over `iterate`) unless --no-single. PostgreSQL runs on a throwaway
 * cluster (test/helpers/pg.ts) unless HAECHI_TEST_PG_URL is set.
 *
 * memory: verifyChain over rows already in memory (no reading), the hashing ceiling of one thread.
 *
 * --deep: also parse every body and compare the searchable copies (`checkBodies`; one thread).
 *
 * Other work on the machine skews the numbers: before each timed run it waits (up to 3 minutes)
 * for the 1-minute load average to drop below --max-load, and records the load it ran under.
 * The reported figure is the median of --runs runs; every run is kept in the JSON. The first
 * verification right after the bulk load is kept apart as `coldRun`: it also pays for PostgreSQL
 * setting hint bits on a million fresh rows (and autovacuum starting), which a log of older
 * entries does not.
 * Writes bench/results/audit-verify-<store>[-deep].json.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { AuditEntry } from "../src/audit/audit-types.js";
import { canonicalize } from "../src/audit/canonical.js";
import { chainHasher, ZERO_HASH } from "../src/audit/chain.js";
import { verifyStore } from "../src/audit/parallel-verify.js";
import { verifyChain } from "../src/audit/verify.js";
import { systemClock } from "../src/core/clock.js";
import type { AuditRow, AuditStore } from "../src/core/ports.js";
import { auditService } from "../src/services/audit-service.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../src/storage/index.js";
import { freshDatabase, startPostgres } from "../test/helpers/pg.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "sqlite" },
    entries: { type: "string", default: "1000000" },
    page: { type: "string", default: "10000" },
    threads: { type: "string" },
    runs: { type: "string", default: "3" },
    "max-load": { type: "string", default: "1.0" },
    deep: { type: "boolean", default: false },
    "no-single": { type: "boolean", default: false },
  },
});
const kind = values.store;
if (kind !== "sqlite" && kind !== "postgres" && kind !== "memory") throw new Error("--store must be sqlite, postgres or memory");
const N = Number(values.entries);
const pageSize = Number(values.page);
const runs = Math.max(1, Number(values.runs));
const maxLoad = Number(values["max-load"]);
const threads = values.threads === undefined ? undefined : Number(values.threads);
if (!Number.isSafeInteger(N) || N < 1) throw new Error("--entries must be a positive integer");
const TARGET = 500_000;

const ACTIONS = ["subject.read", "subject.read", "subject.read", "lookup", "consent.grant", "subject.create"];
const PURPOSES = ["order-fulfilment", "customer-support", "marketing-email", null];
const FIELDS = [["name", "phone", "address"], ["email"], ["name", "birthDate"], []];
const T0 = Date.parse("2025-01-01T00:00:00.000Z");

const entryAt = (i: number): AuditEntry => ({
  at: new Date(T0 + i * 7).toISOString(),
  requestId: `req_${((i * 2654435761) >>> 0).toString(36).padStart(7, "0")}${i.toString(36)}`,
  principal: `svc-${["crm", "shop", "support"][i % 3]}`,
  source: `10.0.${(i >> 8) & 255}.${i & 255}`,
  action: ACTIONS[i % ACTIONS.length]!,
  effect: i % 17 === 0 ? "deny" : "allow",
  purpose: PURPOSES[i % PURPOSES.length]!,
  subjectRef: `ar_${((i * 40503) >>> 0).toString(16).padStart(8, "0")}Qx7Lm2Pz9Kd4Rt1V`,
  fields: FIELDS[i % FIELDS.length]!,
  reasons: i % 17 === 0 ? ["NO_CONSENT"] : ["CONSENT"],
  ...(i % 5 === 0 ? { meta: { status: i % 17 === 0 ? 403 : 200 } } : {}),
});

const chainKey = randomBytes(32);
const hasher = chainHasher(chainKey);

/** Entry i (0-based) as a row chained to `prev`. */
const rowAt = (i: number, seq: number, prev: Buffer): AuditRow => {
  const e = entryAt(i);
  const body = canonicalize(e);
  return { seq, at: new Date(e.at), subjectRef: e.subjectRef, principal: e.principal, action: e.action, body, hash: hasher.hash(prev, seq, body) };
};

/** Mean UTF-8 body size, from 10,000 entries spread over the N. */
const meanBodyBytes = () => {
  const step = Math.max(1, Math.floor(N / 10_000));
  let bytes = 0;
  let n = 0;
  for (let i = 0; i < N; i += step, n++) bytes += Buffer.byteLength(canonicalize(entryAt(i)));
  return Math.round(bytes / n);
};

/** Fills `audit` with N entries through appendBatch, in batches of 20,000. */
const fill = async (audit: AuditStore) => {
  const started = performance.now();
  for (let done = 0; done < N; ) {
    const n = Math.min(20_000, N - done);
    await audit.appendBatch((head) => {
      const rows: AuditRow[] = new Array(n);
      let prev = head?.hash ?? ZERO_HASH;
      for (let k = 0; k < n; k++) {
        rows[k] = rowAt(done + k, (head?.seq ?? 0) + k + 1, prev);
        prev = rows[k]!.hash;
      }
      return rows;
    });
    done += n;
    if (done % 200_000 === 0 || done === N) console.log(`  filled ${done.toLocaleString()} entries`);
  }
  return (performance.now() - started) / 1000;
};

/** Waits (at most 3 minutes) for the 1-minute load average to fall below `maxLoad`. */
const quiet = async () => {
  const deadline = Date.now() + 180_000;
  while (os.loadavg()[0]! >= maxLoad && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5000));
  return Number(os.loadavg()[0]!.toFixed(2));
};

interface Run {
  seconds: number;
  entriesPerSecond: number;
  loadAverage1m: number;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `verify` `runs` times (plus a first, cold one with `cold`) after waiting for quiet. */
const measure = async (
  label: string,
  verify: () => Promise<{ ok: boolean; entries: number; problems: unknown[] }>,
  cold?: (run: Run) => void,
) => {
  const out: Run[] = [];
  for (let i = cold ? -1 : 0; i < runs; i++) {
    const loadAverage1m = await quiet();
    const start = performance.now();
    const r = await verify();
    const seconds = (performance.now() - start) / 1000;
    if (!r.ok || r.entries !== N) throw new Error(`${label}: verification failed: ${JSON.stringify(r.problems.slice(0, 3))}`);
    const run = { seconds: Number(seconds.toFixed(3)), entriesPerSecond: Math.round(N / seconds), loadAverage1m };
    if (i < 0) cold!(run);
    else out.push(run);
    console.log(`  ${label}${i < 0 ? " (cold)" : ""}: ${Math.round(N / seconds).toLocaleString()} entries/s (${seconds.toFixed(3)} s, load ${loadAverage1m})`);
  }
  return out;
};

const mode = values.deep ? "deep" : "fast";
const name = `audit-verify-${kind}${values.deep ? "-deep" : ""}`;
const extra: Record<string, unknown> = {};
let measured: Run[];
let single: Run[] | undefined;
let fillSeconds: number | undefined;
let verifier: string;

if (kind === "memory") {
  console.log(`building ${N.toLocaleString()} entries in memory…`);
  const rows: AuditRow[] = new Array(N);
  let prev = ZERO_HASH;
  for (let i = 0; i < N; i++) {
    rows[i] = rowAt(i, i + 1, prev);
    prev = rows[i]!.hash;
  }
  async function* pages(): AsyncIterable<AuditRow[]> {
    for (let i = 0; i < N; i += pageSize) yield rows.slice(i, i + pageSize);
  }
  verifier = "verifyChain over rows already in memory, one thread (no reading)";
  measured = await measure("memory", () => verifyChain(pages(), { chainKey, checkBodies: values.deep }));
} else {
  let stores: Stores;
  let cleanup: () => Promise<void>;
  if (kind === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-verify-"));
    stores = await openSqliteStores({ dir, synchronous: "NORMAL" });
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    const server = await startPostgres();
    const db = await freshDatabase(server.url);
    stores = await openPostgresStores({ url: db.url });
    cleanup = async () => {
      await db.drop();
      await server.stop();
    };
  }
  try {
    console.log(`filling a fresh ${kind} store with ${N.toLocaleString()} entries…`);
    const audit = stores.audit;
    fillSeconds = Number((await fill(audit)).toFixed(1));
    if (kind === "sqlite") {
      const file = (audit.readSource?.() as { file: string } | undefined)?.file;
      if (file !== undefined) extra.storeMiB = Number((fs.statSync(file).size / 2 ** 20).toFixed(1));
    }
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const service = auditService({
      store: audit,
      flush: async () => undefined,
      chainKey,
      signer: { keyId: "bench", privateKey, publicKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() },
      clock: systemClock,
      verifyThreads: threads === undefined ? undefined : { max: threads },
    });
    await service.checkpoint(); // verification then compares one stored, signed checkpoint too
    if (values.deep) {
      verifier = "verifyStore with checkBodies: verifyChain over iterate, one thread";
      measured = await measure(`${kind} deep`, () => verifyStore(audit, { chainKey, checkBodies: true, pageSize }));
    } else {
      verifier = `auditService.verify(): ${threads ?? Math.min(os.availableParallelism(), 4)} worker thread(s) max, each on its own read connection (${kind === "sqlite" ? "read-only SQLite, packed pages" : "PostgreSQL binary COPY"})`;
      measured = await measure(`${kind} auditService.verify`, () => service.verify({ pageSize }), (run) => (extra.coldRun = run));
      if (!values["no-single"]) {
        single = await measure(`${kind} single-thread verifyChain(iterate)`, () =>
          verifyChain(audit.iterate(0, 5000), { chainKey }),
        );
      }
    }
  } finally {
    await stores.close();
    await cleanup();
  }
}

const best = median(measured.map((r) => r.entriesPerSecond));
const at = measured.find((r) => r.entriesPerSecond === best)!;
const file = writeResult(name, {
  store: kind,
  mode,
  verifier,
  entries: N,
  seconds: at.seconds,
  entriesPerSecond: best,
  target: values.deep ? null : TARGET,
  met: values.deep ? null : best >= TARGET,
  loadAverage1m: at.loadAverage1m,
  runs: measured,
  ...(single ? { singleThread: { entriesPerSecond: median(single.map((r) => r.entriesPerSecond)), runs: single } } : {}),
  meanBodyBytes: meanBodyBytes(),
  pageSize,
  ...(fillSeconds !== undefined ? { fillSeconds } : {}),
  ...extra,
});
console.log(
  `${kind}: ${best.toLocaleString()} entries/s (median of ${runs}) — ${values.deep ? "deep mode: no target" : `target ${TARGET.toLocaleString()}: ${best >= TARGET ? "met" : "MISSED"}`}; wrote ${path.relative(process.cwd(), file)}`,
);
