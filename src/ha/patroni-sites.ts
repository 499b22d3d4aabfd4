/**
 * Three sites on loopback, each with a PostgreSQL 15 node run by Patroni and an etcd member: the
 * etcd quorum (2 of 3) spans the sites, so no single site holds the failover machinery.
 *
 * Quorum commit: Patroni 3.0.2 (Debian 12) has no quorum mode (`synchronous_mode: quorum` came
 * with Patroni 4), and its `synchronous_mode` names one standby at a time (priority), which blocks
 * writes until Patroni notices a lost sync standby and names the other. So synchronous_mode stays
 * off and `synchronous_standby_names = 'ANY 1 (site1,site2,site3)'` is set as a plain PostgreSQL
 * parameter (Patroni passes it through unchanged when it does not manage it; a node never counts
 * itself): every commit waits for either standby. On failover Patroni promotes only a standby
 * that sees no other member ahead of it (`_is_healthiest_node`), so the most advanced standby,
 * which holds every acknowledged commit, wins. See docs/adr/0016-ha-failover.md.
 */
import type { ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chownTree, freePortBlock, PG_BIN, program, runAs, waitFor } from "./ha-env.js";
import type { HaSites, SiteInfo } from "./ha-types.js";
import { nodeStatus } from "./node-status.js";
import { siteRuntime } from "./site-runtime.js";
import { partitionFns, restoreOwnSettings, saveOwnSettings, siteEndpoints, waitHealthy } from "./sites-fns.js";
import { removeSitesDir } from "./ha-env.js";

/** The timings (seconds) of the measured, tuned configuration; Patroni's defaults are 30/10/10. */
export interface PatroniTimings {
  /** The leader key's lease: how long a dead primary keeps the lock. */
  ttl: number;
  /** Seconds between HA loops. */
  loopWait: number;
  /** How long DCS and PostgreSQL operations are retried before the node gives up its role. */
  retryTimeout: number;
  /** etcd's heartbeat and election timeout (milliseconds); etcd's defaults are 100 / 1000. */
  etcdHeartbeatMs: number;
  etcdElectionMs: number;
}

export const PATRONI_TUNED: PatroniTimings = { ttl: 5, loopWait: 1, retryTimeout: 2, etcdHeartbeatMs: 50, etcdElectionMs: 500 };
export const PATRONI_DEFAULTS: PatroniTimings = { ttl: 30, loopWait: 10, retryTimeout: 10, etcdHeartbeatMs: 100, etcdElectionMs: 1000 };

export interface PatroniSitesOptions {
  timings?: PatroniTimings;
  /** Parent of the temporary directory (default: the OS's). */
  tmpDir?: string;
}

const SCOPE = "haechi";
const SITE_NAMES = ["site1", "site2", "site3"] as const;

/** Creates (does not start) three Patroni sites. */
export const patroniSites = async (opts: PatroniSitesOptions = {}): Promise<HaSites> => {
  const timings = opts.timings ?? PATRONI_TUNED;
  const as = runAs();
  const root = fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), "haechi-ha-patroni-"));
  fs.chmodSync(root, 0o700);
  // Four ports per site: PostgreSQL, Patroni's REST API, etcd client, etcd peer.
  const ports = await freePortBlock(4 * SITE_NAMES.length);
  const port = (i: number, k: number) => ports[4 * i + k] as number;
  const sites: SiteInfo[] = SITE_NAMES.map((name, i) => {
    const dir = path.join(root, name);
    return { name, dir, dataDir: path.join(dir, "data"), pgPort: port(i, 0), ports: [0, 1, 2, 3].map((k) => port(i, k)) };
  });
  const rest = (i: number) => port(i, 1);
  const etcdClient = (i: number) => port(i, 2);
  const etcdPeer = (i: number) => port(i, 3);
  const rt = siteRuntime(root, as);
  const token = `haechi-${crypto.randomBytes(4).toString("hex")}`;
  const initialCluster = SITE_NAMES.map((n, i) => `${n}=http://127.0.0.1:${etcdPeer(i)}`).join(",");
  const ssn = `ANY 1 (${SITE_NAMES.join(",")})`;
  const user = "postgres";
  const database = "postgres";

  const patroniConfig = (i: number) => {
    const s = sites[i] as SiteInfo;
    return {
      scope: SCOPE,
      namespace: "/haechi/",
      name: s.name,
      log: { level: "INFO" },
      restapi: { listen: `127.0.0.1:${rest(i)}`, connect_address: `127.0.0.1:${rest(i)}` },
      // etcd's v2 API, not etcd3: Patroni 3.0.2's etcd3 `update_leader` re-grants an expired lease
      // and writes the leader key without comparing it, so a primary that was cut off longer than
      // the ttl takes the lock back from the new primary when it resumes, and the writes
      // acknowledged meanwhile are rewound away (site-loss.test.ts found it; ADR 0016). Over v2 it
      // writes with prevValue = its own name, which fails once another member holds the key.
      etcd: { hosts: SITE_NAMES.map((_, j) => `127.0.0.1:${etcdClient(j)}`) },
      bootstrap: {
        dcs: {
          ttl: timings.ttl,
          loop_wait: timings.loopWait,
          retry_timeout: timings.retryTimeout,
          maximum_lag_on_failover: 1048576,
          // Ours, not Patroni's: see the module comment.
          synchronous_mode: false,
          postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            parameters: {
              synchronous_standby_names: ssn,
              synchronous_commit: "on",
              wal_level: "replica",
              wal_log_hints: "on",
              max_wal_senders: 10,
              max_replication_slots: 10,
              wal_keep_size: "128MB",
              hot_standby: "on",
              // A standby whose primary died retries every 5 s by default; the surviving standby
              // must reach the new primary at once, since every commit waits for it (ANY 1).
              wal_retrieve_retry_interval: "500ms",
              max_connections: 40,
              shared_buffers: "32MB",
            },
          },
        },
        initdb: [{ encoding: "UTF8" }, "no-locale", { "auth-local": "trust" }, { "auth-host": "trust" }],
      },
      postgresql: {
        listen: `127.0.0.1:${s.pgPort}`,
        connect_address: `127.0.0.1:${s.pgPort}`,
        data_dir: s.dataDir,
        bin_dir: PG_BIN,
        pgpass: path.join(s.dir, "pgpass"),
        // Loopback with trust: a drill. Production uses scram-sha-256 and TLS between sites.
        pg_hba: [
          "local all all trust",
          "host all all 127.0.0.1/32 trust",
          "host replication all 127.0.0.1/32 trust",
        ],
        authentication: {
          superuser: { username: user, password: "drill" },
          replication: { username: "replicator", password: "drill" },
          rewind: { username: user, password: "drill" },
        },
        parameters: { unix_socket_directories: s.dir },
      },
      tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
    };
  };

  /** Each site's running etcd member (the manual promotion restarts it alone). */
  const etcdOf = new Map<string, ChildProcess>();
  const startEtcd = (i: number, extra: string[] = []) => {
    const s = sites[i] as SiteInfo;
    const child = rt.spawnIn(s.name, s.dir, "etcd", program("etcd"), [
      ...extra,
      "--name", s.name,
      "--data-dir", path.join(s.dir, "etcd"),
      "--listen-client-urls", `http://127.0.0.1:${etcdClient(i)}`,
      "--advertise-client-urls", `http://127.0.0.1:${etcdClient(i)}`,
      "--listen-peer-urls", `http://127.0.0.1:${etcdPeer(i)}`,
      "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeer(i)}`,
      "--initial-cluster", initialCluster,
      "--initial-cluster-token", token,
      "--initial-cluster-state", "new",
      "--heartbeat-interval", String(timings.etcdHeartbeatMs),
      "--election-timeout", String(timings.etcdElectionMs),
      "--listen-metrics-urls", "",
      // Patroni talks to etcd over the v2 API (see patroniConfig).
      "--enable-v2=true",
    ]);
    etcdOf.set(s.name, child);
  };

  const startPatroni = (i: number) => {
    const s = sites[i] as SiteInfo;
    rt.spawnIn(s.name, s.dir, "patroni", program("patroni"), [path.join(s.dir, "patroni.json")]);
  };

  const etcdHealthy = (i: number) =>
    waitFor(`etcd of ${sites[i]?.name}`, 30_000, async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient(i)}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return body.health === "true" ? true : undefined;
    });

  const { hosts, url, status } = siteEndpoints(sites, rt, user, database);
  let stopped = false;

  const self: HaSites = {
    manager: "patroni",
    root,
    sites,
    hosts,
    user,
    database,
    url,
    settings: {
      manager: "patroni 3.0.2 + etcd 3.4 over its v2 API (one member per site)",
      ttl: timings.ttl,
      loop_wait: timings.loopWait,
      retry_timeout: timings.retryTimeout,
      maximum_lag_on_failover: 1048576,
      etcd_heartbeat_ms: timings.etcdHeartbeatMs,
      etcd_election_timeout_ms: timings.etcdElectionMs,
      synchronous_standby_names: ssn,
      synchronous_commit: "on",
      wal_retrieve_retry_interval: "500ms",
      use_pg_rewind: true,
    },
    start: async () => {
      for (const [i, s] of sites.entries()) {
        fs.mkdirSync(s.dir, { mode: 0o700 });
        fs.writeFileSync(path.join(s.dir, "patroni.json"), `${JSON.stringify(patroniConfig(i), null, 2)}\n`, { mode: 0o600 });
      }
      chownTree(root, as);
      sites.forEach((_, i) => startEtcd(i));
      await Promise.all(sites.map((_, i) => etcdHealthy(i)));
      // site1 bootstraps, then the others clone from it: the first primary is predictable.
      startPatroni(0);
      await waitFor("site1 to bootstrap as primary", 90_000, async () => {
        const st = await nodeStatus("site1", true, { host: "127.0.0.1", port: (sites[0] as SiteInfo).pgPort, user, database });
        return st.role === "primary" ? st : undefined;
      }, 300);
      startPatroni(1);
      startPatroni(2);
      await self.waitHealthy(120_000);
      for (const s of sites) saveOwnSettings(s);
    },
    status,
    dcsLeader: async () => {
      for (const [i] of sites.entries()) {
        try {
          const post = async (api: string) => {
            const res = await fetch(`http://127.0.0.1:${etcdClient(i)}/v3/${api}`, {
              method: "POST",
              body: "{}",
              signal: AbortSignal.timeout(1000),
            });
            return (await res.json()) as Record<string, unknown>;
          };
          const st = (await post("maintenance/status")) as { leader?: string };
          const members = ((await post("cluster/member/list")) as { members?: Array<{ ID: string; name: string }> }).members ?? [];
          return members.find((m) => m.ID === st.leader)?.name;
        } catch {
          // this member is down: ask the next
        }
      }
      return undefined;
    },
    waitHealthy: (timeoutMs = 60_000, standbys) => waitHealthy(status, timeoutMs, standbys),
    killSite: (name) => {
      const s = sites.find((x) => x.name === name);
      if (s === undefined) throw new Error(`no site ${name}`);
      return rt.kill(s.name, s.dir);
    },
    ...partitionFns(sites, rt, as, (t) => self.waitHealthy(t), (s) => rt.run(path.join(PG_BIN, "pg_ctl"), ["-D", s.dataDir, "reload"])),
    promoteLastSite: async (name) => {
      const i = sites.findIndex((x) => x.name === name);
      const s = sites[i];
      if (s === undefined) throw new Error(`no site ${name}`);
      // Step 2 of the manual (crisis manual §4.3): etcd from the survivor's own data, a quorum of one.
      const old = etcdOf.get(s.name);
      if (old !== undefined && old.exitCode === null) {
        const exited = new Promise((r) => old.once("exit", r));
        old.kill("SIGTERM");
        await exited;
      }
      startEtcd(i, ["--force-new-cluster"]);
      await etcdHealthy(i);
    },
    setDcsParameters: async (parameters) => {
      // What `patronictl edit-config -p name=value` does: the cluster's configuration in etcd,
      // through any live member's REST API; every Patroni applies it within a loop.
      let last: unknown;
      for (const [i, s] of sites.entries()) {
        if (!rt.running(s.name, s.dir)) continue;
        try {
          const res = await fetch(`http://127.0.0.1:${rest(i)}/config`, {
            method: "PATCH",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ postgresql: { parameters } }),
            signal: AbortSignal.timeout(5000),
          });
          if (res.ok) return;
          last = new Error(`PATCH /config on ${s.name}: ${res.status} ${await res.text()}`);
        } catch (e) {
          last = e;
        }
      }
      throw last ?? new Error("no live Patroni to change the configuration through");
    },
    rejoinSite: async (name) => {
      const i = sites.findIndex((x) => x.name === name);
      const s = sites[i];
      if (s === undefined) throw new Error(`no site ${name}`);
      if (rt.running(s.name, s.dir)) throw new Error(`${name} is running`);
      // The etcd member restarts from its own data directory; it rejoins the quorum as it was.
      startEtcd(i);
      await etcdHealthy(i);
      // Patroni sees another member holding the leader key, rewinds this node (pg_rewind) if it
      // was ahead on the old timeline, and starts it as a standby of the new primary.
      startPatroni(i);
      await self.waitHealthy(120_000);
      if (restoreOwnSettings(s, as)) {
        await rt.run(path.join(PG_BIN, "pg_ctl"), ["-D", s.dataDir, "reload"]);
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // SIGTERM: Patroni stops its PostgreSQL; whatever has not stopped in time is killed.
      await rt.stopAll(sites, 15_000);
      removeSitesDir(root);
    },
  };
  return self;
};
