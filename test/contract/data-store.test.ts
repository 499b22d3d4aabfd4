/** DataStore contract: every store kind must pass all of it. */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { ApiKeyRow, ImportItem, StoredField } from "../../src/core/ports.js";
import { at, bytes, consentEvent, forEachStore, newId, rejectsWith, subjectRow, T0 } from "./store-fixture.js";

const field = (name: string, updatedAt = T0): StoredField => ({ field: name, ciphertext: bytes(40), updatedAt });

forEachStore("DataStore subjects and transactions", (fx) => {
  it("inserts and reads a subject with millisecond dates", async () => {
    const { data } = fx().stores;
    const row = { ...subjectRow(), updatedAt: at(1) };
    await data.transaction(async (tx) => tx.insertSubject(row));
    assert.deepEqual(await data.getSubject(row.id), row);
    assert.equal(await data.subjectExists(row.id), true);
    assert.equal(await data.subjectExists(newId()), false);
    assert.equal(await data.getSubject(newId()), undefined);
  });

  it("returns the body's value from transaction", async () => {
    const { data } = fx().stores;
    assert.equal(await data.transaction(async () => 42), 42);
  });

  it("maps a duplicate subject to CONFLICT and commits nothing of that transaction", async () => {
    const { data } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => tx.insertSubject(row));
    const other = subjectRow();
    const err = await rejectsWith(
      () =>
        data.transaction(async (tx) => {
          await tx.insertSubject(other);
          await tx.insertSubject(row);
        }),
      "CONFLICT",
    );
    assert.doesNotMatch(err.message, /insert|select|subjects|constraint/i);
    assert.equal(await data.subjectExists(other.id), false);
  });

  it("rolls back everything when the body throws", async () => {
    const { data } = fx().stores;
    const row = subjectRow();
    const boom = new Error("boom");
    await assert.rejects(
      data.transaction(async (tx) => {
        await tx.insertSubject(row);
        await tx.putFields(row.id, [field("email")]);
        await tx.appendConsent(consentEvent(row.id));
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(await data.getSubject(row.id), undefined);
    assert.deepEqual(await data.consentHistory(row.id), []);
  });

  it("refuses to commit when the body swallowed a failed write", async () => {
    const { data } = fx().stores;
    const existing = subjectRow();
    await data.transaction(async (tx) => tx.insertSubject(existing));
    const fresh = subjectRow();
    await rejectsWith(
      () =>
        data.transaction(async (tx) => {
          await tx.insertSubject(fresh);
          await tx.insertSubject(existing).catch(() => undefined);
          return "carried on";
        }),
      "CONFLICT",
    );
    assert.equal(await data.subjectExists(fresh.id), false);
  });

  it("refuses a tx used after its transaction finished", async () => {
    const { data } = fx().stores;
    let leaked: Parameters<Parameters<typeof data.transaction>[0]>[0] | undefined;
    await data.transaction(async (tx) => {
      leaked = tx;
    });
    await rejectsWith(() => leaked!.insertSubject(subjectRow()), "INTERNAL");
  });

  it("refuses a nested transaction instead of deadlocking", async () => {
    const { data } = fx().stores;
    await rejectsWith(() => data.transaction(async () => data.transaction(async () => 1)), "INTERNAL");
  });

  it("does not show uncommitted writes to reads outside the transaction", async () => {
    const { data } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => {
      await tx.insertSubject(row);
      assert.equal(await data.getSubject(row.id), undefined);
      assert.equal(await data.readBundle(row.id, []), undefined);
    });
    assert.equal(await data.subjectExists(row.id), true);
  });

  it("serialises overlapping transactions without losing or mixing writes", async () => {
    const { data } = fx().stores;
    const rows = Array.from({ length: 20 }, () => subjectRow());
    const results = await Promise.allSettled(
      rows.map((row, i) =>
        data.transaction(async (tx) => {
          await tx.insertSubject(row);
          await new Promise((r) => setTimeout(r, i % 3));
          await tx.putFields(row.id, [field("name")]);
          if (i % 5 === 4) throw new Error(`fail ${i}`);
          await tx.touchSubject(row.id, at(i));
        }),
      ),
    );
    for (const [i, r] of results.entries()) {
      const row = rows[i]!;
      if (i % 5 === 4) {
        assert.equal(r.status, "rejected");
        assert.equal(await data.subjectExists(row.id), false);
      } else {
        assert.equal(r.status, "fulfilled");
        assert.deepEqual((await data.getSubject(row.id))?.updatedAt, at(i));
        assert.equal((await data.getFields(row.id, ["name"])).length, 1);
      }
    }
  });

  it("touches and changes status; unknown subjects are NOT_FOUND", async () => {
    const { data } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => tx.insertSubject(row));
    await data.transaction(async (tx) => tx.touchSubject(row.id, at(5000)));
    assert.deepEqual((await data.getSubject(row.id))?.updatedAt, at(5000));
    await data.transaction(async (tx) => tx.setSubjectStatus(row.id, "erased", at(6000)));
    const erased = await data.getSubject(row.id);
    assert.equal(erased?.status, "erased");
    assert.deepEqual(erased?.updatedAt, at(6000));
    assert.deepEqual(erased?.createdAt, T0);
    await rejectsWith(() => data.transaction(async (tx) => tx.touchSubject(newId(), T0)), "NOT_FOUND");
    await rejectsWith(() => data.transaction(async (tx) => tx.setSubjectStatus(newId(), "erased", T0)), "NOT_FOUND");
  });

  it("maps writes against an unknown subject to NOT_FOUND", async () => {
    const { data } = fx().stores;
    const ghost = newId();
    await rejectsWith(() => data.transaction(async (tx) => tx.putFields(ghost, [field("a")])), "NOT_FOUND");
    await rejectsWith(
      () => data.transaction(async (tx) => tx.putLookups(ghost, [{ field: "a", digest: bytes() }])),
      "NOT_FOUND",
    );
    await rejectsWith(() => data.transaction(async (tx) => tx.appendConsent(consentEvent(ghost))), "NOT_FOUND");
  });

  it("turns other driver errors into INTERNAL without SQL in the message", async () => {
    const { data } = fx().stores;
    const bad = { ...subjectRow(), status: "bogus" as "active" };
    const err = await rejectsWith(() => data.transaction(async (tx) => tx.insertSubject(bad)), "INTERNAL");
    assert.equal(err.message, "storage failure");
    assert.ok(err.cause !== undefined, "driver error kept as cause");
  });
});

forEachStore("DataStore fields and bundles", (fx) => {
  const seed = async (fields: StoredField[]) => {
    const { data } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => {
      await tx.insertSubject(row);
      await tx.putFields(row.id, fields);
    });
    return row;
  };

  it("stores, replaces and deletes fields", async () => {
    const { data } = fx().stores;
    const email = field("email");
    const phone = field("phone", at(1));
    const row = await seed([email, phone, field("name")]);
    assert.deepEqual(await data.getFields(row.id, ["email", "phone"]), [email, phone]);
    assert.deepEqual(await data.getFields(row.id, ["phone", "missing"]), [phone]);
    assert.deepEqual(await data.getFields(row.id, []), []);

    const email2 = field("email", at(99));
    await data.transaction(async (tx) => tx.putFields(row.id, [email2]));
    assert.deepEqual(await data.getFields(row.id, ["email"]), [email2]);

    await data.transaction(async (tx) => tx.deleteFields(row.id, ["email", "name"]));
    assert.deepEqual(await data.getFields(row.id, ["email", "name", "phone"]), [phone]);
  });

  it("takes the last value when a field is named twice in one put", async () => {
    const { data } = fx().stores;
    const row = await seed([]);
    const last = field("email", at(2));
    await data.transaction(async (tx) => tx.putFields(row.id, [field("email", at(1)), last]));
    assert.deepEqual(await data.getFields(row.id, ["email"]), [last]);
  });

  it("reads many fields at once", async () => {
    const { data } = fx().stores;
    const many = Array.from({ length: 40 }, (_, i) => field(`f_${String(i).padStart(2, "0")}`));
    const row = await seed(many);
    const names = many.map((f) => f.field);
    assert.deepEqual(await data.getFields(row.id, names), many);
    assert.deepEqual((await data.readBundle(row.id, names))?.fields, many);
  });

  it("reads a bundle: subject, requested fields, current consents", async () => {
    const { data } = fx().stores;
    const email = field("email");
    const row = await seed([email, field("phone")]);
    await data.transaction(async (tx) => {
      await tx.appendConsent(consentEvent(row.id, { notice: "marketing", category: "marketing", noticeVersion: 2 }));
      await tx.appendConsent(consentEvent(row.id, { notice: "signup", at: at(10) }));
    });
    const bundle = await data.readBundle(row.id, ["email"]);
    assert.ok(bundle);
    assert.deepEqual(bundle.subject, row);
    assert.deepEqual(bundle.fields, [email]);
    assert.deepEqual(bundle.consents, [
      { notice: "marketing", noticeVersion: 2, category: "marketing", status: "granted", channel: "web", at: T0 },
      { notice: "signup", noticeVersion: 1, category: "collection_use", status: "granted", channel: "web", at: at(10) },
    ]);
    assert.deepEqual(bundle.consents, await data.currentConsents(row.id));
    const noFields = await data.readBundle(row.id, []);
    assert.deepEqual(noFields?.fields, []);
    assert.equal(noFields?.consents.length, 2);
  });

  it("has no bundle and no fields for unknown or erased subjects", async () => {
    const { data } = fx().stores;
    assert.equal(await data.readBundle(newId(), ["email"]), undefined);
    const row = await seed([field("email")]);
    await data.transaction(async (tx) => tx.setSubjectStatus(row.id, "erased", at(1)));
    assert.equal(await data.readBundle(row.id, ["email"]), undefined);
    assert.deepEqual(await data.getFields(row.id, ["email"]), []);
  });
});

forEachStore("DataStore consent ledger", (fx) => {
  const seed = async () => {
    const { data } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => tx.insertSubject(row));
    return row.id;
  };

  it("derives the current state from the latest event", async () => {
    const { data } = fx().stores;
    const id = await seed();
    const grant = consentEvent(id, { at: at(0) });
    const withdraw = consentEvent(id, { action: "withdraw", at: at(1000), channel: "app" });
    await data.transaction(async (tx) => {
      await tx.appendConsent(grant);
      await tx.appendConsent(withdraw);
    });
    assert.deepEqual(await data.currentConsents(id), [
      { notice: "signup", noticeVersion: 1, category: "collection_use", status: "withdrawn", channel: "app", at: at(1000) },
    ]);
    // A late-arriving older event joins the ledger but does not change the current state.
    const late = consentEvent(id, { at: at(500), noticeVersion: 7 });
    await data.transaction(async (tx) => tx.appendConsent(late));
    assert.equal((await data.currentConsents(id))[0]?.status, "withdrawn");
    assert.deepEqual(
      (await data.consentHistory(id)).map((e) => e.id),
      [grant.id, late.id, withdraw.id],
    );
  });

  it("lets the later insertion win when times are equal", async () => {
    const { data } = fx().stores;
    const id = await seed();
    await data.transaction(async (tx) => {
      await tx.appendConsent(consentEvent(id, { at: at(5) }));
      await tx.appendConsent(consentEvent(id, { at: at(5), action: "withdraw" }));
    });
    await data.transaction(async (tx) => tx.appendConsent(consentEvent(id, { at: at(5), noticeVersion: 3 })));
    const [state] = await data.currentConsents(id);
    assert.equal(state?.status, "granted");
    assert.equal(state?.noticeVersion, 3);
    const history = await data.consentHistory(id);
    assert.deepEqual(history.map((e) => e.action), ["grant", "withdraw", "grant"]);
  });

  it("returns history events exactly as appended", async () => {
    const { data } = fx().stores;
    const id = await seed();
    const e = consentEvent(id, {
      notice: "third_party",
      noticeVersion: 4,
      category: "provision",
      channel: "written",
      at: at(123),
      principal: "partner-a",
      requestId: "req-xyz",
    });
    await data.transaction(async (tx) => tx.appendConsent(e));
    assert.deepEqual(await data.consentHistory(id), [e]);
    assert.deepEqual(await data.consentHistory(newId()), []);
  });

  it("maps a duplicate event id to CONFLICT", async () => {
    const { data } = fx().stores;
    const id = await seed();
    const e = consentEvent(id);
    await data.transaction(async (tx) => tx.appendConsent(e));
    await rejectsWith(() => data.transaction(async (tx) => tx.appendConsent({ ...e, at: at(9) })), "CONFLICT");
    assert.equal((await data.consentHistory(id)).length, 1);
  });

  it("counts current grants by notice version for active subjects only", async () => {
    const { data } = fx().stores;
    const notice = `news_${Date.now()}`;
    const grant = async (version: number, action: "grant" | "withdraw" = "grant") => {
      const id = await seed();
      await data.transaction(async (tx) => tx.appendConsent(consentEvent(id, { notice, noticeVersion: version, action })));
      return id;
    };
    await grant(1);
    await grant(1);
    await grant(2);
    await grant(2, "withdraw");
    const erased = await grant(1);
    await data.transaction(async (tx) => tx.setSubjectStatus(erased, "erased", at(1)));
    const upgraded = await grant(1);
    await data.transaction(async (tx) => tx.appendConsent(consentEvent(upgraded, { notice, noticeVersion: 3, at: at(1) })));
    assert.deepEqual(await data.countConsentsByVersion(notice), [
      { version: 1, granted: 2 },
      { version: 2, granted: 1 },
      { version: 3, granted: 1 },
    ]);
    assert.deepEqual(await data.countConsentsByVersion("no_such_notice"), []);
  });
});

forEachStore("DataStore lookups", (fx) => {
  it("finds all active subjects by digest and replaces entries per field", async () => {
    const { data } = fx().stores;
    const phone = bytes();
    const email = bytes();
    const a = subjectRow();
    const b = subjectRow();
    await data.transaction(async (tx) => {
      for (const s of [a, b]) {
        await tx.insertSubject(s);
        await tx.putLookups(s.id, [
          { field: "phone", digest: phone },
          { field: "email", digest: email },
        ]);
      }
    });
    assert.deepEqual(await data.findByLookup("phone", phone), [a.id, b.id].sort());
    assert.deepEqual(await data.findByLookup("email", phone), []);

    // Replacing a's phone leaves its email alone; two digests for one field are allowed.
    const newPhone = bytes();
    const altPhone = bytes();
    await data.transaction(async (tx) =>
      tx.putLookups(a.id, [
        { field: "phone", digest: newPhone },
        { field: "phone", digest: altPhone },
      ]),
    );
    assert.deepEqual(await data.findByLookup("phone", phone), [b.id]);
    assert.deepEqual(await data.findByLookup("phone", newPhone), [a.id]);
    assert.deepEqual(await data.findByLookup("phone", altPhone), [a.id]);
    assert.deepEqual(await data.findByLookup("email", email), [a.id, b.id].sort());

    await data.transaction(async (tx) => tx.deleteLookups(a.id, ["email"]));
    assert.deepEqual(await data.findByLookup("email", email), [b.id]);

    await data.transaction(async (tx) => tx.setSubjectStatus(b.id, "erased", at(1)));
    assert.deepEqual(await data.findByLookup("email", email), []);
    assert.deepEqual(await data.findByLookup("phone", phone), []);
  });

  it("orders ids bytewise", async () => {
    const { data } = fx().stores;
    const digest = bytes();
    const ids = ["a_b", "aB", "ab", "a-b", "A_b", "Zz", "_x"].map((s) => `${s}${digest.toString("hex").slice(0, 6)}`);
    await data.transaction(async (tx) => {
      for (const id of ids) {
        await tx.insertSubject(subjectRow(id as never));
        await tx.putLookups(id as never, [{ field: "k", digest }]);
      }
    });
    const expected = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(await data.findByLookup("k", digest), expected);
  });
});

forEachStore("DataStore import", (fx) => {
  const item = (i: number): ImportItem => {
    const subject = subjectRow(newId(), at(i));
    return {
      subject,
      fields: [field("name", at(i)), field("email", at(i))],
      lookups: [{ field: "email", digest: bytes() }],
      consents: [
        consentEvent(subject.id, { at: at(i), channel: "import" }),
        consentEvent(subject.id, { at: at(i + 1), channel: "import", action: "withdraw", notice: "marketing", category: "marketing" }),
        consentEvent(subject.id, { at: at(i + 2), channel: "import", notice: "marketing", category: "marketing" }),
      ],
    };
  };

  it("imports subjects with fields, lookups, ledger and derived state", async () => {
    const { data } = fx().stores;
    const items = Array.from({ length: 50 }, (_, i) => item(i));
    await data.importBatch(items);
    for (const it of [items[0]!, items[49]!]) {
      const bundle = await data.readBundle(it.subject.id, ["name", "email"]);
      assert.deepEqual(bundle?.subject, it.subject);
      assert.deepEqual(bundle?.fields, [...it.fields].sort((a, b) => a.field.localeCompare(b.field)));
      assert.deepEqual(
        bundle?.consents.map((c) => [c.notice, c.status]),
        [
          ["marketing", "granted"],
          ["signup", "granted"],
        ],
      );
      assert.deepEqual(await data.consentHistory(it.subject.id), it.consents);
      assert.deepEqual(await data.findByLookup("email", it.lookups[0]!.digest), [it.subject.id]);
      assert.equal(await data.subjectExists(it.subject.id), true);
    }
    await data.importBatch([]);
  });

  it("imports nothing of a batch that holds an existing subject", async () => {
    const { data } = fx().stores;
    const existing = item(0);
    await data.importBatch([existing]);
    const fresh = item(1);
    await rejectsWith(() => data.importBatch([fresh, existing]), "CONFLICT");
    assert.equal(await data.subjectExists(fresh.subject.id), false);
  });

  it("refuses a consent event filed under another subject", async () => {
    const { data } = fx().stores;
    const a = item(0);
    const b = item(1);
    a.consents.push(consentEvent(b.subject.id));
    await rejectsWith(() => data.importBatch([a, b]), "VALIDATION_FAILED");
    assert.equal(await data.subjectExists(a.subject.id), false);
  });
});

forEachStore("DataStore API keys, idempotency, meta", (fx) => {
  const apiKey = (over: Partial<ApiKeyRow> = {}): ApiKeyRow => ({
    keyId: `k_${newId()}`,
    principal: "shop",
    secretHash: bytes(),
    createdAt: T0,
    revokedAt: null,
    failedCount: 0,
    lockedUntil: null,
    ...over,
  });

  it("stores, lists and replaces API keys", async () => {
    const { data } = fx().stores;
    const a = apiKey({ createdAt: at(2) });
    const b = apiKey({ createdAt: at(1), principal: "crm" });
    await data.putApiKey(a);
    await data.putApiKey(b);
    assert.deepEqual(await data.getApiKey(a.keyId), a);
    assert.equal(await data.getApiKey("nope"), undefined);
    const listed = await data.listApiKeys();
    assert.deepEqual(
      listed.filter((k) => k.keyId === a.keyId || k.keyId === b.keyId),
      [b, a],
    );
    const revoked = { ...a, revokedAt: at(3) };
    await data.putApiKey(revoked);
    assert.deepEqual(await data.getApiKey(a.keyId), revoked);
  });

  it("counts auth failures, locks and resets", async () => {
    const { data } = fx().stores;
    const k = apiKey();
    await data.putApiKey(k);
    assert.equal(await data.recordAuthFailure(k.keyId, null), 1);
    assert.equal(await data.recordAuthFailure(k.keyId, at(60_000)), 2);
    let row = await data.getApiKey(k.keyId);
    assert.equal(row?.failedCount, 2);
    assert.deepEqual(row?.lockedUntil, at(60_000));
    await data.resetAuthFailures(k.keyId);
    row = await data.getApiKey(k.keyId);
    assert.equal(row?.failedCount, 0);
    assert.equal(row?.lockedUntil, null);
    assert.equal(await data.recordAuthFailure("unknown-key", null), 0);
  });

  it("records idempotency per (principal, key) and refuses a second record", async () => {
    const { data } = fx().stores;
    const row = { principal: "shop", key: `idem-${newId()}`, requestHash: bytes(), status: 201, response: '{"ok":true}', createdAt: at(7) };
    await data.transaction(async (tx) => tx.putIdempotency(row));
    assert.deepEqual(await data.getIdempotency("shop", row.key), row);
    assert.equal(await data.getIdempotency("crm", row.key), undefined);
    await data.transaction(async (tx) => tx.putIdempotency({ ...row, principal: "crm" }));
    await rejectsWith(() => data.transaction(async (tx) => tx.putIdempotency({ ...row, status: 500 })), "CONFLICT");
    assert.equal((await data.getIdempotency("shop", row.key))?.status, 201);
  });

  it("keeps key/value meta", async () => {
    const { data } = fx().stores;
    assert.equal(await data.getMeta("import.checkpoint"), undefined);
    await data.setMeta("import.checkpoint", "42");
    await data.setMeta("import.checkpoint", "43");
    assert.equal(await data.getMeta("import.checkpoint"), "43");
  });

  it("refuses store writes from inside a transaction body (use the tx)", async () => {
    const { data } = fx().stores;
    await rejectsWith(() => data.transaction(async () => data.setMeta("x", "y")), "INTERNAL");
  });
});
