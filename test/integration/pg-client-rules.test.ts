/**
 * The client rules of Haechi's PostgreSQL store for a replicated cluster (issue 7 item 2; LAW
 * §11.3; seed 004), against real PostgreSQL servers of their own:
 *
 *  - a commit waiting for a synchronous standby longer than the client-side timeout is an
 *    unknown outcome (STORE_UNAVAILABLE), never success — `statement_timeout` would not end it;
 *  - a commit answered with the "canceling wait for synchronous replication" warning is not
 *    acknowledged, although the server reports success;
 *  - with a multi-host URL, a write that meets a read-only node (the old primary back as a
 *    standby) or a lost connection fails once with STORE_UNAVAILABLE, and the pool finds the
 *    writable host on its own: the retry lands there.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { openPostgresStores, type Stores } from "../../src/storage/index.js";
import { startPostgres, type RunningPostgres } from "../helpers/pg.js";

const sql = async (url: string, text: string, values: unknown[] = []) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows;
  } finally {
    await c.end();
  }
};
const setting = async (url: string, name: string, value: string | null) => {
  await sql(url, value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
  await sql(url, "SELECT pg_reload_conf()");
  // Backends read the new value at their next command; give the postmaster a moment to signal them.
  await new Promise((r) => setTimeout(r, 200));
};
const meta = async (url: string, key: string) =>
  (await sql(url, "SELECT value FROM haechi.meta WHERE key = $1", [key]))[0]?.value as string | undefined;

describe("PostgreSQL client rules: synchronous commit", () => {
  let server: RunningPostgres;
  let stores: Stores | undefined;
  before(async () => {
    server = await startPostgres({ own: true, settings: { synchronous_commit: "on" } });
  });
  after(async () => {
    await stores?.close().catch(() => undefined);
    await server?.stop();
  });

  test("seed 004: a commit waiting for a synchronous standby beyond the client timeout is an unknown outcome (STORE_UNAVAILABLE), not success", async () => {
    stores = await openPostgresStores({ url: server.url, commitTimeoutMs: 700 });
    await stores.data.setMeta("before", "acknowledged");
    // The standby is gone: every commit now waits for it.
    await setting(server.url, "synchronous_standby_names", "ANY 1 (gone_standby)");
    const started = Date.now();
    await assert.rejects(stores.data.setMeta("during", "unknown"), (e: any) => e.code === "STORE_UNAVAILABLE" && /outcome is unknown/.test(e.message));
    const waited = Date.now() - started;
    assert.ok(waited >= 600 && waited < 5000, `failed after the client timeout (${waited} ms)`);
    assert.equal(await meta(server.url, "during"), undefined, "not visible while its commit waits for the standby");
    await setting(server.url, "synchronous_standby_names", null);
    // Committed locally, never acknowledged: exactly why the caller must treat it as unknown (and retry idempotently).
    assert.equal(await meta(server.url, "during"), "unknown");
    await stores.data.setMeta("after", "acknowledged");
    assert.equal(await stores.data.getMeta("after"), "acknowledged", "the pool works again once the standby is back");
  });

  test("seed 004: a commit answered with the 'canceling wait for synchronous replication' warning is not acknowledged", async () => {
    await stores!.close();
    stores = await openPostgresStores({ url: server.url, commitTimeoutMs: 20_000 });
    await setting(server.url, "synchronous_standby_names", "ANY 1 (gone_standby)");
    const cancelWaits = async () => {
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const n = (await sql(server.url, "SELECT pg_cancel_backend(pid) AS ok FROM pg_stat_activity WHERE wait_event = 'SyncRep'")).filter((r) => r.ok).length;
        if (n > 0) return n;
      }
      return 0;
    };
    // Why the rule exists: a plain client is told success, with only a warning.
    const raw = new pg.Client({ connectionString: server.url });
    await raw.connect();
    const notices: string[] = [];
    raw.on("notice", (n) => notices.push(n.message ?? ""));
    const rawWrite = raw.query("INSERT INTO haechi.meta (key, value) VALUES ('raw', 'x')");
    assert.ok((await cancelWaits()) >= 1);
    assert.equal((await rawWrite).rowCount, 1, "the server reports the insert as done");
    assert.match(notices.join("\n"), /canceling wait for synchronous replication/);
    await raw.end();

    const write = stores.data.setMeta("cancelled", "unknown");
    const outcome = write.then(
      () => "acknowledged",
      (e: any) => e.code,
    );
    // Someone (an operator, a failover tool) cancels the wait: the server answers success with a warning.
    assert.ok((await cancelWaits()) >= 1, "the write was waiting for the standby");
    assert.equal(await outcome, "STORE_UNAVAILABLE");
    await setting(server.url, "synchronous_standby_names", null);
  });

  test("seed 004: a retry finding an answer committed but never acknowledged is answered only once a standby has it", async () => {
    await stores?.close();
    stores = await openPostgresStores({ url: server.url, commitTimeoutMs: 700 });
    const row = { principal: "talk-app", key: "retry-after-unknown", requestHash: Buffer.alloc(32, 7), status: 201, response: '{"id":"x"}', createdAt: new Date() };
    await setting(server.url, "synchronous_standby_names", "ANY 1 (gone_standby)");
    // The first attempt: committed on the primary, its wait for the standby timed out.
    await assert.rejects(stores.data.transaction((tx) => tx.putIdempotency(row)), (e: any) => e.code === "STORE_UNAVAILABLE");
    // Its backend still waits, and the row stays invisible until the wait ends. Ended by hand (or
    // by a restart), the commit shows on the primary alone.
    await sql(server.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    await waitVisible(server.url, row.key);
    // The retry finds the answer, but no standby has it: replaying it now would acknowledge a
    // write that a failover can still lose.
    await assert.rejects(stores.data.getIdempotency(row.principal, row.key), (e: any) => e.code === "STORE_UNAVAILABLE");
    assert.equal(await stores.data.getIdempotency(row.principal, "never-used-key"), undefined, "an unused key costs no wait");
    await setting(server.url, "synchronous_standby_names", null);
    const found = await stores.data.getIdempotency(row.principal, row.key);
    assert.equal(found?.status, 201);
    assert.equal(found?.response, row.response);
  });

  test("seed 004: the primary dying while a transaction holds its connection fails that write as STORE_UNAVAILABLE and leaves the process running", async () => {
    await stores?.close();
    stores = await openPostgresStores({ url: server.url, commitTimeoutMs: 5000 });
    let uncaught: unknown;
    const onUncaught = (e: unknown) => (uncaught = e);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const write = stores.data.transaction(async (tx) => {
        await tx.insertSubject({ id: "sub-mid-tx" as never, createdAt: new Date(), updatedAt: new Date(), status: "active" });
        // The backend dies while the client is checked out and idle in the transaction: the
        // driver emits 'error' on a client no pool listens to (it ended the process before).
        const killed = await sql(server.url, "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'haechi' AND state = 'idle in transaction'");
        assert.equal(killed.filter((r) => r.ok).length, 1);
        await new Promise((r) => setTimeout(r, 300));
        await tx.insertSubject({ id: "sub-mid-tx-2" as never, createdAt: new Date(), updatedAt: new Date(), status: "active" });
      });
      await assert.rejects(write, (e: any) => e.code === "STORE_UNAVAILABLE");
      assert.equal(uncaught, undefined, `no uncaught error (${String(uncaught)})`);
      assert.equal((await sql(server.url, "SELECT count(*)::int AS n FROM haechi.subjects WHERE id = 'sub-mid-tx'"))[0]?.n, 0, "nothing half-written");
      await stores.data.setMeta("after", "works");
      assert.equal(await meta(server.url, "after"), "works", "the pool serves the next write");
    } finally {
      process.removeListener("uncaughtException", onUncaught);
    }
  });
});

const waitVisible = async (url: string, key: string) => {
  for (let i = 0; i < 50; i++) {
    if ((await sql(url, "SELECT 1 FROM haechi.idempotency WHERE key = $1", [key])).length > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`idempotency row ${key} never became visible`);
};



/**
 * Two servers of their own holding the schema (as replicas would): a writable, b read-only (the
 * standby), and the multi-host URL of both. Registers the describe's before/after hooks.
 */
const twoNodes = () => {
  const password = randomBytes(12).toString("hex");
  const n = { a: undefined as unknown as RunningPostgres, b: undefined as unknown as RunningPostgres, url: "", stores: undefined as Stores | undefined };
  before(async () => {
    [n.a, n.b] = await Promise.all([startPostgres({ own: true, password }), startPostgres({ own: true, password })]);
    for (const s of [n.a, n.b]) await (await openPostgresStores({ url: s.url })).close();
    await setting(n.b.url, "default_transaction_read_only", "on");
    const u = new URL(n.a.url);
    n.url = `postgres://${u.username}:${password}@${hostOf(n.a.url)},${hostOf(n.b.url)}${u.pathname}`;
  });
  after(async () => {
    await n.stores?.close().catch(() => undefined);
    await Promise.all([n.a?.stop(), n.b?.stop()]);
  });
  return n;
};
const hostOf = (url: string) => new URL(url).host;

/** Retries a write as a client would after an unknown outcome (STORE_UNAVAILABLE), every 100 ms; returns the attempts it took. */
const retryWrite = async (write: () => Promise<unknown>, most: number, what: string): Promise<number> => {
  for (let attempts = 1; ; attempts++) {
    try {
      await write();
      return attempts;
    } catch (e: any) {
      assert.equal(e.code, "STORE_UNAVAILABLE", `an unknown outcome, nothing else (${e.message})`);
      assert.ok(attempts < most, what);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

describe("PostgreSQL client rules: a multi-host URL follows the primary", () => {
  const n = twoNodes();

  test("issue 7: a write meeting the old primary as a standby, or a lost primary, fails once as STORE_UNAVAILABLE; the retry lands on the new primary", async () => {
    const { a, b } = n;
    const stores = (n.stores = await openPostgresStores({ url: n.url, commitTimeoutMs: 5000 }));
    assert.equal(hostOf(stores.location.kind === "postgres" ? stores.location.url : ""), hostOf(a.url), "bound to the writable host");
    await stores.data.setMeta("k1", "on a");
    assert.equal(await meta(a.url, "k1"), "on a");

    // Switch-over: a becomes a standby, b the primary.
    await setting(a.url, "default_transaction_read_only", "on");
    await setting(b.url, "default_transaction_read_only", "off");
    await assert.rejects(stores.data.setMeta("k2", "on b"), (e: any) => e.code === "STORE_UNAVAILABLE");
    await retryWrite(() => stores.data.setMeta("k2", "on b"), 20, "the pool found the new primary");
    assert.equal(await meta(b.url, "k2"), "on b");
    assert.equal(await meta(a.url, "k2"), undefined, "nothing went to the standby");
    assert.equal(stores.location.kind === "postgres" && hostOf(stores.location.url), hostOf(b.url), "backups follow the primary");

    // The primary's site is lost: a is writable again (the survivor), b is gone.
    await setting(a.url, "default_transaction_read_only", "off");
    await b.stop();
    const attempts = await retryWrite(() => stores.data.setMeta("k3", "on a again"), 50, "the pool found the surviving primary");
    assert.ok(attempts >= 2, "the first attempt met the lost primary");
    assert.equal(await meta(a.url, "k3"), "on a again");
  });
});



describe("PostgreSQL client rules: the primary is gone before a standby is promoted", () => {
  const n = twoNodes();

  test("seed 004: while no host is writable every write is STORE_UNAVAILABLE; once a standby is promoted the pool finds it without a restart", async () => {
    const { a, b } = n;
    const stores = (n.stores = await openPostgresStores({ url: n.url, commitTimeoutMs: 3000 }));
    await stores.data.setMeta("k1", "on a");
    // The fire: a is gone, b is still a standby (failover takes seconds). The pool looks, finds
    // nothing writable, and from then on only meets a host that refuses connections.
    await a.stop();
    for (let i = 0; i < 5; i++) {
      await assert.rejects(stores.data.setMeta("k2", "on b"), (e: any) => e.code === "STORE_UNAVAILABLE");
      await new Promise((r) => setTimeout(r, 100));
    }
    await setting(b.url, "default_transaction_read_only", "off");
    await retryWrite(() => stores.data.setMeta("k2", "on b"), 30, "the pool found the promoted standby");
    assert.equal(await meta(b.url, "k2"), "on b");
  });
});
