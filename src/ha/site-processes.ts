/**
 * Finding and killing every process of a site, the way a fire would: all at once, with SIGKILL.
 *
 * A site's processes are not one process group: Patroni and pg_autoctl start PostgreSQL in a
 * session of its own, and a postmaster's backends are its children, not its group. So a site is
 * found by ancestry and by place: every descendant of the site's root processes, and every
 * process whose working directory or command line is inside the site's directory (a PostgreSQL
 * backend runs with the data directory as its working directory). Linux only (/proc).
 */
import fs from "node:fs";
import path from "node:path";

interface ProcInfo {
  pid: number;
  ppid: number;
}

const readProc = (pid: number): ProcInfo | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
};

const allPids = (): number[] =>
  fs
    .readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);

const isInside = (file: string, dir: string) => file === dir || file.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

const placeOf = (pid: number, dir: string): boolean => {
  try {
    if (isInside(fs.readlinkSync(`/proc/${pid}/cwd`), dir)) return true;
  } catch {
    // gone, or not ours to read
  }
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return cmd.some((arg) => arg === dir || arg.includes(`${dir}/`) || arg.endsWith(dir));
  } catch {
    return false;
  }
};

/**
 * Every live process that belongs to the site: descendants of `roots`, and processes working in
 * or naming `dir` (and their descendants).
 */
export const siteProcesses = (roots: readonly number[], dir: string): number[] => {
  const real = path.resolve(dir);
  const infos = allPids()
    .filter((p) => p !== process.pid)
    .map(readProc)
    .filter((i): i is ProcInfo => i !== undefined);
  const children = new Map<number, number[]>();
  for (const i of infos) children.set(i.ppid, [...(children.get(i.ppid) ?? []), i.pid]);
  const found = new Set<number>();
  const visit = (pid: number) => {
    if (found.has(pid) || pid === process.pid || pid <= 1) return;
    found.add(pid);
    for (const c of children.get(pid) ?? []) visit(c);
  };
  const live = new Set(infos.map((i) => i.pid));
  for (const r of roots) if (live.has(r)) visit(r);
  for (const i of infos) if (!found.has(i.pid) && placeOf(i.pid, real)) visit(i.pid);
  return [...found].sort((a, b) => a - b);
};

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

/**
 * Stops (SIGSTOP) every process of the site, looking again until no new one appears, so none can
 * fork or notice a sibling stopping. To the other sites this is a partition: no heartbeat, no
 * answer, while every socket stays open. Returns the pids stopped; `thawSite` resumes them.
 */
export const freezeSite = (roots: readonly number[], dir: string): number[] => {
  const stopped = new Set<number>();
  for (let round = 0; round < 20; round++) {
    const found = siteProcesses([...roots, ...stopped], dir).filter((p) => !stopped.has(p));
    if (found.length === 0) break;
    for (const p of found) {
      signal(p, "SIGSTOP");
      stopped.add(p);
    }
  }
  return [...stopped].sort((a, b) => a - b);
};

/** Resumes (SIGCONT) processes stopped by `freezeSite`: the partition heals. */
export const thawSite = (pids: readonly number[]) => {
  for (const p of pids) signal(p, "SIGCONT");
};

/**
 * SIGKILLs every process of the site. They are first stopped (SIGSTOP) and looked for again until
 * no new one appears, so none can fork, notice a sibling's death or write anything meanwhile;
 * then all are killed. Returns the pids killed. Synchronous, so it can run in an exit handler.
 */
export const killSite = (roots: readonly number[], dir: string): number[] => {
  const stopped = freezeSite(roots, dir);
  for (const p of stopped) signal(p, "SIGKILL");
  // SIGKILL is delivered to stopped processes too; wait (briefly) until they are gone.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && [...stopped].some((p) => readProc(p) !== undefined && !isZombie(p))) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return stopped;
};

const isZombie = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
};
