import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../src/config/config.js";
import { buildContainer } from "../src/container.js";
const home = "/tmp/hp-home";
const c = await buildContainer(loadConfig({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }));
const ids: string[] = JSON.parse(fs.readFileSync(`${home}/ids.json`, "utf8"));
const ctx = { principal: "talk-app", source: "127.0.0.1", requestId: "x" };
const run = async (name: string, conc: number, fn: (i: number) => Promise<unknown>) => {
  let n = 0; const t0 = process.cpuUsage(); const e0 = performance.eventLoopUtilization(); const w0 = Date.now(); const end = w0 + Number(process.env.SECS ?? 3) * 1000;
  await Promise.all(Array.from({ length: conc }, async (_, k) => { let i = k; while (Date.now() < end) { await fn(i); i += conc; n++; } }));
  const cpu = process.cpuUsage(t0); const elu = performance.eventLoopUtilization(e0); const wall = Date.now() - w0;
  console.log(name.padEnd(28), `c=${conc}`.padEnd(6), (n / (wall / 1000)).toFixed(0).padStart(7), "/s", ((cpu.user + cpu.system) / n).toFixed(1).padStart(6), "µs cpu/op all threads;", ((elu.utilization * wall * 1000) / n).toFixed(1).padStart(6), "µs main/op; ELU", elu.utilization.toFixed(2));
};
for (const conc of [32, 128]) {
  await run("read", conc, (i) => c.services.subjects.read(ctx, ids[i % ids.length]!, "talk_service", ["phone", "name", "nickname"]));
}
await run("audit.record", 32, () => c.audit.record({ requestId: "x", principal: "p", source: null, action: "a", effect: "allow", purpose: null, subjectRef: null, fields: [], reasons: [] }));
await c.close();
