/**
 * An incident's scope from audit entries and provision-ledger rows: which people, which fields,
 * through which principal or recipient, and when. Pure: the incident service feeds it pages read
 * from the stores, resolves audit references through the key store in one pass, and stores what
 * `finish` returns.
 *
 * Built for a scrape's volume (tens of thousands of people from hundreds of thousands of
 * entries): a person's fields and channels are interned sets, so an entry costs two map lookups
 * and no allocation once its set has been seen.
 */
import type { Sensitivity } from "../catalog/catalog-schema.js";
import type { SubjectId } from "../ids.js";
import { CREDIT } from "./duty-fns.js";
import type { IncidentScope, IncidentSubjectRow, ScopeChannel, ScopeWindow } from "./incident-types.js";

/** Reads that released data to the principal (the lookup's answer says the person is a member). */
export const READ_ACTIONS: readonly string[] = ["subject.read", "subject.lookup"];
/** Writes that changed or destroyed a person's data (forgery, alteration, damage). */
export const WRITE_ACTIONS: readonly string[] = ["subject.create", "subject.update", "subject.reactivate", "subject.destroy_fields"];

/** The parts of an audit entry the scope uses (from its canonical body). */
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

/**
 * Sets of names, interned: each distinct set gets a number, and the union of two numbered sets is
 * computed once. Names within a set are sorted.
 */
const internedSets = () => {
  const members: string[][] = [[]];
  const byKey = new Map<string, number>([["", 0]]);
  const unions = new Map<number, number>();
  const idOf = (names: readonly string[]): number => {
    const sorted = names.length <= 1 ? names : [...new Set(names)].sort();
    const key = sorted.join("\0");
    let id = byKey.get(key);
    if (id === undefined) {
      id = members.length;
      members.push([...sorted]);
      byKey.set(key, id);
    }
    return id;
  };
  return {
    idOf,
    members: (id: number): readonly string[] => members[id]!,
    union(a: number, b: number): number {
      if (a === b || b === 0) return a;
      if (a === 0) return b;
      const k = a < b ? a * 1_000_003 + b : b * 1_000_003 + a;
      let id = unions.get(k);
      if (id === undefined) {
        id = idOf([...members[a]!, ...members[b]!]);
        unions.set(k, id);
      }
      return id;
    },
  };
};

/** A person's touch: interned field set and channel set. */
interface Touch {
  fields: number;
  via: number;
}

interface ChannelAcc {
  kind: "principal" | "recipient";
  name: string;
  /** The interned channel set holding only this channel. */
  via: number;
  entries: number;
  fields: number;
  first: number | null;
  last: number | null;
}

const span = (acc: { first: number | null; last: number | null }, t: number) => {
  if (acc.first === null || t < acc.first) acc.first = t;
  if (acc.last === null || t > acc.last) acc.last = t;
};
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/**
 * Accumulates a scope. `writes`: count the principal's writes too (integrity kinds). Only
 * allowed entries that name a subject count: a denied read released nothing.
 */
export const scopeAccumulator = (opts: { writes: boolean }) => {
  const actions = new Set([...READ_ACTIONS, ...(opts.writes ? WRITE_ACTIONS : [])]);
  const fieldSets = internedSets();
  const viaSets = internedSets();
  const byRef = new Map<string, Touch>();
  const bySubject = new Map<SubjectId, Touch>();
  const channels = new Map<string, ChannelAcc>();
  const overall = { first: null as number | null, last: null as number | null };
  /** Field sets by array identity: callers that reuse arrays for equal sets (the service does) skip the interning. */
  const fieldsByArray = new Map<readonly string[], number>();
  let lastChannel: ChannelAcc | null = null;
  const channel = (kind: ChannelAcc["kind"], name: string): ChannelAcc => {
    if (lastChannel !== null && lastChannel.kind === kind && lastChannel.name === name) return lastChannel;
    const key = `${kind}:${name}`;
    let c = channels.get(key);
    if (c === undefined) {
      c = { kind, name, via: viaSets.idOf([name]), entries: 0, fields: 0, first: null, last: null };
      channels.set(key, c);
    }
    lastChannel = c;
    return c;
  };
  const touch = <K>(map: Map<K, Touch>, key: K, fields: number, via: number) => {
    const t = map.get(key);
    if (t === undefined) map.set(key, { fields, via });
    else {
      t.fields = fieldSets.union(t.fields, fields);
      t.via = viaSets.union(t.via, via);
    }
  };
  const fieldsId = (fields: readonly string[]) => {
    let id = fieldsByArray.get(fields);
    if (id === undefined) {
      id = fieldSets.idOf(fields);
      // Bounded: a caller that never reuses arrays must not grow this without end.
      if (fieldsByArray.size < 4096) fieldsByArray.set(fields, id);
    }
    return id;
  };

  return {
    /** Whether the entry counts (an allowed read, or write when writes count, naming a subject). */
    counts: (e: Pick<ScopeEntry, "action" | "effect" | "subjectRef">): boolean =>
      e.subjectRef !== null && e.effect === "allow" && actions.has(e.action),
    addEntry(e: ScopeEntry): boolean {
      if (!this.counts(e)) return false;
      const t = e.at.getTime();
      const c = channel("principal", e.principal);
      const f = fieldsId(e.fields);
      c.entries += 1;
      c.fields = fieldSets.union(c.fields, f);
      span(c, t);
      span(overall, t);
      touch(byRef, e.subjectRef!, f, c.via);
      return true;
    },
    addProvision(p: ScopeProvision): void {
      const t = p.at.getTime();
      const c = channel("recipient", p.recipient);
      const f = fieldsId(p.fields);
      c.entries += 1;
      c.fields = fieldSets.union(c.fields, f);
      span(c, t);
      span(overall, t);
      touch(bySubject, p.subjectId, f, c.via);
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
      /** Audit references of canary (decoy) subjects: evidence of the intrusion, not people to tell. */
      decoys?: ReadonlySet<string>;
    }): { scope: IncidentScope; subjects: IncidentSubjectRow[] } {
      const people = new Map<SubjectId, Touch>(bySubject);
      const unlinkable: Touch[] = [];
      let decoys = 0;
      for (const [ref, t] of byRef) {
        if (input.decoys?.has(ref)) {
          decoys += 1;
          continue;
        }
        const id = input.resolved.get(ref);
        if (id === undefined) unlinkable.push(t);
        else touch(people, id, t.fields, t.via);
      }
      // People per (field set, channel set), then expanded: a handful of combinations, not a pass per name per person.
      const combos = new Map<number, { fields: number; via: number; n: number }>();
      for (const t of [...people.values(), ...unlinkable]) {
        const k = t.fields * 1_000_003 + t.via;
        const c = combos.get(k);
        if (c === undefined) combos.set(k, { fields: t.fields, via: t.via, n: 1 });
        else c.n += 1;
      }
      const fieldPeople = new Map<string, number>();
      const channelPeople = new Map<string, number>();
      let credit = 0;
      for (const c of combos.values()) {
        const fields = fieldSets.members(c.fields);
        for (const f of fields) fieldPeople.set(f, (fieldPeople.get(f) ?? 0) + c.n);
        for (const v of viaSets.members(c.via)) channelPeople.set(v, (channelPeople.get(v) ?? 0) + c.n);
        if (fields.some((f) => CREDIT.includes(input.sensitivityOf(f) as Sensitivity))) credit += c.n;
      }
      const through: ScopeChannel[] = [...channels.values()]
        .sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : 1) : a.kind === "principal" ? -1 : 1))
        .map((c) => ({
          kind: c.kind,
          name: c.name,
          entries: c.entries,
          people: channelPeople.get(c.name) ?? 0,
          fields: [...fieldSets.members(c.fields)],
          first: iso(c.first),
          last: iso(c.last),
        }));
      const sortedNames = (xs: readonly string[]) => [...xs].sort();
      const scope: IncidentScope = {
        window: input.window,
        principals: sortedNames(input.principals),
        recipients: sortedNames(input.recipients),
        computedAt: input.computedAt.toISOString(),
        auditHead: input.auditHead,
        people: { total: people.size + unlinkable.length, linked: people.size, unlinkable: unlinkable.length, credit, ...(decoys > 0 ? { decoys } : {}) },
        fields: sortedNames([...fieldPeople.keys()]).map((field) => ({
          field,
          people: fieldPeople.get(field)!,
          sensitivity: input.sensitivityOf(field) ?? "unknown",
        })),
        through,
        first: iso(overall.first),
        last: iso(overall.last),
      };
      const ids = [...people.keys()].sort();
      const subjects: IncidentSubjectRow[] = ids.map((subjectId) => {
        const t = people.get(subjectId)!;
        // Shared arrays per set: read-only from here on.
        return { subjectId, fields: fieldSets.members(t.fields) as string[], via: viaSets.members(t.via) as string[] };
      });
      return { scope, subjects };
    },
  };
};
