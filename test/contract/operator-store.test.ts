/**
 * OperatorStore (the console's staff accounts; migration 0012_operators): every store kind must
 * pass all of it. The login writes are the security-relevant part: a failure count that locks at
 * the catalog's limit even when failures race, and a TOTP step accepted at most once even when
 * two servers accept the same code at the same time (RFC 6238 §5.2: no reuse).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import type { OperatorRow } from "../../src/core/ports.js";
import { at, forEachStore, rejectsWith, T0 } from "./store-fixture.js";

const MIN = 60_000;
const uid = () => `staff-${randomBytes(5).toString("hex")}`;

const operatorRow = (over: Partial<OperatorRow> = {}): OperatorRow => ({
  id: uid(),
  role: "security",
  passwordHash: "scrypt$32768$8$1$c2FsdA$aGFzaA",
  totpSealed: randomBytes(48),
  totpLastStep: 0,
  failedCount: 0,
  lockedUntil: null,
  createdAt: T0,
  createdBy: "cli",
  disabledAt: null,
  lastLoginAt: null,
  ...over,
});

forEachStore("OperatorStore", (fx) => {
  it("keeps an account exactly and lists in id order; an id is never reused", async () => {
    const { operators } = fx().stores.data;
    const a = operatorRow({ id: `b-${uid()}`, role: "cpo" });
    const b = operatorRow({ id: `a-${uid()}`, role: "auditor" });
    await operators.insert(a);
    await operators.insert(b);
    assert.deepEqual(await operators.get(a.id), a);
    assert.equal(await operators.get("nobody"), undefined);
    const listed = (await operators.list()).filter((o) => o.id === a.id || o.id === b.id);
    assert.deepEqual(listed, [b, a]);
    await rejectsWith(() => operators.insert({ ...a, role: "security" }), "CONFLICT");
    assert.equal((await operators.get(a.id))?.role, "cpo");
  });

  it("counts failures and locks at the limit, also when failures race", async () => {
    const { operators } = fx().stores.data;
    const o = operatorRow();
    await operators.insert(o);
    const until = at(30 * MIN);
    assert.deepEqual(await operators.recordFailure(o.id, 5, until), { failedCount: 1, lockedUntil: null });
    const raced = await Promise.all([1, 2, 3, 4].map(() => operators.recordFailure(o.id, 5, until)));
    assert.deepEqual(raced.map((r) => r?.failedCount).sort(), [2, 3, 4, 5]);
    const row = await operators.get(o.id);
    assert.deepEqual([row?.failedCount, row?.lockedUntil], [5, until]);
    assert.equal(await operators.recordFailure("nobody", 5, until), undefined);
  });

  it("accepts a TOTP step once: a repeated or older step is refused, even from two stores at once", async () => {
    const { operators } = fx().stores.data;
    const other = (await fx().openAnother()).data.operators;
    const o = operatorRow({ failedCount: 3, lockedUntil: at(MIN) });
    await operators.insert(o);
    const results = await Promise.all([operators.acceptLogin(o.id, 1000, at(2 * MIN)), other.acceptLogin(o.id, 1000, at(2 * MIN))]);
    assert.deepEqual(results.sort(), [false, true]);
    const row = await operators.get(o.id);
    assert.deepEqual([row?.totpLastStep, row?.failedCount, row?.lockedUntil, row?.lastLoginAt], [1000, 0, null, at(2 * MIN)]);
    assert.equal(await operators.acceptLogin(o.id, 999, at(3 * MIN)), false, "an older step");
    assert.equal(await operators.acceptLogin(o.id, 1001, at(3 * MIN)), true, "the next step");
  });

  it("disables once; a disabled account accepts no login", async () => {
    const { operators } = fx().stores.data;
    const o = operatorRow();
    await operators.insert(o);
    assert.equal(await operators.disable(o.id, at(MIN)), true);
    assert.equal(await operators.disable(o.id, at(2 * MIN)), false);
    assert.deepEqual((await operators.get(o.id))?.disabledAt, at(MIN));
    assert.equal(await operators.acceptLogin(o.id, 5, at(3 * MIN)), false);
    assert.equal(await operators.disable("nobody", at(MIN)), false);
  });
});
