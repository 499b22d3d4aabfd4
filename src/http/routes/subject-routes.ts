/** /v1/subjects and /v1/lookup: collect, read, update, consent, find. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { HaechiError } from "../../core/errors.js";
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
import { ctxOf } from "../server.js";

/** 409: SUBJECT_DORMANT (the account was separated after inactivity; reactivate it), or a conflict. */
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 429: errorSchema, 503: errorSchema };

const idempotencyKey = (h: unknown): string | undefined => {
  if (h === undefined) return undefined;
  if (typeof h !== "string" || !/^[A-Za-z0-9._:-]{8,128}$/.test(h)) {
    throw new HaechiError("VALIDATION_FAILED", "Idempotency-Key must be 8–128 characters of A-Z a-z 0-9 . _ : -");
  }
  return h;
};

export const registerSubjectRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.subjects;

  r.delete(
    "/v1/subjects/:id",
    {
      schema: {
        summary: "Delete the account: destroy everything no law requires keeping; move what one does to the sealed store",
        tags: ["subjects"],
        params: subjectIdParam,
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
    async (req) => c.services.erase.erase(ctxOf(req), req.params.id),
  );

  r.post(
    "/v1/subjects",
    {
      schema: {
        summary: "Collect a new subject's data under a collecting purpose",
        description: "Required items are checked; optional ones never block. Send Idempotency-Key to make retries safe.",
        tags: ["subjects"],
        body: createBody,
        headers: z.object({ "idempotency-key": z.string().optional() }).loose(),
        response: { 201: createResponse, 422: errorSchema, ...errors },
      },
    },
    async (req, reply) => {
      const res = await svc.create(ctxOf(req), { ...req.body, idempotencyKey: idempotencyKey(req.headers["idempotency-key"]) });
      return reply.code(201).send(res);
    },
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
        tags: ["subjects"],
        params: subjectIdParam,
        body: updateBody,
        response: { 200: updateResponse, ...errors },
      },
    },
    async (req) => svc.update(ctxOf(req), req.params.id, req.body),
  );

  r.post(
    "/v1/subjects/:id/reactivate",
    {
      schema: {
        summary: "Reactivate a dormant account when the person returns (logs in again)",
        description:
          "Under the catalog's dormancy action `separate`, an account inactive for the declared period is separated: its values move to a separate store, its lookup entries are deleted, and every read, update and lookup is refused with 409 SUBJECT_DORMANT. Call this when the person comes back: decided like an update under the purpose, audited, then the values move back, lookups work again and the inactivity period starts anew. An active subject is answered with reactivated: false. Send Idempotency-Key to make retries safe.",
        tags: ["subjects"],
        params: subjectIdParam,
        body: reactivateBody,
        headers: z.object({ "idempotency-key": z.string().optional() }).loose(),
        response: { 200: reactivateResponse, 422: errorSchema, ...errors },
      },
    },
    async (req) => svc.reactivate(ctxOf(req), req.params.id, { ...req.body, idempotencyKey: idempotencyKey(req.headers["idempotency-key"]) }),
  );

  r.put(
    "/v1/subjects/:id/notice-preferences",
    {
      schema: {
        summary: "Record whether the person wants the annual usage-and-provision notice (PIPA Art. 20-2)",
        description:
          "Those who refused the annual notice are left out of it (Decree Art. 15-3). Recorded through the service the person uses, audited; honoured when the notices are prepared and again at delivery. Not a consent: it changes no processing.",
        tags: ["subjects"],
        params: subjectIdParam,
        body: noticePreferencesBody,
        response: { 200: noticePreferencesResponse, ...errors },
      },
    },
    async (req) => {
      const r = await c.services.notices.setAnnualOptOut(ctxOf(req), req.params.id, req.body.annualNotice === "opt_out");
      return { id: r.id, annualNotice: r.optedOut ? ("opt_out" as const) : ("receive" as const), at: r.at };
    },
  );

  r.post(
    "/v1/subjects/:id/consents",
    {
      schema: {
        summary: "Grant or withdraw consents (each bound to a notice version and channel)",
        tags: ["consents"],
        params: subjectIdParam,
        body: consentsBody,
        response: { 200: consentsResponse, ...errors },
      },
    },
    async (req) => svc.recordConsents(ctxOf(req), req.params.id, req.body.consents),
  );

  r.post(
    "/v1/lookup",
    {
      schema: {
        summary: "Find subjects by a lookup field, for a purpose",
        description: "Uses a keyed blind index; returns your principal's pseudonymous ids of matching subjects the purpose may access.",
        tags: ["subjects"],
        body: lookupBody,
        response: { 200: lookupResponse, ...errors },
      },
    },
    async (req) => svc.lookup(ctxOf(req), req.body),
  );
};
