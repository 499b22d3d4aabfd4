/**
 * The console's access charts over a large audit log (ADR 0013): what the first page view costs
 * when the whole log falls in the window (the worst case: every entry read once), what a later
 * view costs (only what was appended since), and the memory the counts hold.
 *
 *   node --import tsx bench/console-activity.bench.ts [--store sqlite|postgres] [--entries 10000000] [--append 10000]
 *
 * Load: --entries entries over the 30 days before "now" (the real canonical form and keyed chain,
 * written through the store's appendBatch): eight demo principals reading, writing and looking up
 * subjects for their purposes, 1 % denials. Then, measured: the first `activity()` (binary search
 * for the window's first entry, then every row in pages, each body's purpose read without a full
 * parse), a second one with nothing new, and one after --append more entries.
 * Writes bench/results/console-activity-<store>.json.
 */
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import type { AuditEntry } from "../src/audit/audit-types.js";
import { chainHasher } from "../src/audit/chain.js";
import { fixedClock } from "../src/core/clock.js";
import { consoleService } from "../src/services/console-service.js";
import { appendChained } from "./lib/audit-fill.js";
import { MiB, openBenchContainer, progress } from "./lib/bench-container.js";
import { writeResult } from "./lib/machine.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "sqlite" },
    entries: { type: "string", default: "10000000" },
    append: { type: "string", default: "10000" },
  },
});
const kind = values.store;
if (kind !== "sqlite" && kind !== "postgres") throw new Error("--store must be sqlite or postgres");
const N = Number(values.entries);
const APPEND = Number(values.append);

const { c, dispose } = await openBenchContainer("console-activity", kind);
const END = Date.parse("2026-11-20T12:00:00.000Z");
const SPAN = 30 * 24 * 3600_000 - 3600_000;
const clock = fixedClock(new Date(END));
const PRINCIPALS: [string, string, string][] = [
  ["talk-app", "subject.read", "talk_service"],
  ["talk-app", "subject.lookup", "talk_service"],
  ["openchat-app", "subject.read", "openchat_service"],
  ["pay-app", "subject.read", "pay_service"],
  ["pay-app", "subject.update", "pay_service"],
  ["marketing-svc", "subject.read", "marketing"],
  ["security-ops", "subject.read", "security_monitoring"],
  ["support-console", "subject.read", "customer_support"],
];
const chain = chainHasher(c.keyring.secrets.chainKey);
const ref = (i: number) => `ar_${crypto.createHash("sha256").update(`r${i % 1_000_000}`).digest().subarray(0, 16).toString("base64url")}`;
const entryAt = (k: number, at: number): AuditEntry => {
  const [principal, action, purpose] = PRINCIPALS[(k * 2654435761) % PRINCIPALS.length]!;
  return {
    at: new Date(at).toISOString(),
    requestId: `r${k.toString(36)}`,
    principal,
    source: `10.1.${(k >> 8) & 255}.${k & 255}`,
    action,
    effect: k % 100 === 0 ? "deny" : "allow",
    purpose,
    subjectRef: ref(k * 40503),
    fields: ["name", "phone"],
    reasons: k % 100 === 0 ? ["CONSENT_ABSENT"] : [],
  };
};
const append = async (from: number, n: number, at: (k: number) => number, label: string) => {
  const t0 = performance.now();
  for (let done = 0; done < n; ) {
    const m = Math.min(20_000, n - done);
    await appendChained(c.stores.audit, chain, Array.from({ length: m }, (_, i) => entryAt(from + done + i, at(from + done + i))));
    done += m;
    progress(label, done, n, t0);
  }
  process.stderr.write("\n");
  return (performance.now() - t0) / 1000;
};

const fillSeconds = await append(0, N, (k) => END - SPAN + Math.floor((k * SPAN) / N), "audit entries");
const svc = consoleService({ clock, store: c.stores.audit, flush: async () => undefined, verify: () => c.services.audit.verify() });
const loadavg = Number((await import("node:os")).loadavg()[0]!.toFixed(2));

const heap0 = process.memoryUsage().heapUsed;
// The event loop while the first read runs: the longest a 50 ms timer was late.
let lagMax = 0;
let last = performance.now();
const lag = setInterval(() => {
  const now = performance.now();
  lagMax = Math.max(lagMax, now - last - 50);
  last = now;
}, 50);
let t0 = performance.now();
// A page view waits 2 s at most and shows what is counted so far; the whole first read, timed:
const partial = await svc.activity("30d", "purpose");
const full = await svc.warm();
const firstSeconds = (performance.now() - t0) / 1000;
clearInterval(lag);
const first = await svc.activity("30d", "purpose");
const heap1 = process.memoryUsage().heapUsed;
t0 = performance.now();
await svc.activity("30d", "principal");
const againMs = performance.now() - t0;
await append(N, APPEND, () => END - 1000, "appended");
t0 = performance.now();
const after = await svc.activity("48h", "purpose");
const incrementalMs = performance.now() - t0;

const result = {
  store: kind,
  entries: N,
  fillSeconds: Number(fillSeconds.toFixed(1)),
  firstView: { answeredAfterMs: partial.stats.msLast, rowsReadByThen: partial.stats.readLast, complete: partial.stats.complete },
  first: { seconds: Number(firstSeconds.toFixed(2)), rowsRead: full.readTotal, rowsPerSecond: Math.round(full.readTotal / firstSeconds), counted: first.total, eventLoopLagMaxMs: Math.round(lagMax) },
  again: { ms: Number(againMs.toFixed(1)), rowsRead: 0 },
  incremental: { appended: APPEND, ms: Number(incrementalMs.toFixed(1)), rowsRead: after.stats.readLast },
  heapMiB: { before: MiB(heap0), after: MiB(heap1) },
  loadavg,
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${writeResult(`console-activity-${kind}`, result)}`);
await dispose(false);
