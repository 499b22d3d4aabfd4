/**
 * The provision gate's throughput (target ≥ 50,000 subjects/s for plan + run, 3 fields, flat
 * memory).
 *
 *   node --import tsx bench/provision.bench.ts [--subjects 1000000] [--store sqlite|postgres]
 *        [--page 4000] [--threads 2] [--keep]
 *
 * Loads N pay-service subjects (user_id, name, phone; each with its own data key, fields sealed
 * as the vault stores them) straight through the stores (the load is not measured), then plans
 * and runs a consignment of the three fields to the demo catalog's `cloud-kr` through the
 * provision service: scan, per-person checks, key unwrap, decrypt, recipient pseudonyms, NDJSON,
 * age encryption to the recipient, part files fsynced, audit entry and ledger per part.
 * Writes bench/results/provision-<store>.json. PostgreSQL: HAECHI_PG_URL if set, else a fresh
 * database on HAECHI_TEST_PG_URL's server, else a throw-away server of its own.
 */
import fs from "node:fs";
import inspector from "node:inspector";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { ImportItem, WrappedKeyRow } from "../src/core/ports.js";
import { sealField } from "../src/crypto/envelope.js";
import { newSubjectId } from "../src/crypto/pseudonym.js";
import { subjectKeys } from "../src/crypto/subject-keys.js";
import { MiB, openBenchContainer, progress } from "./lib/bench-container.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    subjects: { type: "string", default: "1000000" },
    store: { type: "string", default: "sqlite" },
    page: { type: "string", default: "4000" },
    threads: { type: "string", default: "2" },
    keep: { type: "boolean", default: false },
    /** Write a CPU profile of the main thread during plan + run to this file. */
    profile: { type: "string" },
  },
});
const N = Number(values.subjects);
const TARGET = 50_000;
if (!Number.isSafeInteger(N) || N < 1) throw new Error("--subjects must be a positive integer");
if (values.store !== "sqlite" && values.store !== "postgres") throw new Error("--store must be sqlite or postgres");

const { c, home, dispose } = await openBenchContainer("provision", values.store as "sqlite" | "postgres", { HAECHI_PROVISION_PAGE: values.page!, HAECHI_PROVISION_THREADS: values.threads! });

// ---------------------------------------------------------------- load (not measured)
{
  const t0 = performance.now();
  const now = new Date();
  const B = 5000;
  const dataKeys = subjectKeys({ keys: c.stores.keys, kek: c.keyring.kek, cacheSize: 0 });
  for (let i = 0; i < N; i += B) {
    const items: ImportItem[] = [];
    const keys: WrappedKeyRow[] = [];
    for (let j = i; j < Math.min(N, i + B); j++) {
      const id = newSubjectId();
      const { row, key } = await dataKeys.create(id, now);
      keys.push(row);
      const v = { user_id: `user-${j}`, name: "김민준", phone: `010-${String(1000 + Math.floor(j / 10_000)).slice(-4)}-${String(j % 10_000).padStart(4, "0")}` };
      items.push({
        subject: { id, createdAt: now, updatedAt: now, status: "active" },
        fields: Object.entries(v).map(([field, value]) => ({ field, ciphertext: sealField(key.dek, key.dekVersion, id, field, value), updatedAt: now })),
        lookups: [],
        consents: [],
      });
    }
    await c.stores.keys.putMany(keys);
    await c.stores.data.importBatch(items);
    progress("load", Math.min(N, i + B), N, t0);
  }
  process.stderr.write(`\nloaded ${N.toLocaleString("en-US")} subjects in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

// ---------------------------------------------------------------- measured: plan + run
const ctx = { principal: "pay-app", source: "bench", requestId: "bench" };
const request = {
  recipient: "cloud-kr",
  purpose: "pay_service",
  label: "consignment" as const,
  fields: ["user_id", "name", "phone"],
  population: { purposes: [] },
  format: "ndjson" as const,
  transform: {},
};
const session = values.profile ? new inspector.Session() : undefined;
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => session!.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
if (session) {
  session.connect();
  await post("Profiler.enable");
  await post("Profiler.start");
}
const rss: number[] = [];
const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 250);
const rssBefore = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const plan = await c.services.provisions.plan(ctx, request);
const t1 = performance.now();
const { done } = await c.services.provisions.start(ctx, request, { onProgress: (p) => progress("run", p.scanned, N, t1) });
const row = await done;
const t2 = performance.now();
clearInterval(sampler);
if (session) {
  const { profile } = (await post("Profiler.stop")) as { profile: unknown };
  fs.writeFileSync(values.profile!, JSON.stringify(profile));
  session.disconnect();
}
const cpu = process.cpuUsage(cpu0);
process.stderr.write("\n");
if (row.status !== "completed" || row.counts.included !== N || plan.counts.included !== N) {
  throw new Error(`unexpected outcome: plan ${JSON.stringify(plan.counts)}, run ${row.status} ${JSON.stringify(row.counts)}`);
}
const secs = (t2 - t0) / 1000;
const exportBytes = fs.readdirSync(path.join(home, "exports", row.id)).reduce((n, f) => n + fs.statSync(path.join(home, "exports", row.id, f)).size, 0);
const result = {
  store: values.store,
  subjects: N,
  fields: 3,
  pageSize: Number(values.page),
  threads: Number(values.threads),
  planSeconds: +((t1 - t0) / 1000).toFixed(2),
  runSeconds: +((t2 - t1) / 1000).toFixed(2),
  seconds: +secs.toFixed(2),
  subjectsPerSecond: Math.round(N / secs),
  planSubjectsPerSecond: Math.round(N / ((t1 - t0) / 1000)),
  runSubjectsPerSecond: Math.round(N / ((t2 - t1) / 1000)),
  target: TARGET,
  parts: row.parts,
  exportMiB: +(exportBytes / 2 ** 20).toFixed(1),
  rssBeforeMiB: MiB(rssBefore),
  peakRssMiB: MiB(Math.max(rssBefore, ...rss)),
  /** RSS every 250 ms through plan and run, to show memory stays flat. */
  rssSamplesMiB: rss.filter((_, i) => i % Math.max(1, Math.floor(rss.length / 60)) === 0).map(MiB),
  cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
  loadAverage: os.loadavg().slice(0, 2).map((x) => +x.toFixed(2)),
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${writeResult(`provision-${values.store}`, result)}`);
await dispose(Boolean(values.keep));
