/**
 * Staff passwords, one-way (Safety Standard Art. 7(1); LAW §15 G3: an adaptive one-way hash):
 * scrypt (N = 2^15, r = 8, p = 1: ≈ 32 MiB and tens of milliseconds a try), a 16-byte random salt,
 * stored as `scrypt$N$r$p$salt$hash` (base64url), compared in constant time. Hashing runs on
 * libuv's thread pool, never on the event loop.
 */
import crypto from "node:crypto";

const N = 1 << 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

const scrypt = (password: string, salt: Buffer, n: number, r: number, p: number) =>
  new Promise<Buffer>((resolve, reject) =>
    crypto.scrypt(password.normalize("NFKC"), salt, KEYLEN, { N: n, r, p, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key))),
  );

export const hashPassword = async (password: string): Promise<string> => {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
};

/** True when the password matches the stored hash; false for a malformed hash too (fail closed). */
export const passwordMatches = async (password: string, stored: string): Promise<boolean> => {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[5]!, "base64url");
  if (expected.length !== KEYLEN) return false;
  const key = await scrypt(password, Buffer.from(m[4]!, "base64url"), Number(m[1]), Number(m[2]), Number(m[3]));
  return crypto.timingSafeEqual(key, expected);
};

/** A hash of nothing anyone knows: checked against for unknown ids, so they take as long as known ones. */
export const DUMMY_PASSWORD_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString("base64url")}$${Buffer.alloc(KEYLEN).toString("base64url")}`;

/** The password policy: long enough to resist guessing at scrypt's cost, no upper case rules (NIST SP 800-63B). */
export const passwordProblem = (password: string): string | null =>
  password.length < 12 ? "a password must have at least 12 characters" : password.length > 256 ? "a password must have at most 256 characters" : null;
