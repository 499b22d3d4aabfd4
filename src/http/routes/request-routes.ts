/**
 * Data-subject requests (PIPA Arts. 35–37; Decree Arts. 41–44): a service files one on the
 * person's behalf (`POST /v1/subjects/{id}/requests`); operators list, read, complete, postpone
 * and refuse them under `/v1/requests`, each with its 10-day clock.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { CONSENT_CHANNELS } from "../../core/catalog/catalog-schema.js";
import { ALL_REFUSAL_GROUNDS, NOTICE_CHANNELS, REQUEST_ACTS, REQUEST_CHANNELS, REQUEST_KINDS, REQUEST_STATUSES } from "../../core/requests/request-fns.js";
import { errorSchema, subjectIdParam } from "../schemas.js";
import type { FileResult } from "../../services/request-service.js";
import { answerOnce, idempotencyHeaders, withIdempotencyNote } from "../idempotency.js";
import { ctxOf } from "../server.js";

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 422: errorSchema, 429: errorSchema, 503: errorSchema };
const isoTime = z.iso.datetime({ offset: true }).describe("ISO 8601 date-time, e.g. 2026-11-20T09:00:00Z");
/** Free text a handler writes: never personal data. */
const prose = (max: number) => z.string().min(1).max(max).regex(/\S/, "must not be blank");
const requestIdParam = z.object({ id: z.string().min(1).max(64).describe("The request's id (req_…)") });

const fileBody = z
  .object({
    kind: z.enum(REQUEST_KINDS).describe("access (Art. 35), portability (35-2), correction or deletion (36), suspension or withdrawal of consent (37)"),
    channel: z.enum(REQUEST_CHANNELS).describe("how the person asked: the portal, your app or API, or through an operator (phone, counter, letter)"),
    receivedAt: isoTime.optional().describe("when the person asked (default now; the 10-day clock starts here)"),
    fulfil: z.boolean().optional().describe("fulfil at once where Haechi can (default true); false only records it for the privacy office"),
    correction: z
      .object({ purpose: z.string().min(1).max(64).describe("a collecting purpose of yours"), fields: z.record(z.string(), z.unknown()).describe("the corrected values (null removes an optional item)") })
      .strict()
      .optional()
      .describe("correction: the new values, applied once through PATCH's path; the ledger keeps only the field names"),
    notices: z.array(z.string().min(1).max(64)).min(1).max(32).optional().describe("withdrawal, or suspension of consent-based processing: the notices whose consent ends"),
    consentChannel: z.enum(CONSENT_CHANNELS).optional().describe("the channel recorded in the consent ledger for a withdrawal (default: web for portal, app for service_api, phone for operator)"),
    note: prose(500).optional().describe("for the privacy office (no personal data)"),
  })
  .strict();

const historyEntry = z.object({ seq: z.number(), at: z.string(), actor: z.string(), act: z.enum(REQUEST_ACTS), detail: z.record(z.string(), z.unknown()), auditSeq: z.number() });
export const requestView = z.object({
  id: z.string(),
  kind: z.enum(REQUEST_KINDS),
  subject: z.object({ principal: z.string().describe("the service that filed it"), id: z.string().describe("that service's pseudonymous id of the person") }),
  channel: z.enum(REQUEST_CHANNELS),
  receivedAt: z.string(),
  dueBy: z.string().describe("the 10-day deadline: 24:00 KST at the end of the tenth day after receipt (Decree Arts. 41(4), 43(3), 44(2))"),
  deadline: z.string().describe("the current deadline: dueBy, or a postponement's date"),
  timeLeft: z.object({ ms: z.number(), text: z.string(), overdue: z.boolean() }).nullable().describe("null once closed"),
  overdue: z.boolean(),
  status: z.enum(REQUEST_STATUSES),
  rule: z.object({ right: z.string(), deadline: z.string(), extension: z.string().nullable(), refusal: z.string() }).describe("the articles that govern this kind"),
  detail: z.record(z.string(), z.unknown()),
  extension: z.object({ until: z.string(), reason: z.string(), noticeAt: z.string(), noticeChannel: z.enum(NOTICE_CHANNELS) }).nullable(),
  outcome: z.record(z.string(), z.unknown()).nullable().describe("what was done (for access: the export's SHA-256 digests), or the refusal with its ground, reason and objection route"),
  onTime: z.boolean().nullable(),
  closedAt: z.string().nullable(),
  history: z.array(historyEntry).describe("append-only; each act names its audit entry"),
});

const listQuery = z
  .object({
    status: z
      .string()
      .regex(new RegExp(`^(${REQUEST_STATUSES.join("|")})(,(${REQUEST_STATUSES.join("|")}))*$`), `comma-separated: ${REQUEST_STATUSES.join(", ")}`)
      .optional(),
    kind: z.enum(REQUEST_KINDS).optional(),
    overdue: z.enum(["true", "false"]).optional().describe("true: open requests past their deadline"),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

export const registerRequestRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.requests;

  r.post(
    "/v1/subjects/:id/requests",
    {
      schema: {
        summary: "File a data-subject request on the person's behalf (access, portability, correction, deletion, suspension, withdrawal)",
        description: withIdempotencyNote(
          "The 10-day clock starts at receipt. Where Haechi can, it fulfils the request at once through its own paths and completes it: access and portability return the person's data as JSON and CSV (only the SHA-256 digests are kept); deletion erases the account (what a law keeps is sealed and listed); correction applies the values; withdrawal (or suspension of consent-based processing) withdraws the named consents. Otherwise the request stays open for the privacy office. Only service principals with a collecting purpose may file. With a key, a retry files nothing new: it finishes a fulfilment the first attempt left half done, or gets the first answer again; the export of an access or portability request is never stored, so a retry is given it again, produced anew (and audited) as of the first one's time: with the person's data unchanged, the same bytes and digests.",
        ),
        tags: ["requests"],
        params: subjectIdParam,
        body: fileBody,
        headers: idempotencyHeaders,
        response: {
          201: z.object({
            request: requestView,
            export: z
              .object({ json: z.string().describe("the export document (application/json)"), csv: z.string().describe("the items as CSV (RFC 4180)"), sha256: z.object({ json: z.string(), csv: z.string() }) })
              .optional()
              .describe("access and portability: the person's data, to hand over; Haechi does not keep it"),
          }),
          ...errors,
        },
      },
    },
    async (req, reply) =>
      answerOnce<FileResult>(c, req, reply, {
        op: "requests.file",
        input: { id: req.params.id, body: req.body },
        status: () => 201,
        // The export is handed over, never stored (ADR 0014): a replay produces it again.
        stored: (body) => ({ request: (body as FileResult).request }),
        replayed: async ({ status, body }) => {
          const request = (body as FileResult).request;
          const again = await svc.exportAgain(ctxOf(req), request.id);
          return { status, body: again === undefined ? { request } : { request, export: again } };
        },
        run: (idem) => svc.file(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.get(
    "/v1/requests",
    {
      schema: {
        summary: "The request ledger (operators): deadlines, time left, overdue",
        tags: ["requests"],
        querystring: listQuery,
        response: { 200: z.object({ requests: z.array(requestView), counts: z.object({ open: z.number(), overdue: z.number() }) }), ...errors },
      },
    },
    async (req) =>
      svc.list(ctxOf(req), {
        ...(req.query.status ? { status: req.query.status.split(",") as (typeof REQUEST_STATUSES)[number][] } : {}),
        ...(req.query.kind ? { kind: req.query.kind } : {}),
        ...(req.query.overdue ? { overdue: req.query.overdue === "true" } : {}),
        ...(req.query.limit ? { limit: req.query.limit } : {}),
      }),
  );

  r.get(
    "/v1/requests/:id",
    {
      schema: { summary: "One request with its history (operators, or the service that filed it)", tags: ["requests"], params: requestIdParam, response: { 200: requestView, ...errors } },
    },
    async (req) => svc.get(ctxOf(req), req.params.id),
  );

  r.post(
    "/v1/requests/:id/complete",
    {
      schema: {
        summary: "Record a request as completed (operators): what was done",
        description: withIdempotencyNote(),
        tags: ["requests"],
        params: requestIdParam,
        body: z.object({ result: prose(1000).describe("what was done and how the person was told (no personal data)") }).strict(),
        headers: idempotencyHeaders,
        response: { 200: requestView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "requests.complete",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.complete(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/requests/:id/extend",
    {
      schema: {
        summary: "Postpone an access or portability request (operators), with the reason and the notice to the person",
        description: withIdempotencyNote(
          "PIPA Art. 35(3) second sentence and Decree Art. 42(2) (access), Decree Art. 42-6(1) (portability): the person is told the reason before the deadline runs out. Correction, deletion, suspension and withdrawal cannot be postponed (Decree Arts. 43(3), 44(2)): complete or refuse them. The new date is at most three months from receipt (GDPR Art. 12(3)).",
        ),
        tags: ["requests"],
        params: requestIdParam,
        headers: idempotencyHeaders,
        body: z
          .object({
            until: isoTime.describe("the new deadline"),
            reason: prose(1000).describe("the justifiable reason (no personal data)"),
            notice: z.object({ at: isoTime.optional().describe("when the person was told (default now)"), channel: z.enum(NOTICE_CHANNELS) }).strict(),
          })
          .strict(),
        response: { 200: requestView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "requests.extend",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.extend(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/requests/:id/refuse",
    {
      schema: {
        summary: "Refuse a request (operators) on a lawful ground, with the reason and how to object",
        description: withIdempotencyNote(),
        tags: ["requests"],
        params: requestIdParam,
        headers: idempotencyHeaders,
        body: z
          .object({
            ground: z.enum(ALL_REFUSAL_GROUNDS as [string, ...string[]]).describe("a ground the law allows for the request's kind (Arts. 35(4), 35-2, 36(1), 37(2); Decree 42-8, 46)"),
            reason: prose(1000).describe("the reason told to the person (no personal data)"),
            objection: prose(1000).describe("how the person can object (Art. 38(5); Decree Arts. 42(2), 43(3), 44(2))"),
          })
          .strict(),
        response: { 200: requestView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "requests.refuse",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.refuse(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/requests/:id/withdraw",
    {
      schema: {
        summary: "The person withdrew the request (the service that filed it, or an operator)",
        description: withIdempotencyNote(),
        tags: ["requests"],
        params: requestIdParam,
        body: z.object({ note: prose(500).optional() }).strict().optional(),
        headers: idempotencyHeaders,
        response: { 200: requestView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "requests.withdraw",
        input: { id: req.params.id, body: req.body ?? {} },
        status: () => 200,
        run: (idem) => svc.withdraw(ctxOf(req), req.params.id, req.body ?? {}, idem),
      }),
  );
};
