/**
 * What detection costs the checked read (issue 5: at most 10% of its throughput), measured in one
 * run on the same home: the checked-read benchmark served alternately without detection and with
 * every rule type watching the reading principal (bench/lib/checked-read.ts), in `rounds` pairs
 * whose order alternates (off-on, on-off, …) so drift of the shared machine falls on both sides.
 * Reported per store: median req/s of each side, the median of the paired ratios, and the
 * event-loop and CPU time per request from the server's /metrics (steadier than req/s here).
 * Also, in process: the detector's own cost per audit entry.
 *
 *   node --import tsx bench/detection-overhead.bench.ts [--store sqlite|postgres|both] [--rounds 4]
 *     [--seconds 10] [--subjects 20000] [--connections 32]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { detectionSchema } from "../src/core/catalog/catalog-schema.js";
import { loadCatalog } from "../src/container.js";
import { DEMO_CATALOG } from "../src/config/config.js";
import { detector } from "../src/core/detection/detector-fns.js";
import { freshDatabase, startPostgres } from "../test/helpers/pg.js";
import { BENCH_RULES, checkedRead, prepare, writeCatalogs, type CheckedReadResult, type Detection } from "./lib/checked-read.js";
import { writeResult } from "./lib/machine.js";

const { values: args } = parseArgs({
  options: {
    store: { type: "string", default: "both" },
    rounds: { type: "string", default: "4" },
    seconds: { type: "string", default: "10" },
    subjects: { type: "string", default: "20000" },
    connections: { type: "string", default: "32" },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const subjects = Number(args.subjects);
const connections = Number(args.connections);
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Waits (up to a minute) for the 1-minute load average to fall below 1.5; returns it. */
const quiet = async () => {
  const end = Date.now() + 60_000;
  while (os.loadavg()[0]! >= 1.5 && Date.now() < end) await new Promise((r) => setTimeout(r, 2000));
  return Number(os.loadavg()[0]!.toFixed(2));
};

const measure = async (env: Record<string, string>, home: string) => {
  const catalogs = writeCatalogs(home);
  log(`  importing ${subjects} subjects…`);
  const { ids, key } = await prepare(env, subjects, catalogs.off);
  const runs: { round: number; detection: Detection; load: number; result: CheckedReadResult }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order: Detection[] = round % 2 === 1 ? ["off", "on"] : ["on", "off"];
    for (const detection of order) {
      const load = await quiet();
      const result = await checkedRead(env, catalogs[detection], ids, key, { seconds, connections });
      log(`  round ${round} detection ${detection}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99} ms, event loop ${result.eventLoopUsPerRequest.toFixed(1)} µs/req, cpu ${result.cpuUsPerRequest.toFixed(1)} µs/req (load ${load})`);
      runs.push({ round, detection, load, result });
    }
  }
  const side = (d: Detection) => runs.filter((r) => r.detection === d).map((r) => r.result);
  const paired = Array.from({ length: rounds }, (_, i) => {
    const on = runs.find((r) => r.round === i + 1 && r.detection === "on")!.result.rps;
    const off = runs.find((r) => r.round === i + 1 && r.detection === "off")!.result.rps;
    return on / off;
  });
  const summary = (d: Detection) => ({
    rps: median(side(d).map((r) => r.rps)),
    p99: median(side(d).map((r) => r.p99)),
    eventLoopUsPerRequest: median(side(d).map((r) => r.eventLoopUsPerRequest)),
    cpuUsPerRequest: median(side(d).map((r) => r.cpuUsPerRequest)),
  });
  const off = summary("off");
  const on = summary("on");
  return {
    off,
    on,
    pairedRatios: paired,
    /** 1 − median(on/off): the share of checked-read throughput detection costs. */
    throughputOverhead: 1 - median(paired),
    eventLoopOverhead: on.eventLoopUsPerRequest / off.eventLoopUsPerRequest - 1,
    cpuOverhead: on.cpuUsPerRequest / off.cpuUsPerRequest - 1,
    runs: runs.map((r) => ({ round: r.round, detection: r.detection, load: r.load, ...r.result })),
  };
};

/**
 * The detector alone: observations shaped like the checked reads above (built as the detection
 * service builds them from an audit entry, `at` parsed from its ISO text), through the
 * benchmark's rules.
 */
const micro = () => {
  const catalog = loadCatalog(DEMO_CATALOG);
  const d = detector(detectionSchema.parse(BENCH_RULES), {
    principals: Object.keys(catalog.principals),
    recipients: Object.keys(catalog.recipients),
    canaries: new Set(["c1", "c2", "c3", "c4", "c5"]),
  });
  const refs = Array.from({ length: 20_000 }, (_, i) => `ref${i}`);
  const t0 = Date.parse("2026-03-03T05:00:00Z");
  // One ISO time per millisecond: 5,000 reads a second share each.
  const times = Array.from({ length: 1000 }, (_, i) => new Date(t0 + i).toISOString());
  const n = 2_000_000;
  const reasons: string[] = [];
  const run = (count: number) => {
    let fired = 0;
    for (let i = 0; i < count; i++) {
      fired += d.observe({
        at: Date.parse(times[Math.floor(i / 5) % times.length]!) + Math.floor(i / 5000) * 1000,
        requestId: "r",
        principal: "talk-app",
        source: "127.0.0.1",
        action: "subject.read",
        effect: "allow",
        purpose: "talk_service",
        subjectRef: refs[i % refs.length]!,
        reasons,
        count: undefined,
        meta: undefined,
      }).length;
    }
    return fired;
  };
  run(200_000); // warm-up
  const start = performance.now();
  const fired = run(n);
  const ns = ((performance.now() - start) * 1e6) / n;
  return { entries: n, nsPerEntry: ns, fired, rules: Object.keys(BENCH_RULES.rules).length };
};

const results: Record<string, unknown> = {};
log("detector alone…");
results.micro = micro();
log(`  ${(results.micro as { nsPerEntry: number }).nsPerEntry.toFixed(0)} ns per audit entry`);

if (args.store === "sqlite" || args.store === "both") {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-detect-"));
  log("sqlite:");
  results.sqlite = { ...(await measure({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "warn" }, home)), date: new Date().toISOString() };
  fs.rmSync(home, { recursive: true, force: true });
}
if (args.store === "postgres" || args.store === "both") {
  const own = process.env.HAECHI_TEST_PG_URL ? undefined : await startPostgres();
  try {
    const db = await freshDatabase(process.env.HAECHI_TEST_PG_URL ?? own!.url);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-detect-pg-"));
    log("postgres:");
    results.postgres = {
      ...(await measure({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "warn", HAECHI_STORE: "postgres", HAECHI_PG_URL: db.url }, home)),
      date: new Date().toISOString(),
    };
    fs.rmSync(home, { recursive: true, force: true });
    await db.drop();
  } finally {
    await own?.stop();
  }
}

const previous = (() => {
  try {
    return JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "results/detection-overhead.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
})();
const target = { maxThroughputOverhead: 0.1 };
writeResult("detection-overhead", {
  connections,
  seconds,
  subjects,
  rounds,
  rules: BENCH_RULES,
  target,
  ...(previous.sqlite ? { sqlite: previous.sqlite } : {}),
  ...(previous.postgres ? { postgres: previous.postgres } : {}),
  ...results,
});
for (const k of ["sqlite", "postgres"] as const) {
  const r = results[k] as { throughputOverhead: number; eventLoopOverhead: number; off: { rps: number }; on: { rps: number } } | undefined;
  if (r) log(`${k}: off ${r.off.rps.toFixed(0)} req/s, on ${r.on.rps.toFixed(0)} req/s; throughput overhead ${(r.throughputOverhead * 100).toFixed(1)}%, event loop ${(r.eventLoopOverhead * 100).toFixed(1)}%`);
}
