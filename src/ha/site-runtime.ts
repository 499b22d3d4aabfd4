/**
 * The processes of a set of sites: started as the sites' account with their output in a log file
 * inside the site, remembered per site, killed per site (the fire) or all together (cleanup,
 * also when the process exits without stopping them).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { type RunAs, sleep } from "./ha-env.js";
import { freezeSite, killSite, siteProcesses, thawSite } from "./site-processes.js";

export interface SiteRuntime {
  /** Starts `cmd` as part of `site` (directory `dir`), logging to `dir/<label>.log`. */
  spawnIn(site: string, dir: string, label: string, cmd: string, args: string[], env?: Record<string, string>): ChildProcess;
  /** Runs `cmd` to completion as the sites' account; rejects with its output on failure. */
  run(cmd: string, args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<string>;
  /** SIGKILLs every process of the site; returns the pids. */
  kill(site: string, dir: string): number[];
  /** Stops (SIGSTOP) every process of the site: a partition as the other sites see it. */
  freeze(site: string, dir: string): number[];
  /** Resumes the processes `freeze` stopped. */
  thaw(site: string): void;
  /** Whether any process of the site is alive. */
  running(site: string, dir: string): boolean;
  /** Sends SIGTERM to every site's root processes, waits up to `graceMs`, then kills whatever is left. */
  stopAll(sites: ReadonlyArray<{ name: string; dir: string }>, graceMs: number): Promise<void>;
}

export const siteRuntime = (root: string, as: RunAs): SiteRuntime => {
  const roots = new Map<string, Set<ChildProcess>>();
  const baseEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: root,
    ...extra,
  });
  const ids = process.getuid?.() === 0 ? { uid: as.uid, gid: as.gid } : {};
  const frozen = new Map<string, number[]>();
  const pidsOf = (site: string) =>
    [...(roots.get(site) ?? [])].map((c) => c.pid).filter((p): p is number => p !== undefined);

  // Whatever happens to the caller, no site outlives it.
  const emergency = () => {
    for (const site of roots.keys()) killSite(pidsOf(site), path.join(root, site));
  };
  process.once("exit", emergency);

  return {
    spawnIn: (site, dir, label, cmd, args, env) => {
      const log = fs.openSync(path.join(dir, `${label}.log`), "a", 0o600);
      if (process.getuid?.() === 0) fs.fchownSync(log, as.uid, as.gid);
      try {
        const child = spawn(cmd, args, { cwd: dir, env: baseEnv(env), stdio: ["ignore", log, log], ...ids });
        child.on("error", () => undefined);
        const set = roots.get(site) ?? new Set();
        set.add(child);
        roots.set(site, set);
        child.once("exit", () => set.delete(child));
        return child;
      } finally {
        fs.closeSync(log);
      }
    },
    run: (cmd, args, env, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: root, env: baseEnv(env), stdio: ["ignore", "pipe", "pipe"], ...ids });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`${path.basename(cmd)} ${args[0] ?? ""} failed (${code ?? signal}):\n${out.slice(-3000)}`));
        });
      }),
    kill: (site, dir) => {
      const pids = killSite(pidsOf(site), dir);
      roots.delete(site);
      return pids;
    },
    freeze: (site, dir) => {
      const pids = freezeSite(pidsOf(site), dir);
      frozen.set(site, pids);
      return pids;
    },
    thaw: (site) => {
      thawSite(frozen.get(site) ?? []);
      frozen.delete(site);
    },
    running: (site, dir) => siteProcesses(pidsOf(site), dir).length > 0,
    stopAll: async (sites, graceMs) => {
      for (const s of sites) for (const p of pidsOf(s.name)) {
        try {
          process.kill(p, "SIGTERM");
        } catch {
          // gone
        }
      }
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && sites.some((s) => siteProcesses(pidsOf(s.name), s.dir).length > 0)) await sleep(100);
      for (const s of sites) killSite(pidsOf(s.name), s.dir);
      roots.clear();
      process.removeListener("exit", emergency);
    },
  };
};
