/**
 * An incident's scope from audit entries and provision-ledger rows: which people, which fields,
 * through which principal or recipient, and when. Pure: the incident service feeds it pages read
 * from the stores, resolves audit references through the key store in one pass, and stores what
 * `finish` returns.
 */
import type { Sensitivity } from "../catalog/catalog-schema.js";
import type { SubjectId } from "../ids.js";
import { CREDIT } from "./duty-fns.js";
import type { IncidentScope, IncidentSubjectRow, ScopeChannel, ScopeWindow } from "./incident-types.js";

/** Reads that released data to the principal (the lookup's answer says the person is a member). */
export const READ_ACTIONS: readonly string[] = ["subject.read", "subject.lookup"];
/** Writes that changed or destroyed a person's data (forgery, alteration, damage). */
export const WRITE_ACTIONS: readonly string[] = ["subject.create", "subject.update", "subject.reactivate", "subject.destroy_fields"];

/** The parts of an audit entry the scope uses (parsed from its canonical body). */
export interface ScopeEntry {
  at: Date;
  principal: string;
  subjectRef: string | null;
  action: string;
  effect: string;
  fields: readonly string[];
}

/** One provision-ledger row: the subject went to the recipient with these fields. */
export interface ScopeProvision {
  at: Date;
  recipient: string;
  subjectId: SubjectId;
  fields: readonly string[];
}

interface Touch {
  fields: Set<string>;
  via: Set<string>;
}

interface ChannelAcc {
  kind: "principal" | "recipient";
  name: string;
  entries: number;
  keys: Set<string>;
  fields: Set<string>;
  first: number | null;
  last: number | null;
}

const span = (acc: { first: number | null; last: number | null }, t: number) => {
  if (acc.first === null || t < acc.first) acc.first = t;
  if (acc.last === null || t > acc.last) acc.last = t;
};
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const sorted = (s: Iterable<string>) => [...s].sort();

/**
 * Accumulates a scope. `writes`: count the principal's writes too (integrity kinds). Only
 * allowed entries that name a subject count: a denied read released nothing.
 */
export const scopeAccumulator = (opts: { writes: boolean }) => {
  const actions = new Set([...READ_ACTIONS, ...(opts.writes ? WRITE_ACTIONS : [])]);
  const byRef = new Map<string, Touch>();
  const bySubject = new Map<SubjectId, Touch>();
  const channels = new Map<string, ChannelAcc>();
  const overall = { first: null as number | null, last: null as number | null };
  const channel = (kind: ChannelAcc["kind"], name: string): ChannelAcc => {
    const key = `${kind}:${name}`;
    let c = channels.get(key);
    if (c === undefined) {
      c = { kind, name, entries: 0, keys: new Set(), fields: new Set(), first: null, last: null };
      channels.set(key, c);
    }
    return c;
  };
  const touch = <K>(map: Map<K, Touch>, key: K, fields: readonly string[], via: string) => {
    let t = map.get(key);
    if (t === undefined) {
      t = { fields: new Set(), via: new Set() };
      map.set(key, t);
    }
    for (const f of fields) t.fields.add(f);
    t.via.add(via);
  };

  return {
    /** Whether the entry counts (an allowed read, or write when writes count, naming a subject). */
    counts: (e: Pick<ScopeEntry, "action" | "effect" | "subjectRef">): boolean =>
      e.subjectRef !== null && e.effect === "allow" && actions.has(e.action),
    addEntry(e: ScopeEntry): boolean {
      if (!this.counts(e)) return false;
      const t = e.at.getTime();
      const c = channel("principal", e.principal);
      c.entries += 1;
      c.keys.add(`r:${e.subjectRef}`);
      for (const f of e.fields) c.fields.add(f);
      span(c, t);
      span(overall, t);
      touch(byRef, e.subjectRef!, e.fields, e.principal);
      return true;
    },
    addProvision(p: ScopeProvision): void {
      const t = p.at.getTime();
      const c = channel("recipient", p.recipient);
      c.entries += 1;
      c.keys.add(`s:${p.subjectId}`);
      for (const f of p.fields) c.fields.add(f);
      span(c, t);
      span(overall, t);
      touch(bySubject, p.subjectId, p.fields, p.recipient);
    },
    /** The distinct audit references seen, for one `findByAuditRefs` pass. */
    refs: (): string[] => [...byRef.keys()],
    /**
     * The scope: references resolved to subjects are merged with the ledger's subjects; the
     * rest belong to people whose key was destroyed since (erased, unlinkable) and are counted.
     */
    finish(input: {
      resolved: ReadonlyMap<string, SubjectId>;
      window: ScopeWindow;
      principals: readonly string[];
      recipients: readonly string[];
      computedAt: Date;
      auditHead: number;
      sensitivityOf: (field: string) => Sensitivity | undefined;
    }): { scope: IncidentScope; subjects: IncidentSubjectRow[] } {
      const people = new Map<SubjectId, Touch>();
      const merge = (id: SubjectId, t: Touch) => {
        const p = people.get(id);
        if (p === undefined) people.set(id, { fields: new Set(t.fields), via: new Set(t.via) });
        else {
          for (const f of t.fields) p.fields.add(f);
          for (const v of t.via) p.via.add(v);
        }
      };
      const unlinkable: Touch[] = [];
      /** A channel's keys (`r:<ref>`, `s:<subject>`) by the person they stand for. */
      const personOf = new Map<string, string>();
      for (const [ref, t] of byRef) {
        const id = input.resolved.get(ref);
        if (id === undefined) unlinkable.push(t);
        else {
          personOf.set(`r:${ref}`, `s:${id}`);
          merge(id, t);
        }
      }
      for (const [id, t] of bySubject) merge(id, t);
      const all = [...people.values(), ...unlinkable];
      const fieldPeople = new Map<string, number>();
      let credit = 0;
      for (const t of all) {
        let hasCredit = false;
        for (const f of t.fields) {
          fieldPeople.set(f, (fieldPeople.get(f) ?? 0) + 1);
          if (CREDIT.includes(input.sensitivityOf(f) as Sensitivity)) hasCredit = true;
        }
        if (hasCredit) credit += 1;
      }
      const through: ScopeChannel[] = [...channels.values()]
        .sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : 1) : a.kind === "principal" ? -1 : 1))
        .map((c) => ({
          kind: c.kind,
          name: c.name,
          entries: c.entries,
          // A person reached both as a reference and through the ledger counts once.
          people: new Set([...c.keys].map((k) => personOf.get(k) ?? k)).size,
          fields: sorted(c.fields),
          first: iso(c.first),
          last: iso(c.last),
        }));
      const scope: IncidentScope = {
        window: input.window,
        principals: sorted(input.principals),
        recipients: sorted(input.recipients),
        computedAt: input.computedAt.toISOString(),
        auditHead: input.auditHead,
        people: { total: all.length, linked: people.size, unlinkable: unlinkable.length, credit },
        fields: sorted(fieldPeople.keys()).map((field) => ({
          field,
          people: fieldPeople.get(field)!,
          sensitivity: input.sensitivityOf(field) ?? "unknown",
        })),
        through,
        first: iso(overall.first),
        last: iso(overall.last),
      };
      const subjects: IncidentSubjectRow[] = [...people.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([subjectId, t]) => ({ subjectId, fields: sorted(t.fields), via: sorted(t.via) }));
      return { scope, subjects };
    },
  };
};
