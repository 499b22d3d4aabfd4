/**
 * Reading a time window of the audit log without reading the whole log: entries are appended in
 * time order, so the first entry of a window is found by binary search over the sequence numbers
 * (one single-row read per step), and the window is then read in pages.
 */
import type { AuditStore } from "../core/ports.js";
import type { AuditEntry } from "./audit-types.js";

type WindowSource = Pick<AuditStore, "iterate" | "seqRange">;

/** The first seq whose entry is at or after `t`, or null when there is none. */
export const firstSeqFrom = async (store: WindowSource, t: Date): Promise<number | null> => {
  const range = await store.seqRange?.();
  if (!range) return null;
  const atOf = async (seq: number) => {
    for await (const page of store.iterate(seq - 1, 1)) return page[0]?.at ?? null;
    return null;
  };
  let lo = range.first;
  let hi = range.last + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const at = await atOf(mid);
    if (at !== null && at < t) lo = mid + 1;
    else hi = mid;
  }
  return lo > range.last ? null : lo;
};

export interface WindowRow {
  seq: number;
  hash: Buffer;
  body: string;
  entry: AuditEntry;
}

/** Audit entries from `from` (inclusive) until `until` (exclusive; open when absent), in order. */
export async function* auditWindow(store: WindowSource, from: Date, until?: Date, pageSize = 5000): AsyncGenerator<WindowRow> {
  const first = await firstSeqFrom(store, from);
  if (first === null) return;
  for await (const page of store.iterate(first - 1, pageSize)) {
    for (const row of page) {
      if (until && row.at >= until) return;
      yield { seq: row.seq, hash: row.hash, body: row.body, entry: JSON.parse(row.body) as AuditEntry };
    }
  }
}
