/**
 * `/readyz` tells a load balancer and the on-call engineer whether Haechi can serve now: a write
 * acknowledged within 2 s (docs/crisis-manual.md §3). `/healthz` (liveness) only says the process
 * and a read work, which stays true while every request fails on a store that cannot acknowledge.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { startApp, type TestApp } from "../helpers/app.js";

const get = async (t: TestApp, p: string) => {
  const res = await fetch(`${t.url}${p}`);
  return { status: res.status, body: (await res.json()) as any };
};
const setting = async (url: string, name: string, value: string | null) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
    await c.query("SELECT pg_reload_conf()");
  } finally {
    await c.end();
  }
  await new Promise((r) => setTimeout(r, 200));
};

describe("readiness on SQLite", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp("sqlite");
  });
  after(async () => t?.close());
  test("a writable store is ready", async () => {
    const r = await get(t, "/readyz");
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "ready");
  });
});

describe("readiness on PostgreSQL with synchronous commit", () => {
  let server: RunningPostgres;
  let t: TestApp;
  before(async () => {
    server = await startPostgres({ own: true, settings: { synchronous_commit: "on" } });
    // A server of its own (its settings change below): the store is chosen by the environment.
    t = await startApp("sqlite", { env: { HAECHI_STORE: "postgres", HAECHI_PG_URL: server.url, HAECHI_PG_COMMIT_TIMEOUT_MS: "20000" } });
  });
  after(async () => {
    await t?.close();
    await server?.stop();
  });

  test("seed 004: with no synchronous standby left, /readyz answers 503 within its bound while /healthz still says the process lives; ready again once a standby is back", async () => {
    assert.equal((await get(t, "/readyz")).status, 200);
    await setting(server.url, "synchronous_standby_names", "ANY 1 (gone_standby)");
    const started = Date.now();
    const r = await get(t, "/readyz");
    const took = Date.now() - started;
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.reason, "NOT_ACKNOWLEDGED_IN_TIME");
    assert.ok(took >= 1900 && took < 5000, `answered after its bound (${took} ms)`);
    assert.equal((await get(t, "/healthz")).status, 200, "liveness is not readiness");
    await setting(server.url, "synchronous_standby_names", null);
    assert.equal((await get(t, "/readyz")).status, 200);
  });
});
