/**
 * Audit chain verification throughput (target ≥ 500,000 entries/s).
 *
 *   node --import tsx bench/audit-verify.bench.ts [--entries 1000000] [--page 10000] [--deep]
 *
 * Builds N realistic entries (≈ 250-byte canonical bodies) chained in memory, then times
 * verifyChain over them in pages, as a store's `iterate` would hand them over. Writes
 * bench/results/audit-verify.json (or audit-verify-deep.json with --deep).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { AuditRow } from "../src/core/ports.js";
import type { AuditEntry } from "../src/audit/audit-types.js";
import { canonicalize } from "../src/audit/canonical.js";
import { chainHasher, ZERO_HASH } from "../src/audit/chain.js";
import { verifyChain } from "../src/audit/verify.js";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "1000000" },
    page: { type: "string", default: "10000" },
    deep: { type: "boolean", default: false },
  },
});
const N = Number(values.entries);
const pageSize = Number(values.page);
const TARGET = 500_000;

const ACTIONS = ["subject.read", "subject.read", "subject.read", "lookup", "consent.grant", "subject.create"];
const PURPOSES = ["order-fulfilment", "customer-support", "marketing-email", null];
const FIELDS = [["name", "phone", "address"], ["email"], ["name", "birthDate"], []];

const entryAt = (i: number, t0: number): AuditEntry => ({
  at: new Date(t0 + i * 7).toISOString(),
  requestId: `req_${(i * 2654435761 >>> 0).toString(36).padStart(7, "0")}${i.toString(36)}`,
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

const key = randomBytes(32);
const hasher = chainHasher(key);
const t0 = Date.parse("2025-01-01T00:00:00.000Z");
console.log(`building ${N.toLocaleString()} entries…`);
const rows: AuditRow[] = new Array(N);
let prev = ZERO_HASH;
let bodyBytes = 0;
for (let i = 0; i < N; i++) {
  const e = entryAt(i, t0);
  const body = canonicalize(e);
  bodyBytes += body.length;
  const hash = hasher.hash(prev, i + 1, body);
  rows[i] = { seq: i + 1, at: new Date(e.at), subjectRef: e.subjectRef, principal: e.principal, action: e.action, body, hash };
  prev = hash;
}
console.log(`mean body ${(bodyBytes / N).toFixed(0)} bytes`);

async function* pages(): AsyncIterable<AuditRow[]> {
  for (let i = 0; i < N; i += pageSize) yield rows.slice(i, i + pageSize);
}

const start = process.hrtime.bigint();
const result = await verifyChain(pages(), {
  chainKey: key,
  checkBodies: values.deep,
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
if (!result.ok || result.entries !== N) {
  console.error("verification failed", result.problems.slice(0, 5));
  process.exit(1);
}
const entriesPerSecond = Math.round(N / seconds);
const out = {
  name: values.deep ? "audit-verify-deep" : "audit-verify",
  date: new Date().toISOString(),
  machine: { cpus: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version },
  entries: N,
  seconds: Number(seconds.toFixed(3)),
  entriesPerSecond,
  target: values.deep ? null : TARGET,
  meanBodyBytes: Math.round(bodyBytes / N),
  threads: 1,
  pageSize,
};
const verdict = values.deep ? "(deep mode: no target)" : `target ${TARGET.toLocaleString()}: ${entriesPerSecond >= TARGET ? "met" : "MISSED"}`;
console.log(`${entriesPerSecond.toLocaleString()} entries/s (${seconds.toFixed(3)} s) — ${verdict}`);
const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${out.name}.json`), JSON.stringify(out, null, 2) + "\n");
