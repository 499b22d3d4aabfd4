/**
 * Per-context pseudonymous subject ids (the open-chat lesson, seed 000).
 *
 * A service never sees Haechi's internal id. Each identifier context (by default, each
 * principal) has its own key derived from the pseudonym root; the external id is the internal
 * 128-bit id enciphered with that key as one AES block (a keyed pseudorandom permutation):
 * stable for the context, reversible only with the key, and unlinkable across contexts.
 */
import crypto from "node:crypto";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import { deriveKey } from "./keyring.js";
import { randomBytes } from "./random.js";

const PREFIX = "sub_";

export interface Pseudonyms {
  /** The id `context` sees for `subject`. */
  externalId(context: string, subject: SubjectId): ExternalSubjectId;
  /** Resolves an id presented by `context`; undefined if it is not one of its ids' shape. */
  resolve(context: string, external: string): SubjectId | undefined;
}

/**
 * The key of one identifier context: `externalId(context, id)` is `sub_` + base64url of the
 * 16-byte id enciphered with it as one AES-256 block. For holders that encipher many ids at once
 * (the export writer) without the root.
 */
export const pseudonymContextKey = (root: Buffer, context: string): Buffer => deriveKey(root, `pseudonym:${context}`);

export const pseudonyms = (root: Buffer, opts: { cacheSize?: number } = {}): Pseudonyms => {
  const keys = new Map<string, Buffer>();
  // Resolving is an AES block operation (≈ 4 µs with cipher set-up); hot ids are remembered.
  // The cache maps a context's public id to the internal id, both already known to this process.
  const resolved = new Map<string, SubjectId>();
  const cacheSize = opts.cacheSize ?? 50_000;
  const keyFor = (context: string) => {
    let k = keys.get(context);
    if (!k) {
      k = pseudonymContextKey(root, context);
      keys.set(context, k);
    }
    return k;
  };
  const block = (key: Buffer, input: Buffer, encrypt: boolean) => {
    const c = encrypt
      ? crypto.createCipheriv("aes-256-ecb", key, null)
      : crypto.createDecipheriv("aes-256-ecb", key, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(input), c.final()]);
  };
  return {
    externalId(context, subject) {
      const raw = Buffer.from(subject, "base64url");
      return `${PREFIX}${block(keyFor(context), raw, true).toString("base64url")}` as ExternalSubjectId;
    },
    resolve(context, external) {
      if (typeof external !== "string" || !external.startsWith(PREFIX) || external.length !== PREFIX.length + 22) return undefined;
      const cacheKey = `${context}\0${external}`;
      const hit = resolved.get(cacheKey);
      if (hit !== undefined) return hit;
      const raw = Buffer.from(external.slice(PREFIX.length), "base64url");
      if (raw.length !== 16 || raw.toString("base64url") !== external.slice(PREFIX.length)) return undefined;
      const id = block(keyFor(context), raw, false).toString("base64url") as SubjectId;
      if (resolved.size >= cacheSize) resolved.delete(resolved.keys().next().value as string);
      resolved.set(cacheKey, id);
      return id;
    },
  };
};

/** A new internal subject id: 128 random bits. */
export const newSubjectId = (): SubjectId => randomBytes(16).toString("base64url") as SubjectId;
