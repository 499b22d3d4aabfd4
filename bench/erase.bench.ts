/**
 * The dormancy sweep's throughput: erase N dormant accounts (target ≥ 100,000 subjects/s).
 *
 *   node --import tsx bench/erase.bench.ts [--subjects 1000000] [--store sqlite|postgres]
 *        [--page 50000] [--keep]
 *
 * Loads N talk-service subjects (user_id, phone, name, nickname, email sealed under each one's
 * own data key; blind indexes for the catalog's lookup fields, as the import service writes them),
 * created and last active two years ago, straight through the stores (the load is not measured).
 * Then times the two phases of a sweep under the demo catalog's dormancy policy (P1Y), ADR 0008:
 *   1. erasure, `services.erase.sweepDormant({ compact: false })`: per page a destruction
 *      certificate, the shred journal, `keys.destroyMany` (crypto-shredding), `data.markErased`;
 *      a key-store purge at the end. After it nothing of the N can be read or decrypted.
 *   2. compaction, `services.erase.compact()`: the unreadable rows (ciphertext, blind indexes)
 *      deleted, a page per transaction.
 * The target applies to phase 1; the README shows both and the sum. The time split comes from
 * timing the store, journal and audit calls the sweep makes.
 * Writes bench/results/erase-<store>.json. PostgreSQL: HAECHI_PG_URL if set, else a fresh
 * database on HAECHI_TEST_PG_URL's server, else a throw-away server of its own.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { SubjectId } from "../src/core/ids.js";
import type { ImportItem, WrappedKeyRow } from "../src/core/ports.js";
import { blindIndex } from "../src/crypto/blind-index.js";
import { sealField } from "../src/crypto/envelope.js";
import { newSubjectId } from "../src/crypto/pseudonym.js";
import { subjectKeys } from "../src/crypto/subject-keys.js";
import { MiB, openBenchContainer, progress } from "./lib/bench-container.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    subjects: { type: "string", default: "1000000" },
    store: { type: "string", default: "sqlite" },
    page: { type: "string", default: "50000" },
    keep: { type: "boolean", default: false },
  },
});
const N = Number(values.subjects);
const PAGE = Number(values.page);
const TARGET = 100_000;
if (!Number.isSafeInteger(N) || N < 1) throw new Error("--subjects must be a positive integer");
if (!Number.isSafeInteger(PAGE) || PAGE < 1) throw new Error("--page must be a positive integer");
if (values.store !== "sqlite" && values.store !== "postgres") throw new Error("--store must be sqlite or postgres");

const { c, dispose } = await openBenchContainer("erase", values.store as "sqlite" | "postgres", {});

// ---------------------------------------------------------------- load (not measured)
const YEAR = 365 * 24 * 3600 * 1000;
const SURNAMES = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
const GIVEN = ["민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지민"];
const pad4 = (n: number) => String(n % 10_000).padStart(4, "0");
{
  const t0 = performance.now();
  const then = new Date(Date.now() - 2 * YEAR);
  const B = 5000;
  const dataKeys = subjectKeys({ keys: c.stores.keys, kek: c.keyring.kek, cacheSize: 0 });
  const index = blindIndex(c.keyring.secrets.blindIndexKey);
  const catalogFields = c.catalog.current().fields;
  const lookupFields = new Set(Object.entries(catalogFields).filter(([, d]) => d.lookup).map(([f]) => f));
  for (let i = 0; i < N; i += B) {
    const items: ImportItem[] = [];
    const keys: WrappedKeyRow[] = [];
    for (let j = i; j < Math.min(N, i + B); j++) {
      const id = newSubjectId();
      const { row, key } = await dataKeys.create(id, then);
      keys.push(row);
      const v: Record<string, string> = {
        user_id: `user-${j}`,
        phone: `010-${pad4(Math.floor(j / 10_000) + 1000)}-${pad4(j)}`,
        name: `${SURNAMES[j % 10]}${GIVEN[Math.floor(j / 10) % 10]}`,
        nickname: `nick${j.toString(36)}`,
        email: `user${j}@example.com`,
      };
      items.push({
        subject: { id, createdAt: then, updatedAt: then, status: "active" },
        fields: Object.entries(v).map(([field, value]) => ({ field, ciphertext: sealField(key.dek, key.dekVersion, id, field, value), updatedAt: then })),
        lookups: Object.entries(v)
          .filter(([field]) => lookupFields.has(field))
          .map(([field, value]) => ({ field, digest: index.digest(field, value) })),
        consents: [],
      });
    }
    await c.stores.keys.putMany(keys);
    await c.stores.data.importBatch(items);
    progress("load", Math.min(N, i + B), N, t0);
  }
  process.stderr.write(`\nloaded ${N.toLocaleString("en-US")} subjects in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

// ---------------------------------------------------------------- time split
/**
 * Wraps the calls the sweep makes on the shared store, journal and audit objects (the service
 * holds the same objects), summing wall time per call. Bench instrumentation only.
 */
const split: Record<string, { calls: number; ms: number }> = {};
const timeCalls = <T extends object>(label: string, target: T, names: readonly (keyof T & string)[]) => {
  for (const name of names) {
    const fn = target[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    const slot = (split[`${label}.${name}`] = { calls: 0, ms: 0 });
    (target as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await fn.apply(target, args);
      } finally {
        slot.calls++;
        slot.ms += performance.now() - t;
      }
    };
  }
};
timeCalls("data", c.stores.data, ["dormant", "markErased", "compactErased"]);
timeCalls("keys", c.stores.keys, ["destroyMany", "purge"]);
timeCalls("journal", c.journal, ["append"]);
timeCalls("audit", c.audit, ["record"]);

// ---------------------------------------------------------------- measured: the sweep
const rss: number[] = [];
const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 250);
const rssBefore = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const load0 = os.loadavg()[0]!;
const t0 = performance.now();
const res = await c.services.erase.sweepDormant({ by: "bench", batch: PAGE, compact: false, onProgress: (d) => progress("erase", d, N, t0) });
const erased = res.erased + res.sealed;
const t1 = performance.now();
process.stderr.write("\n");
const compacted = await c.services.erase.compact({ batch: PAGE, onProgress: (d) => progress("compact", d, N, t1) });
const t2 = performance.now();
clearInterval(sampler);
const cpu = process.cpuUsage(cpu0);
process.stderr.write("\n");
const outcome = { ...res, compacted: compacted.compacted, backlog: compacted.backlog };

// Nothing dormant or keyed is left.
const left = await c.stores.data.dormant(new Date(), null, 1);
const keysLeft = (await c.stores.keys.countByKekVersion()).reduce((n, k) => n + k.count, 0);
if (erased !== N || left.length !== 0 || keysLeft !== 0 || compacted.compacted !== N || compacted.backlog !== 0) {
  throw new Error(`unexpected outcome: erased ${erased} of ${N}, ${left.length} still dormant, ${keysLeft} keys left, ${compacted.compacted} compacted`);
}
const secs = (t1 - t0) / 1000;
const compactSecs = (t2 - t1) / 1000;
const perSubject = (ms: number) => +((ms * 1000) / N).toFixed(2);
const result = {
  store: values.store,
  path: "services.erase.sweepDormant({ compact: false }), then services.erase.compact()",
  subjects: N,
  fields: 5,
  lookups: 3,
  pageSize: PAGE,
  /** Phase 1, erasure (the target's measure): keys destroyed, subjects refused. */
  seconds: +secs.toFixed(2),
  subjectsPerSecond: Math.round(N / secs),
  target: TARGET,
  /** Phase 2, compaction of the unreadable rows. */
  compaction: { seconds: +compactSecs.toFixed(2), subjectsPerSecond: Math.round(N / compactSecs) },
  /** Both phases, as `haechi sweep` runs them. */
  total: { seconds: +(secs + compactSecs).toFixed(2), subjectsPerSecond: Math.round(N / (secs + compactSecs)) },
  outcome,
  /** Wall time inside each call the sweep made: total seconds, calls, and µs per subject. */
  split: Object.fromEntries(
    Object.entries(split)
      .filter(([, s]) => s.calls > 0)
      .map(([k, s]) => [k, { seconds: +(s.ms / 1000).toFixed(2), calls: s.calls, usPerSubject: perSubject(s.ms) }]),
  ),
  otherUsPerSubject: perSubject(t2 - t0 - Object.values(split).reduce((n, s) => n + s.ms, 0)),
  rssBeforeMiB: MiB(rssBefore),
  peakRssMiB: MiB(Math.max(rssBefore, ...rss)),
  /** The process's high-water mark, load included. */
  maxRssMiB: MiB(process.resourceUsage().maxRSS * 1024),
  rssSamplesMiB: rss.filter((_, i) => i % Math.max(1, Math.floor(rss.length / 60)) === 0).map(MiB),
  cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
  loadAverageBefore: +load0.toFixed(2),
  loadAverage: os.loadavg().slice(0, 2).map((x) => +x.toFixed(2)),
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${writeResult(`erase-${values.store}`, result)}`);
await dispose(Boolean(values.keep));
