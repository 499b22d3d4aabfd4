/**
 * A Haechi container on a fresh home for a benchmark: SQLite, or PostgreSQL from HAECHI_PG_URL as
 * given, a fresh database on HAECHI_TEST_PG_URL's server, or a throw-away server of its own
 * (started with `pgSettings`, after the test defaults, when given; `ownServer` says it is ours).
 * `reuse` opens a home kept by an earlier run (and, on PostgreSQL, its database) instead.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/config.js";
import { buildContainer, type Container } from "../../src/container.js";
import { freshDatabase, startPostgres } from "../../test/helpers/pg.js";

export const openBenchContainer = async (
  name: string,
  store: "sqlite" | "postgres",
  extraEnv: Record<string, string> = {},
  reuse?: { home: string; pgUrl?: string },
  pgSettings?: Record<string, string>,
): Promise<{ c: Container; home: string; pgUrl?: string; ownServer: boolean; dispose(keep: boolean): Promise<void> }> => {
  const home = reuse?.home ?? fs.mkdtempSync(path.join(os.tmpdir(), `haechi-bench-${name}-`));
  const env: Record<string, string> = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent", ...extraEnv };
  if (store === "postgres" && reuse !== undefined && reuse.pgUrl === undefined) throw new Error("reusing a PostgreSQL bench needs its database URL");
  const given = reuse?.pgUrl ?? process.env.HAECHI_PG_URL;
  const ownServer =
    store === "postgres" && !given && !process.env.HAECHI_TEST_PG_URL ? await startPostgres(pgSettings ? { own: true, settings: pgSettings } : {}) : undefined;
  const db = store === "postgres" && !given ? await freshDatabase(process.env.HAECHI_TEST_PG_URL ?? ownServer!.url) : undefined;
  const pgUrl = store === "postgres" ? (given ?? db!.url) : undefined;
  if (pgUrl !== undefined) Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: pgUrl });
  const c = await buildContainer(loadConfig(env), { createKeyring: reuse === undefined });
  return {
    c,
    home,
    ...(pgUrl !== undefined ? { pgUrl } : {}),
    ownServer: ownServer !== undefined,
    async dispose(keep) {
      await c.close();
      // A kept PostgreSQL database outlives the run only on a server that does too.
      if (keep && ownServer !== undefined) console.log("the database is not kept: it was on a throw-away server (set HAECHI_TEST_PG_URL)");
      if (!keep || ownServer !== undefined) await db?.drop();
      await ownServer?.stop();
      if (!keep) {
        if (reuse === undefined) fs.rmSync(home, { recursive: true, force: true });
      } else console.log(`kept ${home}`);
    },
  };
};

export const MiB = (b: number) => Math.round(b / 2 ** 20);

/** One progress line on stderr, redrawn. */
export const progress = (label: string, done: number, total: number, t0: number) => {
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(`\r${label} ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} · ${Math.round(done / s).toLocaleString("en-US")}/s   `);
};
