/**
 * Time-based one-time passwords (RFC 6238, over HOTP, RFC 4226) with node:crypto: the second
 * factor of console logins (Safety Standard Art. 6(2): remote operator access needs OTP or
 * similar). 30-second steps, 6 digits, HMAC-SHA1 by default (what authenticator apps expect);
 * a code is accepted for the current step or one step either side, and never twice (the caller
 * keeps the last accepted step).
 */
import crypto from "node:crypto";

export type TotpAlgorithm = "sha1" | "sha256" | "sha512";

export interface TotpOptions {
  digits?: number;
  stepSeconds?: number;
  algorithm?: TotpAlgorithm;
}

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding (what otpauth URIs carry). */
export const base32Encode = (buf: Buffer): string => {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
};

export const base32Decode = (s: string): Buffer => {
  const clean = s.replace(/=+$/, "").toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new RangeError("not base32");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
};

/** HOTP (RFC 4226 §5.3): dynamic truncation of HMAC(secret, counter). */
export const hotp = (secret: Buffer, counter: number, digits = 6, algorithm: TotpAlgorithm = "sha1"): string => {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac(algorithm, secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(bin % 10 ** digits).padStart(digits, "0");
};

/** The time step an instant falls in (RFC 6238 §4: T0 = 0). */
export const totpStep = (at: Date, stepSeconds = 30): number => Math.floor(at.getTime() / 1000 / stepSeconds);

/** The code for an instant. */
export const totp = (secret: Buffer, at: Date, o: TotpOptions = {}): string =>
  hotp(secret, totpStep(at, o.stepSeconds), o.digits ?? 6, o.algorithm);

/**
 * The step a presented code belongs to, within ±1 step of `at` and later than `lastStep`, or null.
 * Compared in constant time; every candidate step is computed whatever the input.
 */
export const verifyTotp = (secret: Buffer, code: string, at: Date, lastStep: number, o: TotpOptions = {}): number | null => {
  const digits = o.digits ?? 6;
  const wellFormed = code.length === digits && /^\d+$/.test(code);
  // Same length whatever was sent (a malformed code is compared as blanks, and never matches).
  const presented = wellFormed ? Buffer.from(code, "ascii") : Buffer.alloc(digits, 0x20);
  const now = totpStep(at, o.stepSeconds);
  let found: number | null = null;
  for (const step of [now - 1, now, now + 1]) {
    const expected = Buffer.from(hotp(secret, step, digits, o.algorithm), "utf8");
    if (crypto.timingSafeEqual(expected, presented) && wellFormed && step > lastStep && found === null) found = step;
  }
  return found;
};

/** A new random secret (160 bits, RFC 4226 §4's recommendation). */
export const newTotpSecret = (): Buffer => crypto.randomBytes(20);

/** The `otpauth://` URI an authenticator app scans (the de-facto Key Uri Format). */
export const otpauthUri = (secret: Buffer, account: string, issuer: string): string =>
  `otpauth://totp/${encodeURIComponent(issuer)}:${encodeURIComponent(account)}?secret=${base32Encode(secret)}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=6&period=30`;

const sealAad = (account: string) => Buffer.from(`haechi/console-totp/v1\0${account}`, "utf8");

/** A TOTP secret sealed for storage (AES-256-GCM: IV ‖ ciphertext ‖ tag), bound to its account. */
export const sealTotpSecret = (key: Buffer, account: string, secret: Buffer): Buffer => {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(sealAad(account));
  const body = Buffer.concat([c.update(secret), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]);
};

/** The secret back; throws when the sealed value was altered, moved to another account or sealed under another key. */
export const openTotpSecret = (key: Buffer, account: string, sealed: Buffer): Buffer => {
  if (sealed.length < 12 + 16 + 1) throw new RangeError("sealed TOTP secret is too short");
  const d = crypto.createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
  d.setAAD(sealAad(account));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
};
