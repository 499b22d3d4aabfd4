/** IncidentStore contract (ADR 0010): every store kind must pass all of it. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { emptyFacts, type IncidentNoticeRow, type IncidentRow, type IncidentScope, type NewIncidentEvent, type OutboxRow } from "../../src/core/incident/incident-types.js";
import { at, forEachStore, newId, rejectsWith, T0 } from "./store-fixture.js";

let n = 0;
const incident = (over: Partial<IncidentRow> = {}): IncidentRow => {
  n += 1;
  return {
    id: `inc_test${n}_${Math.random().toString(36).slice(2, 8)}`,
    kind: "leak",
    status: "open",
    source: { type: "external", channel: "press", reporter: "Daily Example", reference: "article 2026-11-20" },
    summary: "member names and phones offered on a forum",
    awareAt: T0,
    deadline: at(72 * 3600_000),
    openedAt: at(60_000),
    openedBy: "privacy-office",
    facts: emptyFacts(),
    scope: null,
    updatedAt: at(60_000),
    closedAt: null,
    ...over,
  };
};
const event = (act: NewIncidentEvent["act"], auditSeq: number, over: Partial<NewIncidentEvent> = {}): NewIncidentEvent => ({
  at: at(auditSeq * 1000),
  actor: "privacy-office",
  act,
  detail: { n: auditSeq },
  auditSeq,
  ...over,
});
const scope = (over: Partial<IncidentScope> = {}): IncidentScope => ({
  window: { from: T0.toISOString(), to: at(3600_000).toISOString() },
  principals: ["scraper"],
  recipients: [],
  computedAt: at(120_000).toISOString(),
  auditHead: 42,
  people: { total: 3, linked: 2, unlinkable: 1, credit: 0 },
  fields: [{ field: "phone", people: 3, sensitivity: "general" }],
  through: [{ kind: "principal", name: "scraper", entries: 5, people: 3, fields: ["phone"], first: T0.toISOString(), last: at(1000).toISOString() }],
  first: T0.toISOString(),
  last: at(1000).toISOString(),
  ...over,
});
const notice = (incidentId: string, id: string, over: Partial<IncidentNoticeRow> = {}): IncidentNoticeRow => ({
  id,
  incidentId,
  kind: "full",
  audience: "subject",
  title: "개인정보 유출 통지 / Notice of a personal-data breach",
  body: "1. 유출된 항목 / What leaked: 휴대전화번호 / phone",
  sha256: "ab".repeat(32),
  recipients: 2,
  createdAt: at(200_000),
  postUntil: null,
  ...over,
});
const message = (incidentId: string, noticeId: string, id: string, over: Partial<OutboxRow> = {}): OutboxRow => ({
  id,
  incidentId,
  noticeId,
  subjectId: newId(),
  channel: "email",
  status: "queued",
  queuedAt: at(200_000),
  sentAt: null,
  proof: null,
  error: null,
  ...over,
});

forEachStore("IncidentStore", (fx) => {
  it("inserts an incident with its first timeline event and round-trips it", async () => {
    const { incidents } = fx().stores.data;
    const row = incident();
    const e = await incidents.insert(row, event("opened", 7));
    assert.equal(e.incidentId, row.id);
    assert.equal(e.act, "opened");
    assert.equal(e.auditSeq, 7);
    assert.deepEqual(e.detail, { n: 7 });
    assert.deepEqual(await incidents.get(row.id), row);
    assert.deepEqual(await incidents.events(row.id), [e]);
    assert.equal(await incidents.get("inc_none"), undefined);
    await rejectsWith(() => incidents.insert(row, event("opened", 8)), "CONFLICT");
    assert.equal((await incidents.events(row.id)).length, 1, "a refused insert appends nothing");
  });

  it("updates facts, kind and status with an event each, in order; an unknown id is NOT_FOUND", async () => {
    const { incidents } = fx().stores.data;
    const row = incident({ kind: "possible" });
    await incidents.insert(row, event("opened", 10));
    const facts = { ...emptyFacts(), intrusion: true, containment: [{ measure: "blocked_access" as const, description: "key revoked", at: at(5000).toISOString() }] };
    await incidents.update(row.id, { facts, updatedAt: at(9000) }, [event("containment", 11)]);
    await incidents.update(row.id, { kind: "leak", updatedAt: at(10_000) }, [event("confirmed", 12)]);
    await incidents.update(row.id, { status: "closed", closedAt: at(20_000), updatedAt: at(20_000) }, [event("closed", 13)]);
    const got = (await incidents.get(row.id))!;
    assert.deepEqual(got.facts, facts);
    assert.equal(got.kind, "leak");
    assert.equal(got.status, "closed");
    assert.deepEqual(got.closedAt, at(20_000));
    assert.deepEqual(got.updatedAt, at(20_000));
    assert.deepEqual(got.summary, row.summary, "unpatched columns stay");
    const events = await incidents.events(row.id);
    assert.deepEqual(events.map((e) => e.act), ["opened", "containment", "confirmed", "closed"]);
    assert.deepEqual(events.map((e) => e.auditSeq), [10, 11, 12, 13]);
    assert.ok(events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq));
    // Several acts at once (a record of facts and a close): one change, their events in order.
    const more = await incidents.update(row.id, { updatedAt: at(21_000) }, [event("facts", 15), event("closed", 16)]);
    assert.deepEqual(more.map((e) => e.act), ["facts", "closed"]);
    assert.deepEqual((await incidents.events(row.id)).slice(-2).map((e) => e.seq), more.map((e) => e.seq));
    await rejectsWith(() => incidents.update("inc_none", { updatedAt: at(1) }, [event("facts", 14)]), "NOT_FOUND");
  });

  it("stores a scope with its people, replaces them on a rescope, and finds incidents per person", async () => {
    const { incidents } = fx().stores.data;
    const a = incident({ awareAt: at(1000) });
    const b = incident({ awareAt: at(5000) });
    await incidents.insert(a, event("opened", 20));
    await incidents.insert(b, event("opened", 21));
    const [p1, p2, p3] = [newId(), newId(), newId()];
    const people = [
      { subjectId: p1, fields: ["name", "phone"], via: ["scraper"] },
      { subjectId: p2, fields: ["phone"], via: ["scraper", "nsf-scoring"] },
    ];
    await incidents.putScope(a.id, scope(), people, event("scoped", 22));
    await incidents.putScope(b.id, scope({ principals: ["other"] }), [{ subjectId: p1, fields: ["email"], via: ["other"] }], event("scoped", 23));
    assert.deepEqual((await incidents.get(a.id))!.scope, scope());
    const byId = (x: { subjectId: string }, y: { subjectId: string }) => (x.subjectId < y.subjectId ? -1 : 1);
    assert.deepEqual(await incidents.subjects(a.id, null, 10), [...people].sort(byId));
    const first = (await incidents.subjects(a.id, null, 1))[0]!;
    assert.deepEqual(await incidents.subjects(a.id, first.subjectId, 10), [...people].sort(byId).slice(1), "pages in id order");
    assert.deepEqual((await incidents.bySubject(p1)).map((i) => i.id), [b.id, a.id], "newest awareness first");
    assert.deepEqual((await incidents.bySubject(p2)).map((i) => i.id), [a.id]);
    assert.deepEqual(await incidents.bySubject(p3), []);
    // A rescope replaces the people: p2 is no longer in a's scope, p3 is.
    await incidents.putScope(a.id, scope({ people: { total: 1, linked: 1, unlinkable: 0, credit: 0 } }), [{ subjectId: p3, fields: ["phone"], via: ["scraper"] }], event("scoped", 24));
    assert.deepEqual(await incidents.bySubject(p2), []);
    assert.deepEqual((await incidents.bySubject(p3)).map((i) => i.id), [a.id]);
    assert.deepEqual((await incidents.events(a.id)).map((e) => e.act), ["opened", "scoped", "scoped"]);
    await rejectsWith(() => incidents.putScope("inc_none", scope(), [], event("scoped", 25)), "NOT_FOUND");
    // A large scope goes in one call.
    const many = Array.from({ length: 3000 }, () => ({ subjectId: newId(), fields: ["phone"], via: ["scraper"] }));
    await incidents.putScope(b.id, scope(), many, event("scoped", 26));
    assert.equal((await incidents.subjects(b.id, null, 5000)).length, 3000);
  });

  it("lists incidents, newest awareness first, by status", async () => {
    const { incidents } = fx().stores.data;
    const open = incident({ awareAt: at(100 * 3600_000) });
    const closed = incident({ awareAt: at(101 * 3600_000), status: "closed", closedAt: at(102 * 3600_000) });
    await incidents.insert(open, event("opened", 30));
    await incidents.insert(closed, event("opened", 31));
    const all = await incidents.list({ limit: 2 });
    assert.deepEqual(all.map((i) => i.id), [closed.id, open.id]);
    assert.ok((await incidents.list({ status: "open", limit: 100 })).every((i) => i.status === "open"));
    assert.deepEqual((await incidents.list({ status: "closed", limit: 1 })).map((i) => i.id), [closed.id]);
  });

  it("keeps notices and their outbox, pages the outbox, and marks deliveries once", async () => {
    const { incidents } = fx().stores.data;
    const row = incident();
    await incidents.insert(row, event("opened", 40));
    const nid = `ntc_${row.id}`;
    const posting = notice(row.id, `${nid}_web`, { audience: "public", recipients: 1, postUntil: at(31 * 24 * 3600_000) });
    const msgs = [
      message(row.id, nid, `msg_${row.id}_1`),
      message(row.id, nid, `msg_${row.id}_2`, { channel: "phone" }),
      message(row.id, posting.id, `msg_${row.id}_3`, { subjectId: null, channel: "website" }),
    ];
    const e = await incidents.putNotices(row.id, [notice(row.id, nid), posting], msgs, event("notices_queued", 41));
    assert.equal(e.act, "notices_queued");
    assert.deepEqual(await incidents.notices(row.id), [notice(row.id, nid), posting]);
    assert.deepEqual(await incidents.outbox(row.id, { limit: 10 }), msgs);
    assert.deepEqual((await incidents.outbox(row.id, { limit: 1, afterId: msgs[0]!.id })).map((m) => m.id), [msgs[1]!.id]);
    assert.equal((await incidents.outbox(row.id, { status: "queued", limit: 10 })).length, 3);

    const changed = await incidents.markOutbox(
      row.id,
      [
        { id: msgs[0]!.id, status: "sent", at: at(300_000), proof: "pickup:abc", error: null },
        { id: msgs[2]!.id, status: "failed", at: at(300_000), proof: null, error: "TRANSPORT_DOWN" },
        { id: "msg_other", status: "sent", at: at(300_000), proof: "x", error: null },
      ],
      event("notices_sent", 42),
    );
    assert.equal(changed, 2);
    const sent = (await incidents.outbox(row.id, { status: "sent", limit: 10 }))[0]!;
    assert.deepEqual(sent, { ...msgs[0]!, status: "sent", sentAt: at(300_000), proof: "pickup:abc" });
    assert.equal((await incidents.outbox(row.id, { status: "failed", limit: 10 }))[0]!.error, "TRANSPORT_DOWN");
    // Only queued messages change: a second delivery result is ignored.
    assert.equal(await incidents.markOutbox(row.id, [{ id: msgs[0]!.id, status: "failed", at: at(400_000), proof: null, error: "LATE" }], event("notices_sent", 43)), 0);
    assert.deepEqual(
      await incidents.outboxCounts(row.id),
      [
        { kind: "full", audience: "public", channel: "website", status: "failed", count: 1 },
        { kind: "full", audience: "subject", channel: "email", status: "sent", count: 1 },
        { kind: "full", audience: "subject", channel: "phone", status: "queued", count: 1 },
      ],
    );
    // A message naming a notice outside the batch, or another incident, is refused and nothing is written.
    await assert.rejects(() => incidents.putNotices(row.id, [], [message(row.id, "ntc_elsewhere", "msg_x")], event("notices_queued", 44)));
    await rejectsWith(() => incidents.putNotices(row.id, [notice(row.id, nid)], [], event("notices_queued", 45)), "CONFLICT");
    assert.equal((await incidents.notices(row.id)).length, 2);
    assert.deepEqual((await incidents.events(row.id)).map((x) => x.act), ["opened", "notices_queued", "notices_sent", "notices_sent"]);
    await rejectsWith(() => incidents.markOutbox("inc_none", [], event("notices_sent", 46)), "NOT_FOUND");
  });

  it("keeps the timeline append-only at the database", async () => {
    const f = fx();
    const row = incident();
    await f.stores.data.incidents.insert(row, event("opened", 50));
    if (f.kind === "sqlite") {
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(`${f.dir}/data.db`);
      try {
        assert.throws(() => db.prepare("UPDATE incident_events SET actor = 'x' WHERE incident_id = ?").run(row.id), /append-only/);
        assert.throws(() => db.prepare("DELETE FROM incident_events WHERE incident_id = ?").run(row.id), /append-only/);
      } finally {
        db.close();
      }
    } else {
      const pg = (await import("pg")).default;
      const client = new pg.Client({ connectionString: f.url });
      await client.connect();
      try {
        await assert.rejects(() => client.query("UPDATE haechi.incident_events SET actor = 'x' WHERE incident_id = $1", [row.id]), /append-only/);
        await assert.rejects(() => client.query("DELETE FROM haechi.incident_events WHERE incident_id = $1", [row.id]), /append-only/);
      } finally {
        await client.end();
      }
    }
  });
});
