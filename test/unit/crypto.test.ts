import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { hashSecret, issueApiKey, parseApiKey, secretMatches } from "../../src/crypto/api-keys.js";
import { blindIndex, normaliseLookupValue } from "../../src/crypto/blind-index.js";
import { dekAad, openField, sealField, sealedDekVersion } from "../../src/crypto/envelope.js";
import { openLocalKeyring } from "../../src/crypto/keyring.js";
import { newSubjectId, pseudonyms } from "../../src/crypto/pseudonym.js";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "haechi-crypto-"));

describe("envelope encryption (Safety Standard Art. 7)", () => {
  const dek = crypto.randomBytes(32);
  const a = newSubjectId();
  const b = newSubjectId();

  test("round-trips values of every JSON type", () => {
    for (const v of ["010-1234-5678", 42, true, { k: [1, 2] }, "홍길동"]) {
      assert.deepEqual(openField(dek, a, "phone", sealField(dek, 1, a, "phone", v)), v);
    }
  });

  test("names its DEK version and never contains the plaintext", () => {
    const sealed = sealField(dek, 7, a, "phone", "010-1234-5678");
    assert.equal(sealed[0], 1);
    assert.equal(sealedDekVersion(sealed), 7);
    assert.equal(sealed.includes(Buffer.from("1234-5678")), false);
  });

  test("ciphertext is bound to its subject and field (associated data)", () => {
    const sealed = sealField(dek, 1, a, "phone", "010-1234-5678");
    assert.throws(() => openField(dek, b, "phone", sealed), /failed authentication/);
    assert.throws(() => openField(dek, a, "email", sealed), /failed authentication/);
    const flipped = Buffer.from(sealed);
    flipped[20]! ^= 1;
    assert.throws(() => openField(dek, a, "phone", flipped), /failed authentication/);
  });

  test("the error does not echo the value", () => {
    const sealed = sealField(dek, 1, a, "phone", "010-1234-5678");
    try {
      openField(crypto.randomBytes(32), a, "phone", sealed);
      assert.fail("should throw");
    } catch (e) {
      assert.equal(String((e as Error).message).includes("1234"), false);
    }
  });
});

describe("keyring and KEK rotation", () => {
  test("a data key wrapped by an old KEK still unwraps after rotation; new keys use the new KEK", async () => {
    const file = path.join(tmp(), "keyring.json");
    const kr = openLocalKeyring(file, { create: true });
    const id = newSubjectId();
    const dek = crypto.randomBytes(32);
    const w1 = await kr.kek.wrap(dek, dekAad(id, 1));
    assert.equal(w1.kekVersion, 1);
    assert.equal(await kr.kek.rotate(new Date()), 2);
    const w2 = await kr.kek.wrap(dek, dekAad(id, 1));
    assert.equal(w2.kekVersion, 2);
    assert.deepEqual(await kr.kek.unwrap(1, w1.wrapped, dekAad(id, 1)), dek);
    // Re-opened from the file, both versions are there.
    const again = openLocalKeyring(file, { create: false });
    assert.deepEqual(again.kek.versions(), [1, 2]);
    assert.deepEqual(await again.kek.unwrap(2, w2.wrapped, dekAad(id, 1)), dek);
  });

  test("a wrapped key is bound to its subject", async () => {
    const kr = openLocalKeyring(path.join(tmp(), "k.json"), { create: true });
    const w = await kr.kek.wrap(crypto.randomBytes(32), dekAad(newSubjectId(), 1));
    await assert.rejects(kr.kek.unwrap(1, w.wrapped, dekAad(newSubjectId(), 1)), /KEY_UNAVAILABLE|failed authentication/);
  });

  test("the key file is owner-only and a missing one is refused without create", () => {
    const dir = tmp();
    const file = path.join(dir, "keyring.json");
    assert.throws(() => openLocalKeyring(file, { create: false }), /does not exist/);
    openLocalKeyring(file, { create: true });
    assert.equal(fs.statSync(file).mode & 0o077, 0);
  });
});

describe("pseudonymous subject ids (seed 000: no internal id leaves Haechi)", () => {
  const p = pseudonyms(crypto.randomBytes(32));

  test("stable per context and resolvable only in that context", () => {
    const id = newSubjectId();
    const talk = p.externalId("talk-app", id);
    assert.equal(p.externalId("talk-app", id), talk);
    assert.equal(p.resolve("talk-app", talk), id);
    assert.notEqual(p.resolve("openchat-app", talk), id);
  });

  test("PIPA Art. 2(1): ids of two contexts are unlinkable and never the internal id", () => {
    const id = newSubjectId();
    const talk = p.externalId("talk-app", id);
    const open = p.externalId("openchat-app", id);
    assert.notEqual(talk, open);
    assert.equal(talk.includes(id), false);
    assert.equal(open.includes(id), false);
  });

  test("malformed ids resolve to nothing", () => {
    for (const bad of ["", "sub_", "sub_!!!", "user_123", `sub_${"A".repeat(21)}`, `sub_${"A".repeat(23)}`]) {
      assert.equal(p.resolve("talk-app", bad), undefined);
    }
  });
});

describe("blind index", () => {
  const bi = blindIndex(crypto.randomBytes(32));
  test("normalises phone and e-mail formatting", () => {
    assert.equal(normaliseLookupValue("+82 10-1234-5678"), "01012345678");
    assert.equal(normaliseLookupValue("010.1234.5678"), "01012345678");
    assert.equal(normaliseLookupValue(" Kim@Example.COM "), "kim@example.com");
    assert.deepEqual(bi.digest("phone", "010-1234-5678"), bi.digest("phone", "+82 10 1234 5678"));
  });
  test("keys differ per field, so equal values in two fields do not match", () => {
    assert.notDeepEqual(bi.digest("phone", "x"), bi.digest("user_id", "x"));
  });
});

describe("API keys (Safety Standard Art. 5)", () => {
  test("issued keys parse, match their stored hash, and only that", () => {
    const k = issueApiKey();
    const parsed = parseApiKey(k.token)!;
    assert.equal(parsed.keyId, k.keyId);
    assert.ok(secretMatches(parsed.secret, k.secretHash));
    assert.equal(secretMatches(issueApiKey().secret, k.secretHash), false);
    assert.deepEqual(hashSecret(k.secret), k.secretHash);
    assert.equal(k.secretHash.includes(Buffer.from(k.secret)), false);
  });
  test("malformed tokens are refused", () => {
    for (const t of ["", "hk_", "Bearer x", "hk_short_secret", `hk_${"a".repeat(12)}_${"b".repeat(42)}`]) assert.equal(parseApiKey(t), undefined);
  });
});


describe("keyring shared by two processes", () => {
  test("Safety Standard Art. 7: a KEK added by another process (keys rotate next to a running server) is seen", async () => {
    const file = path.join(tmp(), "keyring.json");
    const server = openLocalKeyring(file, { create: true });
    const cli = openLocalKeyring(file, { create: false });
    const id = newSubjectId();
    const dek = crypto.randomBytes(32);
    assert.equal(await cli.kek.rotate(new Date()), 2);
    const w = await cli.kek.wrap(dek, dekAad(id, 1));
    assert.equal(w.kekVersion, 2);
    // The server has never seen v2: unwrapping it makes the server read the file again.
    assert.deepEqual(await server.kek.unwrap(2, w.wrapped, dekAad(id, 1)), dek);
    assert.equal(server.kek.activeVersion(), 2);
  });
});

describe("pooled random bytes", () => {
  test("never hands out the same bytes twice and wipes what it handed out from the pool", async () => {
    const { randomBytes } = await import("../../src/crypto/random.js");
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const b = randomBytes(16);
      assert.equal(b.length, 16);
      const hex = b.toString("hex");
      assert.equal(seen.has(hex), false);
      seen.add(hex);
    }
    assert.equal(randomBytes(4096).length, 4096);
  });
});
