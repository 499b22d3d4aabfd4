/**
 * API keys for principals: `hk_<keyId>_<secret>`. Only SHA-256 of the secret is stored (the
 * secret is 256 random bits, so a slow hash adds nothing); comparison is constant-time.
 */
import crypto from "node:crypto";

export interface IssuedKey {
  keyId: string;
  secret: string;
  /** The full key to hand to the service, shown once. */
  token: string;
  secretHash: Buffer;
}

export const issueApiKey = (): IssuedKey => {
  const keyId = crypto.randomBytes(9).toString("base64url"); // 12 chars
  const secret = crypto.randomBytes(32).toString("base64url");
  return { keyId, secret, token: `hk_${keyId}_${secret}`, secretHash: hashSecret(secret) };
};

export const hashSecret = (secret: string): Buffer => crypto.createHash("sha256").update(secret, "utf8").digest();

/** Splits a presented token; undefined when it is not of the key's shape. */
export const parseApiKey = (token: string): { keyId: string; secret: string } | undefined => {
  const m = /^hk_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(token);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
};

/** Constant-time check of a presented secret against the stored hash. */
export const secretMatches = (secret: string, storedHash: Buffer): boolean => {
  const h = hashSecret(secret);
  return h.length === storedHash.length && crypto.timingSafeEqual(h, storedHash);
};
