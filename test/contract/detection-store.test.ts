/**
 * DetectionStore (alerts, principal holds, canaries; migration 0006_principal_holds): every store
 * kind must pass all of it. Holds are what makes a suspension outlive a restart (Safety Standard
 * Art. 5(2): access revoked without delay stays revoked); alerts are what an incident is opened
 * from (PIPA Art. 34, LAW §15 H1).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import Database from "better-sqlite3";
import type { AlertRow, HoldRow } from "../../src/core/ports.js";
import { at, forEachStore, newRef, T0 } from "./store-fixture.js";

const MIN = 60_000;
const uid = (prefix: string) => `${prefix}_${randomBytes(8).toString("hex")}`;

const alertRow = (over: Partial<AlertRow> = {}): AlertRow => ({
  id: uid("alt"),
  at: at(5 * MIN),
  principal: "talk-app",
  rule: "scrape_burst",
  type: "enumeration",
  reaction: "throttle",
  count: 30,
  threshold: 30,
  windowStart: at(4 * MIN),
  requestId: "req-1",
  detail: { pattern: "scattered", factor: 1.5, ok: true, none: null },
  ...over,
});

const holdRow = (over: Partial<HoldRow> = {}): HoldRow => ({
  id: uid("hold"),
  principal: "talk-app",
  kind: "suspend",
  rule: "denial_storm",
  alertId: uid("alt"),
  reason: "deny_storm: 20 denied requests in PT1M",
  at: at(6 * MIN),
  until: null,
  liftedAt: null,
  liftedBy: null,
  liftReason: null,
  ...over,
});

forEachStore("DetectionStore", (fx) => {
  it("keeps an alert exactly (times to the millisecond, detail as JSON) and lists newest first", async () => {
    const { detection } = fx().stores.data;
    const principal = uid("p");
    const first = alertRow({ principal, at: at(1 * MIN), id: "alt_a" + uid("") });
    const second = alertRow({ principal, at: at(2 * MIN), rule: "denial_storm", type: "deny_storm", reaction: "suspend" });
    const tie = alertRow({ principal, at: at(2 * MIN), id: "alt_zzzz" + uid("") });
    for (const a of [first, second, tie]) await detection.putAlert(a);
    const all = await detection.listAlerts({ principal, limit: 10 });
    assert.deepEqual(all, [tie, second, first].sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : -1)));
    assert.deepEqual(all[2], first);
    assert.deepEqual((await detection.listAlerts({ principal, rule: "denial_storm", limit: 10 })).map((a) => a.id), [second.id]);
    assert.deepEqual((await detection.listAlerts({ principal, since: at(2 * MIN), limit: 10 })).length, 2);
    assert.deepEqual((await detection.listAlerts({ principal, limit: 1 })).length, 1);
    assert.ok((await detection.listAlerts({ limit: 100 })).length >= 3);
  });

  it("an alert id is unique", async () => {
    const { detection } = fx().stores.data;
    const a = alertRow();
    await detection.putAlert(a);
    await assert.rejects(() => detection.putAlert(a));
  });

  it("active holds: not lifted, and suspensions or throttles not yet ended", async () => {
    const { detection } = fx().stores.data;
    const p = uid("p");
    const suspend = holdRow({ principal: p });
    const throttle = holdRow({ principal: p, kind: "throttle", until: at(20 * MIN) });
    const ended = holdRow({ principal: p, kind: "throttle", until: at(7 * MIN) });
    for (const h of [suspend, throttle, ended]) await detection.putHold(h);
    const mine = async (now: Date) => (await detection.activeHolds(now)).filter((h) => h.principal === p).map((h) => h.id).sort();
    assert.deepEqual(await mine(at(6 * MIN)), [suspend.id, throttle.id, ended.id].sort());
    assert.deepEqual(await mine(at(10 * MIN)), [suspend.id, throttle.id].sort());
    assert.deepEqual(await mine(at(20 * MIN)), [suspend.id]);
    assert.deepEqual((await detection.activeHolds(at(6 * MIN))).find((h) => h.id === suspend.id), suspend);
  });

  it("lifting ends every hold of the principal at once, says by whom and why, and touches no other principal", async () => {
    const { detection } = fx().stores.data;
    const p = uid("p");
    const other = uid("q");
    const a = holdRow({ principal: p });
    const b = holdRow({ principal: p, kind: "throttle", until: at(60 * MIN) });
    const c = holdRow({ principal: other });
    for (const h of [a, b, c]) await detection.putHold(h);
    const lifted = await detection.liftHolds(p, at(30 * MIN), "privacy-office", "false alarm: a data migration");
    assert.deepEqual(lifted.map((h) => h.id).sort(), [a.id, b.id].sort());
    for (const h of lifted) {
      assert.deepEqual(h.liftedAt, at(30 * MIN));
      assert.equal(h.liftedBy, "privacy-office");
      assert.equal(h.liftReason, "false alarm: a data migration");
    }
    const active = (await detection.activeHolds(at(31 * MIN))).map((h) => h.id);
    assert.ok(!active.includes(a.id) && !active.includes(b.id));
    assert.ok(active.includes(c.id));
    assert.deepEqual(await detection.liftHolds(p, at(40 * MIN), "privacy-office", "again"), [], "nothing left to lift");
    const history = await detection.listHolds({ principal: p, limit: 10 });
    assert.equal(history.length, 2);
    assert.ok(history.every((h) => h.liftReason === "false alarm: a data migration"), "a second lift does not overwrite the first");
    assert.ok((await detection.listHolds({ limit: 100 })).some((h) => h.id === c.id));
  });

  it("canaries: references only, duplicates ignored, listed for the detector", async () => {
    const { detection } = fx().stores.data;
    const r1 = newRef();
    const r2 = newRef();
    await detection.putCanaries([]);
    await detection.putCanaries([
      { auditRef: r1, principal: "talk-app", createdAt: T0 },
      { auditRef: r2, principal: "talk-app", createdAt: at(1) },
    ]);
    await detection.putCanaries([{ auditRef: r1, principal: "pay-app", createdAt: at(5) }]);
    const got = (await detection.canaries()).filter((c) => c.auditRef === r1 || c.auditRef === r2);
    assert.deepEqual(got, [
      { auditRef: r1, principal: "talk-app", createdAt: T0 },
      { auditRef: r2, principal: "talk-app", createdAt: at(1) },
    ]);
  });

  it("holds and alerts are there after a reopen (another process, or a restart)", async () => {
    const { detection } = fx().stores.data;
    const p = uid("p");
    const h = holdRow({ principal: p });
    const a = alertRow({ principal: p });
    await detection.putHold(h);
    await detection.putAlert(a);
    const again = await fx().openAnother();
    assert.deepEqual((await again.data.detection.activeHolds(at(7 * MIN))).find((x) => x.id === h.id), h);
    assert.deepEqual(await again.data.detection.listAlerts({ principal: p, limit: 5 }), [a]);
  });

  it("0006_principal_holds: the tables exist with their constraints (SQLite: a hold kind outside the list is refused)", async () => {
    const f = fx();
    if (f.kind !== "sqlite") {
      await assert.rejects(() => f.stores.data.detection.putHold(holdRow({ kind: "ban" as HoldRow["kind"] })));
      return;
    }
    const db = new Database(`${f.dir}/data.db`, { readonly: true });
    try {
      const names = db.prepare("SELECT name FROM haechi_migration ORDER BY name").all().map((r) => (r as { name: string }).name);
      assert.ok(names.includes("0006_principal_holds"), names.join(", "));
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((r) => (r as { name: string }).name);
      for (const t of ["principal_holds", "detection_alerts", "canaries"]) assert.ok(tables.includes(t), t);
    } finally {
      db.close();
    }
    await assert.rejects(() => f.stores.data.detection.putHold(holdRow({ kind: "ban" as HoldRow["kind"] })));
  });
});
