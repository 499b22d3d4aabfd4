/** Writing a benchmark's audit log fast: entries in their canonical form, chained with the real key, one appendBatch per call. */
import type { AuditEntry } from "../../src/audit/audit-types.js";
import { canonicalize } from "../../src/audit/canonical.js";
import { chainHasher, ZERO_HASH } from "../../src/audit/chain.js";
import type { AuditRow, AuditStore } from "../../src/core/ports.js";

/** Appends `entries` as one durable batch after the store's head. */
export const appendChained = async (store: Pick<AuditStore, "appendBatch">, chain: ReturnType<typeof chainHasher>, entries: readonly AuditEntry[]): Promise<void> => {
  const batch = entries.map((e) => ({ e, body: canonicalize(e) }));
  await store.appendBatch((head) => {
    let prev = head?.hash ?? ZERO_HASH;
    let seq = head?.seq ?? 0;
    return batch.map(({ e, body }): AuditRow => {
      seq += 1;
      const hash = chain.hash(prev, seq, body);
      prev = hash;
      return { seq, at: new Date(e.at), subjectRef: e.subjectRef, principal: e.principal, action: e.action, body, hash };
    });
  });
};
