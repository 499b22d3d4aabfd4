/**
 * Checked read over HTTP (auth + policy + decrypt of 3 fields + durable audit) against the
 * yardstick, same machine, same load generator, one run:
 *   - SQLite: Haechi vs a bare Fastify JSON route (target ≥ 1/3, p99 ≤ 10 ms at 32 connections)
 *   - PostgreSQL: Haechi vs raw `pg` named point reads (target ≥ 0.4)
 *
 *   node --import tsx bench/checked-read.bench.ts [--store sqlite|postgres|both] [--seconds 10]
 *     [--subjects 20000] [--connections 32] [--detection off|on]
 *
 * `--detection on` serves a catalog with every detection rule type watching the reading
 * principal (bench/lib/checked-read.ts) and writes checked-read-detection.json; the default
 * serves the demo catalog without detection and writes checked-read.json. The overhead of
 * detection is measured in one run, alternating the two, by bench/detection-overhead.bench.ts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freshDatabase, startPostgres } from "../test/helpers/pg.js";
import { checkedRead, prepare, writeCatalogs, type Detection } from "./lib/checked-read.js";
import { writeResult } from "./lib/machine.js";
import { runLoad, startServer, stopServer } from "./lib/load.js";

const { values: args } = parseArgs({
  options: {
    store: { type: "string", default: "both" },
    seconds: { type: "string", default: "10" },
    subjects: { type: "string", default: "20000" },
    connections: { type: "string", default: "32" },
    detection: { type: "string", default: "off" },
  },
});
if (args.detection !== "off" && args.detection !== "on") throw new Error("--detection is off or on");
const detection = args.detection as Detection;
const resultName = detection === "on" ? "checked-read-detection" : "checked-read";
const seconds = Number(args.seconds);
const subjects = Number(args.subjects);
const connections = Number(args.connections);
const log = (s: string) => process.stderr.write(`${s}\n`);

const catalogOf = (home: string) => writeCatalogs(home)[detection];

const results: Record<string, unknown> = {};

if (args.store === "sqlite" || args.store === "both") {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-"));
  const env = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "warn" };
  log(`sqlite: importing ${subjects} subjects…`);
  const catalog = catalogOf(home);
  const { ids, key } = await prepare(env, subjects, catalog);

  log("bare fastify…");
  const bare = await startServer(["bench/servers/bare-fastify.ts"]);
  await runLoad({ url: `${bare.url}/hello`, seconds: 3, connections });
  const bareR = await runLoad({ url: `${bare.url}/hello`, seconds, connections, paths: ["/hello"] });
  await stopServer(bare.proc);
  log(`  bare: ${bareR.rps.toFixed(0)} req/s p99 ${bareR.p99} ms`);

  log(`haechi checked read (sqlite, detection ${detection})…`);
  const h = await checkedRead(env, catalog, ids, key, { seconds, connections });
  log(`  haechi: ${h.rps.toFixed(0)} req/s p99 ${h.p99} ms; ratio ${(h.rps / bareR.rps).toFixed(3)}`);
  results.sqlite = {
    yardstick: { name: "bare Fastify JSON route", ...bareR },
    haechi: { name: `GET /v1/subjects/:id (auth + policy + 3-field decrypt + durable audit, synchronous=FULL; detection ${detection})`, ...h },
    ratio: h.rps / bareR.rps,
    target: { ratio: 1 / 3, p99Ms: 10 },
    met: h.rps / bareR.rps >= 1 / 3 && h.p99 <= 10,
  };
  fs.rmSync(home, { recursive: true, force: true });
}

if (args.store === "postgres" || args.store === "both") {
  const own = process.env.HAECHI_TEST_PG_URL ? undefined : await startPostgres();
  const server = process.env.HAECHI_TEST_PG_URL ?? own!.url;
  try {
    const db = await freshDatabase(server);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-bench-pg-"));
    const env = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "warn", HAECHI_STORE: "postgres", HAECHI_PG_URL: db.url };
    log(`postgres: importing ${subjects} subjects…`);
    const catalog = catalogOf(home);
    const { ids, key } = await prepare(env, subjects, catalog);

    log("raw pg named point reads…");
    const rawResult = await runRawPg(db.url);
    log(`  raw pg: ${rawResult.rps.toFixed(0)} reads/s`);

    log(`haechi checked read (postgres, detection ${detection})…`);
    const h = await checkedRead(env, catalog, ids, key, { seconds, connections });
    log(`  haechi: ${h.rps.toFixed(0)} req/s p99 ${h.p99} ms; ratio ${(h.rps / rawResult.rps).toFixed(3)}`);
    results.postgres = {
      yardstick: { name: "raw pg named point reads (same machine, same concurrency)", ...rawResult },
      haechi: { name: `GET /v1/subjects/:id on PostgreSQL (auth + policy + 3-field decrypt + durable audit; detection ${detection})`, ...h },
      ratio: h.rps / rawResult.rps,
      target: { ratio: 0.4 },
      met: h.rps / rawResult.rps >= 0.4,
    };
    fs.rmSync(home, { recursive: true, force: true });
    await db.drop();
  } finally {
    await own?.stop();
  }
}

/** Raw named point reads in a child process (so it gets its own event loop, like the server). */
async function runRawPg(url: string): Promise<{ rps: number; reads: number; seconds: number; concurrency: number }> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", "bench/servers/raw-pg.ts"], {
      env: { ...process.env, PG_URL: url, SECONDS: String(seconds), CONCURRENCY: String(connections) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!)) : reject(new Error(`raw-pg exited ${code}`))));
  });
}

// A run of one store keeps the other store's last result (each section carries its own date).
const previous = (() => {
  try {
    return JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, `results/${resultName}.json`), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
})();
const stamp = new Date().toISOString();
for (const k of Object.keys(results)) (results[k] as Record<string, unknown>).date = stamp;
writeResult(resultName, {
  detection,
  connections,
  seconds,
  subjects,
  ...(previous.sqlite ? { sqlite: previous.sqlite } : {}),
  ...(previous.postgres ? { postgres: previous.postgres } : {}),
  ...results,
});
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
