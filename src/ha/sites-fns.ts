/** Helpers shared by the sites launchers: health, and each node's own settings across a rewind. */
import fs from "node:fs";
import path from "node:path";
import { type RunAs, waitFor } from "./ha-env.js";
import type { HaSites, NodeStatus, SiteInfo } from "./ha-types.js";
import { nodeStatus } from "./node-status.js";
import type { SiteRuntime } from "./site-runtime.js";

/** One primary, and `standbys` standbys streaming from it (default: every other running site). */
export const healthy = (nodes: readonly NodeStatus[], standbys?: number): boolean => {
  const primaries = nodes.filter((n) => n.role === "primary");
  if (primaries.length !== 1) return false;
  const primary = primaries[0] as NodeStatus;
  const want = standbys ?? nodes.filter((n) => n.running && n !== primary).length;
  const streaming = (primary.replicas ?? []).filter((r) => r.state === "streaming" && r.syncState !== "async");
  const runningStandbys = nodes.filter((n) => n.running && n.role === "standby").length;
  return streaming.length >= want && runningStandbys >= want;
};

export const waitHealthy = (status: () => Promise<NodeStatus[]>, timeoutMs: number, standbys?: number) =>
  waitFor(`a primary with ${standbys ?? "all"} standbys streaming`, timeoutMs, async () => {
    const nodes = await status();
    return healthy(nodes, standbys) ? nodes : undefined;
  }, 250);

const OWN = "own-postgresql.auto.conf";

/**
 * Keeps a copy of the node's `postgresql.auto.conf` (ALTER SYSTEM settings) beside its data
 * directory: pg_rewind copies the source's file over it, so a rejoined node would otherwise run
 * with the new primary's settings.
 */
export const saveOwnSettings = (s: SiteInfo) => {
  const file = path.join(s.dataDir, "postgresql.auto.conf");
  if (fs.existsSync(file)) fs.copyFileSync(file, path.join(s.dir, OWN));
};

/** Puts the node's own `postgresql.auto.conf` back if it changed; true if it did (reload needed). */
export const restoreOwnSettings = (s: SiteInfo, as: RunAs): boolean => {
  const own = path.join(s.dir, OWN);
  const file = path.join(s.dataDir, "postgresql.auto.conf");
  if (!fs.existsSync(own)) return false;
  const wanted = fs.readFileSync(own);
  if (fs.existsSync(file) && fs.readFileSync(file).equals(wanted)) return false;
  fs.writeFileSync(file, wanted, { mode: 0o600 });
  if (process.getuid?.() === 0) fs.chownSync(file, as.uid, as.gid);
  return true;
};

/**
 * Where the sites' PostgreSQL nodes answer on loopback, the multi-host URL a client is given, and
 * each node's status (both managers expose the same).
 */
export const siteEndpoints = (sites: readonly SiteInfo[], rt: Pick<SiteRuntime, "running">, user: string, database: string) => ({
  hosts: sites.map((s) => ({ host: "127.0.0.1", port: s.pgPort })),
  url: `postgres://${user}@${sites.map((s) => `127.0.0.1:${s.pgPort}`).join(",")}/${database}`,
  status: () => Promise.all(sites.map((s) => nodeStatus(s.name, rt.running(s.name, s.dir), { host: "127.0.0.1", port: s.pgPort, user, database }))),
});

/**
 * A partition and its end, for either manager: the site's processes stopped, then resumed; on
 * resuming, the manager demotes an old primary and rewinds it on its own, and the node gets its
 * own settings back once it streams again.
 */
export const partitionFns = (
  sites: readonly SiteInfo[],
  rt: Pick<SiteRuntime, "freeze" | "thaw">,
  as: RunAs,
  healthyAgain: (timeoutMs: number) => Promise<NodeStatus[]>,
  reload: (s: SiteInfo) => Promise<unknown>,
): Pick<HaSites, "partitionSite" | "healSite"> => {
  const find = (name: string) => {
    const s = sites.find((x) => x.name === name);
    if (s === undefined) throw new Error(`no site ${name}`);
    return s;
  };
  return {
    partitionSite: (name) => {
      const s = find(name);
      return rt.freeze(s.name, s.dir);
    },
    healSite: async (name) => {
      const s = find(name);
      rt.thaw(s.name);
      await healthyAgain(180_000);
      if (restoreOwnSettings(s, as)) await reload(s);
    },
  };
};
