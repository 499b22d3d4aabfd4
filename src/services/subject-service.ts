/**
 * Collect, read, update and consent: the vault's front door for services.
 *
 * Order of every operation (docs/adr/0003-audit-before-effect.md):
 *   validate → decide (pure policy) → audit the decision durably → effect.
 * A denial is audited and then refused; if the audit entry cannot be written the operation
 * fails with AUDIT_UNAVAILABLE and nothing is released or changed.
 *
 * A dormant subject (separated under the dormancy policy) is refused to every read and update
 * with SUBJECT_DORMANT, and lookups cannot find it (its blind indexes are gone); consents may
 * still be withdrawn (never granted) until the service reactivates it (`reactivate`).
 */
import crypto from "node:crypto";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import {
  checkConsentInputs,
  missingRequired,
  prepareValues,
  type ConsentInput,
} from "../core/collect-fns.js";
import { LEGAL_RETENTION_PURPOSE } from "../core/catalog/catalog-fns.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import { mask } from "../core/masking.js";
import { applyConsentEvents, consentEventsFor } from "../core/consent/consent-fns.js";
import { evaluate } from "../core/policy/policy-fns.js";
import type { Decision, Reason } from "../core/policy/policy-types.js";
import type { ConsentEvent, ConsentState, DataStore, KeyStore, LookupEntry, ShredJournal, StoredField } from "../core/ports.js";
import { orphanedFields } from "../core/retention/retention-fns.js";
import { csvCell } from "../provision/export-fns.js";
import type { BlindIndex } from "../crypto/blind-index.js";
import { openField, sealField } from "../crypto/envelope.js";
import { newSubjectId, type Pseudonyms } from "../crypto/pseudonym.js";
import type { SubjectKey, SubjectKeys } from "../crypto/subject-keys.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type SubjectServiceDeps = BaseDeps & {
  data: Pick<
    DataStore,
    "transaction" | "readBundle" | "getSubject" | "currentConsents" | "findByLookup" | "getFields" | "getDormantFields"
  > & { provisions: Pick<DataStore["provisions"], "ledgerBySubject"> };
  keys: Pick<KeyStore, "put" | "destroy">;
  subjectKeys: SubjectKeys;
  pseudonyms: Pseudonyms;
  blindIndex: BlindIndex;
  /** Records field destructions ahead of them, for restores of older backups. */
  journal?: ShredJournal;
  /** Reads the sealed legal-retention store (erase-service); the only source for legal_retention. */
  readSealed?: (id: SubjectId, fields: readonly string[]) => Promise<Record<string, unknown> | undefined>;
};

export interface CreateInput {
  purpose: string;
  fields: Record<string, unknown>;
  consents?: ConsentInput[];
}
export interface CreateResult {
  id: ExternalSubjectId;
  fields: string[];
  consents: ConsentView[];
}
export interface ReadResult {
  id: ExternalSubjectId;
  purpose: string;
  basis: string;
  fields: Record<string, unknown>;
  masked: string[];
  withheld: { field: string | undefined; code: string; message: string }[];
}
export interface ConsentView {
  notice: string;
  version: number;
  category: string;
  status: "granted" | "withdrawn";
  channel: string;
  at: string;
}
/**
 * Everything held about one person, for the person (PIPA Art. 35, Decree Art. 41(1); portability,
 * Art. 35-2; GDPR Arts. 15, 20): the items and their values, the purposes with their bases and
 * retention, the consents, and the provisions to third parties. `json` and `csv` are the exact
 * bytes handed over; `sha256` their digests, which the request ledger keeps (never the values).
 */
export interface AccessExport {
  json: string;
  csv: string;
  sha256: { json: string; csv: string };
  fields: string[];
  /** The document's `generatedAt` (with the data unchanged, the same time gives the same bytes). */
  generatedAt: string;
}

export interface UpdateResult {
  id: string;
  updated: string[];
  removed: string[];
}
export interface ConsentsResult {
  id: string;
  consents: ConsentView[];
  /** Values destroyed because only the withdrawn consent held them (PIPA Art. 37(3), (5)). */
  destroyed: string[];
}

export interface LookupResult {
  matches: ExternalSubjectId[];
}
export interface ReactivateInput {
  purpose: string;
}
export interface ReactivateResult {
  id: ExternalSubjectId;
  status: "active";
  /** False when the subject was already active (nothing changed). */
  reactivated: boolean;
  /** The fields moved back from the dormant store. */
  restored: string[];
}

const consentView = (c: ConsentState): ConsentView => ({
  notice: c.notice,
  version: c.noticeVersion,
  category: c.category,
  status: c.status,
  channel: c.channel,
  at: c.at.toISOString(),
});

/** Maps a policy denial to the error the caller sees; the reasons travel in `details`. */
export const denialError = (reasons: Reason[]): HaechiError => {
  const codes = new Set(reasons.map((r) => r.code));
  const details = { reasons: reasons.map(({ code, message, purpose, field, notice }) => ({ code, message, purpose, field, notice })) };
  const msg = reasons.map((r) => r.message).join("; ");
  if (codes.has("NOT_FOUND")) return new HaechiError("NOT_FOUND", "subject not found");
  if (codes.has("SUBJECT_DORMANT")) return new HaechiError("SUBJECT_DORMANT", msg, details);
  if (codes.has("UNKNOWN_PURPOSE")) return new HaechiError("UNKNOWN_PURPOSE", msg, details);
  if (codes.has("UNKNOWN_FIELD")) return new HaechiError("UNKNOWN_FIELD", msg, details);
  if (codes.has("RRN_CONSENT_NOT_A_BASIS")) return new HaechiError("RRN_CONSENT_NOT_A_BASIS", msg, details);
  return new HaechiError("ACCESS_DENIED", msg, details);
};

export const subjectService = (deps: SubjectServiceDeps) => {
  const { data, pseudonyms } = deps;

  const contextOf = (catalog: Catalog, principal: string) => catalog.principals[principal]?.id_context ?? principal;

  /** Resolves an id presented by the principal; undefined means "not found" for that context. */
  const resolve = (catalog: Catalog, ctx: RequestContext, external: string): SubjectId | undefined =>
    pseudonyms.resolve(contextOf(catalog, ctx.principal), external);

  const decisionAudit = (
    ctx: RequestContext,
    at: Date,
    action: string,
    purpose: string | null,
    subjectRef: string | null,
    decision: Decision,
    askedFields: readonly string[],
  ) =>
    deps.audit.record({
      ...entryBase(ctx, at),
      action,
      effect: decision.effect,
      purpose,
      subjectRef,
      fields: decision.effect === "allow" ? decision.fields : [...askedFields],
      reasons: decision.effect === "allow" ? decision.withheld.map((w) => `${w.code}:${w.field ?? ""}`) : decision.reasons.map((r) => r.code),
    });

  const sealAll = (key: SubjectKey, id: SubjectId, values: Record<string, unknown>, at: Date): StoredField[] =>
    Object.entries(values)
      .filter(([, v]) => v !== null)
      .map(([field, v]) => ({ field, ciphertext: sealField(key.dek, key.dekVersion, id, field, v), updatedAt: at }));

  const lookupsFor = (catalog: Catalog, values: Record<string, unknown>): LookupEntry[] =>
    Object.entries(values)
      .filter(([f, v]) => v !== null && catalog.fields[f]?.lookup)
      .map(([f, v]) => ({ field: f, digest: deps.blindIndex.digest(f, v) }));

  /** Checks consent inputs; a refusal to record them is audited before it is thrown. */
  const checkConsents = async (
    ctx: RequestContext,
    catalog: Catalog,
    inputs: ConsentInput[],
    now: Date,
    subjectRef: string | null,
    allowedNotices?: ReadonlySet<string>,
  ) => {
    try {
      return checkConsentInputs(catalog, ctx.principal, inputs, now, allowedNotices);
    } catch (e) {
      if (e instanceof HaechiError && (e.code === "ACCESS_DENIED" || e.code === "RRN_CONSENT_NOT_A_BASIS")) {
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "consent.record",
          effect: "deny",
          purpose: null,
          subjectRef,
          fields: [],
          reasons: [e.code === "ACCESS_DENIED" ? "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" : e.code],
        });
      }
      throw e;
    }
  };

  /**
   * A read for legal_retention: the sealed store only (PIPA Art. 21(3)). Live data is never read
   * under this purpose, and the policy engine refuses the purpose to every other role.
   */
  const readRetained = async (
    ctx: RequestContext,
    catalog: Catalog,
    now: Date,
    externalId: string,
    id: SubjectId | undefined,
    fields: string[] | null,
  ): Promise<ReadResult> => {
    const wanted = fields ?? catalog.purposes[LEGAL_RETENTION_PURPOSE]?.fields ?? [];
    const role = catalog.principals[ctx.principal]?.role;
    const values = id && role === "legal_retention" && deps.readSealed ? await deps.readSealed(id, wanted) : undefined;
    const decision = evaluate(
      catalog,
      { principal: ctx.principal, purpose: LEGAL_RETENTION_PURPOSE, action: "read", fields: fields ? fields : Object.keys(values ?? {}) },
      { found: values !== undefined, consents: [] },
      now,
    );
    await decisionAudit(ctx, now, "subject.read", LEGAL_RETENTION_PURPOSE, null, decision, wanted);
    if (decision.effect === "deny") throw denialError(decision.reasons);
    const out: Record<string, unknown> = {};
    for (const f of decision.fields) {
      if (!(f in values!)) continue;
      const m = decision.masks[f];
      out[f] = m ? mask(m, values![f]) : values![f];
    }
    return {
      id: externalId as ExternalSubjectId,
      purpose: LEGAL_RETENTION_PURPOSE,
      basis: decision.basis,
      fields: out,
      masked: Object.keys(decision.masks).filter((f) => f in out),
      withheld: decision.withheld.map((w) => ({ field: w.field, code: w.code, message: w.message })),
    };
  };

  /**
   * Records consent events for a resolved subject (undefined: not found, audited as such). The
   * events, the destruction a withdrawal calls for and the idempotency key's answer are one data
   * transaction: a withdrawal never stands without its destruction, and a retry finds all or none.
   */
  const recordConsentsFor = async (
    ctx: RequestContext,
    id: SubjectId | undefined,
    externalId: string,
    inputs: ConsentInput[],
    allowedNotices?: ReadonlySet<string>,
    idem?: Idempotency<ConsentsResult>,
  ): Promise<ConsentsResult> => {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const subject = id ? await data.getSubject(id) : undefined;
    const dormant = subject?.status === "dormant";
    const key = subject?.status === "active" || dormant ? await deps.subjectKeys.get(id!) : undefined;
    const checked = await checkConsents(ctx, catalog, inputs, now, key?.auditRef ?? null, allowedNotices);
    if (!key) {
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "consent.record",
        effect: "deny",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: ["NOT_FOUND"],
      });
      throw new HaechiError("NOT_FOUND", "subject not found");
    }
    // A dormant account: withdrawing is the person's right at any time (PIPA Art. 37) and is
    // honoured; a grant is new processing and waits for the account's reactivation.
    if (dormant && inputs.some((i) => i.action === "grant")) {
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "consent.record",
        effect: "deny",
        purpose: null,
        subjectRef: key.auditRef,
        fields: [],
        reasons: ["SUBJECT_DORMANT"],
      });
      throw new HaechiError(
        "SUBJECT_DORMANT",
        "the account is dormant (separated after inactivity): reactivate it (POST /v1/subjects/{id}/reactivate) before recording a grant; withdrawals are accepted as they are",
      );
    }
    const events = consentEventsFor(checked, id!, ctx, now, crypto.randomUUID);
    for (const e of events) {
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: `consent.${e.action}`,
        effect: "allow",
        purpose: null,
        subjectRef: key.auditRef,
        fields: [],
        reasons: [],
        meta: { notice: e.notice, version: e.noticeVersion, category: e.category, channel: e.channel },
      });
    }
    // The state the events leave (the ledger's latest event per notice), in the store's order.
    const current = applyConsentEvents(events, await data.currentConsents(id!)).sort((a, b) => (a.notice < b.notice ? -1 : a.notice > b.notice ? 1 : 0));
    // PIPA Art. 37(3), (5): what only the withdrawn consent held is destroyed without delay.
    let destroyed: string[] = [];
    if (events.some((e) => e.action === "withdraw")) {
      const all = Object.keys(catalog.fields);
      const held = (dormant ? await data.getDormantFields(id!, all) : await data.getFields(id!, all)).map((f) => f.field);
      destroyed = orphanedFields(catalog, held, current, now);
      if (destroyed.length > 0) {
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "subject.destroy_fields",
          effect: "allow",
          purpose: null,
          subjectRef: key.auditRef,
          fields: destroyed,
          reasons: [...new Set(events.filter((e) => e.action === "withdraw").map((e) => `CONSENT_WITHDRAWN:${e.notice}`))],
          meta: { method: "deletion (secure_delete); replayed from the shred journal on restore" },
        });
        await deps.journal?.append([{ at: now, subjectId: id!, scope: "fields", fields: destroyed }]);
      }
    }
    const result: ConsentsResult = { id: externalId, consents: current.map(consentView), destroyed };
    await data.transaction(async (tx) => {
      for (const e of events) await tx.appendConsent(e);
      // A withdrawal is not a return: a dormant account's inactivity (and its erasure) stands.
      if (!dormant) await tx.touchSubject(id!, now);
      if (destroyed.length > 0) {
        await tx.deleteFields(id!, destroyed);
        await tx.deleteDormantFields(id!, destroyed);
        await tx.deleteLookups(id!, destroyed);
      }
      if (idem) await tx.putIdempotency(idem.answer(result));
    });
    return result;
  };

  return {
    /** POST /v1/subjects: collect a new subject's data under a collecting purpose. */
    async create(ctx: RequestContext, input: CreateInput, idem?: Idempotency<CreateResult>): Promise<CreateResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      if (!catalog.purposes[input.purpose]) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${input.purpose}" is not registered`);
      const values = prepareValues(catalog, input.fields, false);
      const missing = missingRequired(catalog, input.purpose, values);
      if (missing.length > 0) {
        throw new HaechiError("REQUIRED_FIELD_MISSING", `required field${missing.length > 1 ? "s" : ""} missing: ${missing.join(", ")}`, {
          fields: missing,
        });
      }
      const checked = await checkConsents(ctx, catalog, input.consents ?? [], now, null);
      const id = newSubjectId();
      const events = consentEventsFor(checked, id, ctx, now, crypto.randomUUID);
      const decision = evaluate(
        catalog,
        { principal: ctx.principal, purpose: input.purpose, action: "write", fields: Object.keys(values) },
        { found: true, consents: applyConsentEvents(events) },
        now,
      );
      if (decision.effect === "deny") {
        await decisionAudit(ctx, now, "subject.create", input.purpose, null, decision, Object.keys(values));
        throw denialError(decision.reasons);
      }

      const { row, key } = await deps.subjectKeys.create(id, now);
      await decisionAudit(ctx, now, "subject.create", input.purpose, key.auditRef, decision, Object.keys(values));
      const external = pseudonyms.externalId(contextOf(catalog, ctx.principal), id);
      const result: CreateResult = { id: external, fields: Object.keys(values).sort(), consents: applyConsentEvents(events).map(consentView) };
      // Key first (separate store): a crash after it leaves an orphan key, never data without a key.
      await deps.keys.put(row);
      try {
        await data.transaction(async (tx) => {
          await tx.insertSubject({ id, createdAt: now, updatedAt: now, status: "active" });
          await tx.putFields(id, sealAll(key, id, values, now));
          await tx.putLookups(id, lookupsFor(catalog, values));
          for (const e of events) await tx.appendConsent(e);
          if (idem) await tx.putIdempotency(idem.answer(result));
        });
      } catch (e) {
        // An unknown outcome (STORE_UNAVAILABLE: the commit may have landed, its answer lost) keeps
        // the key: destroying it could crypto-shred a subject that exists (a retry with the
        // Idempotency-Key answers with it); if nothing committed, the key is an orphan holding
        // nothing. Any other failure committed nothing (a concurrent request with the same key may
        // have won: the caller answers as it did), and the key goes.
        if (!isHaechiError(e) || e.code !== "STORE_UNAVAILABLE") {
          await deps.keys.destroy(id).catch(() => undefined);
          deps.subjectKeys.forget(id);
        }
        throw e;
      }
      return result;
    },

    /** GET /v1/subjects/{id}?purpose=&fields=: a checked read. */
    async read(ctx: RequestContext, externalId: string, purpose: string, fields: string[] | null): Promise<ReadResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      const id = resolve(catalog, ctx, externalId);
      if (purpose === LEGAL_RETENTION_PURPOSE) return readRetained(ctx, catalog, now, externalId, id, fields);
      const wanted = fields ?? catalog.purposes[purpose]?.fields ?? [];
      const bundle = id ? await data.readBundle(id, wanted.filter((f) => catalog.fields[f])) : undefined;
      // Not active: dormant (refused as such) or gone (not found). Only read on this cold path.
      const dormant = id !== undefined && bundle === undefined && (await data.getSubject(id))?.status === "dormant";
      const decision = evaluate(
        catalog,
        { principal: ctx.principal, purpose, action: "read", fields },
        { found: bundle !== undefined || dormant, dormant, consents: bundle?.consents ?? [] },
        now,
      );
      const key = bundle || dormant ? await deps.subjectKeys.get(id!) : undefined;
      if ((bundle || dormant) && !key) {
        // Data without a key is destroyed data: treat as not found.
        const d: Decision = { effect: "deny", reasons: [{ code: "NOT_FOUND", message: "subject not found" }] };
        await decisionAudit(ctx, now, "subject.read", purpose, null, d, wanted);
        throw denialError(d.reasons);
      }
      const durable = decisionAudit(ctx, now, "subject.read", purpose, key?.auditRef ?? null, decision, wanted);
      if (decision.effect === "deny") {
        await durable;
        throw denialError(decision.reasons);
      }
      // Decrypt while the entry is being made durable; nothing leaves before it is (fail closed:
      // if the audit write fails, the values are dropped with the request).
      const out: Record<string, unknown> = {};
      const allowed = new Set(decision.fields);
      try {
        for (const f of bundle!.fields) {
          if (!allowed.has(f.field)) continue;
          const v = openField(key!.dek, bundle!.subject.id, f.field, f.ciphertext);
          const m = decision.masks[f.field];
          out[f.field] = m ? mask(m, v) : v;
        }
      } catch (e) {
        await durable.catch(() => undefined);
        throw e;
      }
      await durable;
      return {
        id: externalId as ExternalSubjectId,
        purpose,
        basis: decision.basis,
        fields: out,
        masked: Object.keys(decision.masks).filter((f) => f in out),
        withheld: decision.withheld.map((w) => ({ field: w.field, code: w.code, message: w.message })),
      };
    },

    /**
     * The person's own data, decrypted and unmasked, for a data-subject request (access or
     * portability): every value held (live, or separated if the account is dormant), the purposes
     * that use each item with their legal basis and retention, current consents, and the
     * provision ledger (Decree Art. 41(1)1-5). The caller (request-service) has checked the filing
     * principal; this resolves the id in its context, audits one `subject.access_export` entry
     * naming every field (durable before anything is released: fail closed) and builds the JSON
     * and CSV. Nothing is stored or logged.
     */
    async accessExport(ctx: RequestContext, externalId: string, meta: { request: string; kind: "access" | "portability"; at?: Date }): Promise<AccessExport> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      // The export's own time: now, or the first export's when it is produced again for a retry.
      const generatedAt = meta.at ?? now;
      const id = resolve(catalog, ctx, externalId);
      const subject = id ? await data.getSubject(id) : undefined;
      const live = subject?.status === "active" || subject?.status === "dormant";
      const key = live ? await deps.subjectKeys.get(id!) : undefined;
      const base = {
        ...entryBase(ctx, now),
        action: "subject.access_export",
        purpose: null,
        meta: { request: meta.request, kind: meta.kind, ...(meta.at ? { again: true } : {}) },
      };
      if (!key) {
        await deps.audit.record({ ...base, effect: "deny", subjectRef: null, fields: [], reasons: ["NOT_FOUND"] });
        throw new HaechiError("NOT_FOUND", "subject not found");
      }
      const all = Object.keys(catalog.fields);
      const stored = subject!.status === "dormant" ? await data.getDormantFields(id!, all) : await data.getFields(id!, all);
      const consents = await data.currentConsents(id!);
      const provisions = await data.provisions.ledgerBySubject(id!);
      const held = stored.map((f) => f.field).sort();
      const durable = deps.audit.record({ ...base, effect: "allow", subjectRef: key.auditRef, fields: held, reasons: [`SUBJECT_REQUEST:${meta.kind}`] });
      const values: Record<string, unknown> = {};
      try {
        for (const f of stored) values[f.field] = openField(key.dek, id!, f.field, f.ciphertext);
      } catch (e) {
        await durable.catch(() => undefined);
        throw e;
      }
      await durable;
      const purposesOf = (field: string) =>
        Object.entries(catalog.purposes)
          .filter(([, p]) => p.fields.includes(field))
          .map(([name]) => name)
          .sort();
      const updatedAt = new Map(stored.map((f) => [f.field, f.updatedAt.toISOString()]));
      const document = {
        format: "haechi-subject-export/v1",
        subject: externalId,
        request: meta.request,
        generatedAt: generatedAt.toISOString(),
        status: subject!.status,
        items: held.map((f) => ({ field: f, class: catalog.fields[f]?.class ?? null, value: values[f], updatedAt: updatedAt.get(f)!, purposes: purposesOf(f) })),
        purposes: Object.entries(catalog.purposes)
          .filter(([, p]) => p.fields.some((f) => f in values))
          .map(([name, p]) => ({
            purpose: name,
            description: p.description,
            basis: p.basis,
            notice: p.notice ?? null,
            fields: p.fields.filter((f) => f in values),
            retention: { period: p.retention.period ?? null, from: p.retention.from, rules: p.retention.rules },
          })),
        consents: consents.map(consentView),
        provisions: provisions.map((l) => ({
          provision: l.provisionId,
          recipient: l.recipient,
          country: l.country,
          purpose: l.purpose,
          fields: l.fields,
          basis: l.basis,
          transferBasis: l.transferBasis,
          status: l.status,
          at: l.at.toISOString(),
        })),
      };
      const json = JSON.stringify(document, null, 2);
      const csv =
        "field,value,updated_at,purposes\r\n" +
        document.items.map((i) => [i.field, i.value, i.updatedAt, i.purposes.join(" ")].map(csvCell).join(",") + "\r\n").join("");
      const digest = (t: string) => crypto.createHash("sha256").update(t).digest("hex");
      return { json, csv, sha256: { json: digest(json), csv: digest(csv) }, fields: held, generatedAt: generatedAt.toISOString() };
    },

    /** PATCH /v1/subjects/{id}: change or remove (null) values under a collecting purpose. */
    async update(ctx: RequestContext, externalId: string, input: { purpose: string; fields: Record<string, unknown> }, idem?: Idempotency<UpdateResult>): Promise<UpdateResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      if (!catalog.purposes[input.purpose]) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${input.purpose}" is not registered`);
      const values = prepareValues(catalog, input.fields, true);
      const removed = Object.keys(values).filter((f) => values[f] === null);
      const cannotRemove = removed.filter((f) => catalog.fields[f]?.class === "required");
      if (cannotRemove.length > 0) {
        throw new HaechiError("VALIDATION_FAILED", `required field${cannotRemove.length > 1 ? "s" : ""} cannot be removed: ${cannotRemove.join(", ")}`);
      }
      const id = resolve(catalog, ctx, externalId);
      const subject = id ? await data.getSubject(id) : undefined;
      const active = subject?.status === "active";
      const dormant = subject?.status === "dormant";
      const consents = active ? await data.currentConsents(id!) : [];
      const key = active || dormant ? await deps.subjectKeys.get(id!) : undefined;
      const decision = evaluate(
        catalog,
        { principal: ctx.principal, purpose: input.purpose, action: "write", fields: Object.keys(values) },
        { found: (active || dormant) && key !== undefined, dormant, consents },
        now,
      );
      await decisionAudit(ctx, now, "subject.update", input.purpose, key?.auditRef ?? null, decision, Object.keys(values));
      if (decision.effect === "deny") throw denialError(decision.reasons);
      const changed = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));
      const result: UpdateResult = { id: externalId, updated: Object.keys(changed).sort(), removed: removed.sort() };
      await data.transaction(async (tx) => {
        await tx.putFields(id!, sealAll(key!, id!, changed, now));
        if (removed.length > 0) {
          await tx.deleteFields(id!, removed);
          await tx.deleteLookups(id!, removed);
        }
        await tx.putLookups(id!, lookupsFor(catalog, changed));
        await tx.touchSubject(id!, now);
        if (idem) await tx.putIdempotency(idem.answer(result));
      });
      return result;
    },

    /** POST /v1/subjects/{id}/consents: grant or withdraw, each event bound to a notice version and channel. */
    async recordConsents(ctx: RequestContext, externalId: string, inputs: ConsentInput[], idem?: Idempotency<ConsentsResult>): Promise<ConsentsResult> {
      const id = resolve(deps.catalog.current(), ctx, externalId);
      return recordConsentsFor(ctx, id, externalId, inputs, undefined, idem);
    },

    /**
     * The person's own grant or withdrawal (the portal, ADR 0012): the subject is known by its
     * internal id (from the person's session), any notice of the catalog may be recorded, and
     * everything else is as for a service: checked, audited (the actor is `ctx.principal`, the
     * portal's data-subject actor), destroyed without delay when a withdrawal orphans a value.
     */
    async recordConsentsAsSubject(ctx: RequestContext, id: SubjectId, inputs: ConsentInput[]): Promise<ConsentsResult> {
      return recordConsentsFor(ctx, id, "", inputs, new Set(Object.keys(deps.catalog.current().notices)));
    },

    /**
     * POST /v1/subjects/{id}/reactivate: the person is back (the service calls this when they log
     * in again). Decided like an update (a principal allowed the purpose, a collecting purpose
     * with its legal basis standing) and audited before the effect; then one data transaction
     * moves the separated values back, writes the blind indexes again (recomputed from the
     * values, decrypted with the subject's key) and makes the subject active as of now.
     * Reactivating an active subject changes nothing and says so.
     */
    async reactivate(ctx: RequestContext, externalId: string, input: ReactivateInput, idem?: Idempotency<ReactivateResult>): Promise<ReactivateResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      if (!catalog.purposes[input.purpose]) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${input.purpose}" is not registered`);

      const id = resolve(catalog, ctx, externalId);
      const subject = id ? await data.getSubject(id) : undefined;
      const live = subject?.status === "active" || subject?.status === "dormant";
      const key = live ? await deps.subjectKeys.get(id!) : undefined;
      const consents = live ? await data.currentConsents(id!) : [];
      const decision = evaluate(
        catalog,
        { principal: ctx.principal, purpose: input.purpose, action: "write", fields: [] },
        { found: live && key !== undefined, consents },
        now,
      );
      const stored = decision.effect === "allow" && subject?.status === "dormant" ? await data.getDormantFields(id!, Object.keys(catalog.fields)) : [];
      const restored = stored.map((f) => f.field).sort();
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "subject.reactivate",
        effect: decision.effect,
        purpose: input.purpose,
        subjectRef: key?.auditRef ?? null,
        fields: restored,
        reasons: decision.effect === "allow" ? [] : decision.reasons.map((r) => r.code),
        ...(decision.effect === "allow" ? { meta: { wasDormant: subject?.status === "dormant" } } : {}),
      });
      if (decision.effect === "deny") throw denialError(decision.reasons);

      const answer = (reactivated: boolean, fields: string[]): ReactivateResult => ({
        id: externalId as ExternalSubjectId,
        status: "active",
        reactivated,
        restored: fields,
      });
      const result = answer(subject!.status === "dormant", restored);
      // Blind indexes from the values (decrypted here, before the transaction).
      const lookups: LookupEntry[] = stored
        .filter((f) => catalog.fields[f.field]?.lookup)
        .map((f) => ({ field: f.field, digest: deps.blindIndex.digest(f.field, openField(key!.dek, id!, f.field, f.ciphertext)) }));
      if (!result.reactivated && !idem) return result;
      const done = await data.transaction(async (tx) => {
        if (result.reactivated && !(await tx.reactivate(id!, now))) return false;
        if (lookups.length > 0) await tx.putLookups(id!, lookups);
        if (idem) await tx.putIdempotency(idem.answer(result));
        return true;
      });
      if (done) return result;
      // Changed since it was read: reactivated by a concurrent call (answer as for an active
      // subject), or erased (not found).
      if ((await data.getSubject(id!))?.status === "active") return answer(false, []);
      throw new HaechiError("NOT_FOUND", "subject not found");
    },

    /** POST /v1/lookup: find subjects by a lookup field, for a purpose, like any read. */
    async lookup(ctx: RequestContext, input: { purpose: string; field: string; value: unknown }): Promise<LookupResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      const def = catalog.fields[input.field];
      if (!def) throw new HaechiError("UNKNOWN_FIELD", `field "${input.field}" is not in the catalog`);
      if (!def.lookup) throw new HaechiError("VALIDATION_FAILED", `field "${input.field}" is not a lookup field`);
      if (input.value === null || input.value === undefined || input.value === "") {
        throw new HaechiError("VALIDATION_FAILED", "value must not be empty");
      }
      // Principal and purpose are checked before the index is touched.
      const pre = evaluate(catalog, { principal: ctx.principal, purpose: input.purpose, action: "lookup", fields: [input.field] }, { found: true, consents: [] }, now);
      if (pre.effect === "deny" && pre.reasons.some((r) => r.code !== "NO_LEGAL_BASIS" && r.code !== "CONSENT_STALE" && r.code !== "SEPARATE_CONSENT_REQUIRED")) {
        await decisionAudit(ctx, now, "subject.lookup", input.purpose, null, pre, [input.field]);
        throw denialError(pre.reasons);
      }
      const candidates = await data.findByLookup(input.field, deps.blindIndex.digest(input.field, input.value));
      const matches: ExternalSubjectId[] = [];
      const context = contextOf(catalog, ctx.principal);
      for (const id of candidates) {
        const consents = await data.currentConsents(id);
        const key = await deps.subjectKeys.get(id);
        if (!key) continue;
        const d = evaluate(catalog, { principal: ctx.principal, purpose: input.purpose, action: "lookup", fields: [input.field] }, { found: true, consents }, now);
        await decisionAudit(ctx, now, "subject.lookup", input.purpose, key.auditRef, d, [input.field]);
        if (d.effect === "allow") matches.push(pseudonyms.externalId(context, id));
      }
      if (candidates.length === 0) {
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "subject.lookup",
          effect: "allow",
          purpose: input.purpose,
          subjectRef: null,
          fields: [input.field],
          reasons: [],
          count: 0,
        });
      }
      return { matches };
    },
  };
};

export type SubjectService = ReturnType<typeof subjectService>;
