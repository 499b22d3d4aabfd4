/**
 * Consent state, derived. The ledger is append-only; the current state per notice is the latest
 * event. Staleness is derived from the catalog at evaluation time: a consent given under an
 * older notice version is stale for whatever changed since (PIPA Art. 15(2) second sentence),
 * so publishing a new notice version marks dependent consents stale without rewriting rows.
 */
import type { Catalog, NoticeDef, NoticeVersion } from "../catalog/catalog-schema.js";
import { changedItems } from "../catalog/catalog-fns.js";
import type { ConsentEvent, ConsentState } from "../ports.js";
import type { SubjectId } from "../ids.js";

/** The version of a notice in force at `now` (the latest whose effective date has come). */
export const effectiveVersion = (notice: NoticeDef, now: Date): NoticeVersion | undefined => {
  const today = now.toISOString().slice(0, 10);
  let best: NoticeVersion | undefined;
  for (const v of notice.versions) if (v.effective <= today && (!best || v.version > best.version)) best = v;
  return best;
};

export type ConsentStanding =
  | { kind: "none" }
  | { kind: "withdrawn"; state: ConsentState }
  | { kind: "granted"; state: ConsentState; version: NoticeVersion; staleAll: boolean; staleFields: Set<string> };

/** How a subject's consent under `noticeName` stands at `now`. */
export const consentStanding = (
  catalog: Catalog,
  consents: readonly ConsentState[],
  noticeName: string,
  now: Date,
): ConsentStanding => {
  const state = consents.find((c) => c.notice === noticeName);
  const notice = catalog.notices[noticeName];
  if (!state || !notice) return { kind: "none" };
  if (state.status === "withdrawn") return { kind: "withdrawn", state };
  const given = notice.versions.find((v) => v.version === state.noticeVersion);
  const current = effectiveVersion(notice, now);
  if (!given) return { kind: "granted", state, version: current ?? notice.versions[0]!, staleAll: true, staleFields: new Set() };
  let staleAll = false;
  const staleFields = new Set<string>();
  if (current && current.version > given.version) {
    const chain = notice.versions
      .filter((v) => v.version >= given.version && v.version <= current.version)
      .sort((a, b) => a.version - b.version);
    for (let i = 1; i < chain.length; i++) {
      const c = changedItems(chain[i - 1]!, chain[i]!);
      if (c.all) staleAll = true;
      for (const f of c.addedFields) staleFields.add(f);
    }
  }
  return { kind: "granted", state, version: given, staleAll, staleFields };
};

/** The state an event leaves (the ledger's latest event per notice is the current state). */
export const consentStateOf = (e: ConsentEvent): ConsentState => ({
  notice: e.notice,
  noticeVersion: e.noticeVersion,
  category: e.category,
  status: e.action === "grant" ? "granted" : "withdrawn",
  channel: e.channel,
  at: e.at,
});

/** Current states after applying `events` (in order) on top of `existing`. */
export const applyConsentEvents = (events: readonly ConsentEvent[], existing: readonly ConsentState[] = []): ConsentState[] => {
  const m = new Map(existing.map((c) => [c.notice, c]));
  for (const e of events) m.set(e.notice, consentStateOf(e));
  return [...m.values()];
};

/** Ledger events for checked consent inputs, each bound to its notice version and channel. */
export const consentEventsFor = (
  checked: readonly { notice: string; version: number; category: string; action: ConsentEvent["action"]; channel: ConsentEvent["channel"] }[],
  subjectId: SubjectId,
  who: { principal: string; requestId: string },
  at: Date,
  newId: () => string,
): ConsentEvent[] =>
  checked.map((c) => ({
    id: newId(),
    subjectId,
    notice: c.notice,
    noticeVersion: c.version,
    category: c.category as ConsentEvent["category"],
    action: c.action,
    channel: c.channel,
    at,
    principal: who.principal,
    requestId: who.requestId,
  }));
