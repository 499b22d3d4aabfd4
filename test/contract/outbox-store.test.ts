/** OutboxStore contract (ADR 0011): every store kind must pass all of it. */
import assert from "node:assert/strict";
import { beforeEach, it } from "node:test";
import type { NewOutboxMessage } from "../../src/core/outbox/outbox-types.js";
import { at, forEachStore, newId, T0 } from "./store-fixture.js";

let n = 0;
const message = (over: Partial<NewOutboxMessage> = {}): NewOutboxMessage => {
  n += 1;
  return {
    id: `om_test${String(n).padStart(4, "0")}_${Math.random().toString(36).slice(2, 8)}`,
    kind: "annual_notice",
    subjectId: newId(),
    period: "2026",
    channel: "email",
    addressField: "email",
    title: "개인정보 이용·제공 내역 안내 / Your annual notice",
    body: "1. 수집·이용 목적 및 항목 / Purposes and items: …",
    bodySha256: "cd".repeat(32),
    createdAt: T0,
    ...over,
  };
};

forEachStore("OutboxStore", (fx) => {
  // The suite shares one database: what earlier tests left due is settled first, so each test's
  // claims see only its own messages.
  beforeEach(async () => {
    const { outbox } = fx().stores.data;
    const far = new Date("3000-01-01T00:00:00Z");
    for (const m of await outbox.claim("drain", far, new Date("3000-01-02T00:00:00Z"), 10_000)) {
      await outbox.complete(m.id, "drain", { status: "given_up", error: "TEST_DRAIN", transport: null }, far);
    }
  });

  it("enqueue is idempotent per (kind, subject, period) and round-trips a message", async () => {
    const { outbox } = fx().stores.data;
    const m = message({ period: "2026-idem" });
    assert.deepEqual(await outbox.enqueue([m]), [m.id]);
    // Same kind, subject and period under a new id: nothing inserted (a rerun of the same year).
    assert.deepEqual(await outbox.enqueue([{ ...m, id: `${m.id}_again` }]), []);
    // Another period or kind for the same person is a new message.
    const other = message({ subjectId: m.subjectId, period: "2027-idem" });
    const dormancy = message({ subjectId: m.subjectId, period: "2026-idem", kind: "dormancy_notice" });
    assert.deepEqual((await outbox.enqueue([other, dormancy])).sort(), [other.id, dormancy.id].sort());
    const got = await outbox.get(m.id);
    assert.ok(got);
    assert.equal(got.status, "queued");
    assert.equal(got.attempts, 0);
    assert.equal(got.nextAt.getTime(), T0.getTime());
    assert.equal(got.title, m.title);
    assert.equal(got.body, m.body);
    assert.equal(got.subjectId, m.subjectId);
    assert.equal(got.addressField, "email");
    assert.equal(got.proof, null);
    assert.equal(await outbox.get("om_missing"), undefined);
  });

  it("a duplicate inside one batch is inserted once", async () => {
    const { outbox } = fx().stores.data;
    const m = message({ period: "2026-batch" });
    assert.deepEqual(await outbox.enqueue([m, { ...m, id: `${m.id}_dup` }]), [m.id]);
  });

  it("claim leases due messages to one worker, counts an attempt, and never hands one to two workers", async () => {
    const f = fx();
    const other = await f.openAnother();
    const kind = "dormancy_notice" as const;
    const batch = Array.from({ length: 40 }, () => message({ kind, period: "claim-race" }));
    await f.stores.data.outbox.enqueue(batch);
    const now = at(1000);
    const until = at(61_000);
    const claims = await Promise.all([
      f.stores.data.outbox.claim("worker-a", now, until, 25, { kind }),
      other.data.outbox.claim("worker-b", now, until, 25, { kind }),
      f.stores.data.outbox.claim("worker-c", now, until, 25, { kind }),
    ]);
    const ids = claims.flat().map((m) => m.id);
    assert.equal(ids.length, 40, "every due message claimed once");
    assert.equal(new Set(ids).size, 40, "no message claimed twice");
    for (const m of claims.flat()) {
      assert.equal(m.status, "sending");
      assert.equal(m.attempts, 1);
      assert.equal(m.leaseUntil?.getTime(), until.getTime());
    }
    assert.equal((await f.stores.data.outbox.claim("worker-d", now, until, 100, { kind })).length, 0, "leased messages are not due");
  });

  it("only the lease holder records an outcome; sent keeps the proof", async () => {
    const { outbox } = fx().stores.data;
    const m = message({ kind: "dormancy_notice", period: "complete" });
    await outbox.enqueue([m]);
    const [c] = await outbox.claim("w1", at(0), at(60_000), 1, { kind: "dormancy_notice" });
    assert.equal(c?.id, m.id);
    assert.equal(await outbox.complete(m.id, "w2", { status: "sent", proof: "smtp:250 2.0.0 Ok: queued as X", transport: "smtp" }, at(10)), false);
    assert.equal(await outbox.complete(m.id, "w1", { status: "sent", proof: "smtp:250 2.0.0 Ok: queued as X", transport: "smtp" }, at(10)), true);
    assert.equal(await outbox.complete(m.id, "w1", { status: "sent", proof: "again", transport: "smtp" }, at(20)), false, "a sent message is final");
    const got = await outbox.get(m.id);
    assert.equal(got?.status, "sent");
    assert.equal(got?.proof, "smtp:250 2.0.0 Ok: queued as X");
    assert.equal(got?.transport, "smtp");
    assert.equal(got?.sentAt?.getTime(), at(10).getTime());
    assert.equal(got?.leaseOwner, null);
  });

  it("a failed attempt is due again at its backoff time; given_up is final", async () => {
    const { outbox } = fx().stores.data;
    const m = message({ kind: "dormancy_notice", period: "retry" });
    await outbox.enqueue([m]);
    await outbox.claim("w", at(0), at(60_000), 10, { kind: "dormancy_notice" });
    assert.equal(await outbox.complete(m.id, "w", { status: "failed", error: "HTTP_503", transport: "webhook", nextAt: at(120_000) }, at(5)), true);
    let got = await outbox.get(m.id);
    assert.equal(got?.status, "failed");
    assert.equal(got?.lastError, "HTTP_503");
    assert.equal((await outbox.claim("w", at(119_000), at(200_000), 10, { kind: "dormancy_notice" })).length, 0, "not before its backoff");
    const [again] = await outbox.claim("w", at(120_000), at(200_000), 10, { kind: "dormancy_notice" });
    assert.equal(again?.id, m.id);
    assert.equal(again?.attempts, 2);
    assert.equal(await outbox.complete(m.id, "w", { status: "given_up", error: "HTTP_400", transport: "webhook" }, at(121_000)), true);
    got = await outbox.get(m.id);
    assert.equal(got?.status, "given_up");
    assert.equal(got?.lastError, "HTTP_400");
    assert.equal((await outbox.claim("w", at(10_000_000), at(10_060_000), 10, { kind: "dormancy_notice" })).length, 0);
  });

  it("a crashed worker's lease runs out and another worker takes the message over (crash-safe)", async () => {
    const f = fx();
    const { outbox } = f.stores.data;
    const m = message({ kind: "dormancy_notice", period: "crash" });
    await outbox.enqueue([m]);
    await outbox.claim("crashed", at(0), at(30_000), 10, { kind: "dormancy_notice" });
    // The process that claimed it is gone; another opens the same database.
    const other = await f.openAnother();
    assert.equal((await other.data.outbox.claim("rescuer", at(29_999), at(90_000), 10, { kind: "dormancy_notice" })).length, 0, "not while the lease holds");
    const [taken] = await other.data.outbox.claim("rescuer", at(30_000), at(90_000), 10, { kind: "dormancy_notice" });
    assert.equal(taken?.id, m.id);
    assert.equal(taken?.attempts, 2);
    assert.equal(await outbox.complete(m.id, "crashed", { status: "sent", proof: "late", transport: "smtp" }, at(31_000)), false, "the old holder is fenced off");
    assert.equal(await other.data.outbox.complete(m.id, "rescuer", { status: "sent", proof: "ok", transport: "smtp" }, at(31_000)), true);
  });

  it("lists with filters in id order, and counts per kind, period and status", async () => {
    const { outbox } = fx().stores.data;
    const subject = newId();
    const a = message({ period: "count-2030", subjectId: subject });
    const b = message({ period: "count-2030" });
    const c = message({ period: "count-2031" });
    await outbox.enqueue([a, b, c]);
    const listed = await outbox.list({ kind: "annual_notice", period: "count-2030", limit: 10 });
    assert.deepEqual(listed.map((m) => m.id), [a.id, b.id].sort());
    assert.deepEqual((await outbox.list({ subjectId: subject, limit: 10 })).map((m) => m.id), [a.id]);
    const page = await outbox.list({ period: "count-2030", limit: 1 });
    assert.equal(page.length, 1);
    assert.deepEqual((await outbox.list({ period: "count-2030", afterId: page[0]!.id, limit: 10 })).length, 1);
    assert.deepEqual(await outbox.counts({ kind: "annual_notice", period: "count-2030" }), [{ kind: "annual_notice", period: "count-2030", status: "queued", count: 2 }]);
    assert.equal((await outbox.list({ status: "sent", period: "count-2030", limit: 10 })).length, 0);
  });

  it("keeps one notice preference per person and kind (the Art. 20-2 opt-out)", async () => {
    const { outbox } = fx().stores.data;
    const [p, q, r] = [newId(), newId(), newId()];
    await outbox.setPreference({ subjectId: p, kind: "annual_notice", optedOut: true, at: T0, principal: "talk-app", requestId: "r1" });
    await outbox.setPreference({ subjectId: q, kind: "annual_notice", optedOut: true, at: T0, principal: "talk-app", requestId: "r2" });
    await outbox.setPreference({ subjectId: q, kind: "annual_notice", optedOut: false, at: at(1000), principal: "talk-app", requestId: "r3" });
    await outbox.setPreference({ subjectId: r, kind: "dormancy_notice", optedOut: true, at: T0, principal: "talk-app", requestId: "r4" });
    assert.deepEqual([...(await outbox.optedOut([p, q, r], "annual_notice"))], [p]);
    assert.deepEqual([...(await outbox.optedOut([], "annual_notice"))], []);
    const got = await outbox.getPreference(q, "annual_notice");
    assert.equal(got?.optedOut, false);
    assert.equal(got?.requestId, "r3");
    assert.equal(got?.at.getTime(), at(1000).getTime());
    assert.equal(await outbox.getPreference(r, "annual_notice"), undefined);
  });
});
