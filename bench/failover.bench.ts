/**
 * The fire drill, measured (issue 7, item 4): three sites on loopback with an HA manager, a steady
 * write load, the primary's site SIGKILLed mid-stream, failover left to the manager, every
 * acknowledged write checked on the new primary, the killed site rejoined (pg_rewind), and again.
 *
 *   node --import tsx bench/failover.bench.ts [--manager patroni|pg_auto_failover|both] [--runs 6]
 *        [--defaults] [--interval 20]
 *
 * Measured per cycle: the unavailability window (kill → first acknowledged write after it,
 * through a client that re-finds the writable host after every failure), writes lost (must be 0),
 * the rejoin time, and rows missing on the rejoined standby. --defaults runs the manager's default
 * timings instead of the tuned ones. Writes bench/results/failover-<manager>[-defaults].json.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { AUTO_FAILOVER_DEFAULTS, AUTO_FAILOVER_TUNED, autoFailoverSites } from "../src/ha/auto-failover-sites.js";
import { compareWithPrimary, type CycleResult, runFailoverCycle } from "../src/ha/failover-drill.js";
import { missingPrerequisites } from "../src/ha/ha-env.js";
import { HA_MANAGERS, type HaManager, type HaSites } from "../src/ha/ha-types.js";
import { PATRONI_DEFAULTS, PATRONI_TUNED, patroniSites } from "../src/ha/patroni-sites.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    manager: { type: "string", default: "both" },
    runs: { type: "string", default: "6" },
    defaults: { type: "boolean", default: false },
    interval: { type: "string", default: "20" },
  },
});
const runs = Number(values.runs);
const managers: HaManager[] = values.manager === "both" ? [...HA_MANAGERS] : [values.manager as HaManager];
for (const m of managers) if (!HA_MANAGERS.includes(m)) throw new Error(`unknown manager ${m}`);

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] ?? 0;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, min: s[0] ?? 0, median: q(0.5), mean: Math.round(mean), max: s[s.length - 1] ?? 0 };
};

let current: HaSites | undefined;
const cleanup = () => {
  void current?.stop().finally(() => process.exit(130));
};
process.once("SIGINT", cleanup);
process.once("SIGTERM", cleanup);

for (const manager of managers) {
  const missing = missingPrerequisites(manager);
  if (missing !== undefined) {
    console.error(`${manager}: skipped, ${missing}`);
    continue;
  }
  const sites =
    manager === "patroni"
      ? await patroniSites({ timings: values.defaults ? PATRONI_DEFAULTS : PATRONI_TUNED })
      : await autoFailoverSites({ timings: values.defaults ? AUTO_FAILOVER_DEFAULTS : AUTO_FAILOVER_TUNED });
  current = sites;
  const cycles: Array<CycleResult & { rejoinMs: number; missingAfterRejoin: number; loadAverage1m: number }> = [];
  const errors: string[] = [];
  try {
    const t0 = Date.now();
    await sites.start();
    const startMs = Date.now() - t0;
    console.log(`${manager}: sites up in ${(startMs / 1000).toFixed(1)} s (${sites.root})`);
    for (let i = 0; i < runs; i++) {
      try {
        // The machine is shared: the load at the fire is part of the result.
        const loadAverage1m = Math.round((os.loadavg()[0] ?? 0) * 10) / 10;
        const r = await runFailoverCycle(sites, { writeIntervalMs: Number(values.interval), maxWaitMs: values.defaults ? 180_000 : 90_000 });
        const t = Date.now();
        await sites.rejoinSite(r.killedSite);
        const rejoinMs = Date.now() - t;
        const cmp = await compareWithPrimary(sites);
        const missingAfterRejoin = cmp.find((c) => c.site === r.killedSite)?.missing ?? -1;
        cycles.push({ ...r, rejoinMs, missingAfterRejoin, loadAverage1m });
        console.log(
          `${manager} #${i + 1}: ${r.killedSite} killed (${r.killedProcesses} processes` +
            `${r.dcsLeaderAtKill ? `, etcd leader in ${r.dcsLeaderAtKill}` : ""}) → ${r.newPrimary} in ` +
            `${(r.unavailableMs / 1000).toFixed(2)} s; ${r.acknowledged} acknowledged, ${r.lost.length} lost; ` +
            `rejoined in ${(rejoinMs / 1000).toFixed(1)} s, ${missingAfterRejoin} rows missing there`,
        );
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        errors.push(msg);
        console.error(`${manager} #${i + 1}: FAILED: ${msg}`);
        break;
      }
    }
    const windows = cycles.map((c) => c.unavailableMs);
    const file = writeResult(values.defaults ? `failover-${manager}-defaults` : `failover-${manager}`, {
      manager,
      timings: values.defaults ? "defaults" : "tuned",
      settings: sites.settings,
      topology: manager === "patroni"
        ? "3 sites on loopback, each: PostgreSQL 15 + Patroni + etcd member"
        : "3 sites on loopback, each: PostgreSQL 15 + pg_autoctl keeper; monitor in a 4th (witness) site",
      load: `one writer, INSERT autocommit, ${values.interval} ms between writes, re-finds the writable host after each failure`,
      window: "SIGKILL of every process of the primary's site → first acknowledged write after it",
      startMs,
      runs: cycles.length,
      unavailableMs: stats(windows),
      target: { unavailableMs: 10_000, lost: 0 },
      lostTotal: cycles.reduce((n, c) => n + c.lost.length, 0),
      acknowledgedTotal: cycles.reduce((n, c) => n + c.acknowledged, 0),
      rejoinMs: stats(cycles.map((c) => c.rejoinMs)),
      errors,
      cycles,
    });
    console.log(`${manager}: window ${JSON.stringify(stats(windows))} ms → ${file}`);
  } finally {
    await sites.stop();
    current = undefined;
  }
}
