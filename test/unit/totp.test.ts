/**
 * TOTP (RFC 6238) against the RFC's own test vectors (Appendix B: SHA-1, SHA-256 and SHA-512,
 * 8 digits, 30-second steps), HOTP against RFC 4226 Appendix D, the ±1-step window, no reuse,
 * base32, and the scrypt password hash.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { base32Decode, base32Encode, hotp, otpauthUri, totp, totpStep, verifyTotp } from "../../src/crypto/totp.js";
import { DUMMY_PASSWORD_HASH, hashPassword, passwordMatches, passwordProblem } from "../../src/crypto/password.js";

// RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the hash's block length.
const SEED = {
  sha1: Buffer.from("12345678901234567890", "ascii"),
  sha256: Buffer.from("12345678901234567890123456789012", "ascii"),
  sha512: Buffer.from("1234567890123456789012345678901234567890123456789012345678901234", "ascii"),
};
const VECTORS: [number, string, string, string][] = [
  // time (s), SHA-1, SHA-256, SHA-512
  [59, "94287082", "46119246", "90693936"],
  [1111111109, "07081804", "68084774", "25091201"],
  [1111111111, "14050471", "67062674", "99943326"],
  [1234567890, "89005924", "91819424", "93441116"],
  [2000000000, "69279037", "90698825", "38618901"],
  [20000000000, "65353130", "77737706", "47863826"],
];

describe("TOTP (RFC 6238)", () => {
  test("matches every test vector of RFC 6238 Appendix B", () => {
    for (const [t, sha1, sha256, sha512] of VECTORS) {
      const at = new Date(t * 1000);
      assert.equal(totp(SEED.sha1, at, { digits: 8 }), sha1, `SHA-1 at ${t}`);
      assert.equal(totp(SEED.sha256, at, { digits: 8, algorithm: "sha256" }), sha256, `SHA-256 at ${t}`);
      assert.equal(totp(SEED.sha512, at, { digits: 8, algorithm: "sha512" }), sha512, `SHA-512 at ${t}`);
    }
  });

  test("HOTP matches RFC 4226 Appendix D", () => {
    const expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
    expected.forEach((code, counter) => assert.equal(hotp(SEED.sha1, counter), code));
  });

  test("accepts the current step and one either side, never an older or reused step, never a malformed code", () => {
    const at = new Date(1_700_000_000_000);
    const step = totpStep(at);
    const code = (s: number) => hotp(SEED.sha1, s);
    assert.equal(verifyTotp(SEED.sha1, code(step), at, 0), step);
    assert.equal(verifyTotp(SEED.sha1, code(step - 1), at, 0), step - 1);
    assert.equal(verifyTotp(SEED.sha1, code(step + 1), at, 0), step + 1);
    assert.equal(verifyTotp(SEED.sha1, code(step - 2), at, 0), null, "two steps old");
    assert.equal(verifyTotp(SEED.sha1, code(step + 2), at, 0), null, "two steps ahead");
    assert.equal(verifyTotp(SEED.sha1, code(step), at, step), null, "already used");
    assert.equal(verifyTotp(SEED.sha1, code(step - 1), at, step - 1), null, "used, and the window still holds it");
    assert.equal(verifyTotp(SEED.sha1, code(step + 1), at, step), step + 1, "a later step after a used one");
    for (const bad of ["", "12345", "1234567", "abcdef", "12345é", "١٢٣٤٥٦", `${code(step)} `]) assert.equal(verifyTotp(SEED.sha1, bad, at, 0), null, JSON.stringify(bad));
  });

  test("base32 round-trips and encodes as RFC 4648 says; the otpauth URI carries the secret and issuer", () => {
    assert.equal(base32Encode(Buffer.from("foobar")), "MZXW6YTBOI");
    assert.equal(base32Encode(Buffer.from("f")), "MY");
    for (let n = 0; n < 40; n++) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 255));
      assert.deepEqual(base32Decode(base32Encode(b)), b);
    }
    assert.equal(otpauthUri(SEED.sha1, "kim-cpo", "Haechi 해치"), "otpauth://totp/Haechi%20%ED%95%B4%EC%B9%98:kim-cpo?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Haechi%20%ED%95%B4%EC%B9%98&algorithm=SHA1&digits=6&period=30");
  });
});

describe("staff passwords (scrypt)", () => {
  test("a hash verifies its password only; salts differ; malformed hashes fail closed", async () => {
    const h = await hashPassword("correct horse battery");
    assert.match(h, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.equal(await passwordMatches("correct horse battery", h), true);
    assert.equal(await passwordMatches("correct horse batterY", h), false);
    assert.notEqual(await hashPassword("correct horse battery"), h);
    assert.equal(await passwordMatches("anything", "plain"), false);
    assert.equal(await passwordMatches("", DUMMY_PASSWORD_HASH), false);
    assert.equal(passwordProblem("short"), "a password must have at least 12 characters");
    assert.equal(passwordProblem("long enough password"), null);
  });
});
