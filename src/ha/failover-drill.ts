/**
 * The fire drill: a small steady write load through a multi-host connection, the primary's site
 * killed with SIGKILL mid-stream, failover left to the HA manager, and then the proof: how long
 * writes failed, and whether every acknowledged write is on the new primary.
 *
 * A write is acknowledged when its COMMIT returned success to the client. With
 * `synchronous_commit = on` and quorum commit that means a standby in another site has flushed it.
 * A write whose outcome the client never saw (connection lost, client-side timeout) is "unknown":
 * it may or may not be there, and it is never retried under the same number. Retrying it would be
 * wrong in a subtle way: after a cancelled wait for the standby the row is already visible on the
 * primary, so an `INSERT … ON CONFLICT DO NOTHING` retry writes no WAL, waits for no standby, and
 * would be "acknowledged" without being replicated.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { sleep } from "./ha-env.js";
import type { HaSites, NodeStatus } from "./ha-types.js";

export interface WriterOptions {
  user: string;
  database: string;
  /** Give up on a connection attempt after this long (a dead site on loopback refuses at once). */
  connectTimeoutMs?: number;
  /** Give up on a write after this long; its outcome is then unknown. */
  writeTimeoutMs?: number;
}

/**
 * A client that finds the writable host itself, and again after every failure: node-postgres
 * (and Haechi's pool, `splitHosts` in pg-pool.ts) picks a host only when it connects.
 */
export const failoverWriter = (hosts: ReadonlyArray<{ host: string; port: number }>, opts: WriterOptions) => {
  let client: pg.Client | undefined;
  let current: { host: string; port: number } | undefined;
  const drop = () => {
    const c = client;
    client = undefined;
    current = undefined;
    c?.end().catch(() => undefined);
  };
  const connect = async (h: { host: string; port: number }) => {
    const c = new pg.Client({
      host: h.host,
      port: h.port,
      user: opts.user,
      database: opts.database,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 1000,
      query_timeout: opts.writeTimeoutMs ?? 3000,
      application_name: "haechi-drill",
    });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  };
  /** The first host that accepts writes, or undefined when none does (yet). */
  const findWritable = async (): Promise<boolean> => {
    for (const h of hosts) {
      let c: pg.Client | undefined;
      try {
        c = await connect(h);
        // What target_session_attrs=read-write asks: a promoted node may still refuse writes
        // (pg_auto_failover keeps it read-only until the old primary is known to be demoted).
        const r = await c.query<{ transaction_read_only: string }>("SHOW transaction_read_only");
        if (r.rows[0]?.transaction_read_only === "off") {
          client = c;
          current = h;
          return true;
        }
      } catch {
        // down, starting, or refusing: try the next host
      }
      await c?.end().catch(() => undefined);
    }
    return false;
  };
  return {
    /** Runs `text` on the writable host; finds it first if needed. Throws on any failure. */
    query: async <R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> => {
      if (client === undefined && !(await findWritable())) throw new Error("no writable host");
      try {
        return await (client as pg.Client).query<R>(text, values);
      } catch (e) {
        drop();
        throw e;
      }
    },
    host: () => current,
    close: () => drop(),
  };
};

export interface DrillOptions {
  /** Pause between writes (default 20 ms: about 40–50 writes a second, one at a time). */
  writeIntervalMs?: number;
  /** Writes before the fire (default 2 s). */
  warmupMs?: number;
  /** Writes after service returned (default 1 s). */
  afterMs?: number;
  /** Give up waiting for failover after this long (default 90 s). */
  maxWaitMs?: number;
  /** Give up on a single write after this long (default 3 s); it counts as unknown. */
  writeTimeoutMs?: number;
  /** Which site burns: the primary's (default) or a standby's (writes must not stop at all). */
  kill?: "primary" | "standby";
  log?: (line: string) => void;
}

export interface CycleResult {
  manager: string;
  run: string;
  killedSite: string;
  /** Patroni: the site whose etcd member led etcd at the fire (a fire that takes it costs more). */
  dcsLeaderAtKill?: string;
  killedProcesses: number;
  newPrimary: string;
  killedAt: string;
  /** From the kill to the first acknowledged write after it. */
  unavailableMs: number;
  /** From the last acknowledged write before the kill to the first after it. */
  gapMs: number;
  /** The longest time between two consecutive acknowledged writes after the kill. */
  maxGapMs: number;
  /** Failed write attempts during the window (outcome unknown). */
  failedAttempts: number;
  acknowledged: number;
  acknowledgedBeforeKill: number;
  /** Acknowledged writes missing on the new primary: must be empty. */
  lost: number[];
  /** Unknown writes that turned out to be committed (harmless; shows why retries need care). */
  unknownButPresent: number;
  timelineBefore: number | null;
  timelineAfter: number | null;
  writeLatencyMs: { p50: number; p99: number };
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};

const round = (x: number) => Math.round(x * 10) / 10;

/**
 * One kill-and-failover cycle on healthy sites. Does not rejoin the killed site: call
 * `sites.rejoinSite(result.killedSite)` for the next cycle.
 */
export const runFailoverCycle = async (sites: HaSites, opts: DrillOptions = {}): Promise<CycleResult> => {
  const log = opts.log ?? (() => undefined);
  const interval = opts.writeIntervalMs ?? 20;
  const run = `r${Date.now().toString(36)}`;
  const before = await sites.waitHealthy(60_000);
  const primary = before.find((n) => n.role === "primary") as NodeStatus;
  const victim = opts.kill === "standby" ? (before.find((n) => n.role === "standby") as NodeStatus) : primary;
  const writer = failoverWriter(sites.hosts, { user: sites.user, database: sites.database, writeTimeoutMs: opts.writeTimeoutMs ?? 3000 });
  await writer.query("CREATE TABLE IF NOT EXISTS drill_writes (run text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))");

  const acked: Array<{ seq: number; t: number }> = [];
  const unknown: number[] = [];
  const latencies: number[] = [];
  let seq = 0;
  let stop = false;
  let killT = Number.POSITIVE_INFINITY;
  let firstAfter: number | undefined;
  const load = (async () => {
    while (!stop) {
      seq += 1;
      const n = seq;
      const t0 = performance.now();
      try {
        await writer.query("INSERT INTO drill_writes (run, seq) VALUES ($1, $2)", [run, n]);
        const t = performance.now();
        acked.push({ seq: n, t });
        if (t0 < killT) latencies.push(t - t0);
        if (t0 > killT && firstAfter === undefined) firstAfter = t;
        await sleep(interval);
      } catch {
        unknown.push(n);
        await sleep(50);
      }
    }
  })();

  await sleep(opts.warmupMs ?? 2000);
  const ackedBefore = acked.length;
  if (ackedBefore === 0) {
    stop = true;
    await load;
    writer.close();
    throw new Error("no write was acknowledged before the fire");
  }
  const dcsLeader = await sites.dcsLeader?.();
  killT = performance.now();
  const killedAt = new Date().toISOString();
  const killed = sites.killSite(victim.site);
  log(`killed ${victim.site} (${victim.role}, ${killed.length} processes) at ${killedAt}`);
  const deadline = killT + (opts.maxWaitMs ?? 90_000);
  while (firstAfter === undefined && performance.now() < deadline) await sleep(20);
  if (firstAfter !== undefined) await sleep(opts.afterMs ?? 1000);
  stop = true;
  await load;
  if (firstAfter === undefined) {
    writer.close();
    throw new Error(`no write succeeded within ${opts.maxWaitMs ?? 90_000} ms of killing ${victim.site}`);
  }
  const lastBefore = [...acked].reverse().find((a) => a.t < killT);
  let maxGap = 0;
  let prev = lastBefore?.t ?? killT;
  for (const a of acked) {
    if (a.t <= prev) continue;
    maxGap = Math.max(maxGap, a.t - prev);
    prev = a.t;
  }

  // The proof: every acknowledged write is on the new primary.
  const host = writer.host();
  const present = new Set(
    (await writer.query<{ seq: string }>("SELECT seq FROM drill_writes WHERE run = $1", [run])).rows.map((r) => Number(r.seq)),
  );
  writer.close();
  const lost = acked.filter((a) => !present.has(a.seq)).map((a) => a.seq);
  const after = await sites.status();
  const newPrimary = after.find((n) => n.role === "primary");
  const result: CycleResult = {
    manager: sites.manager,
    run,
    killedSite: victim.site,
    ...(dcsLeader === undefined ? {} : { dcsLeaderAtKill: dcsLeader }),
    killedProcesses: killed.length,
    newPrimary: newPrimary?.site ?? sites.sites.find((s) => s.pgPort === host?.port)?.name ?? "?",
    killedAt,
    unavailableMs: round(firstAfter - killT),
    gapMs: round(firstAfter - (lastBefore?.t ?? killT)),
    maxGapMs: round(maxGap),
    failedAttempts: unknown.length,
    acknowledged: acked.length,
    acknowledgedBeforeKill: ackedBefore,
    lost,
    unknownButPresent: unknown.filter((n) => present.has(n)).length,
    timelineBefore: primary.timeline,
    timelineAfter: newPrimary?.timeline ?? null,
    writeLatencyMs: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)) },
  };
  log(`${result.killedSite} → ${result.newPrimary}: ${result.unavailableMs} ms unavailable, ${result.acknowledged} acknowledged, ${lost.length} lost`);
  return result;
};

/** Checks that a (rejoined) node holds every row the primary holds for `run`s so far. */
export const compareWithPrimary = async (sites: HaSites): Promise<{ site: string; missing: number }[]> => {
  const nodes = await sites.waitHealthy(60_000);
  const count = async (port: number) => {
    const c = new pg.Client({ host: "127.0.0.1", port, user: sites.user, database: sites.database, connectionTimeoutMillis: 2000 });
    c.on("error", () => undefined);
    await c.connect();
    try {
      const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM drill_writes");
      return Number(r.rows[0]?.n ?? 0);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const primary = nodes.find((n) => n.role === "primary") as NodeStatus;
  const port = (name: string) => sites.sites.find((s) => s.name === name)?.pgPort as number;
  // Let the standbys replay what the primary has now.
  await sleep(500);
  const want = await count(port(primary.site));
  const out: { site: string; missing: number }[] = [];
  for (const n of nodes) if (n.role === "standby") out.push({ site: n.site, missing: Math.max(0, want - (await count(port(n.site)))) });
  return out;
};
