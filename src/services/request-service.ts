/**
 * Data-subject requests (PIPA Arts. 35–37; Decree Arts. 41–44; LAW §8, §15 I): a service files
 * one on the person's behalf; Haechi fulfils what it can at once through the existing paths and
 * completes it; the privacy office sees every request with its 10-day clock, and completes,
 * postpones (access and portability only) or refuses (with the ground, the reason and how to
 * object) the rest.
 *
 * Fulfilment reuses the vault's own paths, so their checks and audit entries apply unchanged:
 *   access, portability → subjects.accessExport (decrypted, JSON and CSV, one audit entry);
 *   deletion            → erase.erase (crypto-shredding; what a law keeps is sealed and listed);
 *   correction          → subjects.update (the values travel once; the ledger keeps field names);
 *   withdrawal, suspension of consent-based processing → subjects.recordConsents (withdraw;
 *                         what only that consent held is destroyed, Art. 37(3), (5)).
 * A suspension of processing on another basis (contract, law) needs a person to weigh the
 * Art. 37(2) grounds: it stays open for the privacy office.
 *
 * Every act is audited before it takes effect (ADR 0003) and appended to the request's history
 * with the audit entry's seq. The ledger holds no personal data (no values, no notice texts).
 */
import { isOperatorPrincipal } from "../core/console/console-roles.js";
import crypto from "node:crypto";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import type { ConsentChannel } from "../core/catalog/catalog-schema.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import { requestHash, type Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { SubjectId } from "../core/ids.js";
import type { DataStore, IdempotencyRow, KeyStore, NewRequestEvent, RequestEvent, SubjectRequestRow, SubjectRequestStore } from "../core/ports.js";
import {
  checkExtension,
  deadlineOf,
  extensionLimitOf,
  isOpen,
  isOverdue,
  KIND_RULES,
  OPEN_STATUSES,
  refusalGround,
  REFUSAL_GROUNDS,
  timeLeft,
  type NoticeChannel,
  type RequestAct,
  type RequestChannel,
  type RequestKind,
  type RequestStatus,
} from "../core/requests/request-fns.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import type { EraseResult } from "./erase-service.js";
import { replayedResult, type IdempotencyService } from "./idempotency-service.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";
import type { AccessExport, ConsentsResult, UpdateResult } from "./subject-service.js";

export type RequestServiceDeps = BaseDeps & {
  requests: SubjectRequestStore;
  data: Pick<DataStore, "getSubject">;
  keys: Pick<KeyStore, "get">;
  pseudonyms: Pick<Pseudonyms, "resolve">;
  /** Runs a fulfilment once under a key derived from the filing's (ADR 0017). */
  idempotency: Pick<IdempotencyService, "run">;
  /** The existing paths a request is fulfilled through; each records its own idempotency key. */
  fulfil: {
    accessExport(ctx: RequestContext, externalId: string, meta: { request: string; kind: "access" | "portability"; at?: Date }): Promise<AccessExport>;
    erase(ctx: RequestContext, externalId: string, idem?: Idempotency<EraseResult>): Promise<EraseResult>;
    update(
      ctx: RequestContext,
      externalId: string,
      input: { purpose: string; fields: Record<string, unknown> },
      idem?: Idempotency<UpdateResult>,
    ): Promise<UpdateResult>;
    recordConsents(
      ctx: RequestContext,
      externalId: string,
      inputs: { notice: string; action: "grant" | "withdraw"; channel: ConsentChannel }[],
      idem?: Idempotency<ConsentsResult>,
    ): Promise<ConsentsResult>;
  };
};

// ---------------------------------------------------------------- inputs and views

export interface FileInput {
  kind: RequestKind;
  channel: RequestChannel;
  /** When the person made the request (default now); not in the future. */
  receivedAt?: string;
  /** Fulfil at once where Haechi can (default true); false records it for the privacy office. */
  fulfil?: boolean;
  /** Correction: the new values, under a collecting purpose (sent once; only the field names are kept). */
  correction?: { purpose: string; fields: Record<string, unknown> };
  /** Withdrawal, or suspension of consent-based processing: the notices whose consent ends. */
  notices?: string[];
  /** How the withdrawal reached the service, for the consent ledger (default from the channel). */
  consentChannel?: ConsentChannel;
  /** A note for the privacy office (no personal data). */
  note?: string;
}

/** The ledger's record of an erasure (never values): fulfilment and the portal both write it. */
export const erasureOutcome = (r: EraseResult) => ({
  result: r.retained.length === 0 ? "the account was deleted: every item destroyed" : "the account was deleted; what a law requires keeping is sealed until its period ends",
  destroyed: r.destroyed,
  retained: r.retained.map((k) => ({ field: k.field, code: k.code, rule: k.rule, citation: k.citation, until: k.until })),
  erasedAt: r.erasedAt,
});

export interface RequestView {
  id: string;
  kind: RequestKind;
  /** The filing principal and its pseudonymous id of the person. */
  subject: { principal: string; id: string };
  channel: RequestChannel;
  receivedAt: string;
  /** The 10-day deadline (Decree Arts. 41(4), 43(3), 44(2)). */
  dueBy: string;
  /** The current deadline: dueBy, or a postponement's date. */
  deadline: string;
  timeLeft: { ms: number; text: string; overdue: boolean } | null;
  overdue: boolean;
  status: RequestStatus;
  rule: { right: string; deadline: string; extension: string | null; refusal: string };
  detail: Record<string, unknown>;
  extension: { until: string; reason: string; noticeAt: string; noticeChannel: NoticeChannel } | null;
  outcome: Record<string, unknown> | null;
  /** Closed within its deadline; null while open. */
  onTime: boolean | null;
  closedAt: string | null;
  history: { seq: number; at: string; actor: string; act: RequestAct; detail: Record<string, unknown>; auditSeq: number }[];
}

export interface FileResult {
  request: RequestView;
  /** Access and portability fulfilled at once: the person's data, to hand over (never stored). */
  export?: { json: string; csv: string; sha256: { json: string; csv: string } };
}

export interface ListFilter {
  status?: RequestStatus[];
  kind?: RequestKind;
  overdue?: boolean;
  limit?: number;
}

/** The audit action of each act. */
const ACTION_OF: Record<RequestAct, string> = {
  received: "request.file",
  fulfilment_failed: "request.fulfil",
  extended: "request.extend",
  completed: "request.complete",
  refused: "request.refuse",
  withdrawn: "request.withdraw",
};

const CONSENT_CHANNEL_OF: Record<RequestChannel, ConsentChannel> = { portal: "web", service_api: "app", operator: "phone" };

export const requestService = (deps: RequestServiceDeps) => {
  const { requests } = deps;

  /** A catalog principal's role; a console staff member counts as an operator (the console checked the finer role). */
  const roleOf = (catalog: Catalog, principal: string) => (isOperatorPrincipal(catalog, principal) ? "operator" : catalog.principals[principal]?.role);

  /** A denial: audited, then refused. */
  const deny = async (ctx: RequestContext, action: string, reason: string, meta?: Record<string, string>): Promise<never> => {
    await deps.audit.record({
      ...entryBase(ctx, deps.clock.now()),
      action,
      effect: "deny",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: [reason],
      ...(meta ? { meta } : {}),
    });
    if (reason === "NOT_FOUND") throw new HaechiError("NOT_FOUND", meta?.request ? `request ${meta.request} not found` : "subject not found");
    throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" may not ${action.replace("request.", "")} data-subject requests`, {
      reasons: [{ code: reason, message: action === "request.file" ? "requests are filed by a service principal that collects data (the channel the person uses, Decree Art. 41(2))" : "the request ledger is handled by operator principals" }],
    });
  };

  /** Operators only (the privacy office); anything else is denied and audited. */
  const requireOperator = async (ctx: RequestContext, action: string, meta?: Record<string, string>) => {
    if (roleOf(deps.catalog.current(), ctx.principal) !== "operator") await deny(ctx, action, "ROLE_NOT_PERMITTED", meta);
  };

  const auditRefOf = async (id: SubjectId) => (await deps.keys.get(id))?.auditRef ?? null;

  /** Audits an act (durable before its effect) and returns the history event naming the entry. */
  const audited = async (
    ctx: RequestContext,
    at: Date,
    row: Pick<SubjectRequestRow, "id" | "kind" | "subjectId">,
    act: RequestAct,
    detail: Record<string, string | number | boolean | null>,
  ): Promise<NewRequestEvent> => {
    const seq = await deps.audit.record({
      ...entryBase(ctx, at),
      action: ACTION_OF[act],
      // A fulfilment the vault refused is recorded as information: the path that refused it has
      // audited its own denial, and a request left for review is no denial (nor a deny storm).
      effect: act === "fulfilment_failed" ? "info" : "allow",
      purpose: null,
      subjectRef: await auditRefOf(row.subjectId),
      fields: [],
      reasons: act === "fulfilment_failed" ? [String(detail.code)] : [],
      meta: { request: row.id, kind: row.kind, ...Object.fromEntries(Object.entries(detail).filter(([k, v]) => v !== null && k !== "message")) } as Record<string, string | number | boolean>,
    });
    return { at, actor: ctx.principal, act, detail, auditSeq: seq };
  };

  const viewOf = async (row: SubjectRequestRow, now: Date): Promise<RequestView> => viewWith(row, await requests.events(row.id), now);

  /** The view of a request with its history as given (the answer a change leaves, built in its transaction). */
  const viewWith = (row: SubjectRequestRow, history: readonly RequestEvent[], now: Date): RequestView => {
    const open = isOpen(row.status);
    return {
      id: row.id,
      kind: row.kind,
      subject: { principal: row.filedBy, id: row.subjectExternal },
      channel: row.channel,
      receivedAt: row.receivedAt.toISOString(),
      dueBy: deadlineOf(row.receivedAt).toISOString(),
      deadline: row.deadline.toISOString(),
      timeLeft: open ? timeLeft(row.deadline, now) : null,
      overdue: isOverdue(row.status, row.deadline, now),
      status: row.status,
      rule: KIND_RULES[row.kind],
      detail: row.detail,
      extension: row.extension && {
        until: row.extension.until.toISOString(),
        reason: row.extension.reason,
        noticeAt: row.extension.noticeAt.toISOString(),
        noticeChannel: row.extension.noticeChannel,
      },
      outcome: row.outcome,
      onTime: row.closedAt === null ? null : row.closedAt.getTime() <= row.deadline.getTime(),
      closedAt: row.closedAt?.toISOString() ?? null,
      history: history.map((e) => ({ seq: e.seq, at: e.at.toISOString(), actor: e.actor, act: e.act, detail: e.detail, auditSeq: e.auditSeq })),
    };
  };

  const load = async (ctx: RequestContext, id: string, action: string): Promise<SubjectRequestRow> => {
    const row = await requests.get(id);
    if (!row) return deny(ctx, action, "NOT_FOUND", { request: id });
    return row;
  };

  /**
   * Closes or changes an open request; CONFLICT if it was closed meanwhile. Returns the request as
   * the change leaves it; `answer` turns that into the idempotency key's answer, written in the
   * same transaction.
   */
  const transition = async (
    row: SubjectRequestRow,
    patch: Parameters<SubjectRequestStore["update"]>[2] & { updatedAt: Date },
    event: NewRequestEvent,
    answer?: (view: RequestView) => IdempotencyRow,
  ): Promise<RequestView> => {
    const prior = await requests.events(row.id);
    const after = (ev: RequestEvent) => viewWith({ ...row, ...patch }, [...prior, ev], patch.updatedAt);
    const done = await requests.update(row.id, OPEN_STATUSES, patch, event, answer && ((ev) => answer(after(ev))));
    if (!done) throw new HaechiError("CONFLICT", `request ${row.id} was closed meanwhile`);
    return after(done);
  };

  const requireOpen = (row: SubjectRequestRow) => {
    if (!isOpen(row.status)) throw new HaechiError("CONFLICT", `request ${row.id} is ${row.status}`);
  };

  /**
   * What fulfilment did, as the ledger keeps it (field names, digests, rules; never values). Under
   * an idempotency key each path runs under a key derived from the filing's, so a retry of a
   * filing whose fulfilment committed and whose answer was lost finds the fulfilment's answer and
   * does not apply it again (nor erase, nor withdraw twice); a half-done erasure is finished.
   */
  const fulfilNow = async (
    ctx: RequestContext,
    row: SubjectRequestRow,
    input: FileInput,
    idem: Idempotency<FileResult> | undefined,
  ): Promise<{ outcome: Record<string, unknown>; exported?: AccessExport } | { pending: string }> => {
    const ext = row.subjectExternal;
    const once = async <U>(fn: (inner: Idempotency<U> | undefined) => Promise<U>): Promise<U> => {
      if (idem === undefined) return fn(undefined);
      const spec = {
        principal: ctx.principal,
        key: idem.derived("fulfil"),
        requestHash: requestHash("requests.fulfil", { request: row.id, kind: row.kind }),
        answer: (r: U) => ({ status: 200, response: JSON.stringify(r) }),
      };
      return replayedResult(await deps.idempotency.run<U>(spec, fn));
    };
    switch (row.kind) {
      case "access":
      case "portability": {
        const exported = await deps.fulfil.accessExport(ctx, ext, { request: row.id, kind: row.kind });
        return {
          exported,
          outcome: {
            result: `the person's data was produced as JSON and CSV (${exported.fields.length} items, purposes, consents, provisions)`,
            formats: ["application/json", "text/csv"],
            fields: exported.fields,
            sha256: exported.sha256,
            generatedAt: exported.generatedAt,
          },
        };
      }
      case "deletion":
        return { outcome: erasureOutcome(await once<EraseResult>((inner) => deps.fulfil.erase(ctx, ext, inner))) };
      case "correction": {
        if (!input.correction) return { pending: "no new values were sent with the correction: the privacy office handles it" };
        const correction = input.correction;
        const r = await once<UpdateResult>((inner) => deps.fulfil.update(ctx, ext, correction, inner));
        return { outcome: { result: "the items were corrected", purpose: correction.purpose, updated: r.updated, removed: r.removed } };
      }
      case "withdrawal":
      case "suspension": {
        if (!input.notices || input.notices.length === 0) {
          return { pending: "no consent notices were named: processing on another basis needs the privacy office (Art. 37(2) grounds)" };
        }
        const channel = input.consentChannel ?? CONSENT_CHANNEL_OF[row.channel];
        const withdrawals = input.notices.map((notice) => ({ notice, action: "withdraw" as const, channel }));
        const r = await once<ConsentsResult>((inner) => deps.fulfil.recordConsents(ctx, ext, withdrawals, inner));
        return {
          outcome: {
            result: `consent withdrawn for ${input.notices.join(", ")}: processing on it stopped; what only it held was destroyed (Art. 37(3), (5))`,
            notices: input.notices,
            destroyed: r.destroyed,
          },
        };
      }
    }
  };

  /**
   * Fulfils a recorded filing where Haechi can and closes it, or leaves it in progress with the
   * reason; the key's answer is written with that last change. A filing some other act changed
   * meanwhile (an operator closed it) is answered as it stands.
   */
  const finishFiling = async (ctx: RequestContext, row: SubjectRequestRow, input: FileInput, idem: Idempotency<FileResult> | undefined): Promise<FileResult> => {
    const answer = idem && ((view: RequestView, extra: Omit<FileResult, "request"> = {}) => idem.answer({ request: view, ...extra }));
    if (row.status !== "received") {
      const view = await viewOf(row, deps.clock.now());
      await idem?.complete({ request: view });
      return { request: view };
    }
    let result: Awaited<ReturnType<typeof fulfilNow>>;
    try {
      result = await fulfilNow(ctx, row, input, idem);
    } catch (e) {
      // The vault refused (policy, validation, state): the request stands, in progress, with the
      // reason. An outage (audit, storage, keys) propagates: the request stays received, and a
      // retry (with the same Idempotency-Key) finishes it.
      if (!isHaechiError(e) || e.code === "AUDIT_UNAVAILABLE" || e.code === "INTERNAL" || e.code === "KEY_UNAVAILABLE" || e.code === "STORE_UNAVAILABLE") throw e;
      const at = deps.clock.now();
      const ev = await audited(ctx, at, row, "fulfilment_failed", { code: e.code, message: e.message.slice(0, 300) });
      return { request: await transition(row, { status: "in_progress", updatedAt: at }, ev, answer) };
    }
    const at = deps.clock.now();
    if ("pending" in result) {
      const ev = await audited(ctx, at, row, "fulfilment_failed", { code: "NEEDS_REVIEW", message: result.pending });
      return { request: await transition(row, { status: "in_progress", updatedAt: at }, ev, answer) };
    }
    const done = await audited(ctx, at, row, "completed", { by: "haechi", onTime: at.getTime() <= row.deadline.getTime() });
    const exported = result.exported && { export: { json: result.exported.json, csv: result.exported.csv, sha256: result.exported.sha256 } };
    const view = await transition(row, { status: "completed", outcome: result.outcome, updatedAt: at, closedAt: at }, done, answer && ((v) => answer(v, exported)));
    return { request: view, ...exported };
  };

  return {
    /**
     * A right the person exercised in the portal and Haechi answered there and then (a download:
     * portability; the account's deletion): recorded in the ledger like a filed request, received
     * and then completed, so the privacy office sees every exercise of a right in one place
     * (Arts. 35-2, 36). `act` does the work between the two; if it fails the request stays
     * received, in front of the privacy office, with its 10-day clock running.
     */
    async answeredInPortal<T>(
      ctx: RequestContext,
      subjectId: SubjectId,
      kind: "portability" | "deletion",
      act: () => Promise<T>,
      outcomeOf: (result: T) => Record<string, unknown>,
    ): Promise<T> {
      const now = deps.clock.now();
      const row: SubjectRequestRow = {
        id: `req_${crypto.randomBytes(12).toString("base64url")}`,
        kind,
        subjectId,
        subjectExternal: "(portal)",
        filedBy: ctx.principal,
        channel: "portal",
        receivedAt: now,
        deadline: deadlineOf(now),
        status: "received",
        detail: {},
        extension: null,
        outcome: null,
        updatedAt: now,
        closedAt: null,
      };
      await requests.insert(row, await audited(ctx, now, row, "received", { kind, channel: "portal", deadline: row.deadline.toISOString() }));
      const result = await act();
      const at = deps.clock.now();
      const done = await audited(ctx, at, row, "completed", { by: "haechi", onTime: at.getTime() <= row.deadline.getTime() });
      await transition(row, { status: "completed", outcome: outcomeOf(result), updatedAt: at, closedAt: at }, done);
      return result;
    },

    /**
     * POST /v1/subjects/{id}/requests: a service files a request on the person's behalf (the
     * channel the person uses, Decree Art. 41(2)). Only a service principal whose purposes collect
     * data may file, and only for a person its id context knows; anything else is denied and
     * audited. The request is recorded first (its clock starts at receipt), then fulfilled at once
     * where Haechi can; a fulfilment refused by the vault's own checks leaves it in progress, with
     * the reason in its history, for the privacy office.
     */
    async file(ctx: RequestContext, externalId: string, input: FileInput, idem?: Idempotency<FileResult>): Promise<FileResult> {
      const catalog = deps.catalog.current();
      const now = deps.clock.now();
      const principal = catalog.principals[ctx.principal];
      const collects = principal?.role === "service" && principal.purposes.some((p) => catalog.purposes[p]?.collects);
      if (!collects) await deny(ctx, "request.file", "ROLE_NOT_PERMITTED", { kind: input.kind });
      const receivedAt = input.receivedAt === undefined ? now : new Date(input.receivedAt);
      if (Number.isNaN(receivedAt.getTime())) throw new HaechiError("VALIDATION_FAILED", "receivedAt must be an ISO 8601 date-time");
      if (receivedAt.getTime() > now.getTime()) throw new HaechiError("VALIDATION_FAILED", "receivedAt cannot be in the future");
      if (input.correction && input.kind !== "correction") throw new HaechiError("VALIDATION_FAILED", "correction values go with a correction request only");
      if (input.notices && input.kind !== "withdrawal" && input.kind !== "suspension") throw new HaechiError("VALIDATION_FAILED", "notices go with a withdrawal or suspension request only");
      for (const n of input.notices ?? []) if (!catalog.notices[n]) throw new HaechiError("UNKNOWN_NOTICE", `notice "${n}" is not in the catalog`);

      // A retry of a filing recorded under this key whose fulfilment did not answer: finish it (the
      // person may be erased by now, so the id is not resolved again).
      const begun = (idem?.pending as { request?: string } | undefined)?.request;
      if (begun !== undefined) {
        const recorded = await requests.get(begun);
        if (recorded === undefined) throw new HaechiError("INTERNAL", `request ${begun} claimed by this Idempotency-Key is missing`);
        return finishFiling(ctx, recorded, input, idem);
      }

      const context = principal!.id_context ?? ctx.principal;
      const id = deps.pseudonyms.resolve(context, externalId);
      const subject = id ? await deps.data.getSubject(id) : undefined;
      if (!id || !subject || subject.status === "erased") return deny(ctx, "request.file", "NOT_FOUND", { kind: input.kind });

      const detail: Record<string, unknown> = {
        ...(input.correction ? { purpose: input.correction.purpose, fields: Object.keys(input.correction.fields).sort() } : {}),
        ...(input.notices ? { notices: input.notices } : {}),
        ...(input.note ? { note: input.note } : {}),
      };
      const row: SubjectRequestRow = {
        id: `req_${crypto.randomBytes(12).toString("base64url")}`,
        kind: input.kind,
        subjectId: id,
        subjectExternal: externalId,
        filedBy: ctx.principal,
        channel: input.channel,
        receivedAt,
        deadline: deadlineOf(receivedAt),
        status: "received",
        detail,
        extension: null,
        outcome: null,
        updatedAt: now,
        closedAt: null,
      };
      const filed = await audited(ctx, now, row, "received", { kind: row.kind, channel: row.channel, deadline: row.deadline.toISOString() });
      if (input.fulfil === false) {
        const answerOf = (ev: RequestEvent): FileResult => ({ request: viewWith(row, [ev], now) });
        return answerOf(await requests.insert(row, filed, idem && ((ev) => idem.answer(answerOf(ev)))));
      }
      // Recorded with a claim on the key: a retry after a lost answer finishes this request
      // instead of filing a second one.
      await requests.insert(row, filed, idem && (() => idem.claim({ request: row.id })));
      return finishFiling(ctx, row, input, idem);
    },

    /**
     * The export of an access or portability request answered under an idempotency key, produced
     * again for a retry of the filing: the export is handed over, never stored (ADR 0014), so the
     * key keeps the answer without it. With the data unchanged it is the same document, bytes and
     * digests as the first (the digests the ledger keeps); producing it is audited like the first.
     */
    async exportAgain(ctx: RequestContext, requestId: string): Promise<FileResult["export"]> {
      const row = await requests.get(requestId);
      if (row === undefined || row.filedBy !== ctx.principal) return deny(ctx, "request.file", "NOT_FOUND", { request: requestId });
      const generatedAt = row.outcome?.generatedAt;
      if ((row.kind !== "access" && row.kind !== "portability") || row.status !== "completed" || typeof generatedAt !== "string") return undefined;
      const exported = await deps.fulfil.accessExport(ctx, row.subjectExternal, { request: row.id, kind: row.kind, at: new Date(generatedAt) });
      return { json: exported.json, csv: exported.csv, sha256: exported.sha256 };
    },

    /** GET /v1/requests: the privacy office's list, earliest deadline first, with the time left. */
    async list(ctx: RequestContext, filter: ListFilter = {}): Promise<{ requests: RequestView[]; counts: { open: number; overdue: number } }> {
      await requireOperator(ctx, "request.list");
      const now = deps.clock.now();
      const limit = Math.min(filter.limit ?? 200, 1000);
      const statuses = filter.overdue ? (filter.status ?? OPEN_STATUSES).filter(isOpen) : filter.status;
      const rows = await requests.list({
        ...(statuses ? { statuses } : {}),
        ...(filter.kind ? { kind: filter.kind } : {}),
        ...(filter.overdue ? { dueBefore: now } : {}),
        limit,
      });
      const counts = await requests.openCounts(now);
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "request.list",
        effect: "allow",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        count: rows.length,
      });
      return {
        requests: await Promise.all(rows.map((r) => viewOf(r, now))),
        counts,
      };
    },

    /** GET /v1/requests/{id}: operators, or the service that filed it. */
    async get(ctx: RequestContext, id: string): Promise<RequestView> {
      const row = await requests.get(id);
      const catalog = deps.catalog.current();
      const allowed = roleOf(catalog, ctx.principal) === "operator" || row?.filedBy === ctx.principal;
      if (!row || !allowed) {
        // A foreign request is as unknown as a missing one (no enumeration of ids).
        return deny(ctx, "request.read", "NOT_FOUND", { request: id });
      }
      await deps.audit.record({
        ...entryBase(ctx, deps.clock.now()),
        action: "request.read",
        effect: "allow",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        meta: { request: id },
      });
      return viewOf(row, deps.clock.now());
    },

    /** POST /v1/requests/{id}/complete: the privacy office records what was done (handled outside Haechi). */
    async complete(ctx: RequestContext, id: string, input: { result: string }, idem?: Idempotency<RequestView>): Promise<RequestView> {
      await requireOperator(ctx, "request.complete", { request: id });
      const row = await load(ctx, id, "request.complete");
      requireOpen(row);
      const now = deps.clock.now();
      const ev = await audited(ctx, now, row, "completed", { by: "operator", onTime: now.getTime() <= row.deadline.getTime() });
      return transition(row, { status: "completed", outcome: { result: input.result }, updatedAt: now, closedAt: now }, ev, idem && ((v) => idem.answer(v)));
    },

    /**
     * POST /v1/requests/{id}/extend: a postponement (access and portability only), with the
     * reason, and when and how the person was told (PIPA Art. 35(3); Decree Arts. 42(2), 42-6(1)).
     */
    async extend(
      ctx: RequestContext,
      id: string,
      input: { until: string; reason: string; notice: { at?: string; channel: NoticeChannel } },
      idem?: Idempotency<RequestView>,
    ): Promise<RequestView> {
      await requireOperator(ctx, "request.extend", { request: id });
      const row = await load(ctx, id, "request.extend");
      const now = deps.clock.now();
      const until = new Date(input.until);
      const noticeAt = input.notice.at === undefined ? now : new Date(input.notice.at);
      if (Number.isNaN(until.getTime()) || Number.isNaN(noticeAt.getTime())) throw new HaechiError("VALIDATION_FAILED", "until and notice.at must be ISO 8601 date-times");
      const check = checkExtension(row, { until, reason: input.reason, notice: { at: noticeAt, channel: input.notice.channel } }, now);
      if (!check.ok) {
        throw new HaechiError(check.code === "NOT_OPEN" || check.code === "NOT_EXTENDABLE" || check.code === "NOTICE_LATE" ? "CONFLICT" : "VALIDATION_FAILED", check.message, {
          reasons: [{ code: check.code, message: check.message }],
          limit: extensionLimitOf(row.receivedAt).toISOString(),
        });
      }
      const ev = await audited(ctx, now, row, "extended", { from: row.deadline.toISOString(), until: until.toISOString(), noticeAt: noticeAt.toISOString(), noticeChannel: input.notice.channel });
      return transition(
        row,
        { status: "extended", deadline: until, extension: { until, reason: input.reason, noticeAt, noticeChannel: input.notice.channel }, updatedAt: now },
        ev,
        idem && ((v) => idem.answer(v)),
      );
    },

    /**
     * POST /v1/requests/{id}/refuse: a refusal on a lawful ground for the kind, with the reason
     * and how to object (Decree Arts. 42(2), 43(3), 44(2); Art. 37(4)).
     */
    async refuse(ctx: RequestContext, id: string, input: { ground: string; reason: string; objection: string }, idem?: Idempotency<RequestView>): Promise<RequestView> {
      await requireOperator(ctx, "request.refuse", { request: id });
      const row = await load(ctx, id, "request.refuse");
      requireOpen(row);
      const article = refusalGround(row.kind, input.ground);
      if (!article) {
        throw new HaechiError("VALIDATION_FAILED", `"${input.ground}" is not a ground to refuse a ${row.kind} request; the grounds are ${Object.keys(REFUSAL_GROUNDS[row.kind]).join(", ")}`, {
          grounds: REFUSAL_GROUNDS[row.kind],
        });
      }
      const now = deps.clock.now();
      const ev = await audited(ctx, now, row, "refused", { ground: input.ground, onTime: now.getTime() <= row.deadline.getTime() });
      return transition(
        row,
        { status: "refused", outcome: { ground: input.ground, article, reason: input.reason, objection: input.objection, notice: KIND_RULES[row.kind].refusal }, updatedAt: now, closedAt: now },
        ev,
        idem && ((v) => idem.answer(v)),
      );
    },

    /** POST /v1/requests/{id}/withdraw: the person withdrew the request (the filing service, or an operator, records it). */
    async withdraw(ctx: RequestContext, id: string, input: { note?: string } = {}, idem?: Idempotency<RequestView>): Promise<RequestView> {
      const row = await requests.get(id);
      const isOperator = roleOf(deps.catalog.current(), ctx.principal) === "operator";
      if (!row || !(isOperator || row.filedBy === ctx.principal)) return deny(ctx, "request.withdraw", "NOT_FOUND", { request: id });
      requireOpen(row);
      const now = deps.clock.now();
      const ev = await audited(ctx, now, row, "withdrawn", { note: input.note ?? null });
      return transition(
        row,
        { status: "withdrawn", outcome: { result: "withdrawn by the person", ...(input.note ? { note: input.note } : {}) }, updatedAt: now, closedAt: now },
        ev,
        idem && ((v) => idem.answer(v)),
      );
    },
  };
};

export type RequestService = ReturnType<typeof requestService>;
