/** /v1/subjects and /v1/lookup: collect, read, update, consent, find. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import {
  consentsBody,
  consentsResponse,
  createBody,
  createResponse,
  errorSchema,
  lookupBody,
  lookupResponse,
  noticePreferencesBody,
  noticePreferencesResponse,
  reactivateBody,
  reactivateResponse,
  readQuery,
  readResponse,
  subjectIdParam,
  updateBody,
  updateResponse,
} from "../schemas.js";
import type { PreferenceResult } from "../../services/notice-service.js";
import { answerOnce, idempotencyHeaders, withIdempotencyNote } from "../idempotency.js";
import { ctxOf } from "../server.js";

/** 409: SUBJECT_DORMANT (the account was separated after inactivity; reactivate it), or a conflict. */
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 429: errorSchema, 503: errorSchema };

export const registerSubjectRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.subjects;

  r.delete(
    "/v1/subjects/:id",
    {
      schema: {
        summary: "Delete the account: destroy everything no law requires keeping; move what one does to the sealed store",
        description: withIdempotencyNote(
          "PIPA Arts. 21, 36. With a key, a retry after an unknown outcome finishes an erasure the first attempt left half done and answers as it would have; a retry after it finished gets its answer again (not 404).",
        ),
        tags: ["subjects"],
        params: subjectIdParam,
        headers: idempotencyHeaders,
        response: {
          200: z.object({
            id: z.string(),
            erasedAt: z.string(),
            destroyed: z.array(z.string()).describe("Destroyed at once (crypto-shredded)"),
            retained: z
              .array(z.object({ field: z.string(), code: z.string(), rule: z.string(), citation: z.string(), until: z.string() }))
              .describe("Kept in the sealed store, readable only for legal_retention, until the date, under the rule (RETAINED_BY_LAW:<rule>)"),
            retentionIds: z.record(z.string(), z.string()).nullable().describe("The id each legal-retention principal reads the sealed values with"),
          }),
          ...errors,
        },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "subjects.erase",
        input: { id: req.params.id },
        status: () => 200,
        run: (idem) => c.services.erase.erase(ctxOf(req), req.params.id, idem),
      }),
  );

  r.post(
    "/v1/subjects",
    {
      schema: {
        summary: "Collect a new subject's data under a collecting purpose",
        description: withIdempotencyNote("Required items are checked; optional ones never block."),
        tags: ["subjects"],
        body: createBody,
        headers: idempotencyHeaders,
        response: { 201: createResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "subjects.create",
        input: { body: req.body },
        status: () => 201,
        run: (idem) => svc.create(ctxOf(req), req.body, idem),
      }),
  );

  r.get(
    "/v1/subjects/:id",
    {
      schema: {
        summary: "Read a subject's fields for a purpose",
        description: "Only the fields the purpose needs, masked as the purpose says; every read is audited.",
        tags: ["subjects"],
        params: subjectIdParam,
        querystring: readQuery,
        response: { 200: readResponse, ...errors },
      },
    },
    async (req) => svc.read(ctxOf(req), req.params.id, req.query.purpose, req.query.fields ? req.query.fields.split(",") : null),
  );

  r.patch(
    "/v1/subjects/:id",
    {
      schema: {
        summary: "Change or remove field values under a collecting purpose",
        description: withIdempotencyNote(),
        tags: ["subjects"],
        params: subjectIdParam,
        body: updateBody,
        headers: idempotencyHeaders,
        response: { 200: updateResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "subjects.update",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.update(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.post(
    "/v1/subjects/:id/reactivate",
    {
      schema: {
        summary: "Reactivate a dormant account when the person returns (logs in again)",
        description:
          withIdempotencyNote(
            "Under the catalog's dormancy action `separate`, an account inactive for the declared period is separated: its values move to a separate store, its lookup entries are deleted, and every read, update and lookup is refused with 409 SUBJECT_DORMANT. Call this when the person comes back: decided like an update under the purpose, audited, then the values move back, lookups work again and the inactivity period starts anew. An active subject is answered with reactivated: false.",
          ),
        tags: ["subjects"],
        params: subjectIdParam,
        body: reactivateBody,
        headers: idempotencyHeaders,
        response: { 200: reactivateResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "subjects.reactivate",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.reactivate(ctxOf(req), req.params.id, req.body, idem),
      }),
  );

  r.put(
    "/v1/subjects/:id/notice-preferences",
    {
      schema: {
        summary: "Record whether the person wants the annual usage-and-provision notice (PIPA Art. 20-2)",
        description: withIdempotencyNote(
          "Those who refused the annual notice are left out of it (Decree Art. 15-3). Recorded through the service the person uses, audited; honoured when the notices are prepared and again at delivery. Not a consent: it changes no processing.",
        ),
        tags: ["subjects"],
        params: subjectIdParam,
        body: noticePreferencesBody,
        headers: idempotencyHeaders,
        response: { 200: noticePreferencesResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce<PreferenceResult>(c, req, reply, {
        op: "subjects.notice-preferences",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => c.services.notices.setAnnualOptOut(ctxOf(req), req.params.id, req.body.annualNotice === "opt_out", idem),
        body: (r) => ({ id: r.id, annualNotice: r.optedOut ? ("opt_out" as const) : ("receive" as const), at: r.at }),
      }),
  );

  r.post(
    "/v1/subjects/:id/consents",
    {
      schema: {
        summary: "Grant or withdraw consents (each bound to a notice version and channel)",
        description: withIdempotencyNote(
          "A withdrawal (PIPA Art. 37) destroys, in the same transaction, what only the withdrawn consent held (Art. 37(3), (5)); `destroyed` names it.",
        ),
        tags: ["consents"],
        params: subjectIdParam,
        body: consentsBody,
        headers: idempotencyHeaders,
        response: { 200: consentsResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "subjects.consents",
        input: { id: req.params.id, body: req.body },
        status: () => 200,
        run: (idem) => svc.recordConsents(ctxOf(req), req.params.id, req.body.consents, idem),
      }),
  );

  r.post(
    "/v1/lookup",
    {
      schema: {
        summary: "Find subjects by a lookup field, for a purpose",
        description:
          "Uses a keyed blind index; returns your principal's pseudonymous ids of matching subjects the purpose may access. A read (POST only to keep the value out of URLs and logs): repeating it changes nothing, so it takes no Idempotency-Key.",
        tags: ["subjects"],
        body: lookupBody,
        response: { 200: lookupResponse, ...errors },
      },
    },
    async (req) => svc.lookup(ctxOf(req), req.body),
  );
};
