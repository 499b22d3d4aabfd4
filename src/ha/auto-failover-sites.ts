/**
 * Three sites on loopback, each with a PostgreSQL 15 node kept by pg_auto_failover's keeper
 * (`pg_autoctl`), and the pg_auto_failover monitor in a fourth, witness site.
 *
 * The monitor is one PostgreSQL node that decides every failover; pg_auto_failover cannot
 * replicate it with automatic failover. Put in any data site it would burn with that site, and
 * if that site held the primary nothing could fail over. So it gets a site of its own: losing one
 * data site then fails over, losing the witness stops failover (not writes) until it is rebuilt,
 * and the machinery still lives in one place. ADR 0016 weighs this against Patroni's etcd quorum.
 *
 * Quorum commit is pg_auto_failover's own: with two standbys and `number_sync_standbys = 1` the
 * monitor sets `synchronous_standby_names = 'ANY 1 (…)'` on the primary, and on failover it asks
 * every standby for its LSN and promotes the most advanced.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { chownTree, freePortBlock, PG_BIN, program, runAs, waitFor } from "./ha-env.js";
import type { HaSites, SiteInfo } from "./ha-types.js";
import { siteRuntime } from "./site-runtime.js";
import { partitionFns, restoreOwnSettings, saveOwnSettings, siteEndpoints, waitHealthy } from "./sites-fns.js";
import { removeSitesDir } from "./ha-env.js";

/** The monitor's health checks and the keepers' timeouts; the monitor's defaults in the comments. */
export interface AutoFailoverTimings {
  /** Milliseconds between the monitor's health checks of each node (5000). */
  healthCheckPeriodMs: number;
  /** Milliseconds before one health check counts as failed (5000). */
  healthCheckTimeoutMs: number;
  /** Retries of a failed health check before the node is marked bad (2). */
  healthCheckMaxRetries: number;
  /** Milliseconds between those retries (2000). */
  healthCheckRetryDelayMs: number;
  /** Milliseconds without a keeper report before a node with a failed health check is unhealthy (20000). */
  unhealthyTimeoutMs: number;
  /** Seconds a primary cut off from the monitor and every standby waits before demoting itself (20). */
  networkPartitionTimeoutS: number;
  /**
   * Milliseconds the monitor waits for an unreachable old primary to demote itself before the new
   * one may take writes (30000). Kept above networkPartitionTimeoutS: an old primary that is only
   * cut off has then stopped writing before the new one starts.
   */
  primaryDemoteTimeoutMs: number;
}

export const AUTO_FAILOVER_TUNED: AutoFailoverTimings = {
  healthCheckPeriodMs: 1000,
  healthCheckTimeoutMs: 1000,
  healthCheckMaxRetries: 1,
  healthCheckRetryDelayMs: 500,
  unhealthyTimeoutMs: 2000,
  networkPartitionTimeoutS: 3,
  primaryDemoteTimeoutMs: 4000,
};

export const AUTO_FAILOVER_DEFAULTS: AutoFailoverTimings = {
  healthCheckPeriodMs: 5000,
  healthCheckTimeoutMs: 5000,
  healthCheckMaxRetries: 2,
  healthCheckRetryDelayMs: 2000,
  unhealthyTimeoutMs: 20000,
  networkPartitionTimeoutS: 20,
  primaryDemoteTimeoutMs: 30000,
};

export interface AutoFailoverSitesOptions {
  timings?: AutoFailoverTimings;
  tmpDir?: string;
}

const SITE_NAMES = ["site1", "site2", "site3"] as const;

/** Creates (does not start) three pg_auto_failover sites and the witness site for the monitor. */
export const autoFailoverSites = async (opts: AutoFailoverSitesOptions = {}): Promise<HaSites> => {
  const timings = opts.timings ?? AUTO_FAILOVER_TUNED;
  const as = runAs();
  const root = fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), "haechi-ha-pgaf-"));
  fs.chmodSync(root, 0o700);
  const ports = await freePortBlock(SITE_NAMES.length + 1);
  const sites: SiteInfo[] = SITE_NAMES.map((name, i) => {
    const dir = path.join(root, name);
    const p = ports[i] as number;
    return { name, dir, dataDir: path.join(dir, "data"), pgPort: p, ports: [p] };
  });
  const monitorPort = ports[SITE_NAMES.length] as number;
  const witness: SiteInfo = {
    name: "witness",
    dir: path.join(root, "witness"),
    dataDir: path.join(root, "witness", "data"),
    pgPort: monitorPort,
    ports: [monitorPort],
  };
  const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const rt = siteRuntime(root, as);
  const user = "postgres";
  const database = "postgres";
  const autoctl = program("pg_autoctl");
  // pg_autoctl keeps its configuration and state under the XDG directories: one set per site.
  const xdg = (s: SiteInfo) => ({
    XDG_CONFIG_HOME: path.join(s.dir, "xdg", "config"),
    XDG_DATA_HOME: path.join(s.dir, "xdg", "data"),
    XDG_RUNTIME_DIR: path.join(s.dir, "xdg", "run"),
  });
  const common = ["--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--pgctl", path.join(PG_BIN, "pg_ctl")];

  const sql = async (port: number, db: string, text: string) => {
    const c = new pg.Client({ host: "127.0.0.1", port, user, database: db, connectionTimeoutMillis: 2000 });
    c.on("error", () => undefined);
    await c.connect();
    try {
      return await c.query(text);
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  const startNode = (s: SiteInfo, create: boolean) => {
    const args = create
      ? ["create", "postgres", "--pgdata", s.dataDir, "--pgport", String(s.pgPort), "--name", s.name,
         "--listen", "127.0.0.1", "--monitor", monitorUrl, ...common, "--run"]
      : ["run", "--pgdata", s.dataDir];
    rt.spawnIn(s.name, s.dir, "pg_autoctl", autoctl, args, xdg(s));
  };

  const { hosts, url, status } = siteEndpoints(sites, rt, user, database);
  let stopped = false;

  const self: HaSites = {
    manager: "pg_auto_failover",
    root,
    sites,
    hosts,
    user,
    database,
    url,
    settings: {
      manager: "pg_auto_failover 2.0 (monitor in a fourth, witness site)",
      "pgautofailover.health_check_period": timings.healthCheckPeriodMs,
      "pgautofailover.health_check_timeout": timings.healthCheckTimeoutMs,
      "pgautofailover.health_check_max_retries": timings.healthCheckMaxRetries,
      "pgautofailover.health_check_retry_delay": timings.healthCheckRetryDelayMs,
      "pgautofailover.node_considered_unhealthy_timeout": timings.unhealthyTimeoutMs,
      "pgautofailover.primary_demote_timeout": timings.primaryDemoteTimeoutMs,
      "timeout.network_partition_timeout": timings.networkPartitionTimeoutS,
      number_sync_standbys: 1,
      synchronous_commit: "on",
      wal_retrieve_retry_interval: "500ms",
    },
    start: async () => {
      for (const s of [witness, ...sites]) {
        fs.mkdirSync(s.dir, { mode: 0o700 });
        for (const d of Object.values(xdg(s))) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      }
      chownTree(root, as);
      // `create monitor` has no --listen: create it, bind it to loopback, then run it.
      await rt.run(autoctl, ["create", "monitor", "--pgdata", witness.dataDir, "--pgport", String(monitorPort), ...common], xdg(witness));
      await rt.run(autoctl, ["config", "set", "--pgdata", witness.dataDir, "postgresql.listen_addresses", "127.0.0.1"], xdg(witness));
      await rt.run(path.join(PG_BIN, "pg_ctl"), ["-D", witness.dataDir, "-m", "fast", "-w", "stop"]).catch(() => undefined);
      rt.spawnIn(witness.name, witness.dir, "pg_autoctl", autoctl, ["run", "--pgdata", witness.dataDir], xdg(witness));
      await waitFor("the monitor", 90_000, async () => {
        const r = await sql(monitorPort, "pg_auto_failover", "SELECT count(*) FROM pgautofailover.formation");
        return r.rowCount === 1 ? true : undefined;
      }, 300);
      for (const statement of [
        `ALTER SYSTEM SET pgautofailover.health_check_period = ${timings.healthCheckPeriodMs}`,
        `ALTER SYSTEM SET pgautofailover.health_check_timeout = ${timings.healthCheckTimeoutMs}`,
        `ALTER SYSTEM SET pgautofailover.health_check_max_retries = ${timings.healthCheckMaxRetries}`,
        `ALTER SYSTEM SET pgautofailover.health_check_retry_delay = ${timings.healthCheckRetryDelayMs}`,
        `ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = ${timings.unhealthyTimeoutMs}`,
        `ALTER SYSTEM SET pgautofailover.primary_demote_timeout = ${timings.primaryDemoteTimeoutMs}`,
      ]) await sql(monitorPort, "pg_auto_failover", statement);
      await sql(monitorPort, "pg_auto_failover", "SELECT pg_reload_conf()");

      // One node at a time: the first becomes the primary, the others clone from it.
      for (const [i, s] of sites.entries()) {
        startNode(s, true);
        await waitFor(`${s.name} to join`, 120_000, async () => {
          const r = await sql(monitorPort, "pg_auto_failover",
            `SELECT reportedstate::text AS s FROM pgautofailover.node WHERE nodename = '${s.name}'`);
          const state = (r.rows[0] as { s?: string } | undefined)?.s;
          return state === (i === 0 ? "single" : "secondary") ? true : undefined;
        }, 300);
        if (i === 0) {
          await sql(s.pgPort, database, "ALTER SYSTEM SET wal_retrieve_retry_interval = '500ms'");
          await sql(s.pgPort, database, "SELECT pg_reload_conf()");
        }
      }
      await sql(monitorPort, "pg_auto_failover", "SELECT pgautofailover.set_formation_number_sync_standbys('default', 1)");
      for (const s of sites) {
        await rt.run(autoctl, ["config", "set", "--pgdata", s.dataDir, "timeout.network_partition_timeout",
          String(timings.networkPartitionTimeoutS)], xdg(s));
      }
      await self.waitHealthy(120_000);
      for (const s of sites) saveOwnSettings(s);
    },
    status,
    waitHealthy: (timeoutMs = 60_000, standbys) => waitHealthy(status, timeoutMs, standbys),
    killSite: (name) => {
      const s = name === witness.name ? witness : sites.find((x) => x.name === name);
      if (s === undefined) throw new Error(`no site ${name}`);
      return rt.kill(s.name, s.dir);
    },
    ...partitionFns(sites, rt, as, (t) => self.waitHealthy(t), (s) => sql(s.pgPort, database, "SELECT pg_reload_conf()")),
    rejoinSite: async (name) => {
      const s = name === witness.name ? witness : sites.find((x) => x.name === name);
      if (s === undefined) throw new Error(`no site ${name}`);
      if (rt.running(s.name, s.dir)) throw new Error(`${name} is running`);
      if (s === witness) {
        rt.spawnIn(witness.name, witness.dir, "pg_autoctl", autoctl, ["run", "--pgdata", witness.dataDir], xdg(witness));
        return;
      }
      // The keeper asks the monitor: an old primary is told to rewind (pg_rewind) and catch up.
      startNode(s, false);
      await self.waitHealthy(180_000);
      if (restoreOwnSettings(s, as)) await sql(s.pgPort, database, "SELECT pg_reload_conf()");
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await rt.stopAll([...sites, witness], 15_000);
      removeSitesDir(root);
    },
  };
  return self;
};
