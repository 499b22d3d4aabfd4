/**
 * The general outbox (ADR 0011): messages to people are queued durably (idempotent per kind,
 * subject and period), then delivered by workers that lease them, through the configured
 * transport (SMTP, the webhook gateway, the operator's pickup box), with retries and backoff, and
 * the transport's proof kept with each message.
 *
 * Audit, before each effect (ADR 0003): one entry per message queued (`outbox.enqueue`, the
 * person's reference), one per hand-over (`outbox.send`: the address field read from the vault,
 * when the transport needs it) and one per outcome (`outbox.result`: sent with the proof's kind,
 * failed or given up with a closed code). If an entry cannot be written, nothing is queued or
 * sent; a message whose outcome could not be recorded is sent again when its lease runs out
 * (at least once; the message id is the receiver's idempotency key). Addresses never reach a log
 * or the outbox table.
 */
import crypto from "node:crypto";
import os from "node:os";
import type { AuditLog } from "../audit/audit-log.js";
import type { AuditInput } from "../audit/audit-types.js";
import { HaechiError } from "../core/errors.js";
import type { SubjectId } from "../core/ids.js";
import type { AttemptOutcome, MessageChannel, MessageKind, MessageStatus, OutboxCountRow, OutboxMessage } from "../core/outbox/outbox-types.js";
import type { DataStore, KeyStore, MessageTransport, OutboxStore } from "../core/ports.js";
import { openField } from "../crypto/envelope.js";
import { randomBytes } from "../crypto/random.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type OutboxServiceDeps = Omit<BaseDeps, "audit"> & {
  audit: Pick<AuditLog, "record" | "recordMany">;
  outbox: OutboxStore;
  data: Pick<DataStore, "getSubject" | "getFields" | "getDormantFields">;
  keys: Pick<KeyStore, "getMany">;
  subjectKeys: Pick<SubjectKeys, "get">;
  transport: MessageTransport;
  /** Attempts before a message is given up (default 8). */
  maxAttempts?: number;
  /** How long a claim holds a message (default 5 minutes): longer than a send can take. */
  leaseMs?: number;
  /** First retry delay (default 1 minute), doubling up to `maxBackoffMs` (default 6 hours). */
  backoffMs?: number;
  maxBackoffMs?: number;
};

/** A message to queue: what it is, for whom, through which contact, and its text. */
export interface EnqueueItem {
  kind: MessageKind;
  subjectId: SubjectId;
  period: string;
  channel: MessageChannel;
  addressField: string;
  title: string;
  body: string;
}

export interface DeliverResult {
  claimed: number;
  sent: number;
  failed: number;
  givenUp: number;
  transport: string;
}

export interface OutboxMessageView {
  id: string;
  kind: MessageKind;
  period: string;
  channel: MessageChannel;
  addressField: string | null;
  /** Only with `addresses` (the operator's pickup), read from the vault now and audited. */
  to?: string | null;
  title: string;
  body?: string;
  bodySha256: string;
  status: MessageStatus;
  attempts: number;
  nextAt: string;
  transport: string | null;
  proof: string | null;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

/** The article each kind of message answers to (the audit entries' reason). */
const LEGAL_REASON: Record<MessageKind, string> = {
  annual_notice: "PIPA_ART_20_2",
  dormancy_notice: "DORMANCY_POLICY_NOTICE",
};

export const sha256Hex = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
/** What the digest covers: the title and the body, as handed over. */
export const bodyDigest = (title: string, body: string) => sha256Hex(`${title}\n${body}`);

export const outboxService = (deps: OutboxServiceDeps) => {
  const maxAttempts = deps.maxAttempts ?? 8;
  const leaseMs = deps.leaseMs ?? 5 * 60_000;
  const backoffMs = deps.backoffMs ?? 60_000;
  const maxBackoffMs = deps.maxBackoffMs ?? 6 * 3600_000;
  /** This process's worker name: leases are fenced by it. */
  const owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

  /** Operators only, when the caller is a catalog principal (jobs act under their own names). */
  const authorize = async (ctx: RequestContext, action: string) => {
    const p = deps.catalog.current().principals[ctx.principal];
    if (p === undefined || p.role === "operator") return;
    await deps.audit.record({ ...entryBase(ctx, deps.clock.now()), action, effect: "deny", purpose: null, subjectRef: null, fields: [], reasons: ["ROLE_NOT_PERMITTED"] });
    throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" is not an operator: the outbox is driven by operators`);
  };

  const refsOf = async (ids: readonly SubjectId[]): Promise<Map<SubjectId, string>> => {
    const rows = await deps.keys.getMany([...new Set(ids)]);
    return new Map(rows.map((r) => [r.subjectId, r.auditRef as string]));
  };

  /** A person's address in a contact field: live or separated, null if erased since or gone. */
  const addressOf = async (subjectId: SubjectId, field: string): Promise<string | null> => {
    const subject = await deps.data.getSubject(subjectId);
    if (subject === undefined || subject.status === "erased") return null;
    const stored = subject.status === "dormant" ? await deps.data.getDormantFields(subjectId, [field]) : await deps.data.getFields(subjectId, [field]);
    const key = stored.length > 0 ? await deps.subjectKeys.get(subjectId) : undefined;
    if (key === undefined || stored[0] === undefined) return null;
    const v = openField(key.dek, subjectId, field, stored[0].ciphertext);
    return typeof v === "string" ? v : String(v);
  };

  const backoff = (attempts: number) => Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, attempts - 1));

  const view = (m: OutboxMessage, withBody: boolean): OutboxMessageView => ({
    id: m.id,
    kind: m.kind,
    period: m.period,
    channel: m.channel,
    addressField: m.addressField,
    title: m.title,
    ...(withBody ? { body: m.body } : {}),
    bodySha256: m.bodySha256,
    status: m.status,
    attempts: m.attempts,
    nextAt: m.nextAt.toISOString(),
    transport: m.transport,
    proof: m.proof,
    lastError: m.lastError,
    createdAt: m.createdAt.toISOString(),
    sentAt: m.sentAt?.toISOString() ?? null,
  });

  const service = {
    /** This worker's lease name. */
    owner,

    /**
     * Queues messages, one audit entry each first (fail closed). Returns how many were new; the
     * others were queued before (same kind, person and period).
     */
    async enqueue(ctx: RequestContext, items: readonly EnqueueItem[]): Promise<{ queued: number; already: number; ids: string[] }> {
      if (items.length === 0) return { queued: 0, already: 0, ids: [] };
      const now = deps.clock.now();
      const refs = await refsOf(items.map((i) => i.subjectId));
      const messages = items.map((i) => ({
        id: `om_${randomBytes(12).toString("base64url")}`,
        kind: i.kind,
        subjectId: i.subjectId,
        period: i.period,
        channel: i.channel,
        addressField: i.addressField,
        title: i.title,
        body: i.body,
        bodySha256: bodyDigest(i.title, i.body),
        createdAt: now,
      }));
      await deps.audit.recordMany(
        messages.map(
          (m): AuditInput => ({
            ...entryBase(ctx, now),
            action: "outbox.enqueue",
            effect: "info",
            purpose: null,
            subjectRef: refs.get(m.subjectId) ?? null,
            fields: [m.addressField],
            reasons: [LEGAL_REASON[m.kind]],
            meta: { kind: m.kind, period: m.period, channel: m.channel, sha256: m.bodySha256 },
          }),
        ),
      );
      const ids = await deps.outbox.enqueue(messages);
      return { queued: ids.length, already: messages.length - ids.length, ids };
    },

    /**
     * Delivers due messages: claims a batch under a lease, reads the addresses the transport
     * needs (audited), hands each over, records each outcome (audited). Repeats until nothing is
     * due or `limit` messages were claimed.
     */
    async deliver(ctx: RequestContext, opts: { kind?: MessageKind; limit?: number; batch?: number; onProgress?: (r: DeliverResult) => void } = {}): Promise<DeliverResult> {
      await authorize(ctx, "outbox.deliver");
      const res: DeliverResult = { claimed: 0, sent: 0, failed: 0, givenUp: 0, transport: deps.transport.name };
      const limit = opts.limit ?? Number.POSITIVE_INFINITY;
      const batch = opts.batch ?? 100;
      while (res.claimed < limit) {
        const now = deps.clock.now();
        const claimed = await deps.outbox.claim(owner, now, new Date(now.getTime() + leaseMs), Math.min(batch, limit - res.claimed), opts.kind ? { kind: opts.kind } : undefined);
        if (claimed.length === 0) break;
        res.claimed += claimed.length;
        const refs = await refsOf(claimed.flatMap((m) => (m.subjectId === null ? [] : [m.subjectId])));
        const annual = claimed.filter((m) => m.kind === "annual_notice" && m.subjectId !== null).map((m) => m.subjectId!);
        const optedOut = await deps.outbox.optedOut(annual, "annual_notice");
        const outcomes = new Map<string, AttemptOutcome>();
        const handOver: { m: OutboxMessage; to: string | null }[] = [];
        for (const m of claimed) {
          if (m.attempts > maxAttempts) outcomes.set(m.id, { status: "given_up", error: "ATTEMPTS_EXHAUSTED", transport: null });
          else if (m.kind === "annual_notice" && m.subjectId !== null && optedOut.has(m.subjectId)) outcomes.set(m.id, { status: "given_up", error: "OPTED_OUT", transport: null });
          else if (deps.transport.channels !== null && !deps.transport.channels.includes(m.channel)) outcomes.set(m.id, { status: "given_up", error: "NO_TRANSPORT", transport: deps.transport.name });
          else if (deps.transport.needsAddress && m.subjectId !== null && m.addressField !== null) {
            const to = await addressOf(m.subjectId, m.addressField);
            if (to === null) outcomes.set(m.id, { status: "given_up", error: "NO_ADDRESS", transport: null });
            else handOver.push({ m, to });
          } else handOver.push({ m, to: null });
        }
        // The hand-over (and the address read it needs) is audited before anything leaves.
        const at = deps.clock.now();
        await deps.audit.recordMany(
          handOver.map(
            ({ m, to }): AuditInput => ({
              ...entryBase(ctx, at),
              action: "outbox.send",
              effect: "allow",
              purpose: null,
              subjectRef: m.subjectId === null ? null : (refs.get(m.subjectId) ?? null),
              fields: to !== null && m.addressField !== null ? [m.addressField] : [],
              reasons: [LEGAL_REASON[m.kind]],
              meta: { message: m.id, kind: m.kind, period: m.period, channel: m.channel, transport: deps.transport.name, attempt: m.attempts },
            }),
          ),
        );
        for (const { m, to } of handOver) {
          const r = await deps.transport.send({ id: m.id, kind: m.kind, channel: m.channel, to, title: m.title, body: m.body });
          const name = r.transport ?? deps.transport.name;
          outcomes.set(
            m.id,
            r.ok
              ? { status: "sent", proof: r.proof, transport: name }
              : r.retryable && m.attempts < maxAttempts
                ? { status: "failed", error: r.error, transport: name, nextAt: new Date(deps.clock.now().getTime() + backoff(m.attempts)) }
                : { status: "given_up", error: r.error, transport: name },
          );
        }
        const done = deps.clock.now();
        await deps.audit.recordMany(
          claimed.map((m): AuditInput => {
            const o = outcomes.get(m.id)!;
            return {
              ...entryBase(ctx, done),
              action: "outbox.result",
              effect: o.status === "sent" ? "allow" : o.status === "failed" ? "error" : "info",
              purpose: null,
              subjectRef: m.subjectId === null ? null : (refs.get(m.subjectId) ?? null),
              fields: [],
              reasons: o.status === "sent" ? [LEGAL_REASON[m.kind]] : [o.error],
              meta: {
                message: m.id,
                kind: m.kind,
                period: m.period,
                status: o.status,
                transport: o.transport,
                attempt: m.attempts,
                // The proof's digest: the proof itself stays with the message.
                proof: o.status === "sent" ? sha256Hex(o.proof) : null,
              },
            };
          }),
        );
        for (const m of claimed) {
          const o = outcomes.get(m.id)!;
          if (!(await deps.outbox.complete(m.id, owner, o, done))) continue; // the lease ran out: another worker has it
          if (o.status === "sent") res.sent++;
          else if (o.status === "failed") res.failed++;
          else res.givenUp++;
        }
        opts.onProgress?.(res);
      }
      return res;
    },

    /** Messages in id order; with `addresses`, each address read from the vault now (audited). */
    async list(
      ctx: RequestContext,
      filter: { kind?: MessageKind; period?: string; status?: MessageStatus; after?: string; limit?: number },
      opts: { addresses?: boolean; bodies?: boolean } = {},
    ): Promise<{ messages: OutboxMessageView[]; next: string | null }> {
      await authorize(ctx, "outbox.list");
      const limit = filter.limit ?? 100;
      const rows = await deps.outbox.list({
        limit,
        ...(filter.kind ? { kind: filter.kind } : {}),
        ...(filter.period ? { period: filter.period } : {}),
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.after ? { afterId: filter.after } : {}),
      });
      const messages = rows.map((m) => view(m, opts.bodies === true || opts.addresses === true));
      if (opts.addresses) {
        const refs = await refsOf(rows.flatMap((m) => (m.subjectId === null ? [] : [m.subjectId])));
        const reads: AuditInput[] = [];
        const now = deps.clock.now();
        for (const [i, m] of rows.entries()) {
          if (m.subjectId === null || m.addressField === null) continue;
          reads.push({
            ...entryBase(ctx, now),
            action: "outbox.address.fetch",
            effect: "allow",
            purpose: null,
            subjectRef: refs.get(m.subjectId) ?? null,
            fields: [m.addressField],
            reasons: [LEGAL_REASON[m.kind]],
            meta: { message: m.id, kind: m.kind },
          });
          messages[i]!.to = null;
        }
        // Audited before any address is read (fail closed).
        await deps.audit.recordMany(reads);
        for (const [i, m] of rows.entries()) if (m.subjectId !== null && m.addressField !== null) messages[i]!.to = await addressOf(m.subjectId, m.addressField);
      }
      return { messages, next: rows.length === limit ? rows[rows.length - 1]!.id : null };
    },

    /** Messages per kind, period and status. */
    async status(ctx: RequestContext, filter: { kind?: MessageKind; period?: string } = {}): Promise<OutboxCountRow[]> {
      await authorize(ctx, "outbox.status");
      return deps.outbox.counts(filter);
    },

    /** One message (its text and proof, never an address). */
    async get(ctx: RequestContext, id: string): Promise<OutboxMessageView> {
      await authorize(ctx, "outbox.get");
      const m = await deps.outbox.get(id);
      if (m === undefined) throw new HaechiError("NOT_FOUND", `outbox message ${id} not found`);
      return view(m, true);
    },
  };
  return service;
};

export type OutboxService = ReturnType<typeof outboxService>;
