/**
 * Notices to people through the outbox (ADR 0011): the annual usage-and-provision notice (PIPA
 * Art. 20-2; Decree Art. 15-3), the dormancy policy's advance notices, and a person's opt-out of
 * the annual notice. Deciding and rendering are pure (core/notices); this module reads the facts,
 * queues the messages (audited per message by the outbox service) and reports what it did.
 */
import { idContextOf } from "../core/catalog/catalog-fns.js";
import type { NotificationChannel } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { SubjectId } from "../core/ids.js";
import { controllerDuty, eligibility, INELIGIBLE_REASONS, renderAnnualNotice, yearPeriod, type ControllerDuty, type IneligibleReason } from "../core/notices/annual-notice-fns.js";
import { renderDormancyNotice } from "../core/notices/dormancy-notice-fns.js";
import type { DataStore, OutboxStore, ProvisionStore } from "../core/ports.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import type { EnqueueItem, OutboxService } from "./outbox-service.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type NoticeServiceDeps = BaseDeps & {
  data: Pick<DataStore, "getSubject" | "dormant">;
  provisions: Pick<ProvisionStore, "scanSubjects" | "ledgerBySubject">;
  preferences: Pick<OutboxStore, "optedOut" | "setPreference" | "getPreference">;
  outbox: Pick<OutboxService, "enqueue">;
  pseudonyms: Pick<Pseudonyms, "resolve">;
  subjectKeys: Pick<SubjectKeys, "get">;
  /** The canary (decoy) subjects (ADR 0009): not people, never sent a notice. Absent: none. */
  canaries?: () => Promise<ReadonlySet<SubjectId>>;
  /** Subjects per page (default 1,000). */
  pageSize?: number;
};

export interface AnnualRunProgress {
  scanned: number;
  eligible: number;
  queued: number;
}

export interface AnnualRunResult extends AnnualRunProgress {
  year: number;
  period: string;
  dryRun: boolean;
  duty: ControllerDuty;
  /** Queued in an earlier run of the same year (idempotent). */
  already: number;
  /** People left out, by reason (PIPA Art. 20-2; Decree 15-3). */
  skipped: Record<IneligibleReason, number>;
  /** Canary (decoy) subjects passed over: not people (ADR 0009). */
  decoys: number;
  byChannel: Partial<Record<NotificationChannel, number>>;
}

/** One dormancy action falling due within `notice_before` (from the sweep). */
/** A person's annual-notice preference as recorded (the service's id of the person). */
export interface PreferenceResult {
  id: string;
  optedOut: boolean;
  at: string;
}

export interface DormancyDue {
  subjectId: SubjectId;
  /** The fields the person holds (live, or separated). */
  fields: readonly string[];
  action: "separate" | "destroy";
  stage: "inactive" | "separated";
  actionAt: Date;
}

const FAR_FUTURE = new Date("9999-12-31T00:00:00Z");

export const noticeService = (deps: NoticeServiceDeps) => {
  const pageSize = deps.pageSize ?? 1000;

  const operatorOnly = async (ctx: RequestContext, action: string) => {
    const p = deps.catalog.current().principals[ctx.principal];
    if (p === undefined || p.role === "operator") return;
    await deps.audit.record({ ...entryBase(ctx, deps.clock.now()), action, effect: "deny", purpose: null, subjectRef: null, fields: [], reasons: ["ROLE_NOT_PERMITTED"] });
    throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" is not an operator: notices are sent by operators`);
  };

  return {
    /**
     * `haechi notices annual --year YYYY [--dry-run]`: queues the annual notice for every eligible
     * person (Art. 20-2; Decree 15-3), idempotently per person and year; a dry run only counts.
     */
    async annual(ctx: RequestContext, input: { year: number; dryRun?: boolean; onProgress?: (p: AnnualRunProgress) => void }): Promise<AnnualRunResult> {
      await operatorOnly(ctx, "notices.annual");
      const catalog = deps.catalog.current();
      const a = catalog.notifications?.annual_notice;
      if (a === undefined) throw new HaechiError("CONFLICT", "the catalog has no notifications.annual_notice: declare the contacts and the Decree 15-3 averages first (docs/operations.md)");
      const now = deps.clock.now();
      const thisYear = Number(new Date(now.getTime() + 9 * 3600_000).toISOString().slice(0, 4));
      if (!Number.isInteger(input.year) || input.year < 2000 || input.year > thisYear) {
        throw new HaechiError("VALIDATION_FAILED", `--year must be a year from 2000 to ${thisYear} (the notice reports a year that has begun)`);
      }
      const duty = controllerDuty(a);
      if (!duty.required && !duty.voluntary) {
        throw new HaechiError("CONFLICT", `the annual notice is not required: ${duty.reason}; set notifications.annual_notice.voluntary: true to send it anyway`);
      }
      const { period, from, to } = yearPeriod(input.year);
      const dryRun = input.dryRun === true;
      // The run itself, before anything is queued (fail closed).
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "notices.annual",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: ["PIPA_ART_20_2"],
        meta: { year: input.year, dryRun, duty: duty.required ? "required" : "voluntary" },
      });
      const res: AnnualRunResult = {
        year: input.year,
        period,
        dryRun,
        duty,
        scanned: 0,
        eligible: 0,
        queued: 0,
        already: 0,
        skipped: Object.fromEntries(INELIGIBLE_REASONS.map((r) => [r, 0])) as Record<IneligibleReason, number>,
        decoys: 0,
        byChannel: {},
      };
      const decoys = (await deps.canaries?.()) ?? new Set<SubjectId>();
      for (let after: SubjectId | null = null; ; ) {
        // Active people in id order with their consents, and (same cursor, same order) the names of their fields.
        const page = await deps.provisions.scanSubjects(after, pageSize, []);
        if (page.length === 0) break;
        const held = new Map((await deps.data.dormant(FAR_FUTURE, after, pageSize)).map((s) => [s.id, s.fields]));
        after = page[page.length - 1]!.id;
        const optedOut = await deps.preferences.optedOut(page.map((p) => p.id), "annual_notice");
        const items: EnqueueItem[] = [];
        for (const row of page) {
          if (decoys.has(row.id)) {
            res.decoys++;
            continue;
          }
          res.scanned++;
          const fields = held.get(row.id) ?? [];
          const provisions = fields.length > 0 ? await deps.provisions.ledgerBySubject(row.id) : [];
          const e = eligibility(
            catalog,
            { status: "active", fields, consents: row.consents, provisions: provisions.map((l) => ({ recipient: l.recipient, fields: l.fields, basis: l.basis, at: l.at })), optedOut: optedOut.has(row.id) },
            { from, to },
          );
          if (!e.eligible) {
            res.skipped[e.reason]++;
            continue;
          }
          res.eligible++;
          res.byChannel[e.contact.channel] = (res.byChannel[e.contact.channel] ?? 0) + 1;
          const text = renderAnnualNotice(catalog, input.year, e.contact.channel, e.content);
          items.push({ kind: "annual_notice", subjectId: row.id, period, channel: e.contact.channel, addressField: e.contact.field, title: text.title, body: text.body });
        }
        if (!dryRun && items.length > 0) {
          const r = await deps.outbox.enqueue(ctx, items);
          res.queued += r.queued;
          res.already += r.already;
        }
        input.onProgress?.({ scanned: res.scanned, eligible: res.eligible, queued: res.queued });
        if (page.length < pageSize) break;
      }
      await deps.audit.record({
        ...entryBase(ctx, deps.clock.now()),
        action: "notices.annual.done",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: ["PIPA_ART_20_2"],
        count: res.queued,
        meta: { year: input.year, dryRun, scanned: res.scanned, eligible: res.eligible, already: res.already, ...Object.fromEntries(Object.entries(res.skipped).map(([k, v]) => [`skipped_${k}`, v])) },
      });
      return res;
    },

    /**
     * The dormancy sweep's advance notices (PIPC guidance 2023; catalog `dormancy.notice_before`):
     * one message per person and action date, to the first contact they hold. Returns how many
     * were queued, were queued before, and could not be (no contact field).
     */
    async dormancyDue(ctx: RequestContext, due: readonly DormancyDue[]): Promise<{ queued: number; already: number; withoutContact: number }> {
      const catalog = deps.catalog.current();
      const contacts = catalog.notifications?.contacts ?? [];
      const items: EnqueueItem[] = [];
      let withoutContact = 0;
      for (const d of due) {
        const contact = contacts.find((c) => c.channel !== "app_alert" && d.fields.includes(c.field));
        if (contact === undefined) {
          withoutContact++;
          continue;
        }
        const text = renderDormancyNotice(catalog, d);
        items.push({
          kind: "dormancy_notice",
          subjectId: d.subjectId,
          period: `${d.action}:${d.actionAt.toISOString().slice(0, 10)}`,
          channel: contact.channel,
          addressField: contact.field,
          title: text.title,
          body: text.body,
        });
      }
      const r = await deps.outbox.enqueue(ctx, items);
      return { queued: r.queued, already: r.already, withoutContact };
    },

    /**
     * A person's choice not to receive the annual notice (Art. 20-2; Decree 15-3: those who refused
     * it are left out), recorded through the service they use, as for a consent: audited first.
     */
    async setAnnualOptOut(ctx: RequestContext, externalId: string, optedOut: boolean, idem?: Idempotency<PreferenceResult>): Promise<PreferenceResult> {
      const catalog = deps.catalog.current();
      const principal = catalog.principals[ctx.principal];
      const now = deps.clock.now();
      const id = principal?.role === "service" ? deps.pseudonyms.resolve(idContextOf(catalog, ctx.principal), externalId) : undefined;
      const subject = id === undefined ? undefined : await deps.data.getSubject(id);
      const key = id === undefined ? undefined : await deps.subjectKeys.get(id);
      if (id === undefined || subject === undefined || subject.status === "erased" || key === undefined) {
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "notice.preference",
          effect: "deny",
          purpose: null,
          subjectRef: null,
          fields: [],
          reasons: [principal?.role === "service" ? "NOT_FOUND" : "ROLE_NOT_PERMITTED"],
        });
        if (principal?.role !== "service")
          throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" may not record people's preferences`, {
            reasons: [{ code: "ROLE_NOT_PERMITTED", message: "notice preferences are recorded by the service the person uses" }],
          });
        throw new HaechiError("NOT_FOUND", "subject not found");
      }
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "notice.preference",
        effect: "allow",
        purpose: null,
        subjectRef: key.auditRef,
        fields: [],
        reasons: ["PIPA_ART_20_2"],
        meta: { kind: "annual_notice", optedOut },
      });
      const result: PreferenceResult = { id: externalId, optedOut, at: now.toISOString() };
      await deps.preferences.setPreference(
        { subjectId: id, kind: "annual_notice", optedOut, at: now, principal: ctx.principal, requestId: ctx.requestId },
        idem && (() => idem.answer(result)),
      );
      return result;
    },
  };
};

export type NoticeService = ReturnType<typeof noticeService>;
