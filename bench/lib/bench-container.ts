/**
 * A Haechi container on a fresh home for a benchmark: SQLite, or PostgreSQL from HAECHI_PG_URL as
 * given, a fresh database on HAECHI_TEST_PG_URL's server, or a throw-away server of its own.
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
): Promise<{ c: Container; home: string; dispose(keep: boolean): Promise<void> }> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `haechi-bench-${name}-`));
  const env: Record<string, string> = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent", ...extraEnv };
  const ownServer = store === "postgres" && !process.env.HAECHI_PG_URL && !process.env.HAECHI_TEST_PG_URL ? await startPostgres() : undefined;
  const db = store === "postgres" && !process.env.HAECHI_PG_URL ? await freshDatabase(process.env.HAECHI_TEST_PG_URL ?? ownServer!.url) : undefined;
  if (store === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: process.env.HAECHI_PG_URL ?? db!.url });
  const c = await buildContainer(loadConfig(env), { createKeyring: true });
  return {
    c,
    home,
    async dispose(keep) {
      await c.close();
      await db?.drop();
      await ownServer?.stop();
      if (!keep) fs.rmSync(home, { recursive: true, force: true });
      else console.log(`kept ${home}`);
    },
  };
};

export const MiB = (b: number) => Math.round(b / 2 ** 20);

/** One progress line on stderr, redrawn. */
export const progress = (label: string, done: number, total: number, t0: number) => {
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(`\r${label} ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} · ${Math.round(done / s).toLocaleString("en-US")}/s   `);
};
