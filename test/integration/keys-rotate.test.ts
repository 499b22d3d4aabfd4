/**
 * KEK rotation without downtime (PIPC Safety Standard Art. 7, key management), on SQLite and
 * PostgreSQL: while every data key is re-wrapped under a new key-encryption key, reads and
 * writes over HTTP keep succeeding with the right values; afterwards every key is on the new
 * version, a second rotation works, and each rotation is in the audit log.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const N = 300;

const person = (n: number) => ({
  user_id: `rot-${n}`,
  phone: `010-7${String(n).padStart(3, "0")}-${String(n).padStart(4, "0")}`,
  name: "정약용",
  nickname: `mok${n}`,
  email: `rot${n}@example.com`,
});

for (const kind of STORE_KINDS) {
  describe(`KEK rotation on ${kind}`, () => {
    let t: TestApp;
    const subjects: { id: string; n: number }[] = [];

    before(async () => {
      t = await startApp(kind);
      for (let start = 0; start < N; start += 25) {
        const made = await Promise.all(
          Array.from({ length: Math.min(25, N - start) }, (_, k) =>
            t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(start + k) }).then((r) => {
              assert.equal(r.status, 201, JSON.stringify(r.body));
              return { id: r.body.id as string, n: start + k };
            }),
          ),
        );
        subjects.push(...made);
      }
    });
    after(async () => {
      await t?.close();
    });

    const total = async () => (await t.c.services.keys.status()).reduce((a, s) => a + s.count, 0);

    /**
     * Reads subjects in a loop until stopped; every read must return the subject's own values.
     * `during` counts reads that completed while `busy()` was true.
     */
    const readLoop = (pick: (i: number) => { id: string; n: number }, stop: () => boolean, busy: () => boolean = () => false) => {
      const stats = { reads: 0, during: 0, failures: [] as string[] };
      const one = async (worker: number) => {
        for (let i = worker; !stop(); i += 8) {
          const s = pick(i);
          const r = await t.call("talk-app", "GET", `/v1/subjects/${s.id}?purpose=talk_service&fields=user_id,phone,email`);
          stats.reads++;
          if (busy()) stats.during++;
          const want = person(s.n);
          if (r.status !== 200) stats.failures.push(`${s.n}: ${r.status} ${JSON.stringify(r.body)}`);
          else if (r.body.fields.user_id !== want.user_id || r.body.fields.phone !== want.phone || r.body.fields.email !== want.email) {
            stats.failures.push(`${s.n}: wrong values ${JSON.stringify(r.body.fields)}`);
          }
        }
      };
      const done = Promise.all(Array.from({ length: 8 }, (_, w) => one(w)));
      return { stats, done };
    };

    test("Safety Standard Art. 7 (key management): keys rotate re-wraps every data key while reads keep succeeding", async () => {
      assert.deepEqual(await t.c.services.keys.status(), [{ kekVersion: 1, count: N }]);
      // Warm half the subjects: the other half is first read during or after the rotation, so
      // its keys come from the key store, wrapped by whichever version the row has by then.
      for (let i = 0; i < N; i += 2) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${subjects[i]!.id}?purpose=talk_service&fields=user_id`)).status, 200);

      let rotating = false;
      let finished = false;
      let afterReads = 0;
      const loop = readLoop(
        (i) => subjects[(i * 7) % N]!,
        () => finished && afterReads++ > 2 * N,
        () => rotating,
      );
      // Let the readers get going before the rotation starts.
      while (loop.stats.reads < 16) await new Promise((r) => setTimeout(r, 5));
      rotating = true;
      const progress: number[] = [];
      // Writes during the rotation get the new version at once.
      const created: Promise<{ status: number; body: any }>[] = [];
      const result = await t.c.services.keys.rotate({
        pageSize: 25,
        onProgress: (done) => {
          progress.push(done);
          if (created.length < 5) created.push(t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(N + created.length) }));
        },
      });
      rotating = false;
      finished = true;
      await loop.done;
      for (const c of await Promise.all(created)) assert.equal(c.status, 201, JSON.stringify(c.body));

      assert.deepEqual(result, { kekVersion: 2, rewrapped: N, rewrappedSealed: 0 });
      assert.ok(progress.length >= N / 25, "re-wrapped page by page");
      assert.deepEqual(loop.stats.failures, [], "every read during and after the rotation succeeded");
      assert.ok(loop.stats.reads > 2 * N, `reads kept going (${loop.stats.reads} in all)`);
      // No downtime: reads are answered while the rotation runs, not queued behind it.
      assert.ok(loop.stats.during > 0, `reads completed while the rotation ran (${loop.stats.during}); the rotation must yield between pages`);
      assert.equal(t.c.keyring.kek.activeVersion(), 2);
      assert.deepEqual(await t.c.services.keys.status(), [{ kekVersion: 2, count: N + created.length }], "every key on the new version");

      // Cold reads of every subject: each key unwraps under v2.
      for (const s of subjects.filter((_, i) => i % 2 === 1)) {
        const r = await t.call("talk-app", "GET", `/v1/subjects/${s.id}?purpose=talk_service&fields=nickname`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.fields.nickname, person(s.n).nickname);
      }
    });

    test("Safety Standard Art. 7: a second rotation works and reads still succeed; rotations are audited", async () => {
      let stop = false;
      const loop = readLoop((i) => subjects[(i * 11) % N]!, () => stop);
      const r = await t.c.services.keys.rotate({ pageSize: 50 });
      stop = true;
      await loop.done;
      assert.equal(r.kekVersion, 3);
      assert.equal(r.rewrapped, await total());
      assert.deepEqual(loop.stats.failures, []);
      const status = await t.c.services.keys.status();
      assert.deepEqual(
        status.map((s) => s.kekVersion),
        [3],
      );
      assert.deepEqual(t.c.keyring.kek.versions(), [1, 2, 3], "old versions stay until an operator retires them");

      // A resumed rotation with nothing left to do re-wraps nothing.
      assert.deepEqual(await t.c.services.keys.rotate({ resumeOnly: true }), { kekVersion: 3, rewrapped: 0, rewrappedSealed: 0 });

      await t.c.audit.flush();
      const rotations: { kekVersion: number; effect: string }[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) {
          if (row.action !== "keys.rotate") continue;
          const b = JSON.parse(row.body);
          rotations.push({ kekVersion: b.meta.kekVersion, effect: b.effect });
        }
      }
      assert.deepEqual(
        rotations.map((x) => x.kekVersion),
        [2, 3, 3],
      );
      const v = await t.c.services.audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v.problems));
    });
  });
}
