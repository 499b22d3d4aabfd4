/**
 * SubjectRequestStore (migration 0010_subject_requests): the ledger of data-subject requests
 * (PIPA Arts. 35–37) with their deadlines and append-only history; every store kind must pass
 * all of it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import Database from "better-sqlite3";
import type { NewRequestEvent, SubjectRequestRow } from "../../src/core/ports.js";
import { deadlineOf } from "../../src/core/requests/request-fns.js";
import { at, forEachStore, newId, rejectsWith, T0 } from "./store-fixture.js";

const DAY = 24 * 3600_000;
const uid = () => `req_${randomBytes(8).toString("hex")}`;

const requestRow = (over: Partial<SubjectRequestRow> = {}): SubjectRequestRow => ({
  id: uid(),
  kind: "access",
  subjectId: newId(),
  subjectExternal: "sub_abc",
  filedBy: "talk-app",
  channel: "service_api",
  receivedAt: T0,
  deadline: deadlineOf(T0),
  status: "received",
  detail: { note: "asked in the app", fields: ["phone"] },
  extension: null,
  outcome: null,
  updatedAt: T0,
  closedAt: null,
  ...over,
});
const event = (over: Partial<NewRequestEvent> = {}): NewRequestEvent => ({ at: T0, actor: "talk-app", act: "received", detail: { kind: "access" }, auditSeq: 7, ...over });

forEachStore("SubjectRequestStore", (fx) => {
  it("keeps a request exactly (times to the millisecond, JSON detail) with its first history event", async () => {
    const { requests } = fx().stores.data;
    const row = requestRow();
    const e = await requests.insert(row, event());
    assert.equal(e.requestId, row.id);
    assert.equal(e.act, "received");
    assert.equal(e.auditSeq, 7);
    assert.deepEqual(await requests.get(row.id), row);
    assert.deepEqual(await requests.events(row.id), [e]);
    assert.equal(await requests.get("req_nobody"), undefined);
    await rejectsWith(() => requests.insert(row, event()), "CONFLICT");
  });

  it("Decree Art. 42(2): an extension is stored with its reason and notice; a close is compare-and-set on the status", async () => {
    const { requests } = fx().stores.data;
    const row = requestRow();
    await requests.insert(row, event());
    const extension = { until: at(20 * DAY), reason: "records in the archive", noticeAt: at(2 * DAY), noticeChannel: "email" as const };
    const ext = await requests.update(row.id, ["received", "in_progress"], { status: "extended", deadline: extension.until, extension, updatedAt: at(2 * DAY) }, event({ act: "extended", at: at(2 * DAY), actor: "privacy-office", auditSeq: 9 }));
    assert.equal(ext?.act, "extended");
    const got = await requests.get(row.id);
    assert.deepEqual(got?.extension, extension);
    assert.equal(got?.status, "extended");
    assert.equal(got?.deadline.getTime(), extension.until.getTime());
    // Two closes race: only one wins.
    const done = await requests.update(row.id, ["received", "in_progress", "extended"], { status: "completed", outcome: { result: "answered" }, closedAt: at(3 * DAY), updatedAt: at(3 * DAY) }, event({ act: "completed", at: at(3 * DAY), auditSeq: 10 }));
    assert.ok(done);
    const again = await requests.update(row.id, ["received", "in_progress", "extended"], { status: "refused", closedAt: at(3 * DAY), updatedAt: at(3 * DAY) }, event({ act: "refused", at: at(3 * DAY), auditSeq: 11 }));
    assert.equal(again, undefined);
    const final = await requests.get(row.id);
    assert.equal(final?.status, "completed");
    assert.deepEqual(final?.outcome, { result: "answered" });
    assert.equal(final?.closedAt?.getTime(), at(3 * DAY).getTime());
    assert.deepEqual((await requests.events(row.id)).map((e) => [e.act, e.auditSeq]), [["received", 7], ["extended", 9], ["completed", 10]]);
    await rejectsWith(() => requests.update("req_nobody", ["received"], { status: "completed" }, event()), "NOT_FOUND");
  });

  it("Art. 35(3): lists by status, kind, filer, subject and deadline, earliest deadline first (the overdue view)", async () => {
    const { requests } = fx().stores.data;
    const filer = `svc-${randomBytes(4).toString("hex")}`;
    const subject = newId();
    const a = requestRow({ filedBy: filer, receivedAt: at(0), deadline: at(10 * DAY), subjectId: subject });
    const b = requestRow({ filedBy: filer, kind: "deletion", receivedAt: at(1 * DAY), deadline: at(11 * DAY) });
    const c = requestRow({ filedBy: filer, kind: "deletion", receivedAt: at(2 * DAY), deadline: at(12 * DAY), status: "completed", closedAt: at(3 * DAY) });
    for (const r of [c, b, a]) await requests.insert(r, event());
    assert.deepEqual((await requests.list({ filedBy: filer, limit: 10 })).map((r) => r.id), [a.id, b.id, c.id]);
    assert.deepEqual((await requests.list({ filedBy: filer, statuses: ["received", "in_progress", "extended"], limit: 10 })).map((r) => r.id), [a.id, b.id]);
    assert.deepEqual((await requests.list({ filedBy: filer, kind: "deletion", limit: 10 })).map((r) => r.id), [b.id, c.id]);
    assert.deepEqual((await requests.list({ filedBy: filer, dueBefore: at(10 * DAY + 1), limit: 10 })).map((r) => r.id), [a.id]);
    assert.deepEqual((await requests.list({ subjectId: subject, limit: 10 })).map((r) => r.id), [a.id]);
    assert.equal((await requests.list({ filedBy: filer, limit: 1 })).length, 1);
    assert.deepEqual(await requests.list({ filedBy: filer, statuses: [], limit: 10 }), []);
  });

  it("Art. 35(3): counts open requests and the overdue among them", async () => {
    const { requests } = fx().stores.data;
    const before = await requests.openCounts(at(10 * DAY + 1));
    await requests.insert(requestRow({ deadline: at(10 * DAY) }), event());
    await requests.insert(requestRow({ deadline: at(30 * DAY), status: "extended" }), event());
    await requests.insert(requestRow({ deadline: at(5 * DAY), status: "refused", closedAt: at(DAY) }), event());
    const after = await requests.openCounts(at(10 * DAY + 1));
    assert.deepEqual({ open: after.open - before.open, overdue: after.overdue - before.overdue }, { open: 2, overdue: 1 });
  });

  it("the history is append-only in the database itself; migration 0010_subject_requests is recorded", async () => {
    const f = fx();
    const row = requestRow();
    await f.stores.data.requests.insert(row, event());
    if (f.kind === "sqlite") {
      const db = new Database(`${f.dir}/data.db`);
      try {
        const names = db.prepare("SELECT name FROM haechi_migration ORDER BY name").all().map((r) => (r as { name: string }).name);
        assert.ok(names.includes("0010_subject_requests"), names.join(", "));
        assert.throws(() => db.prepare("UPDATE subject_request_events SET actor = 'x' WHERE request_id = ?").run(row.id), /append-only/);
        assert.throws(() => db.prepare("DELETE FROM subject_request_events WHERE request_id = ?").run(row.id), /append-only/);
        assert.throws(() => db.prepare("UPDATE subject_requests SET status = 'lost' WHERE id = ?").run(row.id), /CHECK/);
      } finally {
        db.close();
      }
    } else {
      const pg = await import("pg");
      const client = new pg.default.Client({ connectionString: f.url });
      await client.connect();
      try {
        const names = (await client.query("SELECT name FROM haechi.haechi_migration ORDER BY name")).rows.map((r) => r.name as string);
        assert.ok(names.includes("0010_subject_requests"), names.join(", "));
        await assert.rejects(() => client.query("UPDATE haechi.subject_request_events SET actor = 'x' WHERE request_id = $1", [row.id]));
        await assert.rejects(() => client.query("DELETE FROM haechi.subject_request_events WHERE request_id = $1", [row.id]));
        await assert.rejects(() => client.query("UPDATE haechi.subject_requests SET status = 'lost' WHERE id = $1", [row.id]));
      } finally {
        await client.end();
      }
    }
    assert.equal((await f.stores.data.requests.events(row.id)).length, 1);
  });
});
