/**
 * The portal for people (issue 6; ADR 0012): the answer to seed 000's closing question for one
 * person — what data of mine do you hold, why, shared with whom, for how long, who looked at it,
 * and did anything go wrong — and their rights over it (PIPA Arts. 35, 35-2, 36, 37).
 *
 * How a person gets in: the service they are logged in to asks for a link
 * (`issueLink`, a principal allowed for that person, audited, fail closed). The link is a signed,
 * short-lived token; opening it (`enter`) uses it up (single use, `PortalLinkStore.consume`) and
 * gives a session, a signed cookie with a short idle timeout whose end is also recorded
 * (`end`: signed out, account deleted).
 *
 * What the person does is audited with the person as the actor (`PORTAL_ACTOR`, which no catalog
 * principal can be named) through the existing services: consents through the subject service,
 * deletion through the erase service. Values are decrypted only after a fresh confirmation (the
 * link opened within `FRESH_MS`) and only with an audit entry made durable first: showing them
 * (`reveal`) and downloading them (`download`) are reads under the person's own right of access.
 */
import crypto from "node:crypto";
import type { AuditEntry } from "../audit/audit-types.js";
import { parseCanonical } from "../audit/canonical.js";
import { idContextOf, LEGAL_RETENTION_PURPOSE } from "../core/catalog/catalog-fns.js";
import type { Catalog, LegalBasis } from "../core/catalog/catalog-schema.js";
import { consentStanding, effectiveVersion } from "../core/consent/consent-fns.js";
import { HaechiError } from "../core/errors.js";
import type { SubjectId } from "../core/ids.js";
import { evaluate } from "../core/policy/policy-fns.js";
import type { AuditStore, ConsentEvent, DataStore } from "../core/ports.js";
import { erasurePlan, purposeDeadline } from "../core/retention/retention-fns.js";
import { openField } from "../crypto/envelope.js";
import {
  csrfToken,
  csrfValid,
  portalKeys,
  signLink,
  signSession,
  verifyLink,
  verifySession,
  type SessionClaims,
} from "../crypto/portal-token.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import { randomBytes } from "../crypto/random.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import type { EraseResult, EraseService } from "./erase-service.js";
import type { IncidentSummaryView } from "./incident-service.js";
import { erasureOutcome, type RequestService } from "./request-service.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";
import type { SubjectService } from "./subject-service.js";

/** The actor of everything a person does in the portal (a colon: never a catalog principal's name). */
export const PORTAL_ACTOR = "data-subject:portal";
/** The identifier context of portal tokens: unlinkable to every service's ids. */
const PORTAL_ID_CONTEXT = "~portal";
/** The pseudo-purpose of the person's own reads (PIPA Art. 35): not a catalog purpose. */
export const SUBJECT_ACCESS = "data_subject_access";

const MIN = 60_000;
/** How long a link may wait to be opened. */
export const LINK_TTL_MS = 5 * MIN;
/** A session ends after this long without a request… */
export const IDLE_MS = 10 * MIN;
/** …and this long after the link was opened, whatever happens. */
export const SESSION_MAX_MS = 30 * MIN;
/** Values are shown and downloaded only this long after the last confirmation (a fresh link). */
export const FRESH_MS = 5 * MIN;

export type PortalServiceDeps = BaseDeps & {
  data: Pick<DataStore, "getSubject" | "getFields" | "currentConsents" | "consentHistory" | "portal" | "provisions">;
  auditStore: Pick<AuditStore, "bySubjectRef">;
  /** Makes entries in flight durable before the access history is read. */
  flushAudit: () => Promise<void>;
  subjectKeys: SubjectKeys;
  pseudonyms: Pseudonyms;
  /** The root the link, session and CSRF keys are derived from (never stored). */
  macRoot: Buffer;
  subjects: Pick<SubjectService, "recordConsentsAsSubject">;
  erase: Pick<EraseService, "eraseAsSubject">;
  incidentsFor: (id: SubjectId) => Promise<IncidentSummaryView[]>;
  /** The request ledger (ADR 0014): a download and a deletion are recorded there as answered requests. */
  requests?: Pick<RequestService, "answeredInPortal">;
};

/** Why a link or a session was refused (shown to the person; audited as the reason). */
export type PortalRefusal = "LINK_INVALID" | "LINK_EXPIRED" | "LINK_USED" | "SESSION_EXPIRED" | "SESSION_ENDED" | "SUBJECT_GONE";

export class PortalRefused extends HaechiError {
  constructor(readonly refusal: PortalRefusal) {
    super("UNAUTHENTICATED", `portal: ${refusal.toLowerCase().replace(/_/g, " ")}`, { reason: refusal });
  }
}

/** A verified session: who, since when confirmed, and the cookie to send back (idle timer restarted). */
export interface PortalSession {
  id: string;
  subject: SubjectId;
  auditRef: string;
  confirmedAt: Date;
  /** The last confirmation is recent enough to show and download values. */
  fresh: boolean;
  freshUntil: Date;
  endsAt: Date;
  cookie: string;
  csrf: string;
}

export interface LinkResult {
  /** Path and query of the link (the route makes it absolute). */
  path: string;
  expiresAt: string;
}

export interface HeldItem {
  field: string;
  label: Bilingual;
  class: string;
  sensitivity: string;
  updatedAt: string;
}
export interface PurposeItem {
  purpose: string;
  description: Bilingual;
  basis: LegalBasis;
  statute: string | null;
  fields: string[];
  /** For a purpose resting on consent: how that consent stands. */
  consent: "granted" | "withdrawn" | "none" | null;
}
export interface NoticeText {
  version: number;
  effective: string;
  purpose: Bilingual;
  items: string[];
  retention: Bilingual;
  right: Bilingual;
  disadvantage: Bilingual;
}
export interface ConsentItem {
  notice: string;
  title: Bilingual;
  category: string;
  optional: boolean;
  status: "granted" | "withdrawn" | "none";
  /** Granted under an older version whose items changed since (re-consent asked). */
  stale: boolean;
  /** The version given (granted or withdrawn), if any. */
  version: number | null;
  at: string | null;
  /** The text the toggle acts on: the version given when withdrawing, the version in force when granting. */
  text: NoticeText | null;
  /** The version a grant would record (the one in force), or null when none is in force. */
  grantVersion: number | null;
}
export interface RecipientItem {
  recipient: string;
  legalName: Bilingual;
  kind: "consignee" | "third_party";
  country: string;
  contact: string | null;
  fields: string[];
  /** What the recipient does: the consignment's work, or the third party's own purpose. */
  work: Bilingual | null;
  retention: Bilingual | null;
  transferBasis: string | null;
  /** How many times the person's data went to it (the provision ledger). */
  received: number;
}
export interface ProvisionItem {
  provision: string;
  recipient: string;
  country: string;
  purpose: string;
  fields: string[];
  basis: string;
  transferBasis: string | null;
  status: string;
  at: string;
}
export interface RetentionItem {
  field: string;
  /** Until when the purposes hold it (null: until the account is deleted or the purpose ends). */
  heldUntil: string | null;
  /** On deletion: kept by a law (rule, citation, period) or destroyed at once. */
  onDeletion: { rule: string; citation: string; period: string; description: Bilingual } | null;
}
export interface AccessItem {
  at: string;
  /** Who: a catalog principal, the portal (the person), or a job. */
  actor: string;
  actorLabel: Bilingual | null;
  action: string;
  purpose: string | null;
  fields: string[];
  effect: string;
  reasons: string[];
}
export interface PortalOverview {
  /** Field names as the catalog describes them (Korean and English). */
  fieldLabels: Record<string, Bilingual>;
  controller: { name: Bilingual; contact: string; officer: { name: string; contact: string } | null };
  held: HeldItem[];
  purposes: PurposeItem[];
  consents: ConsentItem[];
  recipients: RecipientItem[];
  provisions: ProvisionItem[];
  retention: RetentionItem[];
  access: AccessItem[];
  incidents: IncidentSummaryView[];
}
export interface ErasurePreview {
  destroy: string[];
  retain: { field: string; rule: string; citation: string; until: string; description: Bilingual }[];
}
export interface PortalExport {
  format: "haechi-portal-export/1";
  generatedAt: string;
  controller: PortalOverview["controller"];
  /** Every value held, decrypted (PIPA Art. 35, 35-2). */
  data: Record<string, unknown>;
  purposes: PurposeItem[];
  consents: { current: ConsentItem[]; history: { notice: string; version: number; action: string; channel: string; at: string }[] };
  recipients: RecipientItem[];
  provisions: ProvisionItem[];
  retention: RetentionItem[];
  accessHistory: AccessItem[];
  incidents: { id: string; kind: string; status: string; awareAt: string; summary: string }[];
}

/** Catalog texts are one string or a Korean and English pair. */
export type Bilingual = { ko: string; en: string };
const loc = (t: string | Bilingual | undefined, fallback = ""): Bilingual =>
  t === undefined ? { ko: fallback, en: fallback } : typeof t === "string" ? { ko: t, en: t } : t;
const locOrNull = (t: string | Bilingual | undefined): Bilingual | null => (t === undefined ? null : loc(t));

/** The download's access history: the newest this many entries (the page shows the newest 200). */
const ACCESS_HISTORY_LIMIT = 10_000;
const ACCESS_SHOWN = 200;
const PRUNE_EVERY_MS = 5 * MIN;

export const portalService = (deps: PortalServiceDeps) => {
  const keys = portalKeys(deps.macRoot);
  const { data } = deps;
  let lastPrune = 0;

  const refuse = async (ctx: RequestContext, action: string, refusal: PortalRefusal, subjectRef: string | null): Promise<never> => {
    await deps.audit.record({ ...entryBase(ctx, deps.clock.now()), action, effect: "deny", purpose: null, subjectRef, fields: [], reasons: [refusal] });
    throw new PortalRefused(refusal);
  };

  /** The subject behind a portal pseudonym, if it still has an active account and a key. */
  const live = async (pseudonym: string) => {
    const id = deps.pseudonyms.resolve(PORTAL_ID_CONTEXT, pseudonym);
    if (id === undefined) return undefined;
    const subject = await data.getSubject(id);
    if (subject?.status !== "active") return undefined;
    const key = await deps.subjectKeys.get(id);
    return key === undefined ? undefined : { id, key };
  };

  const sessionOf = (c: SessionClaims, id: SubjectId, auditRef: string, now: Date): PortalSession => {
    const refreshed: SessionClaims = { ...c, t: now.getTime() };
    return {
      id: c.j,
      subject: id,
      auditRef,
      confirmedAt: new Date(c.a),
      fresh: now.getTime() - c.a <= FRESH_MS,
      freshUntil: new Date(c.a + FRESH_MS),
      endsAt: new Date(Math.min(c.x, now.getTime() + IDLE_MS)),
      cookie: signSession(keys, refreshed),
      csrf: csrfToken(keys, c.j),
    };
  };

  const ctxOf = (source: string | null, requestId: string): RequestContext => ({ principal: PORTAL_ACTOR, source, requestId });

  const labelOf = (catalog: Catalog, field: string) => loc(catalog.fields[field]?.description, field);

  /** Fields held now (names and times only; nothing decrypted). */
  const heldOf = async (catalog: Catalog, id: SubjectId) => data.getFields(id, Object.keys(catalog.fields));

  const needFresh = async (s: PortalSession, ctx: RequestContext, action: string) => {
    if (!s.fresh) {
      await deps.audit.record({ ...entryBase(ctx, deps.clock.now()), action, effect: "deny", purpose: SUBJECT_ACCESS, subjectRef: s.auditRef, fields: [], reasons: ["CONFIRMATION_REQUIRED"] });
      throw new HaechiError("ACCESS_DENIED", "showing or downloading values needs a fresh confirmation: open a new link from the app", {
        reasons: [{ code: "CONFIRMATION_REQUIRED" }],
      });
    }
  };

  /** Decrypts every value held, after the read is durable in the audit log (fail closed). */
  const readAll = async (s: PortalSession, ctx: RequestContext, action: string): Promise<Record<string, unknown>> => {
    await needFresh(s, ctx, action);
    const catalog = deps.catalog.current();
    const key = await deps.subjectKeys.get(s.subject);
    if (key === undefined) throw new PortalRefused("SUBJECT_GONE");
    const stored = await heldOf(catalog, s.subject);
    await deps.audit.record({
      ...entryBase(ctx, deps.clock.now()),
      action,
      effect: "allow",
      purpose: SUBJECT_ACCESS,
      subjectRef: key.auditRef,
      fields: stored.map((f) => f.field).sort(),
      reasons: [],
      meta: { right: "PIPA Art. 35" },
    });
    const out: Record<string, unknown> = {};
    for (const f of stored) out[f.field] = openField(key.dek, s.subject, f.field, f.ciphertext);
    return out;
  };

  const noticeText = (catalog: Catalog, notice: string, version: number | undefined): NoticeText | null => {
    const n = catalog.notices[notice];
    const v = version === undefined ? undefined : n?.versions.find((x) => x.version === version);
    if (!v) return null;
    return {
      version: v.version,
      effective: v.effective,
      purpose: loc(v.purpose),
      items: v.items,
      retention: loc(v.retention),
      right: loc(v.refusal.right),
      disadvantage: loc(v.refusal.disadvantage),
    };
  };

  const overviewOf = async (s: { subject: SubjectId; auditRef: string }): Promise<PortalOverview> => {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const stored = await heldOf(catalog, s.subject);
    const held = new Set(stored.map((f) => f.field));
    const consents = await data.currentConsents(s.subject);

    const purposes: PurposeItem[] = Object.entries(catalog.purposes)
      // Purposes that may use an item held; one resting on a consent never given uses nothing.
      .filter(
        ([name, p]) =>
          name !== LEGAL_RETENTION_PURPOSE &&
          p.fields.some((f) => held.has(f)) &&
          !(p.basis === "consent" && p.notice !== undefined && consentStanding(catalog, consents, p.notice, now).kind === "none"),
      )
      .map(([name, p]) => {
        const standing = p.basis === "consent" && p.notice ? consentStanding(catalog, consents, p.notice, now).kind : null;
        return {
          purpose: name,
          description: loc(p.description, name),
          basis: p.basis,
          statute: p.statute ?? null,
          fields: p.fields.filter((f) => held.has(f)),
          consent: p.basis === "consent" ? (standing ?? "none") : null,
        };
      });

    const consentItems: ConsentItem[] = Object.entries(catalog.notices).map(([name, n]) => {
      const st = consentStanding(catalog, consents, name, now);
      const current = effectiveVersion(n, now);
      const status = st.kind;
      const given = st.kind === "none" ? null : st.state.noticeVersion;
      return {
        notice: name,
        title: loc(n.title, name),
        category: n.category,
        optional: n.optional,
        status,
        stale: st.kind === "granted" && (st.staleAll || st.staleFields.size > 0),
        version: given,
        at: st.kind === "none" ? null : st.state.at.toISOString(),
        text: noticeText(catalog, name, status === "granted" ? given! : current?.version),
        grantVersion: current?.version ?? null,
      };
    });

    const ledger = await data.provisions.ledgerBySubject(s.subject);
    const provisions: ProvisionItem[] = ledger.map((e) => ({
      provision: e.provisionId,
      recipient: e.recipient,
      country: e.country,
      purpose: e.purpose,
      fields: e.fields,
      basis: e.basis,
      transferBasis: e.transferBasis,
      status: e.status,
      at: e.at.toISOString(),
    }));
    const recipients: RecipientItem[] = Object.entries(catalog.recipients)
      .filter(([name, r]) => r.fields.some((f) => held.has(f)) || ledger.some((e) => e.recipient === name))
      .map(([name, r]) => ({
        recipient: name,
        legalName: loc(r.legal_name, name),
        kind: r.kind,
        country: r.country,
        contact: r.contact ?? null,
        fields: r.fields,
        work: locOrNull(r.kind === "consignee" ? r.contract?.work : r.recipient_purpose),
        retention: locOrNull(r.retention),
        transferBasis: r.transfer?.basis ?? null,
        received: ledger.filter((e) => e.recipient === name).length,
      }));

    const plan = erasurePlan(catalog, [...held], now);
    const retention: RetentionItem[] = stored
      .map((f) => {
        const deadline = purposeDeadline(catalog, f.field, consents, f.updatedAt, now);
        const kept = plan.retain.find((r) => r.field === f.field);
        const rule = kept ? catalog.retention_rules[kept.rule] : undefined;
        return {
          field: f.field,
          heldUntil: deadline === null ? null : deadline.toISOString(),
          onDeletion: kept && rule ? { rule: kept.rule, citation: kept.citation, period: rule.period, description: loc(rule.description, kept.rule) } : null,
        };
      })
      .sort((a, b) => a.field.localeCompare(b.field));

    const access = await accessOf(catalog, s.auditRef, ACCESS_SHOWN);
    const incidents = await deps.incidentsFor(s.subject);
    return {
      fieldLabels: Object.fromEntries(Object.keys(catalog.fields).map((f) => [f, labelOf(catalog, f)])),
      controller: {
        name: loc(catalog.controller.name),
        contact: catalog.controller.contact,
        officer: catalog.controller.privacy_officer ?? null,
      },
      held: stored
        .map((f) => {
          const def = catalog.fields[f.field]!;
          return { field: f.field, label: labelOf(catalog, f.field), class: def.class, sensitivity: def.sensitivity, updatedAt: f.updatedAt.toISOString() };
        })
        .sort((a, b) => Object.keys(catalog.fields).indexOf(a.field) - Object.keys(catalog.fields).indexOf(b.field)),
      purposes,
      consents: consentItems,
      recipients,
      provisions,
      retention,
      access,
      incidents,
    };
  };

  /** The person's entries in the audit log, newest first (who read what, for which purpose). */
  const accessOf = async (catalog: Catalog, auditRef: string, limit: number): Promise<AccessItem[]> => {
    await deps.flushAudit();
    const rows = await deps.auditStore.bySubjectRef(auditRef, limit, "newest");
    const out: AccessItem[] = [];
    for (const row of rows) {
      let e: AuditEntry;
      try {
        e = parseCanonical(row.body);
      } catch {
        continue;
      }
      const actor = e.principal ?? "unknown";
      out.push({
        at: e.at,
        actor,
        actorLabel: locOrNull(catalog.principals[actor]?.description),
        action: e.action,
        purpose: e.purpose,
        fields: e.fields,
        effect: e.effect,
        reasons: e.reasons,
      });
    }
    return out;
  };

  /**
   * A service acting for its signed-in user (a portal link, the transparency report): a principal
   * with role `service` that resolves the id in its own context to an active person, and that one
   * of its own collecting purposes lets act for that person now (the policy's write decision with
   * no fields). Every answer is audited under `action` before it is given (fail closed).
   */
  const actingFor = async (ctx: RequestContext, externalId: string, action: string, meta?: Record<string, string>) => {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const principal = catalog.principals[ctx.principal];
    const id = principal?.role === "service" ? deps.pseudonyms.resolve(idContextOf(catalog, ctx.principal), externalId) : undefined;
    const subject = id ? await data.getSubject(id) : undefined;
    const key = subject && (subject.status === "active" || subject.status === "dormant") ? await deps.subjectKeys.get(id!) : undefined;
    const consents = subject?.status === "active" ? await data.currentConsents(id!) : [];
    let reasons: string[];
    if (principal?.role !== "service") reasons = ["ROLE_NOT_PERMITTED"];
    else if (!key) reasons = ["NOT_FOUND"];
    else if (subject!.status === "dormant") reasons = ["SUBJECT_DORMANT"];
    else {
      const collecting = principal.purposes.filter((p) => catalog.purposes[p]?.collects);
      const decisions = collecting.map((p) => evaluate(catalog, { principal: ctx.principal, purpose: p, action: "write", fields: [] }, { found: true, consents }, now));
      const allowed = decisions.some((d) => d.effect === "allow");
      reasons = allowed ? [] : collecting.length === 0 ? ["PURPOSE_NOT_COLLECTING"] : [...new Set(decisions.flatMap((d) => (d.effect === "deny" ? d.reasons.map((r) => r.code) : [])))];
    }
    await deps.audit.record({
      ...entryBase(ctx, now),
      action,
      effect: reasons.length === 0 ? "allow" : "deny",
      purpose: null,
      subjectRef: key?.auditRef ?? null,
      fields: [],
      reasons,
      ...(reasons.length === 0 && meta ? { meta } : {}),
    });
    if (reasons.includes("ROLE_NOT_PERMITTED")) {
      throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" may not act for people (${action})`, { reasons: [{ code: "ROLE_NOT_PERMITTED" }] });
    }
    if (reasons.includes("NOT_FOUND")) throw new HaechiError("NOT_FOUND", "subject not found");
    if (reasons.includes("SUBJECT_DORMANT")) throw new HaechiError("SUBJECT_DORMANT", "the account is dormant: reactivate it first");
    if (reasons.length > 0) {
      throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" has no collecting purpose standing for this person`, {
        reasons: reasons.map((code) => ({ code })),
      });
    }
    return { id: id!, auditRef: key!.auditRef };
  };

  /** Everything the person holds, for the download (values decrypted; audited as subject.export). */
  const exportOf = async (s: PortalSession, ctx: ReturnType<typeof ctxOf>): Promise<PortalExport> => {
      const values = await readAll(s, ctx, "subject.export");
      const overview = await overviewOf(s);
      const history: ConsentEvent[] = await data.consentHistory(s.subject);
      return {
        format: "haechi-portal-export/1",
        generatedAt: deps.clock.now().toISOString(),
        controller: overview.controller,
        data: values,
        purposes: overview.purposes,
        consents: {
          current: overview.consents,
          history: history.map((e) => ({ notice: e.notice, version: e.noticeVersion, action: e.action, channel: e.channel, at: e.at.toISOString() })),
        },
        recipients: overview.recipients,
        provisions: overview.provisions,
        retention: overview.retention,
        accessHistory: await accessOf(deps.catalog.current(), s.auditRef, ACCESS_HISTORY_LIMIT),
        incidents: overview.incidents.map((i) => ({ id: i.id, kind: i.kind, status: i.status, awareAt: i.awareAt, summary: i.summary })),
      };
    };

  return {
    /**
     * POST /v1/subjects/{id}/portal-link: a link for the service's logged-in user. Allowed only to
     * a service principal that resolves the id in its own context to an active person and that a
     * collecting purpose of its own lets act for that person now (its legal basis standing).
     * Everything else is refused, and every answer is audited before it is given.
     */
    async issueLink(ctx: RequestContext, externalId: string): Promise<LinkResult> {
      const expiresAt = new Date(deps.clock.now().getTime() + LINK_TTL_MS);
      const { id } = await actingFor(ctx, externalId, "portal.link", { expiresAt: expiresAt.toISOString() });
      const token = signLink(keys, {
        j: randomBytes(16).toString("base64url"),
        s: deps.pseudonyms.externalId(PORTAL_ID_CONTEXT, id),
        p: ctx.principal,
        e: expiresAt.getTime(),
      });
      return { path: `/portal/enter?t=${token}`, expiresAt: expiresAt.toISOString() };
    },

    /**
     * GET /v1/subjects/{id}/report: the transparency report for the service's signed-in user, to
     * show in its own app: everything the portal shows but the values (nothing is decrypted).
     * Allowed as a portal link is (`actingFor`), audited as `subject.report`.
     */
    async report(ctx: RequestContext, externalId: string): Promise<Omit<PortalOverview, "fieldLabels">> {
      const who = await actingFor(ctx, externalId, "subject.report");
      const { fieldLabels: _labels, ...rest } = await overviewOf({ subject: who.id, auditRef: who.auditRef });
      return rest;
    },

    /** Opening a link: checked, used up, audited; gives the session. */
    async enter(token: unknown, source: string | null, requestId: string): Promise<PortalSession> {
      const now = deps.clock.now();
      const ctx: RequestContext = { principal: PORTAL_ACTOR, source, requestId };
      const v = verifyLink(keys, token, now);
      if (!v.ok) return refuse(ctx, "portal.enter", v.problem === "EXPIRED" ? "LINK_EXPIRED" : "LINK_INVALID", null);
      const who = await live(v.claims.s);
      if (!who) return refuse(ctx, "portal.enter", "SUBJECT_GONE", null);
      const endsAt = new Date(now.getTime() + SESSION_MAX_MS);
      if (!(await data.portal.consume(v.claims.j, now, endsAt))) return refuse(ctx, "portal.enter", "LINK_USED", who.key.auditRef);
      // Rows of sessions long over go every few minutes, on the way (no job; the expiry index makes it cheap).
      if (now.getTime() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now.getTime();
        await data.portal.prune(now).catch(() => undefined);
      }
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "portal.enter",
        effect: "allow",
        purpose: null,
        subjectRef: who.key.auditRef,
        fields: [],
        reasons: [],
        meta: { issuer: v.claims.p },
      });
      const claims: SessionClaims = { j: v.claims.j, s: v.claims.s, a: now.getTime(), x: endsAt.getTime(), t: now.getTime() };
      return sessionOf(claims, who.id, who.key.auditRef, now);
    },

    /** The session behind a cookie, or a refusal (expired, ended, account gone). */
    async session(cookie: unknown): Promise<PortalSession> {
      const now = deps.clock.now();
      const v = verifySession(keys, cookie, now, IDLE_MS);
      if (!v.ok) throw new PortalRefused(v.problem === "EXPIRED" ? "SESSION_EXPIRED" : "LINK_INVALID");
      const row = await data.portal.get(v.claims.j);
      if (!row || row.endedAt !== null) throw new PortalRefused("SESSION_ENDED");
      const who = await live(v.claims.s);
      if (!who) throw new PortalRefused("SUBJECT_GONE");
      return sessionOf(v.claims, who.id, who.key.auditRef, now);
    },

    csrfValid: (s: PortalSession, given: unknown) => csrfValid(keys, s.id, given),

    /** Everything but the values (no decryption, so no confirmation needed). */
    overview: (s: PortalSession) => overviewOf(s),

    /** The values, after a fresh confirmation; an audited read under the person's right of access. */
    reveal: (s: PortalSession, source: string | null, requestId: string) => readAll(s, ctxOf(source, requestId), "subject.read"),

    /**
     * Download everything (PIPA Arts. 35, 35-2): values decrypted, consents with their history,
     * the provision ledger, the access history. The one function a download goes through (the
     * request ledger hooks in here).
     */
    async download(s: PortalSession, source: string | null, requestId: string): Promise<PortalExport> {
      const ctx = ctxOf(source, requestId);
      const build = () => exportOf(s, ctx);
      if (deps.requests === undefined) return build();
      return deps.requests.answeredInPortal(ctx, s.subject, "portability", build, (x) => ({
        result: `the person downloaded their data in the portal (${Object.keys(x.data).length} items, purposes, consents, provisions, access history)`,
        formats: ["application/json", "text/csv"],
        fields: Object.keys(x.data).sort(),
        sha256: crypto.createHash("sha256").update(JSON.stringify(x)).digest("hex"),
      }));
    },

    /** Grant or withdraw one consent, agreeing to (or withdrawing) the version shown. */
    async setConsent(s: PortalSession, input: { notice: string; action: "grant" | "withdraw"; version: number }, source: string | null, requestId: string) {
      return deps.subjects.recordConsentsAsSubject(ctxOf(source, requestId), s.subject, [
        { notice: input.notice, action: input.action, version: input.version, channel: "web" },
      ]);
    },

    /** What deleting the account would keep, under which law, until when (shown before asking). */
    async erasurePreview(s: PortalSession): Promise<ErasurePreview> {
      const catalog = deps.catalog.current();
      const stored = await heldOf(catalog, s.subject);
      const plan = erasurePlan(
        catalog,
        stored.map((f) => f.field),
        deps.clock.now(),
      );
      return {
        destroy: plan.destroy,
        retain: plan.retain.map((r) => ({
          field: r.field,
          rule: r.rule,
          citation: r.citation,
          until: r.until.toISOString(),
          description: loc(catalog.retention_rules[r.rule]?.description, r.rule),
        })),
      };
    },

    /**
     * Delete the account (PIPA Art. 36): through the erase service, then the session ends. The
     * one function a deletion goes through (the request ledger hooks in here).
     */
    async deleteAccount(s: PortalSession, source: string | null, requestId: string): Promise<EraseResult> {
      const ctx = ctxOf(source, requestId);
      const erase = () => deps.erase.eraseAsSubject(ctx, s.subject);
      const result =
        deps.requests === undefined
          ? await erase()
          : await deps.requests.answeredInPortal(ctx, s.subject, "deletion", erase, erasureOutcome);
      await data.portal.end(s.id, deps.clock.now());
      return result;
    },

    /** Sign out: the session is ended for every server process. */
    async signOut(s: PortalSession, source: string | null, requestId: string): Promise<void> {
      const now = deps.clock.now();
      await data.portal.end(s.id, now);
      await deps.audit.record({
        ...entryBase(ctxOf(source, requestId), now),
        action: "portal.leave",
        effect: "info",
        purpose: null,
        subjectRef: s.auditRef,
        fields: [],
        reasons: [],
      });
    },
  };
};

export type PortalService = ReturnType<typeof portalService>;
