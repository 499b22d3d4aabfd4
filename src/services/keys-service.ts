/**
 * KEK rotation without downtime (`haechi keys rotate`): a new KEK version becomes active at
 * once (new subjects use it), then every wrapped data key is re-wrapped in pages with a
 * compare-and-set, while reads keep working with whichever version a row names. The sealed-store
 * keys (what a law keeps after deletion) are re-wrapped too, after the data keys. Field
 * ciphertexts are untouched: only the small wrapped keys change.
 */
import type { KeyStore } from "../core/ports.js";
import type { SubjectId } from "../core/ids.js";
import { dekAad, sealedKeyAad } from "../crypto/envelope.js";
import type { KekProvider } from "../crypto/keyring.js";
import type { AuditRecorder } from "./service-types.js";
import type { Clock } from "../core/clock.js";

export interface KeysServiceDeps {
  keys: Pick<KeyStore, "listNotWrappedBy" | "rewrapMany" | "countByKekVersion" | "listSealedNotWrappedBy" | "rewrapSealedMany">;
  kek: KekProvider & { rotate(now: Date): Promise<number> };
  audit: AuditRecorder;
  clock: Clock;
}

type Rewrap = { id: SubjectId; fromKek: number; toKek: number; wrapped: Buffer };

/**
 * Re-wraps every key a listing returns under KEK version `to`, a page per transaction with a
 * compare-and-set on the KEK version (a row destroyed or re-wrapped meanwhile is skipped).
 * Returns how many were listed.
 */
const rewrapAll = async <R extends { subjectId: SubjectId; kekVersion: number; wrapped: Buffer }>(
  deps: Pick<KeysServiceDeps, "kek">,
  to: number,
  pageSize: number,
  how: {
    list: (kekVersion: number, afterId: string | null, limit: number) => Promise<R[]>;
    rewrap: (items: readonly Rewrap[]) => Promise<number>;
    aadOf: (row: R) => Buffer;
    onProgress?: (done: number) => void;
  },
): Promise<number> => {
  const { list, rewrap, aadOf, onProgress } = how;
  let done = 0;
  let after: string | null = null;
  for (;;) {
    const page = await list(to, after, pageSize);
    if (page.length === 0) return done;
    const items: Rewrap[] = [];
    for (const row of page) {
      const aad = aadOf(row);
      const key = await deps.kek.unwrap(row.kekVersion, row.wrapped, aad);
      const { kekVersion, wrapped } = await deps.kek.wrap(key, aad);
      key.fill(0);
      items.push({ id: row.subjectId, fromKek: row.kekVersion, toKek: kekVersion, wrapped });
    }
    await rewrap(items);
    done += page.length;
    // Let the server breathe between pages: an embedded store answers synchronously, and a
    // rotation must never stall reads (no downtime).
    await new Promise<void>((r) => setImmediate(r));
    after = page[page.length - 1]!.subjectId;
    onProgress?.(done);
  }
};

export const keysService = (deps: KeysServiceDeps) => ({
  status: () => deps.keys.countByKekVersion(),

  /** Adds a KEK version (unless `resumeOnly`) and re-wraps every data key under the active one. */
  async rotate(opts: { resumeOnly?: boolean; pageSize?: number; onProgress?: (done: number, total: number) => void } = {}) {
    const now = deps.clock.now();
    const to = opts.resumeOnly ? deps.kek.activeVersion() : await deps.kek.rotate(now);
    await deps.audit.record({
      at: now.toISOString(),
      requestId: "keys-rotate",
      principal: null,
      source: null,
      action: "keys.rotate",
      effect: "info",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: [],
      meta: { kekVersion: to },
    });
    const counts = await deps.keys.countByKekVersion();
    const total = counts.filter((c) => c.kekVersion !== to).reduce((a, c) => a + c.count, 0);
    const pageSize = opts.pageSize ?? 1000;
    const done = await rewrapAll(deps, to, pageSize, {
      list: deps.keys.listNotWrappedBy,
      rewrap: deps.keys.rewrapMany,
      aadOf: (r) => dekAad(r.subjectId, r.dekVersion),
      onProgress: (n) => opts.onProgress?.(n, total),
    });
    // The sealed-store keys: few (erased accounts with records a law keeps), same compare-and-set.
    const sealed = await rewrapAll(deps, to, pageSize, {
      list: deps.keys.listSealedNotWrappedBy,
      rewrap: deps.keys.rewrapSealedMany,
      aadOf: (r) => sealedKeyAad(r.subjectId),
    });
    return { kekVersion: to, rewrapped: done, rewrappedSealed: sealed };
  },
});
