/**
 * Keyed blind indexes for lookup fields (phone, email, the service's own user id): a subject can
 * be found by value without a plaintext index. Each field has its own HMAC key derived from the
 * blind-index root, so equal values in two fields do not produce equal digests.
 */
import crypto from "node:crypto";
import { deriveKey } from "./keyring.js";

/**
 * Normalises a lookup value so trivial formatting differences still match: Unicode NFC, trimmed;
 * e-mail addresses lower-cased; phone-shaped values reduced to digits (+82 10… → 010…).
 */
export const normaliseLookupValue = (value: unknown): string => {
  const s = String(value).normalize("NFC").trim();
  if (s.includes("@")) return s.toLowerCase();
  if (/^\+?[\d\s().-]{7,}$/.test(s)) {
    let digits = s.replace(/\D/g, "");
    if (s.startsWith("+82")) digits = `0${digits.slice(2)}`;
    return digits;
  }
  return s;
};

export interface BlindIndex {
  digest(field: string, value: unknown): Buffer;
}

export const blindIndex = (root: Buffer): BlindIndex => {
  const keys = new Map<string, Buffer>();
  return {
    digest(field, value) {
      let k = keys.get(field);
      if (!k) {
        k = deriveKey(root, `blind-index:${field}`);
        keys.set(field, k);
      }
      return crypto.createHmac("sha256", k).update(normaliseLookupValue(value), "utf8").digest();
    },
  };
};
