/**
 * Idempotency keys in the stores (issue 7; ADR 0017): a key's answer commits in the transaction of
 * the write it answers, or neither does; a claim (status 0) is answered once; keys are per
 * principal; old keys are pruned by age (migration 0014_idempotency_by_age). Every store kind
 * must pass all of it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import { emptyFacts, type IncidentRow, type NewIncidentEvent } from "../../src/core/incident/incident-types.js";
import { PENDING } from "../../src/core/idempotency/idempotency-fns.js";
import type { DataStore, IdempotencyRecord, IdempotencyRow, NewRequestEvent, ProvisionRow, SubjectRequestRow } from "../../src/core/ports.js";
import { deadlineOf } from "../../src/core/requests/request-fns.js";
import { at, forEachStore, newId, rejectsWith, subjectRow, T0 } from "./store-fixture.js";

const tag = () => randomBytes(6).toString("hex");
const hash = (s: string) => Buffer.alloc(32, s);

const keyRow = (over: Partial<IdempotencyRow> = {}): IdempotencyRow => ({
  principal: "talk-app",
  key: `key-${tag()}`,
  requestHash: hash("a"),
  status: 200,
  response: JSON.stringify({ ok: true }),
  createdAt: T0,
  ...over,
});

const provisionRow = (over: Partial<ProvisionRow> = {}): ProvisionRow => ({
  id: `prv_${tag()}`,
  scheduleId: null,
  principal: "pay-app",
  recipient: `rcp_${tag()}`,
  country: "KR",
  purpose: "pay_service",
  label: "provision",
  classification: "provision",
  basis: "consent:nsf_provision",
  transferBasis: null,
  fields: ["user_id"],
  format: "ndjson",
  request: "{}",
  status: "planned",
  reasons: [],
  counts: { scanned: 0, included: 0, excluded: {} },
  diff: null,
  manifest: null,
  cursor: null,
  parts: 0,
  createdAt: T0,
  updatedAt: T0,
  finishedAt: T0,
  ...over,
});

const requestRow = (over: Partial<SubjectRequestRow> = {}): SubjectRequestRow => ({
  id: `req_${tag()}`,
  kind: "access",
  subjectId: newId(),
  subjectExternal: "sub_abc",
  filedBy: "talk-app",
  channel: "service_api",
  receivedAt: T0,
  deadline: deadlineOf(T0),
  status: "received",
  detail: {},
  extension: null,
  outcome: null,
  updatedAt: T0,
  closedAt: null,
  ...over,
});
const requestEvent = (act: NewRequestEvent["act"]): NewRequestEvent => ({ at: T0, actor: "talk-app", act, detail: {}, auditSeq: 7 });

const incidentRow = (over: Partial<IncidentRow> = {}): IncidentRow => ({
  id: `inc_${tag()}`,
  kind: "leak",
  status: "open",
  source: { type: "manual", note: null },
  summary: "phones on a forum",
  awareAt: T0,
  deadline: at(72 * 3600_000),
  openedAt: T0,
  openedBy: "privacy-office",
  facts: emptyFacts(),
  scope: null,
  updatedAt: T0,
  closedAt: null,
  ...over,
});
const incidentEvent = (act: NewIncidentEvent["act"], auditSeq = 9): NewIncidentEvent => ({ at: at(1000), actor: "privacy-office", act, detail: {}, auditSeq });

/**
 * One store write that takes a key: `write` makes it (with fresh ids each time) under `idem`, and
 * `applied` tells whether that write's effect is in the store.
 */
interface KeyedWrite {
  name: string;
  write(data: DataStore, idem: IdempotencyRecord<any>): Promise<{ applied(): Promise<boolean> }>;
}

const WRITES: KeyedWrite[] = [
  {
    name: "DataTx (a subject and its answer)",
    write: async (data, idem) => {
      const row = subjectRow();
      await data.transaction(async (tx) => {
        await tx.insertSubject(row);
        await tx.putIdempotency(idem(undefined));
      });
      return { applied: async () => (await data.getSubject(row.id)) !== undefined };
    },
  },
  {
    name: "provisions.insertProvision",
    write: async (data, idem) => {
      const row = provisionRow();
      await data.provisions.insertProvision(row, idem);
      return { applied: async () => (await data.provisions.getProvision(row.id)) !== undefined };
    },
  },
  {
    name: "provisions.updateProvision",
    write: async (data, idem) => {
      const row = provisionRow({ status: "failed" });
      await data.provisions.insertProvision(row);
      await data.provisions.updateProvision(row.id, { status: "running", updatedAt: at(5) }, idem);
      return { applied: async () => (await data.provisions.getProvision(row.id))?.status === "running" };
    },
  },
  {
    name: "provisions.putSuspension",
    write: async (data, idem) => {
      const id = `sus_${tag()}`;
      await data.provisions.putSuspension({ id, scope: "recipient", target: `rcp_${tag()}`, order: "PIPC 2026-1", reason: "order", at: T0, by: "privacy-office", liftedAt: null, liftedBy: null }, idem);
      return { applied: async () => (await data.provisions.listSuspensions()).some((s) => s.id === id) };
    },
  },
  {
    name: "provisions.liftSuspension",
    write: async (data, idem) => {
      const id = `sus_${tag()}`;
      await data.provisions.putSuspension({ id, scope: "country", target: "XX", order: "PIPC 2026-2", reason: "order", at: T0, by: "privacy-office", liftedAt: null, liftedBy: null });
      await data.provisions.liftSuspension(id, at(5), "privacy-office", idem);
      return { applied: async () => (await data.provisions.listSuspensions()).find((s) => s.id === id)?.liftedAt !== null };
    },
  },
  {
    name: "provisions.putSchedule",
    write: async (data, idem) => {
      const id = `sch_${tag()}`;
      await data.provisions.putSchedule({ id, principal: "pay-app", request: "{}", every: "P1D", nextAt: T0, lastProvisionId: null, active: true, createdAt: T0 }, idem);
      return { applied: async () => (await data.provisions.getSchedule(id)) !== undefined };
    },
  },
  {
    name: "requests.insert",
    write: async (data, idem) => {
      const row = requestRow();
      await data.requests.insert(row, requestEvent("received"), idem);
      return { applied: async () => (await data.requests.get(row.id)) !== undefined };
    },
  },
  {
    name: "requests.update",
    write: async (data, idem) => {
      const row = requestRow();
      await data.requests.insert(row, requestEvent("received"));
      await data.requests.update(row.id, ["received"], { status: "completed", updatedAt: at(5), closedAt: at(5) }, requestEvent("completed"), idem);
      return { applied: async () => (await data.requests.get(row.id))?.status === "completed" };
    },
  },
  {
    name: "incidents.insert",
    write: async (data, idem) => {
      const row = incidentRow();
      await data.incidents.insert(row, incidentEvent("opened"), idem);
      return { applied: async () => (await data.incidents.get(row.id)) !== undefined };
    },
  },
  {
    name: "incidents.update",
    write: async (data, idem) => {
      const row = incidentRow();
      await data.incidents.insert(row, incidentEvent("opened"));
      await data.incidents.update(row.id, { status: "closed", closedAt: at(5), updatedAt: at(5) }, [incidentEvent("closed")], idem);
      return { applied: async () => (await data.incidents.get(row.id))?.status === "closed" };
    },
  },
  {
    name: "incidents.putScope",
    write: async (data, idem) => {
      const row = incidentRow();
      await data.incidents.insert(row, incidentEvent("opened"));
      const scope = {
        window: { from: T0.toISOString(), to: at(1000).toISOString() },
        principals: ["talk-app"],
        recipients: [],
        computedAt: at(1000).toISOString(),
        auditHead: 1,
        people: { total: 1, linked: 1, unlinkable: 0, credit: 0 },
        fields: [{ field: "phone", people: 1, sensitivity: "general" }],
        through: [],
        first: null,
        last: null,
      };
      await data.incidents.putScope(row.id, scope, [{ subjectId: newId(), fields: ["phone"], via: ["talk-app"] }], incidentEvent("scoped"), idem);
      return { applied: async () => (await data.incidents.get(row.id))?.scope !== null };
    },
  },
  {
    name: "incidents.putNotices",
    write: async (data, idem) => {
      const row = incidentRow();
      await data.incidents.insert(row, incidentEvent("opened"));
      const ntc = `ntc_${tag()}`;
      const notice = { id: ntc, incidentId: row.id, kind: "full" as const, audience: "subject" as const, title: "t", body: "b", sha256: "ab".repeat(32), recipients: 1, createdAt: at(2), postUntil: null };
      const msg = { id: `msg_${tag()}`, incidentId: row.id, noticeId: ntc, subjectId: newId(), channel: "email", status: "queued" as const, queuedAt: at(2), sentAt: null, proof: null, error: null };
      await data.incidents.putNotices(row.id, [notice], [msg], incidentEvent("notices_queued"), idem);
      return { applied: async () => (await data.incidents.notices(row.id)).length === 1 };
    },
  },
  {
    name: "detection.liftHolds",
    write: async (data, idem) => {
      const principal = `p-${tag()}`;
      await data.detection.putHold({ id: `hold_${tag()}`, principal, kind: "suspend", rule: "x", alertId: null, reason: "r", at: T0, until: null, liftedAt: null, liftedBy: null, liftReason: null });
      await data.detection.liftHolds(principal, at(5), "privacy-office", "checked", idem);
      return { applied: async () => (await data.detection.listHolds({ principal, limit: 5 })).every((h) => h.liftedAt !== null) };
    },
  },
  {
    name: "outbox.setPreference",
    write: async (data, idem) => {
      const subjectId = newId();
      await data.outbox.setPreference({ subjectId, kind: "annual_notice", optedOut: true, at: T0, principal: "talk-app", requestId: "r1" }, idem);
      return { applied: async () => (await data.outbox.getPreference(subjectId, "annual_notice")) !== undefined };
    },
  },
];

forEachStore("Idempotency keys", (fx) => {
  it("a claim (status 0) is answered once, under its request hash only; a second claim or a second answer is CONFLICT and changes nothing", async () => {
    const { data } = fx().stores;
    const claim = keyRow({ status: PENDING, response: JSON.stringify({ request: "req_1" }) });
    await data.transaction((tx) => tx.putIdempotency(claim));
    assert.deepEqual(await data.getIdempotency(claim.principal, claim.key), claim);
    await rejectsWith(() => data.transaction((tx) => tx.putIdempotency({ ...claim, response: "{}" })), "CONFLICT");
    await rejectsWith(() => data.transaction((tx) => tx.putIdempotency({ ...claim, status: 201, requestHash: hash("b") })), "CONFLICT");
    assert.equal((await data.getIdempotency(claim.principal, claim.key))?.status, PENDING, "still the claim");
    const answer = { ...claim, status: 201, response: JSON.stringify({ id: "sub_1" }), createdAt: at(9000) };
    await data.transaction((tx) => tx.putIdempotency(answer));
    assert.deepEqual(await data.getIdempotency(claim.principal, claim.key), { ...answer, createdAt: claim.createdAt }, "answered; remembered from the claim's time");
    await rejectsWith(() => data.transaction((tx) => tx.putIdempotency({ ...answer, response: "{}" })), "CONFLICT");
    assert.equal((await data.getIdempotency(claim.principal, claim.key))?.response, answer.response);
    // Per principal: another principal's key of the same name is another key.
    await data.transaction((tx) => tx.putIdempotency({ ...answer, principal: "pay-app" }));
    assert.equal((await data.getIdempotency("pay-app", claim.key))?.status, 201);
  });

  for (const w of WRITES) {
    it(`${w.name}: the key's answer commits with the write, or neither does (a key answered already refuses the write)`, async () => {
      const { data } = fx().stores;
      const key = keyRow();
      const first = await w.write(data, () => key);
      assert.ok(await first.applied(), "applied");
      assert.deepEqual(await data.getIdempotency(key.principal, key.key), key);
      let second: { applied(): Promise<boolean> } | undefined;
      const e = await rejectsWith(async () => {
        second = await w.write(data, () => ({ ...key, response: JSON.stringify({ second: true }) }));
      }, "CONFLICT");
      assert.match(e.message, /idempotency key/);
      assert.equal(second, undefined);
      assert.equal((await data.getIdempotency(key.principal, key.key))?.response, key.response, "the first answer stands");
    });
  }

  it("the second write of a refused key leaves no trace: its effect rolled back with it", async () => {
    const { data } = fx().stores;
    const key = keyRow();
    await data.provisions.insertProvision(provisionRow(), () => key);
    const row = provisionRow();
    await rejectsWith(() => data.provisions.insertProvision(row, () => key), "CONFLICT");
    assert.equal(await data.provisions.getProvision(row.id), undefined, "no second provision");
    const req = requestRow();
    await rejectsWith(() => data.requests.insert(req, requestEvent("received"), () => key), "CONFLICT");
    assert.equal(await data.requests.get(req.id), undefined, "no second request");
    const inc = incidentRow();
    await rejectsWith(() => data.incidents.insert(inc, incidentEvent("opened"), () => key), "CONFLICT");
    assert.equal(await data.incidents.get(inc.id), undefined, "no second incident");
    const subject = subjectRow();
    await rejectsWith(
      () =>
        data.transaction(async (tx) => {
          await tx.insertSubject(subject);
          await tx.putIdempotency(key);
        }),
      "CONFLICT",
    );
    assert.equal(await data.getSubject(subject.id), undefined, "no second subject");
  });

  it("the answer is built from what the write returned (the history event's seq, the holds lifted)", async () => {
    const { data } = fx().stores;
    const row = requestRow();
    const key = keyRow();
    const ev = await data.requests.insert(row, requestEvent("received"), (e) => ({ ...key, response: JSON.stringify({ seq: e.seq, request: e.requestId }) }));
    assert.deepEqual(JSON.parse((await data.getIdempotency(key.principal, key.key))!.response), { seq: ev.seq, request: row.id });
    const principal = `p-${tag()}`;
    const holdId = `hold_${tag()}`;
    await data.detection.putHold({ id: holdId, principal, kind: "throttle", rule: "x", alertId: null, reason: "r", at: T0, until: at(60_000), liftedAt: null, liftedBy: null, liftReason: null });
    const liftKey = keyRow();
    await data.detection.liftHolds(principal, at(5), "privacy-office", "checked", (lifted) => ({ ...liftKey, response: JSON.stringify(lifted.map((h) => h.id)) }));
    assert.deepEqual(JSON.parse((await data.getIdempotency(liftKey.principal, liftKey.key))!.response), [holdId]);
  });

  it("a write that changes nothing records no key: a suspension not active, a request no longer open", async () => {
    const { data } = fx().stores;
    const key = keyRow();
    assert.equal(await data.provisions.liftSuspension(`sus_${tag()}`, at(5), "privacy-office", () => key), false);
    const row = requestRow({ status: "completed", closedAt: T0 });
    await data.requests.insert(row, requestEvent("received"));
    assert.equal(await data.requests.update(row.id, ["received"], { status: "refused", updatedAt: at(5) }, requestEvent("refused"), () => key), undefined);
    assert.equal(await data.getIdempotency(key.principal, key.key), undefined);
  });

  it("two processes answering one claim at once: one answer commits, the other write is CONFLICT and rolled back", async () => {
    const { data } = fx().stores;
    const other = (await fx().openAnother()).data;
    const claim = keyRow({ status: PENDING, response: "{}" });
    await data.transaction((tx) => tx.putIdempotency(claim));
    const a = requestRow();
    const b = requestRow();
    await data.requests.insert(a, requestEvent("received"));
    await data.requests.insert(b, requestEvent("received"));
    const close = (store: DataStore, row: SubjectRequestRow, n: number) =>
      store.requests.update(row.id, ["received"], { status: "completed", updatedAt: at(5), closedAt: at(5) }, requestEvent("completed"), () => ({ ...claim, status: 200, response: JSON.stringify({ n }) }));
    const results = await Promise.allSettled([close(data, a, 1), close(other, b, 2)]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, JSON.stringify(results.map((r) => r.status)));
    const winner = JSON.parse((await data.getIdempotency(claim.principal, claim.key))!.response).n as number;
    assert.equal((await data.requests.get(a.id))?.status, winner === 1 ? "completed" : "received");
    assert.equal((await data.requests.get(b.id))?.status, winner === 2 ? "completed" : "received");
  });

  it("prune forgets keys recorded before the cut-off, answered or claimed, and keeps the later ones", async () => {
    const { data } = fx().stores;
    const old = keyRow({ principal: "prune-test", createdAt: at(-25 * 3600_000) });
    const oldClaim = keyRow({ principal: "prune-test", status: PENDING, createdAt: at(-24 * 3600_000 - 1) });
    const fresh = keyRow({ principal: "prune-test", createdAt: at(-24 * 3600_000) });
    for (const r of [old, oldClaim, fresh]) await data.transaction((tx) => tx.putIdempotency(r));
    const removed = await data.pruneIdempotency(at(-24 * 3600_000));
    assert.ok(removed >= 2, `removed ${removed}`);
    assert.equal(await data.getIdempotency(old.principal, old.key), undefined);
    assert.equal(await data.getIdempotency(oldClaim.principal, oldClaim.key), undefined);
    assert.deepEqual(await data.getIdempotency(fresh.principal, fresh.key), fresh);
    assert.equal(await data.pruneIdempotency(at(-24 * 3600_000)), 0, "nothing left to prune");
  });
});
