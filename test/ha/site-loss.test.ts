/**
 * The defined behaviour when sites are lost (issue 7, item 3; seed 004; ADR 0016), as Haechi's
 * HTTP API shows it, on three Patroni + etcd sites on loopback (the primary's site lost, with
 * failover, is `haechi drill fire`: fire-drill.test.ts):
 *
 *  - one standby's site lost: writes go on without a pause (the other standby acknowledges);
 *  - a partitioned old primary comes back: it rejoins as a standby (demoted and rewound by
 *    Patroni), a write it took while cut off is never acknowledged, and what it committed
 *    locally does not come back as truth; the node gets its own settings back;
 *  - two sites lost (the primary's and a standby's): no etcd quorum, nothing is promoted; Haechi
 *    refuses every request that needs the store (reads too: every read writes its audit entry
 *    first) with 503 and acknowledges nothing; when one of the two sites returns, the most
 *    advanced node is promoted on its own and nothing acknowledged is missing;
 *  - both standbys lost: the primary runs on but acknowledges no write (quorum commit ANY 1);
 *    writes sent meanwhile have an unknown outcome, and their retries with the same
 *    Idempotency-Key after the standbys return apply each exactly once;
 *  - two sites lost for good: the crisis manual's manual promotion (§4.3), step by step.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { missingPrerequisites, sleep, waitFor } from "../../src/ha/ha-env.js";
import type { HaSites, NodeStatus } from "../../src/ha/ha-types.js";
import { startHaechiOnSites, type HaechiOnSites } from "../../src/ha/haechi-on-sites.js";
import { patroniSites } from "../../src/ha/patroni-sites.js";
import { openPostgresStores, type Stores } from "../../src/storage/index.js";

const missing = missingPrerequisites("patroni");
const skip = missing === undefined ? false : `site-loss drills skipped: ${missing} (apt-get install patroni etcd-server postgresql-15)`;
if (skip) console.log(`# ${skip}`);

describe("sites lost: a standby, a partition, two sites, both standbys, the manual promotion", { skip, timeout: 900_000 }, () => {
  let sites: HaSites;
  let h: HaechiOnSites;
  /** Every subject whose creation was acknowledged: external id → name. */
  const acknowledged = new Map<string, string>();
  let n = 0;
  /** A distinct, valid mobile number per write number. */
  const phoneOf = (i: number) => `010-7${String(Math.floor(i / 10_000) % 1000).padStart(3, "0")}-${String(i % 10_000).padStart(4, "0")}`;

  const create = (key = `site-loss-${++n}-${Date.now()}`, i = n) =>
    h.call(
      "talk-app",
      "POST",
      "/v1/subjects",
      { purpose: "talk_service", fields: { user_id: `loss-${i}`, name: `손실${i}`, nickname: `l${i}`, phone: phoneOf(i) } },
      { "idempotency-key": key },
    );
  const createAcked = async () => {
    const r = await create();
    assert.equal(r.status, 201, JSON.stringify(r.body));
    acknowledged.set(r.body.id, `손실${n}`);
  };
  /** Writes until one is acknowledged (the service is back); returns how many attempts it took. */
  const untilServed = async (what: string, timeoutMs = 90_000) => {
    let attempts = 0;
    await waitFor(what, timeoutMs, async () => {
      attempts += 1;
      const key = `served-${++n}`;
      const i = n;
      let r: { status: number; body: any } | undefined;
      try {
        r = await create(key, i);
      } catch {
        return undefined;
      }
      if (r.status === 201) {
        acknowledged.set(r.body.id, `손실${i}`);
        return true;
      }
      assert.equal(r.status, 503, JSON.stringify(r.body));
      return undefined;
    }, 250);
    return attempts;
  };
  const allThere = async () => {
    for (const [ext, name] of acknowledged) {
      const r = await h.call("talk-app", "GET", `/v1/subjects/${ext}?purpose=talk_service&fields=name`);
      assert.equal(r.status, 200, `${ext}: its creation was acknowledged (${JSON.stringify(r.body)})`);
      assert.equal(r.body.fields.name, name);
    }
    const v = await h.c.services.audit.verify();
    assert.ok(v.ok, `the audit chain verifies (${v.problemCount} problems)`);
  };
  const primaryOf = (nodes: NodeStatus[]) => nodes.find((x) => x.role === "primary") as NodeStatus;

  before(async () => {
    sites = await patroniSites();
    await sites.start();
    h = await startHaechiOnSites(sites, { commitTimeoutMs: 3000 });
    for (let i = 0; i < 3; i++) await createAcked();
  });
  after(async () => {
    await h?.close().catch(() => undefined);
    await sites?.stop();
  });

  test("issue 7: three sites, a primary with two standbys in quorum (ANY 1), on ports outside the kernel's ephemeral range", async () => {
    const primary = primaryOf(await sites.status());
    assert.equal(primary.synchronousStandbyNames, "ANY 1 (site1,site2,site3)");
    assert.equal(primary.replicas?.filter((r) => r.state === "streaming" && r.syncState === "quorum").length, 2);
    const firstEphemeral = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    for (const s of sites.sites) for (const p of s.ports) assert.ok(p >= 10000 && p < firstEphemeral, `port ${p} outside [10000, ${firstEphemeral})`);
    const port = Number(new URL(h.url).port);
    assert.ok(port >= 10000 && port < firstEphemeral, `Haechi's port ${port} too`);
  });

  test("issue 7: one standby's site burns: every write through Haechi is acknowledged without a pause, nothing is lost", async () => {
    const nodes = await sites.waitHealthy(60_000);
    const standby = nodes.find((x) => x.role === "standby") as NodeStatus;
    let longest = 0;
    const writeFor = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const t0 = Date.now();
        await createAcked();
        longest = Math.max(longest, Date.now() - t0);
      }
    };
    await writeFor(1000);
    const killed = sites.killSite(standby.site);
    assert.ok(killed.length >= 5, `the site's processes were killed (${killed.length})`);
    await writeFor(3000);
    assert.ok(longest < 2000, `no write waited long (longest ${longest} ms)`);
    assert.equal(primaryOf(await sites.status()).site, primaryOf(nodes).site, "no failover");
    await sites.rejoinSite(standby.site);
    await allThere();
  });

  test("issue 7: a partitioned old primary rejoins as a standby; the write it took while cut off is not acknowledged and does not come back", async () => {
    const old = primaryOf(await sites.waitHealthy(60_000));
    const site = sites.sites.find((s) => s.name === old.site)!;
    // A Haechi store on the old primary's side of the cut, bound to that node alone.
    const cutOff: Stores = await openPostgresStores({ url: `postgres://${sites.user}@127.0.0.1:${site.pgPort}/haechi`, commitTimeoutMs: 20_000 });
    try {
      await cutOff.data.setMeta("before-cut", "acknowledged");
      sites.partitionSite(old.site);
      // The rest of the world fails over and goes on; Haechi follows.
      await untilServed("a write acknowledged by the new primary");
      const during = await waitFor("a new primary", 30_000, async () => {
        const p = (await sites.status()).find((x) => x.role === "primary" && x.site !== old.site);
        return p;
      });
      await createAcked();
      // The cut-off side tries a write; it reaches the old primary only when the partition heals.
      const cutWrite = cutOff.data.setMeta("written-while-cut-off", "never acknowledged");
      const outcome = cutWrite.then(
        () => "acknowledged",
        (e: any) => e.code as string,
      );
      await sleep(500);
      await sites.healSite(old.site);
      assert.equal(await outcome, "STORE_UNAVAILABLE", "the old primary could not acknowledge the write: no standby follows it");
      const nodes = await sites.status();
      assert.equal(nodes.find((x) => x.site === old.site)?.role, "standby", "the old primary is a standby now");
      assert.equal(primaryOf(nodes).site, during.site, "the new primary stays the primary");
      // What the old primary committed locally is gone everywhere (pg_rewind took it out).
      await waitFor("the rejoined node to replay", 30_000, async () => {
        const c = new pg.Client({ host: "127.0.0.1", port: site.pgPort, user: sites.user, database: "haechi" });
        await c.connect();
        try {
          const rows = (await c.query("SELECT key FROM haechi.meta WHERE key IN ('before-cut', 'written-while-cut-off')")).rows.map((r) => r.key as string).sort();
          return rows.length === 1 ? rows : undefined;
        } finally {
          await c.end();
        }
      }).then((rows) => assert.deepEqual(rows, ["before-cut"]));
      assert.equal(await h.c.stores.data.getMeta("written-while-cut-off"), undefined, "not on the primary either");
      // pg_rewind copied the new primary's postgresql.auto.conf; the node has its own again.
      assert.deepEqual(fs.readFileSync(path.join(site.dataDir, "postgresql.auto.conf")), fs.readFileSync(path.join(site.dir, "own-postgresql.auto.conf")));
      await allThere();
    } finally {
      await cutOff.close().catch(() => undefined);
    }
  });

  test("issue 7: two sites lost — nothing is promoted, Haechi answers 503 to writes and reads and acknowledges nothing; one site back and service resumes with nothing lost", async () => {
    const nodes = await sites.waitHealthy(60_000);
    const primary = primaryOf(nodes);
    const standby = nodes.find((x) => x.role === "standby") as NodeStatus;
    const survivor = nodes.find((x) => x.site !== primary.site && x.site !== standby.site) as NodeStatus;
    const [some] = acknowledged.keys();
    sites.killSite(primary.site);
    sites.killSite(standby.site);
    // Longer than the leader key's lease (ttl 5 s) and the etcd election: nothing may change.
    const until = Date.now() + 12_000;
    let writes = 0;
    let reads = 0;
    while (Date.now() < until) {
      const w = await create();
      assert.equal(w.status, 503, `a write while two sites are lost: ${JSON.stringify(w.body)}`);
      assert.equal(w.body.error.code, "STORE_UNAVAILABLE");
      writes += 1;
      const r = await h.call("talk-app", "GET", `/v1/subjects/${some}?purpose=talk_service&fields=name`);
      assert.equal(r.status, 503, "a read writes its audit entry first: refused too (fail closed)");
      reads += 1;
      await sleep(200);
    }
    assert.ok(writes >= 10 && reads >= 10);
    const left = await sites.status();
    assert.equal(left.filter((x) => x.role === "primary").length, 0, "no primary: the survivor was not promoted without a quorum");
    assert.equal(left.find((x) => x.site === survivor.site)?.role, "standby");

    // The standby's site comes back: etcd has a quorum again, the most advanced node is promoted.
    await sites.rejoinSite(standby.site);
    await untilServed("service after one lost site came back");
    await allThere();
    await sites.rejoinSite(primary.site);
    await sites.waitHealthy(120_000);
    await allThere();
  });

  test("issue 7: both standbys lost — the primary acknowledges no write; retries with the same Idempotency-Key after they return apply exactly once", async () => {
    const nodes = await sites.waitHealthy(60_000);
    const standbys = nodes.filter((x) => x.role === "standby");
    for (const s of standbys) sites.killSite(s.site);
    const sent: Array<{ key: string; i: number }> = [];
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      const key = `lonely-${++n}-${Date.now()}`;
      const i = n;
      sent.push({ key, i });
      const r = await create(key, i);
      assert.equal(r.status, 503, `no standby to acknowledge: ${JSON.stringify(r.body)}`);
    }
    // etcd lost its quorum with the two sites: Patroni demotes the primary rather than let it
    // run on unchecked (no failsafe mode).
    await waitFor("the lonely primary to be demoted", 30_000, async () => ((await sites.status()).some((x) => x.role === "primary") ? undefined : true));
    for (const s of standbys) await sites.rejoinSite(s.site);
    await sites.waitHealthy(120_000);
    await untilServed("service after the standbys came back");
    // The client retries every write whose outcome it does not know, with the same key.
    for (const { key, i } of sent) {
      let r = await create(key, i);
      for (let t = 0; r.status === 503 && t < 40; t++) {
        await sleep(250);
        r = await create(key, i);
      }
      assert.equal(r.status, 201, JSON.stringify(r.body));
      acknowledged.set(r.body.id, `손실${i}`);
      const found = await h.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: phoneOf(i) });
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.deepEqual(found.body.matches, [r.body.id], `write ${i} applied exactly once`);
    }
    await allThere();
  });

  test("crisis manual §4.3: two sites lost for good — fenced, the survivor's etcd made a quorum of one, Patroni promotes it, it commits alone once told to; nothing acknowledged is missing when the survivor was in step", async () => {
    const nodes = await sites.waitHealthy(60_000);
    const primary = primaryOf(nodes);
    const [lost, survivor] = nodes.filter((x) => x.role === "standby") as [NodeStatus, NodeStatus];
    await createAcked();
    // Fact 3 of §4.3: the survivor had replayed everything the primary had. (Had it lagged, the
    // writes only the lost standby acknowledged would be gone: why this is a decision, not a default.)
    const lsn = (x: string | null) => (x === null ? -1n : x.split("/").reduce((a, h) => a * 2n ** 32n + BigInt(`0x${h}`), 0n));
    await waitFor("the survivor to replay everything", 30_000, async () => {
      const st = await sites.status();
      const p = st.find((x) => x.site === primary.site);
      const s = st.find((x) => x.site === survivor.site);
      return p && s && lsn(s.lsn) >= lsn(p.lsn) ? true : undefined;
    });
    // Step 1: the lost sites are fenced (here: dead, and left so).
    sites.killSite(primary.site);
    sites.killSite(lost.site);
    await sleep(2000);
    assert.equal((await create()).status, 503, "nothing is served before the decision");
    // Step 2: the decision. Step 3: Patroni promotes the survivor by itself.
    await sites.promoteLastSite!(survivor.site);
    await waitFor("Patroni to promote the survivor", 60_000, async () => (await sites.status()).find((x) => x.site === survivor.site && x.role === "primary"));
    // Step 4: quorum commit still waits for a standby that does not exist, until told otherwise.
    assert.equal((await create()).status, 503, "ANY 1 with no standby: no write is acknowledged");
    await sites.setDcsParameters!({ synchronous_commit: "local" });
    await untilServed("a write acknowledged by the survivor alone");
    await allThere();
  });
});
