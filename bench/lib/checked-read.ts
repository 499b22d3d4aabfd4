/**
 * The checked-read workload shared by bench/checked-read.bench.ts and
 * bench/detection-overhead.bench.ts: a home with `n` subjects imported for talk-app, and a
 * Haechi server (a child process) read by autocannon over those subjects' ids.
 *
 * The catalog is chosen per run (HAECHI_CATALOG):
 *  - `off`: the demo catalog without its `detection` section: no rules run.
 *  - `on`: the demo catalog with every rule type applied to talk-app, at thresholds this load
 *    never reaches (30,000 distinct subjects a minute, 1,000,000 reads per purpose, …), so every
 *    audit entry passes every rule and no reaction fires: the cost of watching, not of acting.
 *    The demo catalog's own rules would throttle the benchmark within a second, as they should.
 */
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { DEMO_CATALOG, loadConfig } from "../../src/config/config.js";
import { buildContainer } from "../../src/container.js";
import { runLoad, startServer, stopServer, type LoadResult } from "./load.js";

export type Detection = "off" | "on";

/** Rules of every type on talk-app, none of which this load reaches. */
export const BENCH_RULES = {
  time_zone: "Asia/Seoul",
  throttle: { requests: 5, per: "PT1M", for: "PT15M" },
  rules: {
    scrape: { type: "enumeration", principals: ["talk-app"], window: "PT1M", distinct: 30_000, probes: 100_000, reaction: "throttle" },
    sustained: { type: "enumeration", principals: ["talk-app"], window: "PT10M", distinct: 100_000, reaction: "suspend" },
    volume: { type: "volume", window: "PT1M", factor: 10, baselines: { "talk-app": { talk_service: 100_000 } }, reaction: "alert" },
    storm: { type: "deny_storm", window: "PT1M", threshold: 100_000, reaction: "suspend" },
    decoy: { type: "canary", reaction: "suspend" },
    hours: { type: "off_hours", hours: { "talk-app": { days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "00:00", to: "24:00" } }, reaction: "alert" },
    exports: { type: "export_volume", window: "P1D", baselines: { "cloud-kr": 1_000_000 }, reaction: "alert" },
    network: { type: "new_network", reaction: "alert" },
  },
};

/** Writes the `off` and `on` catalogs into the home; returns their paths. */
export const writeCatalogs = (home: string): Record<Detection, string> => {
  const demo = parseYaml(fs.readFileSync(DEMO_CATALOG, "utf8")) as Record<string, unknown>;
  const off = { ...demo };
  delete off.detection;
  const files = { off: path.join(home, "catalog-off.yaml"), on: path.join(home, "catalog-on.yaml") };
  fs.writeFileSync(files.off, stringifyYaml(off));
  fs.writeFileSync(files.on, stringifyYaml({ ...demo, detection: BENCH_RULES }));
  return files;
};

/** Imports `n` talk-app subjects (and 5 canaries, so the canary rule has references to check). */
export const prepare = async (env: Record<string, string>, n: number, catalogFile: string) => {
  const config = loadConfig({ ...env, HAECHI_CATALOG: catalogFile });
  const c = await buildContainer(config, { createKeyring: true });
  const file = path.join(config.home, "subjects.ndjson");
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        fields: { user_id: `bench-${i}`, phone: `010-${String(1000 + (i % 9000)).padStart(4, "0")}-${String(i % 10000).padStart(4, "0")}`, name: "김철수", nickname: `nick${i}` },
      }),
    );
  }
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  const ids: string[] = [];
  await c.services.import.run({ file, principal: "talk-app", purpose: "talk_service", onImported: (r) => ids.push(r.id) });
  await c.services.canaries.create({ source: "bench", requestId: "bench-canaries" }, "talk-app", { count: 5 });
  const key = (await c.services.auth.issue("talk-app")).token;
  await c.close();
  return { ids, key };
};

export interface CheckedReadResult extends LoadResult {
  /** Event-loop busy time per request served in the measured window (µs), from /metrics. */
  eventLoopUsPerRequest: number;
  /** Process CPU time (all threads) per request (µs). */
  cpuUsPerRequest: number;
}

const scrape = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  let requests = 0;
  for (const m of text.matchAll(/^haechi_http_requests_total\{[^}]*route="\/v1\/subjects\/:id"[^}]*status="200"[^}]*\} (\d+)$/gm)) requests += Number(m[1]);
  return { busy: value("haechi_event_loop_busy_seconds_total"), cpu: value("process_cpu_seconds_total"), requests };
};

/** Serves `home` with the given catalog and drives checked reads for `seconds` (after a 3 s warm-up). */
export const checkedRead = async (
  env: Record<string, string>,
  catalogFile: string,
  ids: string[],
  key: string,
  opts: { seconds: number; connections: number },
): Promise<CheckedReadResult> => {
  const { url, proc } = await startServer(["src/main.ts", "serve"], { ...env, HAECHI_CATALOG: catalogFile, HAECHI_PORT: "0", HAECHI_LOG_LEVEL: "warn" });
  try {
    const paths = ids.map((id) => `/v1/subjects/${id}?purpose=talk_service&fields=phone,name,nickname`);
    const headers = { authorization: `Bearer ${key}` };
    await runLoad({ url, seconds: 3, connections: opts.connections, headers, paths }); // warm-up
    const before = await scrape(url);
    const r = await runLoad({ url, seconds: opts.seconds, connections: opts.connections, headers, paths });
    const after = await scrape(url);
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`checked reads failed: ${r.non2xx} non-2xx, ${r.errors} errors`);
    const served = Math.max(1, after.requests - before.requests);
    return {
      ...r,
      eventLoopUsPerRequest: ((after.busy - before.busy) * 1e6) / served,
      cpuUsPerRequest: ((after.cpu - before.cpu) * 1e6) / served,
    };
  } finally {
    await stopServer(proc);
  }
};
