/** /v1/incidents: breach response (PIPA Art. 34; ADR 0010), for operator principals. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { DUTY_CODES } from "../../core/incident/duty-fns.js";
import {
  CONTAINMENT_MEASURES,
  EXTERNAL_CHANNELS,
  INCIDENT_ACTS,
  INCIDENT_KINDS,
  NOTICE_AUDIENCES,
  NOTICE_KINDS,
  OUTBOX_STATUSES,
  POSSIBLE_GROUNDS,
} from "../../core/incident/incident-types.js";
import { errorSchema } from "../schemas.js";
import { answerOnce, idempotencyHeaders, withIdempotencyNote } from "../idempotency.js";
import { ctxOf } from "../server.js";

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 422: errorSchema, 429: errorSchema, 503: errorSchema };
const name = z.string().min(1).max(64);
const isoTime = z.iso.datetime({ offset: true }).describe("ISO 8601 date-time, e.g. 2026-11-20T09:00:00Z");
/** Free text a handler writes: never personal data. */
const prose = (max: number) => z.string().min(1).max(max).regex(/\S/, "must not be blank");
const bilingual = z.object({ ko: prose(2000), en: prose(2000) }).strict();

const factsInput = z
  .object({
    circumstances: bilingual.optional().describe("PIPA Art. 34(1)2: how it happened, in Korean and English (no personal data)"),
    occurredFrom: isoTime.optional().describe("Art. 34(1)2: when it began"),
    occurredTo: isoTime.optional(),
    intrusion: z.boolean().optional().describe("unlawful external access to systems or operators' devices (Decree 40(1)3)"),
    possibleGround: z.enum(POSSIBLE_GROUNDS).optional().describe("kind possible: why (Decree 39-2)"),
    advice: bilingual.optional().describe("Art. 34(1)3: what people can do, added to the defaults"),
  })
  .strict();
const scopeInput = z
  .object({
    from: isoTime.optional().describe("start of the window to trace (required unless opened from an alert)"),
    to: isoTime.optional().describe("end of the window (default: now)"),
    principals: z.array(name).max(64).optional().describe("principals whose reads (and, for forgery, alteration or damage, writes) to trace"),
    recipients: z.array(name).max(64).optional().describe("recipients whose provisions to trace (the provision ledger)"),
  })
  .strict();
const sourceInput = z.discriminatedUnion("type", [
  z.object({ type: z.literal("alert"), auditSeq: z.number().int().positive().optional(), alertId: name.optional() }).strict(),
  z.object({ type: z.literal("manual"), note: prose(500).optional() }).strict(),
  z
    .object({
      type: z.literal("external"),
      channel: z.enum(EXTERNAL_CHANNELS).describe("LAW §15 H1: awareness includes press, bug bounties, forums"),
      reporter: prose(200).optional(),
      reference: prose(500).optional(),
    })
    .strict(),
]);

export const openBody = z
  .object({
    kind: z.enum(INCIDENT_KINDS).describe("leak, loss, theft; from 2026-09-11 also forgery, alteration, damage, and possible (Art. 34(2))"),
    summary: prose(500).describe("what happened, in a line (no personal data)"),
    source: sourceInput,
    awareAt: isoTime.optional().describe("when the company became aware (default: now, or the alert's time): starts the 72-hour clock"),
    facts: factsInput.optional(),
    scope: scopeInput.optional().describe("trace at once (with the window and the principals or recipients involved)"),
  })
  .strict();

export const recordBody = z
  .object({
    facts: factsInput.optional(),
    containment: z
      .array(z.object({ measure: z.enum(CONTAINMENT_MEASURES), description: prose(500), at: isoTime.optional() }).strict())
      .max(32)
      .optional(),
    riskReduced: z.object({ reason: prose(1000) }).strict().optional().describe("Decree 40(1) proviso: why the risk is substantially lower (needs retrieval or deletion)"),
    confirm: z.object({ kind: z.enum(INCIDENT_KINDS).exclude(["possible"]) }).strict().optional().describe("a possible breach confirmed as this kind"),
    noBreach: z.boolean().optional().describe("a possible breach found not to be one"),
    close: z.boolean().optional(),
  })
  .strict();

const timeLeftSchema = z.object({ ms: z.number(), text: z.string(), overdue: z.boolean() });
const peopleSchema = z.object({
  total: z.number(),
  linked: z.number(),
  unlinkable: z.number(),
  credit: z.number(),
  decoys: z.number().optional().describe("canary (decoy) subjects touched: evidence of the intrusion, not people to notify"),
});
const summaryShape = {
  id: z.string(),
  kind: z.enum(INCIDENT_KINDS),
  status: z.enum(["open", "closed"]),
  summary: z.string(),
  source: z.record(z.string(), z.unknown()),
  awareAt: z.string(),
  openedAt: z.string(),
  openedBy: z.string(),
  deadline: z.string().describe("awareness + 72 hours"),
  timeLeft: timeLeftSchema,
  law: z.enum(["2023", "2026"]).describe("the wording of Art. 34 in force at awareness"),
  people: peopleSchema.nullable(),
  closedAt: z.string().nullable(),
};
const summaryView = z.object(summaryShape).meta({ id: "IncidentSummary" });
const incidentView = z
  .object({
    ...summaryShape,
    facts: z.object({
      circumstances: z.object({ ko: z.string(), en: z.string() }).nullable(),
      occurredFrom: z.string().nullable(),
      occurredTo: z.string().nullable(),
      intrusion: z.boolean(),
      containment: z.array(z.object({ measure: z.enum(CONTAINMENT_MEASURES), description: z.string(), at: z.string() })),
      riskReduced: z.object({ reason: z.string(), at: z.string() }).nullable(),
      possibleGround: z.enum(POSSIBLE_GROUNDS).nullable(),
      confirmedAt: z.string().nullable(),
      noBreachAt: z.string().nullable(),
      advice: z.object({ ko: z.string(), en: z.string() }).nullable(),
    }),
    scope: z
      .object({
        window: z.object({ from: z.string(), to: z.string() }),
        principals: z.array(z.string()),
        recipients: z.array(z.string()),
        computedAt: z.string(),
        auditHead: z.number(),
        people: peopleSchema,
        fields: z.array(z.object({ field: z.string(), people: z.number(), sensitivity: z.string() })),
        through: z.array(
          z.object({
            kind: z.enum(["principal", "recipient"]),
            name: z.string(),
            entries: z.number(),
            people: z.number(),
            fields: z.array(z.string()),
            first: z.string().nullable(),
            last: z.string().nullable(),
          }),
        ),
        first: z.string().nullable(),
        last: z.string().nullable(),
      })
      .nullable(),
    duties: z.array(
      z.object({
        code: z.enum(DUTY_CODES),
        required: z.boolean(),
        article: z.string(),
        due: z.string().nullable(),
        grounds: z.array(z.string()),
        reason: z.string(),
        status: z.enum(["not_required", "pending", "done"]),
        doneAt: z.string().nullable(),
        onTime: z.boolean().nullable(),
      }),
    ),
    notices: z.object({
      counts: z.array(z.object({ kind: z.enum(NOTICE_KINDS), audience: z.enum(NOTICE_AUDIENCES), channel: z.string(), status: z.enum(OUTBOX_STATUSES), count: z.number() })),
      documents: z.array(
        z.object({
          id: z.string(),
          kind: z.enum(NOTICE_KINDS),
          audience: z.enum(NOTICE_AUDIENCES),
          title: z.string(),
          sha256: z.string(),
          recipients: z.number(),
          createdAt: z.string(),
          postUntil: z.string().nullable(),
        }),
      ),
    }),
    timeline: z.array(
      z.object({ seq: z.number(), at: z.string(), actor: z.string(), act: z.enum(INCIDENT_ACTS), detail: z.record(z.string(), z.unknown()), auditSeq: z.number() }),
    ),
  })
  .meta({ id: "Incident" });
const roundSchema = z.object({
  kind: z.enum(NOTICE_KINDS),
  people: z.number(),
  byChannel: z.record(z.string(), z.number()),
  withoutContact: z.number(),
  posting: z.boolean(),
  sent: z.number(),
  failed: z.number(),
});
const outboxView = z.object({
  messages: z.array(
    z.object({
      id: z.string(),
      noticeId: z.string(),
      kind: z.enum(NOTICE_KINDS),
      audience: z.enum(NOTICE_AUDIENCES),
      channel: z.string(),
      to: z.string().nullable(),
      title: z.string(),
      body: z.string(),
      status: z.enum(OUTBOX_STATUSES),
      queuedAt: z.string(),
      sentAt: z.string().nullable(),
      proof: z.string().nullable(),
      error: z.string().nullable(),
    }),
  ),
  next: z.string().nullable(),
});
const idParam = z.object({ id: z.string().min(1).max(64) });

export const registerIncidentRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.incidents;

  r.post(
    "/v1/incidents",
    {
      schema: {
        summary: "Open an incident (from an alert, by hand, or from an outside report); awareness starts the 72-hour clock",
        description: withIdempotencyNote("With a key, a retry never opens a second incident: it traces the scope the first attempt could not, or gets its answer again."),
        tags: ["incidents"],
        body: openBody,
        headers: idempotencyHeaders,
        response: { 201: incidentView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, { op: "incidents.open", input: { body: req.body }, status: () => 201, run: (idem) => svc.open(ctxOf(req), req.body, idem) }),
  );

  r.get(
    "/v1/incidents",
    {
      schema: {
        summary: "Incidents, newest awareness first, each with its deadline and time left",
        tags: ["incidents"],
        querystring: z.object({ status: z.enum(["open", "closed"]).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(),
        response: { 200: z.object({ incidents: z.array(summaryView) }), ...errors },
      },
    },
    async (req) => ({ incidents: await svc.list(ctxOf(req), req.query) }),
  );

  r.get(
    "/v1/incidents/:id",
    {
      schema: {
        summary: "An incident: deadline, scope, duties (each with its article and whether it was done in time), notices and the timeline",
        tags: ["incidents"],
        params: idParam,
        response: { 200: incidentView, ...errors },
      },
    },
    async (req) => svc.get(ctxOf(req), req.params.id),
  );

  r.post(
    "/v1/incidents/:id/facts",
    {
      schema: {
        summary: "Record facts, containment, the risk-reduced finding (Decree 40(1) proviso), a possible breach confirmed or dismissed, or close",
        description: withIdempotencyNote("Each act is audited and gets its timeline event; they are recorded together or not at all."),
        tags: ["incidents"],
        params: idParam,
        body: recordBody,
        headers: idempotencyHeaders,
        response: { 200: incidentView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "incidents.record",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.record(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/incidents/:id/scope",
    {
      schema: {
        summary: "Compute (again) who was affected, which fields, through which principal or recipient, in which window, from the audit log",
        description: withIdempotencyNote(),
        tags: ["incidents"],
        params: idParam,
        body: scopeInput,
        headers: idempotencyHeaders,
        response: { 200: incidentView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "incidents.scope",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.scope(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/incidents/:id/notices",
    {
      schema: {
        summary: "Prepare and hand over the notices the facts call for (first, follow-up, possible, no-breach; website posting for those without contact details)",
        description: withIdempotencyNote(
          "With a key, a retry never queues a second round: it hands over what the first left queued and answers for that round (delivery is at least once: a message handed over whose result was lost is handed over again, under the same message id).",
        ),
        tags: ["incidents"],
        params: idParam,
        body: z.object({}).strict().nullish(),
        headers: idempotencyHeaders,
        response: { 200: incidentView.extend({ round: roundSchema }), ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, { op: "incidents.notify", input: { id: req.params.id }, status: () => 200, run: (idem) => svc.notify(ctxOf(req), req.params.id, idem) }),
  );

  r.post(
    "/v1/incidents/:id/reports",
    {
      schema: {
        summary: "File the reports the duties require (PIPC/KISA, FSC/FSS), or the one named; a partial report while items 1–2 are unknown",
        description: withIdempotencyNote("With a key, a retry never files a second report: it hands over what the first left queued, or gets its answer again."),
        tags: ["incidents"],
        params: idParam,
        body: z.object({ authority: z.enum(["pipc_kisa", "fsc_fss"]).optional() }).strict().nullish(),
        headers: idempotencyHeaders,
        response: { 200: incidentView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "incidents.report",
        input: { id: req.params.id, body: req.body ?? {} },
        status: () => 200,
        run: (idem) => svc.report(ctxOf(req), req.params.id, req.body ?? {}, idem),
      }),
  );

  r.get(
    "/v1/incidents/:id/outbox",
    {
      schema: {
        summary: "The operator's pickup: messages with their text and each person's address (read now, audited)",
        tags: ["incidents"],
        params: idParam,
        querystring: z
          .object({
            status: z.enum(OUTBOX_STATUSES).optional(),
            after: z.string().min(1).max(64).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
          })
          .strict(),
        response: { 200: outboxView, ...errors },
      },
    },
    async (req) => svc.outbox(ctxOf(req), req.params.id, req.query),
  );
};
