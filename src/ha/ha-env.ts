/**
 * What the HA sites need from the machine: PostgreSQL 15's binaries, the HA managers' programs
 * (Debian packages `patroni`, `etcd-server`, `postgresql-15-auto-failover`, `pg-auto-failover-cli`),
 * the account PostgreSQL runs as, and free loopback ports outside the kernel's ephemeral range.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { HaManager } from "./ha-types.js";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

const onPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const full = path.join(dir, name);
    if (fs.existsSync(full)) return full;
  }
  for (const dir of ["/usr/bin", "/usr/sbin", "/usr/local/bin"]) {
    const full = path.join(dir, name);
    if (fs.existsSync(full)) return full;
  }
  return undefined;
};

/** The programs each manager needs, with the Debian package that provides each. */
const needs: Record<HaManager, Array<[string, string]>> = {
  patroni: [
    ["patroni", "patroni"],
    ["etcd", "etcd-server"],
  ],
  pg_auto_failover: [["pg_autoctl", "pg-auto-failover-cli"]],
};

/**
 * Why the sites cannot run here (missing programs, with the packages to install), or undefined.
 */
export const missingPrerequisites = (manager: HaManager): string | undefined => {
  const missing: string[] = [];
  if (!fs.existsSync(path.join(PG_BIN, "postgres")) || !fs.existsSync(path.join(PG_BIN, "pg_rewind"))) {
    missing.push(`${PG_BIN}/postgres (postgresql-15)`);
  }
  for (const [prog, pkg] of needs[manager]) if (onPath(prog) === undefined) missing.push(`${prog} (${pkg})`);
  if (manager === "pg_auto_failover" && !fs.existsSync("/usr/share/postgresql/15/extension/pgautofailover.control")) {
    missing.push("the pgautofailover extension (postgresql-15-auto-failover)");
  }
  if (process.platform !== "linux") missing.push("Linux (/proc)");
  return missing.length > 0 ? `missing: ${missing.join(", ")}` : undefined;
};

export const program = (name: string): string => {
  const found = onPath(name);
  if (found === undefined) throw new Error(`${name} not found on PATH`);
  return found;
};

/** The account the sites run as: `postgres` when we are root (PostgreSQL refuses root). */
export interface RunAs {
  uid: number;
  gid: number;
  home?: string;
}

export const runAs = (): RunAs => {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? -1 };
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
};

/** Gives `file` (and everything under it) to the sites' account. */
export const chownTree = (file: string, as: RunAs) => {
  if (process.getuid?.() !== 0) return;
  fs.chownSync(file, as.uid, as.gid);
  if (fs.statSync(file).isDirectory()) for (const f of fs.readdirSync(file)) chownTree(path.join(file, f), as);
};

/** The non-ephemeral loopback ports: [10000, first ephemeral port - 1]. */
export const portRange = (): [number, number] => {
  let low = 32768;
  try {
    const first = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 11000) low = first;
  } catch {
    // not Linux: keep the IANA default
  }
  return [10000, low - 1];
};

const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });

/**
 * A block of `count` consecutive free loopback ports below the ephemeral range, chosen at random
 * so that parallel runs rarely collide. Fixed for the life of the sites: a node that rejoins
 * comes back on its own ports.
 */
export const freePortBlock = async (count: number): Promise<number[]> => {
  const [low, high] = portRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    let ok = true;
    for (const p of ports) if (!(await isFree(p))) ok = false;
    if (ok) return ports;
  }
  throw new Error(`no ${count} free consecutive loopback ports found`);
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export const waitFor = async <T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 200): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    }
    await sleep(everyMs);
  }
};

/**
 * Removes the sites' directory after a run, unless HAECHI_HA_KEEP=1: then it stays, with every
 * node's data and the managers' logs (`<site>/patroni.log`, `etcd.log`), for a post-mortem.
 */
export const removeSitesDir = (root: string) => {
  if (process.env.HAECHI_HA_KEEP === "1") {
    process.stderr.write(`HAECHI_HA_KEEP=1: the sites' directory stays at ${root}\n`);
    return;
  }
  fs.rmSync(root, { recursive: true, force: true });
};
