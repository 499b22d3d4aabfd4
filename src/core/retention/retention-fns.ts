/**
 * What an account deletion destroys and what a law makes us keep (PIPA Art. 21(1) proviso,
 * 21(3); LAW §5.1, §15 E1-E2). Pure: the catalog, the fields a person holds, and the time.
 *
 * A field is kept when a statutory rule lists it, the rule applies to the person (they hold the
 * rule's `when` field, or any of its fields), and a purpose that holds the field names the rule.
 * It is kept until the longest such rule ends, counted from now (the end of the relationship).
 */
import type { Catalog } from "../catalog/catalog-schema.js";
import { addPeriod, LEGAL_RETENTION_PURPOSE, separateConsentCategoryFor } from "../catalog/catalog-fns.js";
import { consentStanding } from "../consent/consent-fns.js";
import type { ConsentState } from "../ports.js";

export interface RetainedField {
  field: string;
  /** The rule that keeps it longest. */
  rule: string;
  citation: string;
  until: Date;
  /** `RETAINED_BY_LAW:<rule>`. */
  code: string;
}

export interface ErasurePlan {
  destroy: string[];
  retain: RetainedField[];
  /** The latest `until` (when the sealed key can go), or null when nothing is kept. */
  until: Date | null;
}

export const erasurePlan = (catalog: Catalog, held: readonly string[], now: Date): ErasurePlan => {
  const holds = new Set(held);
  const retain: RetainedField[] = [];
  const destroy: string[] = [];
  for (const field of [...holds].sort()) {
    let best: RetainedField | undefined;
    for (const [name, rule] of Object.entries(catalog.retention_rules)) {
      if (!rule.fields.includes(field)) continue;
      const applies = rule.when !== undefined ? holds.has(rule.when) : rule.fields.some((f) => holds.has(f));
      if (!applies) continue;
      const named = Object.values(catalog.purposes).some((p) => p.fields.includes(field) && p.retention.rules.includes(name));
      if (!named) continue;
      const until = addPeriod(now, rule.period);
      if (!best || until > best.until) best = { field, rule: name, citation: rule.citation, until, code: `RETAINED_BY_LAW:${name}` };
    }
    if (best) retain.push(best);
    else destroy.push(field);
  }
  const until = retain.reduce<Date | null>((m, r) => (m === null || r.until > m ? r.until : m), null);
  return { destroy, retain, until };
};

/**
 * Fields no purpose stands for any more: after a consent is withdrawn (PIPA Art. 37(3), 37(5);
 * LAW §15 E6) they must be destroyed without delay. A purpose stands when its basis is not
 * consent, or its consent is granted (a stale consent still holds the data until re-consent is
 * asked for). A sensitive or unique-identifier field also needs its separate consent, unless the
 * purpose rests on law (PIPA Art. 23, 24).
 */
export const orphanedFields = (catalog: Catalog, held: readonly string[], consents: readonly ConsentState[], now: Date): string[] => {
  const granted = (notice: string | undefined) => notice !== undefined && consentStanding(catalog, consents, notice, now).kind === "granted";
  const separate = (field: string) => {
    const def = catalog.fields[field];
    return def ? separateConsentCategoryFor(def) : null;
  };
  return [...new Set(held)]
    .filter((field) => {
      const category = separate(field);
      return !Object.values(catalog.purposes).some((p) => {
        if (!p.fields.includes(field)) return false;
        if (p.basis === "consent" && !granted(p.notice)) return false;
        if (category && p.basis !== "law") {
          return Object.entries(catalog.notices).some(
            ([name, n]) => n.category === category && granted(name) && n.versions.some((v) => v.items.includes(field)),
          );
        }
        return true;
      });
    })
    .sort();
};

/** Fields some live purpose keeps only for a period from collection or last use (LAW §15 E1). */
export const expirableFields = (catalog: Catalog): string[] =>
  Object.keys(catalog.fields).filter((f) =>
    Object.entries(catalog.purposes).some(
      ([name, p]) => name !== LEGAL_RETENTION_PURPOSE && p.fields.includes(f) && p.retention.period !== undefined && (p.retention.from === "collection" || p.retention.from === "last_use"),
    ),
  );

/**
 * When the purposes holding a value stop holding it (PIPA Art. 21(1)): the latest of the standing
 * purposes' periods counted from the value's collection (`last_use` counts from the last write of
 * the value too). Null when a standing purpose holds it with no period (until the relationship
 * or the purpose ends); the collection time itself when no purpose stands for it any more.
 */
export const purposeDeadline = (catalog: Catalog, field: string, consents: readonly ConsentState[], collectedAt: Date, now: Date): Date | null => {
  let latest: Date | undefined;
  for (const [name, p] of Object.entries(catalog.purposes)) {
    if (name === LEGAL_RETENTION_PURPOSE || !p.fields.includes(field)) continue;
    if (p.basis === "consent" && (p.notice === undefined || consentStanding(catalog, consents, p.notice, now).kind !== "granted")) continue;
    const r = p.retention;
    if (r.period === undefined || (r.from !== "collection" && r.from !== "last_use")) return null;
    const d = addPeriod(collectedAt, r.period);
    if (!latest || d > latest) latest = d;
  }
  return latest ?? collectedAt;
};
