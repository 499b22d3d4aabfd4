/**
 * Bulk import throughput (target ≥ 25,000 subjects/s, 5 fields each, on SQLite).
 *
 *   node --import tsx bench/import.bench.ts [--subjects 1000000] [--batch 2000] [--keep]
 *
 * Generates an NDJSON file of N talk-app subjects with the five talk_service fields of the demo
 * catalog (user_id, phone, name, nickname, email), imports it into a fresh SQLite home through
 * the import service (validation, per-subject keys, sealing, blind indexes, audit entries), and
 * writes bench/results/import-sqlite.json. HAECHI_SQLITE_SYNC is honoured (default FULL).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/config.js";
import { buildContainer } from "../src/container.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    subjects: { type: "string", default: "1000000" },
    batch: { type: "string", default: "2000" },
    keep: { type: "boolean", default: false },
  },
});
const N = Number(values.subjects);
const batchSize = Number(values.batch);
const TARGET = 25_000;
if (!Number.isSafeInteger(N) || N < 1) throw new Error("--subjects must be a positive integer");

const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-import-"));
const file = path.join(home, "subjects.ndjson");

const SURNAMES = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
const GIVEN = ["민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지민"];
const pad4 = (n: number) => String(n % 10_000).padStart(4, "0");

/** Writes the input in large chunks (the generator is not what is measured). */
const generate = () => {
  const fd = fs.openSync(file, "w");
  let buf: string[] = [];
  for (let i = 0; i < N; i++) {
    const row = {
      ref: `r${i}`,
      fields: {
        user_id: `user-${i}`,
        phone: `010-${pad4(Math.floor(i / 10_000) + 1000)}-${pad4(i)}`,
        name: `${SURNAMES[i % 10]}${GIVEN[Math.floor(i / 10) % 10]}`,
        nickname: `nick${i.toString(36)}`,
        email: `user${i}@example.com`,
      },
    };
    buf.push(JSON.stringify(row));
    if (buf.length === 10_000) {
      fs.writeSync(fd, `${buf.join("\n")}\n`);
      buf = [];
    }
  }
  if (buf.length > 0) fs.writeSync(fd, `${buf.join("\n")}\n`);
  fs.closeSync(fd);
};

console.log(`generating ${N.toLocaleString("en-US")} subjects × 5 fields…`);
generate();
const bytes = fs.statSync(file).size;
console.log(`input ${(bytes / 2 ** 20).toFixed(1)} MiB (${file})`);

const config = loadConfig({
  HAECHI_HOME: home,
  HAECHI_LOG_LEVEL: "silent",
  ...(process.env.HAECHI_SQLITE_SYNC ? { HAECHI_SQLITE_SYNC: process.env.HAECHI_SQLITE_SYNC } : {}),
});
if (config.store.kind !== "sqlite") throw new Error("unreachable: the bench uses SQLite");
const storeDir = config.store.dir;
const synchronous = config.store.synchronous;
const c = await buildContainer(config, { createKeyring: true });

const loadBefore = os.loadavg()[0]!;
const rssBefore = process.memoryUsage.rss();
let peakRss = rssBefore;
const cpuBefore = process.cpuUsage();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 200);
const start = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
let lastPrint = 0;
let rejected = 0;
const result = await c.services.import.run({
  file,
  principal: "talk-app",
  purpose: "talk_service",
  batchSize,
  onRejected: (r) => {
    if (rejected++ < 5) console.error(`  rejected line ${r.line}: ${r.code} ${r.message}`);
  },
  onProgress: (p) => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const s = elapsed();
    if (s - lastPrint < 2 && p.bytes < p.totalBytes) return;
    lastPrint = s;
    const pct = ((100 * p.bytes) / p.totalBytes).toFixed(0).padStart(3);
    process.stderr.write(
      `import ${pct}% ${p.imported.toLocaleString("en-US")} subjects · ${Math.round(p.imported / s).toLocaleString("en-US")}/s · rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB\n`,
    );
  },
});
const seconds = elapsed();
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
clearInterval(sampler);
// The kernel's high-water mark catches peaks between samples (ru_maxrss is in KiB on Linux).
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
await c.close();

if (result.imported !== N || result.rejected !== 0) {
  console.error(`expected ${N} imported, got ${result.imported} imported, ${result.rejected} rejected`);
  process.exit(1);
}
const subjectsPerSecond = Math.round(N / seconds);
const dbBytes = fs.readdirSync(storeDir).reduce((a, f) => a + fs.statSync(path.join(storeDir, f)).size, 0);
const out = writeResult("import-sqlite", {
  subjects: N,
  fields: 5,
  seconds: Number(seconds.toFixed(2)),
  subjectsPerSecond,
  target: TARGET,
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  rssBeforeImportMiB: Math.round(rssBefore / 2 ** 20),
  /** CPU time of every thread of the process (main, sealing worker, SQLite audit writer). */
  cpuSeconds: Number(cpuSeconds.toFixed(1)),
  sealing: result.sealing,
  /** 1-minute load average before and after: other work on this 2-core machine skews the result. */
  loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
  batchSize,
  synchronous,
  inputMiB: Number((bytes / 2 ** 20).toFixed(1)),
  storeMiB: Number((dbBytes / 2 ** 20).toFixed(1)),
});
console.log(
  `${N.toLocaleString("en-US")} subjects in ${seconds.toFixed(1)} s = ${subjectsPerSecond.toLocaleString("en-US")} subjects/s ` +
    `(target ${TARGET.toLocaleString("en-US")}: ${subjectsPerSecond >= TARGET ? "met" : "MISSED"}), CPU ${cpuSeconds.toFixed(1)} s (${((cpuSeconds / N) * 1e6).toFixed(0)} µs/subject), ` +
    `peak RSS ${Math.round(peakRss / 2 ** 20)} MiB (${Math.round(rssBefore / 2 ** 20)} before the import) → ${path.relative(process.cwd(), out)}`,
);
if (!values.keep) fs.rmSync(home, { recursive: true, force: true });
else console.log(`kept ${home}`);
