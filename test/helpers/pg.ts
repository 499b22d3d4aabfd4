/**
 * A throwaway PostgreSQL for tests. `startPostgres` uses HAECHI_TEST_PG_URL when set, otherwise
 * initdb's a temporary cluster (as the `postgres` user when running as root) on a free loopback
 * port with a random password. `freshDatabase` gives each suite its own database.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePortBlock } from "../../src/ha/ha-env.js";

export interface RunningPostgres {
  url: string;
  stop(): Promise<void>;
}

const PG_USER = "haechi";

/** PostgreSQL 15 first (what this project targets), then any other installed version. */
export const findPgBin = (): string => {
  const fromEnv = process.env.HAECHI_PG_BIN;
  const candidates = fromEnv ? [fromEnv] : ["/usr/lib/postgresql/15/bin"];
  if (!fromEnv && fs.existsSync("/usr/lib/postgresql")) {
    const versions = fs
      .readdirSync("/usr/lib/postgresql")
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  for (const dir of candidates) if (fs.existsSync(path.join(dir, "initdb"))) return dir;
  throw new Error(`PostgreSQL binaries not found (looked in ${candidates.join(", ")}; set HAECHI_PG_BIN)`);
};

/** A free loopback port below the kernel's ephemeral range (so an outgoing connection cannot take it meanwhile). */
export const freePort = async (): Promise<number> => (await freePortBlock(1))[0]!;

interface RunAs {
  uid: number;
  gid: number;
  /** Wraps a command so it runs as the cluster owner. */
  wrap(cmd: string, args: string[]): [string, string[]];
}

const runAs = (): RunAs => {
  if (process.getuid?.() !== 0) {
    return { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, wrap: (cmd, args) => [cmd, args] };
  }
  // PostgreSQL refuses to run as root.
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  if (fs.existsSync("/usr/sbin/runuser") || fs.existsSync("/sbin/runuser")) {
    return { uid, gid, wrap: (cmd, args) => ["runuser", ["-u", "postgres", "--", cmd, ...args]] };
  }
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return { uid, gid, wrap: (cmd, args) => ["su", ["postgres", "-s", "/bin/sh", "-c", [cmd, ...args].map(quote).join(" ")]] };
};

const run = (as: RunAs, cmd: string, args: string[]) => {
  const [c, a] = as.wrap(cmd, args);
  const res = spawnSync(c, a, { encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`${path.basename(cmd)} failed (${res.status ?? res.signal}): ${res.stderr || res.stdout}`.trim());
  }
  return res.stdout;
};

const readLog = (file: string) => {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "";
  }
};

export interface StartPostgresOptions {
  /** A cluster of its own even when HAECHI_TEST_PG_URL is set (tests that change server settings). */
  own?: boolean;
  /** Server settings (`-c name=value`), after the test defaults. */
  settings?: Record<string, string>;
  /** The `haechi` role's password (random by default): clusters sharing one can share a multi-host URL. */
  password?: string;
}

/** Starts a temporary PostgreSQL cluster (or uses HAECHI_TEST_PG_URL). */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const given = process.env.HAECHI_TEST_PG_URL;
  if (given && !opts.own) return { url: given, stop: async () => undefined };

  const bin = findPgBin();
  const as = runAs();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-pg-"));
  const data = path.join(root, "data");
  const log = path.join(root, "postgres.log");
  const pwfile = path.join(root, "pw");
  const password = opts.password ?? randomBytes(18).toString("base64url");
  let stopped = false;
  const removeDir = () => fs.rmSync(root, { recursive: true, force: true });
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    if (fs.existsSync(path.join(data, "postmaster.pid"))) {
      const [c, a] = as.wrap(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      spawnSync(c, a, { stdio: "ignore" });
    }
    removeDir();
  };
  try {
    fs.chmodSync(root, 0o700);
    fs.writeFileSync(pwfile, password, { mode: 0o600 });
    fs.writeFileSync(log, "", { mode: 0o600 });
    if (process.getuid?.() === 0) {
      fs.chownSync(root, as.uid, as.gid);
      fs.chownSync(pwfile, as.uid, as.gid);
      fs.chownSync(log, as.uid, as.gid);
    }
    run(as, path.join(bin, "initdb"), [
      "-D", data, "-U", PG_USER, `--pwfile=${pwfile}`, "-A", "scram-sha-256",
      "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
    ]);
    fs.rmSync(pwfile, { force: true });

    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      const port = await freePort();
      const options = [
        `-c port=${port}`, "-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${root}`,
        // A test cluster: durability is not the point, speed is.
        "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200",
        ...Object.entries(opts.settings ?? {}).map(([k, v]) => `-c ${k}=${v}`),
      ].join(" ");
      try {
        run(as, path.join(bin, "pg_ctl"), ["-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"]);
      } catch (e) {
        lastError = new Error(`${(e as Error).message}\n${readLog(log)}`);
        continue;
      }
      const url = `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
      process.once("exit", stopSync);
      return {
        url,
        stop: async () => {
          process.removeListener("exit", stopSync);
          if (stopped) return;
          stopped = true;
          try {
            run(as, path.join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"]);
          } finally {
            removeDir();
          }
        },
      };
    }
    throw lastError ?? new Error("PostgreSQL did not start");
  } catch (e) {
    stopSync();
    throw e;
  }
}

const adminQuery = async (url: string, text: string) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
};

/** Creates a uniquely named database on the server at `url`; `drop()` removes it. */
export async function freshDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `haechi_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(url, `CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await adminQuery(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
