import fs from "node:fs"; import os from "node:os"; import path from "node:path";
import { loadConfig } from "../src/config/config.js";
import { buildContainer } from "../src/container.js";
const home = fs.mkdtempSync(path.join(os.tmpdir(), "hp-"));
const c = await buildContainer(loadConfig({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }), { createKeyring: true });
const file = path.join(home, "s.ndjson");
fs.writeFileSync(file, Array.from({ length: 5000 }, (_, i) => JSON.stringify({ fields: { user_id: `b${i}`, phone: "010-1234-5678", name: "김철수", nickname: `n${i}` } })).join("\n"));
const ids: string[] = [];
await c.services.import.run({ file, principal: "talk-app", purpose: "talk_service", onImported: (r) => ids.push(r.id) });
const ctx = { principal: "talk-app", source: "127.0.0.1", requestId: "x" };
const run = async (name: string, fn: (i: number) => Promise<unknown>, conc = 32) => {
  let n = 0; const t0 = process.cpuUsage(); const end = Date.now() + 3000;
  await Promise.all(Array.from({ length: conc }, async (_, k) => { let i = k; while (Date.now() < end) { await fn(i); i += conc; n++; } }));
  const cpu = process.cpuUsage(t0); 
  console.log(name.padEnd(24), (n / 3).toFixed(0).padStart(7), "/s", ((cpu.user + cpu.system) / n).toFixed(1), "µs cpu/op");
};
const sids: string[] = [];
for await (const page of c.stores.audit.iterate(0, 10000)) for (const r of page) if (r.subjectRef) { const id = await c.stores.keys.findByAuditRef(r.subjectRef as any); if (id) sids.push(id); }
if (process.env.ONLY !== "read") await run("readBundle", (i) => c.stores.data.readBundle(sids[i % sids.length] as any, ["phone", "name", "nickname"]));
if (process.env.ONLY !== "read") await run("subjectKeys.get", (i) => (c.services.subjects as any) && Promise.resolve());
if (process.env.ONLY !== "read") await run("audit.record", () => c.audit.record({ requestId: "x", principal: "p", source: null, action: "a", effect: "allow", purpose: null, subjectRef: null, fields: [], reasons: [] }));
await run("read (service)", (i) => c.services.subjects.read(ctx, ids[i % ids.length]!, "talk_service", ["phone", "name", "nickname"]));
if (process.env.ONLY !== "read") await run("read (service) c=128", (i) => c.services.subjects.read(ctx, ids[i % ids.length]!, "talk_service", ["phone", "name", "nickname"]), 128);
await c.close();
