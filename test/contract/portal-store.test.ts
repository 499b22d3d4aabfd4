/**
 * PortalLinkStore (migration 0013_portal_links; ADR 0012): every store kind must pass all of it.
 * A portal link opens one session, once (a link forwarded or replayed is refused), and a session
 * ended by its person (signed out, account deleted) stays ended in every server process.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import { at, forEachStore } from "./store-fixture.js";

const MIN = 60_000;
const jti = () => randomBytes(16).toString("base64url");

forEachStore("PortalLinkStore", (fx) => {
  it("a link is consumed once: the second use is refused, even from another process", async () => {
    const { portal } = fx().stores.data;
    const other = (await fx().openAnother()).data.portal;
    const id = jti();
    assert.equal(await portal.consume(id, at(0), at(30 * MIN)), true);
    assert.equal(await portal.consume(id, at(1000), at(30 * MIN)), false);
    assert.equal(await other.consume(id, at(2000), at(30 * MIN)), false);
    const row = await other.get(id);
    assert.deepEqual(row, { jti: id, usedAt: at(0), expiresAt: at(30 * MIN), endedAt: null });
  });

  it("concurrent uses of one link: exactly one wins", async () => {
    const { portal } = fx().stores.data;
    const id = jti();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => portal.consume(id, at(i), at(30 * MIN))));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it("ending a session keeps its first end time and is seen by another process; unknown ids are undefined", async () => {
    const { portal } = fx().stores.data;
    const id = jti();
    await portal.consume(id, at(0), at(30 * MIN));
    await portal.end(id, at(5 * MIN));
    await portal.end(id, at(9 * MIN));
    assert.deepEqual((await (await fx().openAnother()).data.portal.get(id))?.endedAt, at(5 * MIN));
    assert.equal(await portal.get(jti()), undefined);
    await portal.end(jti(), at(0)); // nothing to end: no error
  });

  it("prune deletes only rows whose session expired", async () => {
    const { portal } = fx().stores.data;
    const old = jti();
    const live = jti();
    await portal.consume(old, at(-60 * MIN), at(-30 * MIN));
    await portal.consume(live, at(0), at(30 * MIN));
    assert.ok((await portal.prune(at(0))) >= 1);
    assert.equal(await portal.get(old), undefined);
    assert.ok(await portal.get(live));
  });
});
