/**
 * Per-subject data keys: created at collection, unwrapped on use, destroyed to shred.
 *
 * Unwrapped keys are cached briefly (bounded LRU with a TTL) because a checked read would
 * otherwise pay a KEK unwrap each time; `forget` drops a key from the cache the moment the
 * subject is destroyed, and the cache never outlives the process.
 */
import { HaechiError } from "../core/errors.js";
import type { AuditRef, SubjectId } from "../core/ids.js";
import type { KeyStore, WrappedKeyRow } from "../core/ports.js";
import { dekAad } from "./envelope.js";
import type { KekProvider } from "./keyring.js";
import { randomBytes } from "./random.js";

export interface SubjectKey {
  dek: Buffer;
  dekVersion: number;
  auditRef: AuditRef;
}

export interface SubjectKeysDeps {
  keys: Pick<KeyStore, "get">;
  kek: KekProvider;
  cacheSize?: number;
  cacheTtlMs?: number;
}

export const subjectKeys = (deps: SubjectKeysDeps) => {
  const max = deps.cacheSize ?? 100_000;
  const ttl = deps.cacheTtlMs ?? 60_000;
  const cache = new Map<SubjectId, { key: SubjectKey; expires: number }>();

  const remember = (id: SubjectId, key: SubjectKey) => {
    if (max <= 0) return;
    if (cache.size >= max) {
      // Evicted keys are not zeroed: a read may still be using the buffer; GC reclaims it.
      cache.delete(cache.keys().next().value as SubjectId);
    }
    cache.set(id, { key, expires: Date.now() + ttl });
  };

  return {
    /** A fresh data key for a new subject, wrapped for the key store. Not stored here. */
    async create(id: SubjectId, now: Date): Promise<{ row: WrappedKeyRow; key: SubjectKey }> {
      const dek = randomBytes(32);
      const dekVersion = 1;
      const { kekVersion, wrapped } = await deps.kek.wrap(dek, dekAad(id, dekVersion));
      const auditRef = `ar_${randomBytes(16).toString("base64url")}` as AuditRef;
      const row: WrappedKeyRow = { subjectId: id, kekVersion, dekVersion, wrapped, auditRef, createdAt: now };
      return { row, key: { dek, dekVersion, auditRef } };
    },

    /** The subject's key, or undefined if it was destroyed (or never existed). */
    async get(id: SubjectId): Promise<SubjectKey | undefined> {
      const hit = cache.get(id);
      if (hit) {
        if (hit.expires > Date.now()) return hit.key;
        cache.delete(id);
      }
      const row = await deps.keys.get(id);
      if (!row) return undefined;
      const dek = await deps.kek.unwrap(row.kekVersion, row.wrapped, dekAad(id, row.dekVersion));
      const key = { dek, dekVersion: row.dekVersion, auditRef: row.auditRef };
      remember(id, key);
      return key;
    },

    async require(id: SubjectId): Promise<SubjectKey> {
      const k = await this.get(id);
      if (!k) throw new HaechiError("NOT_FOUND", "subject not found");
      return k;
    },

    /** Drops a cached key (after the subject's key was destroyed). */
    forget(id: SubjectId) {
      const hit = cache.get(id);
      if (hit) hit.key.dek.fill(0);
      cache.delete(id);
    },

    clear() {
      for (const v of cache.values()) v.key.dek.fill(0);
      cache.clear();
    },
  };
};

export type SubjectKeys = ReturnType<typeof subjectKeys>;
