/**
 * Account deletion by crypto-shredding, the sealed legal-retention store, and the sweep that
 * destroys sealed data when its law's period ends (PIPA Art. 21; LAW §5, §15 E).
 *
 * Erasing a subject, in an order that a crash at any point leaves repeatable:
 *   1. audit the decision (durable first; fail closed);
 *   2. what a law requires keeping is decrypted and sealed again under the subject's separate
 *      sealed key (wrapped under its own associated data), stored apart (upserts: repeatable);
 *   3. the shred journal records it (outside every store and backup), then the subject's data key
 *      is destroyed: from here every live value is unreadable;
 *   4. one data transaction deletes the live values and blind indexes and marks the subject erased;
 *   5. the key store purges (SQLite: checkpoint and truncate the write-ahead log).
 * A rerun after a crash in 3-4 finds no key and simply finishes 4-5.
 *
 * A dormant subject (separated under the dormancy policy) is erased the same way, from its
 * separated values: they are sealed where a law keeps them, then deleted with the rest.
 */
import crypto from "node:crypto";
import { addPeriod, idContextOf, subtractPeriod } from "../core/catalog/catalog-fns.js";
import type { Catalog, DormancyAction, DormancyPolicy } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import type { DataStore, KeyStore, SealedFieldRow, ShredJournal, StoredField } from "../core/ports.js";
import { erasurePlan, expirableFields, purposeDeadline, type RetainedField } from "../core/retention/retention-fns.js";
import { openField, sealField, sealedKeyAad } from "../crypto/envelope.js";
import type { KekProvider } from "../crypto/keyring.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import { randomBytes } from "../crypto/random.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type EraseServiceDeps = BaseDeps & {
  data: Pick<
    DataStore,
    | "getSubject"
    | "getFields"
    | "getDormantFields"
    | "transaction"
    | "sealed"
    | "dormant"
    | "markErased"
    | "compactErased"
    | "erasedBacklog"
    | "separateMany"
    | "separated"
    | "provisions"
  >;
  keys: Pick<KeyStore, "destroy" | "destroyMany" | "putSealed" | "getSealed" | "destroySealed" | "dueSealed" | "purge">;
  kek: KekProvider;
  subjectKeys: SubjectKeys;
  pseudonyms: Pseudonyms;
  /** Written ahead of every destruction, so a restored backup destroys again (backup-service). */
  journal: ShredJournal;
  /**
   * Queues the advance notices of dormancy actions falling due (the outbox, ADR 0011); without it
   * they are only counted and audited.
   */
  dormancyNotices?: (ctx: RequestContext, due: readonly DormancyNoticeDue[]) => Promise<{ queued: number; already: number; withoutContact: number }>;
  /**
   * The canary (decoy) subjects (ADR 0009): the dormancy sweep leaves them alone, so a decoy
   * planted years ago still trips the detector. Absent: none.
   */
  canaries?: () => Promise<ReadonlySet<SubjectId>>;
};

/** A dormancy action that falls due within `notice_before`: the person must be told now. */
export interface DormancyNoticeDue {
  subjectId: SubjectId;
  fields: readonly string[];
  action: "separate" | "destroy";
  stage: "inactive" | "separated";
  actionAt: Date;
}

/** Sealed values use their own key and their own associated data: never mistaken for live ones. */
const SEALED_DEK_VERSION = 0;
const sealedFieldName = (field: string) => `sealed/${field}`;

export interface EraseResult {
  id: string;
  erasedAt: string;
  /** Destroyed now (crypto-shredded): the data key is gone. */
  destroyed: string[];
  /** Kept in the sealed store because a law requires it, until when and under which rule. */
  retained: { field: string; code: string; rule: string; citation: string; until: string }[];
  /** The id each legal-retention principal uses to read the sealed values (null when nothing is kept). */
  retentionIds: Record<string, string> | null;
}

export interface DormancyResult {
  at: string;
  /** What the policy does to accounts inactive for `after`: erase them, or separate them. */
  action: DormancyAction;
  /** Accounts inactive since before this moment were erased (destroy) or separated (separate). */
  cutoff: string;
  /**
   * Erased in bulk (nothing kept) and one by one (something sealed for a law): under `destroy`,
   * the inactive accounts (separated ones included, e.g. under an earlier `separate` policy);
   * under `separate`, separated accounts past `destroy_after`.
   */
  erased: number;
  sealed: number;
  /** Accounts moved to the dormant store (action separate). */
  separated: number;
  /** Under `separate` with `destroy_after`: separated accounts separated before this were erased. */
  separatedCutoff: string | null;
  /** Accounts that will reach the threshold within `notice_before` and must be told now (of `action`). */
  noticeDue: number;
  /** Separated accounts that will reach `destroy_after` within `notice_before` and must be told of their erasure now. */
  destroyNoticeDue: number;
  /** Advance notices queued in the outbox by this run (0 without an outbox), queued by an earlier run, and impossible (no contact field). */
  notices: { queued: number; already: number; withoutContact: number };
  /** Accounts found more than the allowed days past the threshold (the sweep ran late). */
  overdue: number;
  /** Erased accounts whose unreadable rows (ciphertext, blind indexes) were deleted afterwards. */
  compacted: number;
}

export interface CompactResult {
  /** Erased subjects whose rows were deleted by this run. */
  compacted: number;
  /** Still waiting (another process holds them, or the run was limited), and the oldest's erasure time. */
  backlog: number;
  oldest: string | null;
}

/** What the sweeps will destroy next and what is late (the console's destruction schedule; LAW §15 E4, K1). */
export interface DestructionSchedule {
  at: string;
  horizonDays: number;
  overdueDays: number;
  /** How many rows each count may read before it stops (and says so): the page stays cheap at any size. */
  cap: number;
  /** Sealed values whose law's period ends (`haechi sweep`): subjects by day (UTC) within the horizon. */
  sealed: { dueNow: number; overdue: number; upcoming: { day: string; subjects: number }[]; capped: boolean };
  /** The dormancy policy's next acts (`sweepDormant`); null without a policy. */
  dormancy: {
    after: string;
    action: string;
    cutoff: string;
    dueNow: number;
    overdue: number;
    withinHorizon: number;
    capped: boolean;
  } | null;
  /** Erased accounts whose unreadable rows still await compaction (ADR 0008). */
  backlog: { subjects: number; oldest: string | null };
}

export interface RetentionSweepResult {
  at: string;
  /** Subjects some of whose values reached their purpose's period. */
  subjects: number;
  /** Values destroyed, and values moved to the sealed store because a law keeps them longer. */
  destroyed: number;
  sealed: number;
}

export interface SweepResult {
  at: string;
  /** Subjects whose sealed values (or some of them) reached their deadline and were destroyed. */
  subjects: number;
  values: number;
  keys: number;
  /** Sealed values past their deadline by more than the allowed days when the sweep found them. */
  overdue: number;
}

export const eraseService = (deps: EraseServiceDeps) => {
  const { data, keys } = deps;

  /** The context a sweep or a restore acts in (no caller: the operator or job named `by`). */
  const jobCtx = (by: string, kind: string): RequestContext => ({ principal: by, source: null, requestId: `${kind}-${randomBytes(8).toString("hex")}` });

  /** A destruction certificate (Decree Art. 16; Safety Standard Art. 13): durable before the act. */
  const certify = (
    ctx: RequestContext,
    now: Date,
    c: { purpose?: string; fields: string[]; reasons: string[]; count: number; meta: Record<string, string> },
  ) =>
    deps.audit.record({
      ...entryBase(ctx, now),
      action: "destruction.certificate",
      effect: "info",
      purpose: c.purpose ?? null,
      subjectRef: null,
      fields: c.fields,
      reasons: c.reasons,
      count: c.count,
      meta: c.meta,
    });

  const retentionIdsFor = (id: SubjectId): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, p] of Object.entries(deps.catalog.current().principals)) {
      if (p.role === "legal_retention") out[name] = deps.pseudonyms.externalId(p.id_context ?? name, id);
    }
    return out;
  };

  const sealedKeyOf = async (id: SubjectId): Promise<Buffer | undefined> => {
    const row = await keys.getSealed(id);
    return row ? deps.kek.unwrap(row.kekVersion, row.wrapped, sealedKeyAad(id)) : undefined;
  };

  /**
   * Seals values a law keeps under the subject's sealed key (created on first use; its deadline
   * extended to the latest value's), decrypting them with the live data key.
   */
  const sealRetained = async (id: SubjectId, dek: Buffer, stored: readonly StoredField[], retain: readonly RetainedField[], now: Date) => {
    const until = retain.reduce((m, r) => (r.until > m ? r.until : m), retain[0]!.until);
    const existing = await keys.getSealed(id);
    let sealedKey: Buffer;
    if (existing) {
      sealedKey = await deps.kek.unwrap(existing.kekVersion, existing.wrapped, sealedKeyAad(id));
      if (existing.until < until) await keys.putSealed({ ...existing, until });
    } else {
      sealedKey = randomBytes(32);
      const { kekVersion, wrapped } = await deps.kek.wrap(sealedKey, sealedKeyAad(id));
      await keys.putSealed({ subjectId: id, kekVersion, wrapped, until, createdAt: now });
    }
    try {
      const byField = new Map(stored.map((f) => [f.field, f.ciphertext]));
      const rows: SealedFieldRow[] = retain.map((r) => ({
        subjectId: id,
        field: r.field,
        ciphertext: sealField(sealedKey, SEALED_DEK_VERSION, id, sealedFieldName(r.field), openField(dek, id, r.field, byField.get(r.field)!)),
        rule: r.rule,
        until: r.until,
        sealedAt: now,
      }));
      await data.sealed.put(rows);
    } finally {
      sealedKey.fill(0);
    }
  };

  /**
   * The erasure itself (see the steps above), for a resolved subject. With an idempotency key, the
   * answer is fixed and claimed under the key before anything is destroyed (it names the time the
   * erasure counts from), and recorded as the answer in step 4's transaction: a retry of a
   * half-done erasure finishes it with the claimed answer (`begun`), a retry of a finished one
   * replays it.
   */
  const eraseById = async (
    ctx: RequestContext,
    id: SubjectId,
    externalId: string,
    action: string,
    why: string[],
    purge = true,
    /** When the erasure counts from (a replay after a restore uses the original time). */
    since?: Date,
    idem?: Idempotency<EraseResult>,
    begun?: EraseResult,
  ): Promise<EraseResult> => {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const key = await deps.subjectKeys.get(id);
    const all = Object.keys(catalog.fields);
    // A dormant subject's values are in the dormant store (same ciphertexts, same key).
    const dormant = (await data.getSubject(id))?.status === "dormant";
    const stored = dormant ? await data.getDormantFields(id, all) : await data.getFields(id, all);
    const plan = erasurePlan(
      catalog,
      stored.map((f) => f.field),
      begun ? new Date(begun.erasedAt) : (since ?? now),
    );
    await deps.audit.record({
      ...entryBase(ctx, now),
      action,
      effect: "allow",
      purpose: null,
      subjectRef: key?.auditRef ?? null,
      fields: stored.map((f) => f.field).sort(),
      reasons: [...why, ...plan.retain.map((r) => r.code)],
      meta: { destroyed: plan.destroy.length, retained: plan.retain.length, resumed: key === undefined || begun !== undefined },
    });
    const result: EraseResult = begun ?? {
      id: externalId as ExternalSubjectId,
      erasedAt: now.toISOString(),
      destroyed: plan.destroy,
      retained: plan.retain.map((r) => ({ field: r.field, code: r.code, rule: r.rule, citation: r.citation, until: r.until.toISOString() })),
      retentionIds: plan.retain.length > 0 ? retentionIdsFor(id) : null,
    };
    // The answer, claimed under the key before the first irreversible step.
    if (idem && !begun) await idem.begin({ erasure: result });

    // 2. Seal what a law keeps (only while the live key still exists: after it is gone, a
    //    previous attempt has already sealed everything).
    if (key && plan.retain.length > 0) await sealRetained(id, key.dek, stored, plan.retain, now);
    // 3. Crypto-shred the live data (journalled first, for restores of older backups).
    await deps.journal.append([{ at: now, subjectId: id, scope: "subject" }]);
    await keys.destroy(id);
    deps.subjectKeys.forget(id);
    // 4. Remove the unreadable values (live and separated) and the blind indexes.
    await data.transaction(async (tx) => {
      await tx.deleteFields(id, all);
      await tx.deleteDormantFields(id, all);
      await tx.deleteLookups(id, all);
      await tx.setSubjectStatus(id, "erased", now);
      if (idem) await tx.putIdempotency(idem.answer(result));
    });
    // 5. No copy of the destroyed key left in the key store's files (a sweep purges once at its end).
    if (purge) await keys.purge();
    return result;
  };

  type DormancyOpts = { by: string; batch?: number; onProgress?: (done: number) => void };
  /** Canaries, read at the start of each dormancy sweep: never separated, erased or counted for notice. */
  let decoys: ReadonlySet<SubjectId> = new Set();
  /** A page's subjects (in id order) by a digest of their ids, one per line, as the shred journal lists them. */
  const idsDigest = (ids: readonly SubjectId[]) => crypto.createHash("sha256").update(ids.join("\n")).digest("hex");
  /**
   * Whether a law keeps anything of an account depends only on the set of fields it holds (the
   * names come sorted): decided once per distinct set and sweep, not once per account.
   */
  const retentionOracle = (catalog: Catalog, now: Date) => {
    const keeps = new Map<string, boolean>();
    return (fields: readonly string[]) => {
      const k = fields.join("\0");
      let v = keeps.get(k);
      if (v === undefined) keeps.set(k, (v = erasurePlan(catalog, fields, now).retain.length > 0));
      return v;
    };
  };
  /**
   * Bulk erasure of accounts with nothing a law keeps (ADR 0008): the destruction certificate,
   * durable before anything is destroyed (fail closed), the shred journal, their keys destroyed in
   * one transaction (crypto-shredding: from here nothing of theirs can be decrypted), then marked
   * erased in another (every read refuses them). Their unreadable rows wait for `compact`.
   */
  const eraseInBulk = async (ctx: RequestContext, now: Date, ids: readonly SubjectId[], rule: string, by: string): Promise<number> => {
    await certify(ctx, now, {
      fields: [],
      reasons: [rule],
      count: ids.length,
      meta: {
        method: "crypto-shredding (data keys destroyed), then deletion of values and blind indexes (compaction)",
        subjectsSha256: idsDigest(ids),
        by,
      },
    });
    await deps.journal.append(ids.map((subjectId) => ({ at: now, subjectId, scope: "subject" as const })));
    await keys.destroyMany(ids);
    for (const id of ids) deps.subjectKeys.forget(id);
    return data.markErased(ids, now);
  };
  const progressOf = (res: DormancyResult) => res.erased + res.sealed + res.separated;

  /**
   * Dormancy action `separate` (former Decree Art. 48-5: kept apart from other users' data, with
   * separate access): per page, an audit entry like a destruction certificate (`dormancy.separate`:
   * the count, the rule, the field names, a digest of the page's subject ids) is made durable
   * first (fail closed), then one data transaction moves the values of those still idle to the
   * dormant store, deletes their blind indexes and marks them dormant. Nothing is destroyed: the
   * keys stay, so the service can reactivate the account when the person returns.
   */
  const separateDormant = async (ctx: RequestContext, now: Date, policy: DormancyPolicy, cutoff: Date, lateBefore: Date, opts: DormancyOpts, res: DormancyResult) => {
    const rule = `DORMANCY:${policy.after}`;
    let after: SubjectId | null = null;
    for (;;) {
      const page = await data.dormant(cutoff, after, opts.batch ?? 50_000);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      const people = page.filter((s) => !decoys.has(s.id));
      if (people.length === 0) continue;
      const ids = people.map((s) => s.id);
      for (const s of people) if (s.updatedAt < lateBefore) res.overdue++;
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "dormancy.separate",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [...new Set(people.flatMap((s) => s.fields))].sort(),
        reasons: [rule],
        count: ids.length,
        meta: {
          method: "values moved to the dormant store (same ciphertexts), blind indexes deleted; refused to every ordinary read, update and lookup until reactivated",
          destroyAfter: policy.destroy_after ?? "none",
          subjectsSha256: idsDigest(ids),
          by: opts.by,
        },
      });
      res.separated += await data.separateMany(ids, cutoff, now);
      opts.onProgress?.(progressOf(res));
    }
  };

  /**
   * Erases, like a deletion, the accounts of a paged listing (inactive or separated ones) for
   * which `due` holds: those with nothing a law keeps in bulk (`eraseInBulk`), the others one by
   * one so their kept records are sealed first.
   */
  const erasePaged = async <S extends { id: SubjectId; fields: string[] }>(
    ctx: RequestContext,
    now: Date,
    list: (after: SubjectId | null) => Promise<S[]>,
    due: (s: S) => boolean,
    late: (s: S) => boolean,
    rule: string,
    opts: DormancyOpts,
    res: DormancyResult,
  ) => {
    const keepsSomething = retentionOracle(deps.catalog.current(), now);
    let after: SubjectId | null = null;
    for (;;) {
      const page = await list(after);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      const bulk: SubjectId[] = [];
      const oneByOne: SubjectId[] = [];
      for (const s of page) {
        if (!due(s) || decoys.has(s.id)) continue;
        if (late(s)) res.overdue++;
        (keepsSomething(s.fields) ? oneByOne : bulk).push(s.id);
      }
      if (bulk.length > 0) res.erased += await eraseInBulk(ctx, now, bulk, rule, opts.by);
      for (const id of oneByOne) {
        await eraseById(ctx, id, "", "subject.erase", [rule], false);
        res.sealed++;
      }
      opts.onProgress?.(progressOf(res));
    }
  };

  /**
   * Pages a listing and hands the subjects whose time falls in the window to `each`, page by page
   * (the notice counts, and the notices queued); returns how many there were.
   */
  const forEachBetween = async <T extends { id: SubjectId }>(
    list: (before: Date, after: SubjectId | null, limit: number) => Promise<T[]>,
    before: Date,
    inWindow: (s: T) => boolean,
    each: (rows: T[]) => Promise<void>,
  ): Promise<number> => {
    let n = 0;
    let a: SubjectId | null = null;
    for (;;) {
      const page = await list(before, a, 5000);
      if (page.length === 0) return n;
      a = page[page.length - 1]!.id;
      // Canaries are not people: never counted, never told.
      const due = page.filter((s) => inWindow(s) && !decoys.has(s.id));
      n += due.length;
      if (due.length > 0) await each(due);
    }
  };

  /** Counts a paged list up to `cap` rows (true when it stopped there). */
  const countUpTo = async <T extends { id: SubjectId }>(
    list: (before: Date, after: SubjectId | null, limit: number) => Promise<T[]>,
    before: Date,
    cap: number,
    tally: (s: T) => void,
  ): Promise<boolean> => {
    let n = 0;
    let a: SubjectId | null = null;
    while (n < cap) {
      const page = await list(before, a, Math.min(5000, cap - n));
      if (page.length === 0) return false;
      a = page[page.length - 1]!.id;
      n += page.length;
      page.forEach(tally);
    }
    return true;
  };

  const service = {
    /**
     * The destruction schedule, read only: sealed values coming due (by day) and overdue, the
     * dormancy policy's accounts due now, overdue and coming due within the horizon, and the
     * compaction backlog. Every count stops at `cap` rows read (and says so).
     */
    async schedule(opts: { horizonDays?: number; overdueDays?: number; cap?: number } = {}): Promise<DestructionSchedule> {
      const now = deps.clock.now();
      const horizonDays = opts.horizonDays ?? 30;
      const overdueDays = opts.overdueDays ?? 5;
      const cap = opts.cap ?? 20_000;
      const dayMs = 24 * 3600 * 1000;
      const horizon = new Date(now.getTime() + horizonDays * dayMs);
      const lateBefore = now.getTime() - overdueDays * dayMs;
      const due = await data.sealed.due(horizon, cap + 1);
      const byDay = new Map<string, number>();
      const sealed = { dueNow: 0, overdue: 0, upcoming: [] as { day: string; subjects: number }[], capped: due.length > cap };
      for (const d of due.slice(0, cap)) {
        if (d.until <= now) {
          sealed.dueNow++;
          if (d.until.getTime() < lateBefore) sealed.overdue++;
        } else {
          const day = d.until.toISOString().slice(0, 10);
          byDay.set(day, (byDay.get(day) ?? 0) + 1);
        }
      }
      sealed.upcoming = [...byDay.entries()].sort().map(([day, subjects]) => ({ day, subjects }));
      const policy = deps.catalog.current().dormancy;
      let dormancy: DestructionSchedule["dormancy"] = null;
      if (policy) {
        const cutoff = subtractPeriod(now, policy.after);
        const soon = new Date(cutoff.getTime() + horizonDays * dayMs);
        const d = { after: policy.after, action: policy.action, cutoff: cutoff.toISOString(), dueNow: 0, overdue: 0, withinHorizon: 0, capped: false };
        const late = cutoff.getTime() - overdueDays * dayMs;
        d.capped = await countUpTo(data.dormant, soon, cap, (s) => {
          if (s.updatedAt < cutoff) {
            d.dueNow++;
            if (s.updatedAt.getTime() < late) d.overdue++;
          } else d.withinHorizon++;
        });
        dormancy = d;
      }
      const backlog = await data.erasedBacklog();
      return {
        at: now.toISOString(),
        horizonDays,
        overdueDays,
        cap,
        sealed,
        dormancy,
        backlog: { subjects: backlog.subjects, oldest: backlog.oldest?.toISOString() ?? null },
      };
    },

    /**
     * DELETE /v1/subjects/{id}: account deletion (PIPA Art. 21, 36). With an idempotency key a
     * retry after an unknown outcome finishes a half-done erasure and answers as the first attempt
     * would have (a finished one is replayed before this runs: never 404).
     */
    async erase(ctx: RequestContext, externalId: string, idem?: Idempotency<EraseResult>): Promise<EraseResult> {
      const catalog = deps.catalog.current();
      const principal = catalog.principals[ctx.principal];
      const now = deps.clock.now();
      const id = principal?.role === "service" ? deps.pseudonyms.resolve(idContextOf(catalog, ctx.principal), externalId) : undefined;
      const subject = id ? await data.getSubject(id) : undefined;
      const begun = (idem?.pending as { erasure?: EraseResult } | undefined)?.erasure;
      if (begun !== undefined && subject?.status === "erased") {
        // Erased meanwhile by another path (the portal, a sweep) after this key's claim: what the
        // claim answers is done.
        await idem!.complete(begun);
        return begun;
      }
      // A dormant account is deleted like an active one (the person's right, PIPA Art. 36).
      if (!id || !subject || subject.status === "erased") {
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "subject.erase",
          effect: "deny",
          purpose: null,
          subjectRef: null,
          fields: [],
          reasons: [principal?.role === "service" ? "NOT_FOUND" : "ROLE_NOT_PERMITTED"],
        });
        if (principal?.role !== "service") throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" may not delete accounts`);
        throw new HaechiError("NOT_FOUND", "subject not found");
      }
      return eraseById(ctx, id, externalId, "subject.erase", [], true, undefined, idem, begun);
    },

    /**
     * The person's own account deletion (the portal, ADR 0012; PIPA Art. 36): the subject is known
     * by its internal id from the person's session, and the actor is `ctx.principal` (the portal's
     * data-subject actor). Otherwise exactly `erase`: what a law keeps is sealed, the rest shredded.
     */
    async eraseAsSubject(ctx: RequestContext, id: SubjectId): Promise<EraseResult> {
      const subject = await data.getSubject(id);
      if (!subject || subject.status === "erased") {
        await deps.audit.record({
          ...entryBase(ctx, deps.clock.now()),
          action: "subject.erase",
          effect: "deny",
          purpose: null,
          subjectRef: null,
          fields: [],
          reasons: ["NOT_FOUND"],
        });
        throw new HaechiError("NOT_FOUND", "subject not found");
      }
      return eraseById(ctx, id, "", "subject.erase", ["DATA_SUBJECT_REQUEST"]);
    },

    /**
     * Erases a restored subject again as of its original erasure (backup-service replay): only if
     * it is active or dormant in the backup and still has its data key; returns whether it did.
     */
    async reerase(id: SubjectId, at: Date): Promise<boolean> {
      const subject = await data.getSubject(id);
      if ((subject?.status !== "active" && subject?.status !== "dormant") || !(await deps.subjectKeys.get(id))) return false;
      await eraseById(jobCtx("restore", "restore"), id, "", "subject.erase", ["RESTORE_REPLAY"], true, at);
      return true;
    },

    /**
     * A legal-retention read: only the sealed store, only for the purpose legal_retention, only by
     * a principal whose role is legal_retention (the policy engine checks the role first).
     */
    async readSealed(id: SubjectId, fields: readonly string[]): Promise<Record<string, unknown> | undefined> {
      const rows = await data.sealed.get(id, fields);
      if (rows.length === 0) return undefined;
      const k = await sealedKeyOf(id);
      if (!k) return undefined;
      try {
        return Object.fromEntries(rows.map((r) => [r.field, openField(k, id, sealedFieldName(r.field), r.ciphertext)]));
      } finally {
        k.fill(0);
      }
    },

    /**
     * Purpose periods (PIPA Art. 21(1); LAW §15 E1): values whose purposes keep them only for a
     * period (from collection or last use) are destroyed when it ends, or moved to the sealed
     * store when a law keeps them longer. One destruction certificate per page, before the acts.
     */
    async sweepRetention(opts: { by: string; batch?: number; onProgress?: (done: number) => void }): Promise<RetentionSweepResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      const res: RetentionSweepResult = { at: now.toISOString(), subjects: 0, destroyed: 0, sealed: 0 };
      const candidates = expirableFields(catalog);
      if (candidates.length === 0) return res;
      const ctx = jobCtx(opts.by, "retention");
      let after: SubjectId | null = null;
      for (;;) {
        const page = await data.provisions.scanSubjects(after, opts.batch ?? 2000, candidates);
        if (page.length === 0) break;
        after = page[page.length - 1]!.id;
        const acts: { id: SubjectId; stored: StoredField[]; destroy: string[]; retain: RetainedField[] }[] = [];
        for (const s of page) {
          const held = s.fields.map((f) => f.field);
          const destroy: string[] = [];
          const retain: RetainedField[] = [];
          for (const f of s.fields) {
            const deadline = purposeDeadline(catalog, f.field, s.consents, f.updatedAt, now);
            if (deadline === null || deadline > now) continue;
            // A law may keep it longer, counted from its collection.
            const kept = erasurePlan(catalog, held, f.updatedAt).retain.find((r) => r.field === f.field && r.until > now);
            if (kept) retain.push(kept);
            else destroy.push(f.field);
          }
          if (destroy.length + retain.length > 0) acts.push({ id: s.id, stored: s.fields, destroy, retain });
        }
        if (acts.length > 0) {
          const fields = [...new Set(acts.flatMap((a) => [...a.destroy, ...a.retain.map((r) => r.field)]))].sort();
          await certify(ctx, now, {
            fields,
            reasons: ["PURPOSE_PERIOD_ENDED", ...new Set(acts.flatMap((a) => a.retain.map((r) => r.code)))],
            count: acts.length,
            meta: { method: "deletion of the values (secure_delete); sealed first where a law keeps them", by: opts.by },
          });
          for (const a of acts) {
            const all = [...a.destroy, ...a.retain.map((r) => r.field)];
            if (a.retain.length > 0) {
              const key = await deps.subjectKeys.get(a.id);
              if (key) await sealRetained(a.id, key.dek, a.stored, a.retain, now);
            }
            await deps.journal.append([{ at: now, subjectId: a.id, scope: "fields", fields: all }]);
            await data.transaction(async (tx) => {
              await tx.deleteFields(a.id, all);
              await tx.deleteLookups(a.id, all);
            });
            res.subjects++;
            res.destroyed += a.destroy.length;
            res.sealed += a.retain.length;
          }
        }
        opts.onProgress?.(res.subjects);
      }
      return res;
    },

    /**
     * The dormancy policy (catalog `dormancy`; LAW §11.1, §15 E7). Action `destroy`: accounts
     * inactive for `after` are erased like a deletion. Accounts with nothing a law keeps go in
     * bulk (`eraseInBulk`, ADR 0008); their unreadable rows are deleted by `compact`, which this
     * runs at the end unless told not to. The others are erased one by one so their kept records
     * are sealed first.
     * Accounts separated under an earlier `separate` policy are erased too once inactive as long.
     *
     * Action `separate`: those accounts are separated instead (`separateDormant`), and separated
     * accounts still dormant `destroy_after` after their separation are erased as above.
     *
     * Either way, those reaching a threshold within `notice_before` are counted for notice.
     */
    async sweepDormant(opts: {
      by: string;
      batch?: number;
      overdueDays?: number;
      /** Delete the erased accounts' rows before returning (default); false leaves it to `compact`. */
      compact?: boolean;
      onProgress?: (done: number) => void;
    }): Promise<DormancyResult> {
      const now = deps.clock.now();
      const policy = deps.catalog.current().dormancy;
      const res: DormancyResult = {
        at: now.toISOString(),
        action: policy?.action ?? "destroy",
        cutoff: now.toISOString(),
        erased: 0,
        sealed: 0,
        separated: 0,
        separatedCutoff: null,
        noticeDue: 0,
        destroyNoticeDue: 0,
        notices: { queued: 0, already: 0, withoutContact: 0 },
        overdue: 0,
        compacted: 0,
      };
      const batch = opts.batch ?? 50_000;
      decoys = (await deps.canaries?.()) ?? new Set();
      // Also what an interrupted run left queued, whatever the policy is now.
      const compactAll = async () => {
        if (opts.compact !== false) res.compacted = (await service.compact({ batch })).compacted;
      };
      if (!policy) {
        await compactAll();
        return res;
      }
      const cutoff = subtractPeriod(now, policy.after);
      res.cutoff = cutoff.toISOString();
      const lateMs = (opts.overdueDays ?? 5) * 24 * 3600 * 1000;
      const lateBefore = new Date(cutoff.getTime() - lateMs);
      const ctx = jobCtx(opts.by, "dormancy");
      const rule = `DORMANCY:${policy.after}`;
      const separate = policy.action === "separate";
      const separatedCutoff = separate && policy.destroy_after ? subtractPeriod(now, policy.destroy_after) : null;
      const separatedRule = `DORMANCY_SEPARATED:${policy.destroy_after ?? ""}`;
      if (separate) {
        await separateDormant(ctx, now, policy, cutoff, lateBefore, opts, res);
        if (separatedCutoff) {
          res.separatedCutoff = separatedCutoff.toISOString();
          const lateSeparated = separatedCutoff.getTime() - lateMs;
          const separated = (a: SubjectId | null) => data.separated(separatedCutoff, a, batch);
          await erasePaged(ctx, now, separated, () => true, (s) => s.dormantAt.getTime() < lateSeparated, separatedRule, opts, res);
        }
      } else {
        // Separated earlier (a former `separate` policy): their last activity decides, as for everyone.
        const separated = (a: SubjectId | null) => data.separated(new Date(now.getTime() + 1), a, batch);
        await erasePaged(ctx, now, separated, (s) => s.updatedAt < cutoff, (s) => s.updatedAt < lateBefore, rule, opts, res);
      }
      // The destroy action (skipped when separating).
      if (!separate) {
        const inactive = (a: SubjectId | null) => data.dormant(cutoff, a, batch);
        await erasePaged(ctx, now, inactive, () => true, (s) => s.updatedAt < lateBefore, rule, opts, res);
      }
      if (res.erased + res.sealed > 0) await keys.purge();
      await compactAll();
      if (policy.notice_before) {
        // Those who reach a threshold within notice_before are counted (audited) and queued in the
        // outbox (PIPC guidance 2023: tell people in advance, of what will happen and when).
        const noticeDue = async (reason: string, count: number, before: Date, action: string) => {
          if (count === 0) return;
          await deps.audit.record({
            ...entryBase(ctx, now),
            action: "dormancy.notice_due",
            effect: "info",
            purpose: null,
            subjectRef: null,
            fields: [],
            reasons: [reason],
            count,
            meta: { before: before.toISOString(), action },
          });
        };
        // Each person due is queued a notice naming the date their account's action falls due
        // (idempotent per person and date: a daily sweep queues it once).
        const queue = async (due: DormancyNoticeDue[]) => {
          if (deps.dormancyNotices === undefined) return;
          const r = await deps.dormancyNotices(ctx, due);
          res.notices.queued += r.queued;
          res.notices.already += r.already;
          res.notices.withoutContact += r.withoutContact;
        };
        const soon = addPeriod(cutoff, policy.notice_before);
        res.noticeDue = await forEachBetween(data.dormant, soon, (s) => s.updatedAt >= cutoff, (rows) =>
          queue(rows.map((s) => ({ subjectId: s.id, fields: s.fields, action: policy.action, stage: "inactive", actionAt: addPeriod(s.updatedAt, policy.after) }))),
        );
        await noticeDue(rule, res.noticeDue, soon, policy.action);
        if (separatedCutoff) {
          // Separated accounts about to be erased: told too, before their erasure.
          const soonErased = addPeriod(separatedCutoff, policy.notice_before);
          res.destroyNoticeDue = await forEachBetween(data.separated, soonErased, (s) => s.dormantAt >= separatedCutoff, (rows) =>
            queue(rows.map((s) => ({ subjectId: s.id, fields: s.fields, action: "destroy", stage: "separated", actionAt: addPeriod(s.dormantAt, policy.destroy_after!) }))),
          );
          await noticeDue(separatedRule, res.destroyNoticeDue, soonErased, "destroy");
        }
      }
      return res;
    },

    /**
     * Deletes the rows of erased accounts whose keys a bulk erasure destroyed (ADR 0008): values
     * and separated values that no key decrypts any more, and blind indexes. One transaction per
     * batch, in id order; repeatable (an interrupted run leaves the rest queued for the next).
     */
    async compact(opts: { batch?: number; onProgress?: (done: number) => void } = {}): Promise<CompactResult> {
      const batch = opts.batch ?? 50_000;
      let compacted = 0;
      for (;;) {
        const n = await data.compactErased(batch);
        if (n === 0) break;
        compacted += n;
        opts.onProgress?.(compacted);
      }
      const left = await data.erasedBacklog();
      return { compacted, backlog: left.subjects, oldest: left.oldest?.toISOString() ?? null };
    },

    /**
     * `haechi sweep`: destroys sealed values whose law's period has ended and, once nothing is
     * left, the sealed key; each act gets a destruction certificate in the audit log
     * (Decree Art. 16; Safety Standard Art. 13; Decree 32(5)3). `overdueDays`: values found
     * more than this many days past their deadline are counted (and alerted by the caller).
     */
    async sweep(opts: { by: string; overdueDays?: number; batch?: number; onProgress?: (done: number) => void } = { by: "sweep" }): Promise<SweepResult> {
      const now = deps.clock.now();
      const overdueMs = (opts.overdueDays ?? 5) * 24 * 3600 * 1000;
      const res: SweepResult = { at: now.toISOString(), subjects: 0, values: 0, keys: 0, overdue: 0 };
      const ctx = jobCtx(opts.by, "sweep");
      for (;;) {
        const due = await data.sealed.due(now, opts.batch ?? 500);
        const dueKeys = due.length === 0 ? await keys.dueSealed(now, opts.batch ?? 500) : [];
        if (due.length === 0 && dueKeys.length === 0) break;
        for (const d of due) {
          const expiring = (await data.sealed.get(d.subjectId, [])).filter((r) => r.until <= now);
          if (expiring.some((r) => now.getTime() - r.until.getTime() > overdueMs)) res.overdue++;
          // Certificate first: if it cannot be written, nothing is destroyed (and the next sweep retries).
          await certify(ctx, now, {
            purpose: "legal_retention",
            fields: expiring.map((r) => r.field).sort(),
            reasons: [...new Set(expiring.map((r) => `RETENTION_ENDED:${r.rule}`))].sort(),
            count: expiring.length,
            meta: { method: "deletion of sealed values; crypto-shredding of the sealed key once empty", deadline: d.until.toISOString(), by: opts.by },
          });
          res.values += await data.sealed.destroy(d.subjectId, now);
          res.subjects++;
          if ((await data.sealed.get(d.subjectId, [])).length === 0) {
            await deps.journal.append([{ at: now, subjectId: d.subjectId, scope: "sealed" }]);
            if (await keys.destroySealed(d.subjectId)) res.keys++;
          }
          opts.onProgress?.(res.subjects);
        }
        // Keys whose values are all gone (e.g. a sweep interrupted after deleting the values).
        for (const k of dueKeys) {
          if ((await data.sealed.get(k.subjectId, [])).length > 0) continue;
          await deps.journal.append([{ at: now, subjectId: k.subjectId, scope: "sealed" }]);
          if (await keys.destroySealed(k.subjectId)) res.keys++;
        }
        if (due.length === 0) break;
      }
      if (res.subjects > 0 || res.keys > 0) await keys.purge();
      return res;
    },
  };
  return service;
};

export type EraseService = ReturnType<typeof eraseService>;
