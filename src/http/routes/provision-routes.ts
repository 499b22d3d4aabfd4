/** /v1/provisions, /v1/suspensions, /v1/recipients: the provision gate over HTTP. */
import fs from "node:fs";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { ISO_PERIOD_RE } from "../../core/catalog/catalog-schema.js";
import { TRANSFORMS, objectionDeadline, type ProvisionRequest } from "../../core/provision/gate-fns.js";
import { errorSchema, subjectIdParam } from "../schemas.js";
import { mapIdempotency, type Idempotency } from "../../core/idempotency/idempotency-fns.js";
import type { SuspensionRow } from "../../core/ports.js";
import { answerOnce, idempotencyHeaders, withIdempotencyNote } from "../idempotency.js";
import { ctxOf } from "../server.js";

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 422: errorSchema, 429: errorSchema, 503: errorSchema };
/** What a route answers, when one route carries out one of several operations. */
type Answer = { status: number; body: unknown };
const name = z.string().min(1).max(64);

export const provisionBody = z
  .object({
    recipient: name.describe("A recipient in the catalog your principal may provide to"),
    purpose: name.describe("The controller's purpose the data was collected for"),
    label: z.enum(["consignment", "provision"]).describe("What you call it; the gate decides what it is"),
    fields: z.array(name).min(1).max(64),
    population: z
      .object({ purposes: z.array(name).max(16).default([]) })
      .strict()
      .default({ purposes: [] })
      .describe("Only subjects for whom each of these purposes stands; it must include the recipient's population filter"),
    format: z.enum(["ndjson", "csv"]).default("ndjson"),
    transform: z
      .record(name, z.enum(TRANSFORMS))
      .default({})
      .describe("Hash or mask fields; this never exempts a transfer from any check"),
    mode: z.enum(["plan", "run"]).describe("plan: dry run with counts; run: produce the export"),
    wait: z.boolean().default(false).describe("run: answer when the run has ended instead of at once"),
    every: z.string().regex(ISO_PERIOD_RE).optional().describe("run: repeat on this period (P1D), each run re-checking every condition"),
  })
  .strict();

const countsSchema = z.object({ scanned: z.number(), included: z.number(), excluded: z.record(z.string(), z.number()) });
const provisionView = z
  .object({
    id: z.string(),
    status: z.enum(["planned", "refused", "running", "completed", "stopped", "failed"]),
    mode: z.enum(["plan", "run"]),
    principal: z.string(),
    recipient: z.string(),
    country: z.string(),
    purpose: z.string(),
    label: z.string(),
    classification: z.string(),
    basis: z.string(),
    transferBasis: z.string().nullable(),
    fields: z.array(z.string()),
    format: z.string(),
    counts: countsSchema,
    parts: z.number(),
    diff: z.object({ previousId: z.string(), added: z.number(), removed: z.number(), kept: z.number() }).nullable(),
    reasons: z.array(z.string()),
    scheduleId: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    notes: z.array(z.string()).optional(),
    manifest: z.unknown().optional(),
  })
  .meta({ id: "Provision" });
const scheduleView = z.object({ scheduleId: z.string(), every: z.string(), nextAt: z.string() });
const idParam = z.object({ id: z.string().min(1).max(64) });

export const registerProvisionRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.provisions;

  r.post(
    "/v1/provisions",
    {
      schema: {
        summary: "Plan (dry run) or run a provision to a consignee or third party",
        description: withIdempotencyNote(
          "With a key, a retry never records a second plan, run or schedule: it gets the first answer again, a refusal included (a refused provision is recorded). A retried `wait: true` run waits for the run of the first attempt.",
        ),
        tags: ["provisions"],
        body: provisionBody,
        headers: idempotencyHeaders,
        response: { 200: provisionView, 201: scheduleView, 202: provisionView, ...errors },
      },
    },
    async (req, reply) => {
      const ctx = ctxOf(req);
      const { mode, wait, every, ...rest } = req.body;
      const request: ProvisionRequest = rest;
      const scheduleBody = (s: { id: string; every: string; nextAt: Date }) => ({ scheduleId: s.id, every: s.every, nextAt: s.nextAt.toISOString() });
      return answerOnce<Answer>(c, req, reply, {
        op: "provisions.create",
        input: { body: req.body },
        status: (a) => a.status,
        body: (a) => a.body,
        // A run answered under the key as started (202): a `wait` retry waits for it here.
        replayed: async (a) => (wait && a.status === 202 ? { status: 200, body: await svc.settled(ctx, (a.body as { id: string }).id) } : a),
        run: async (idem) => {
          const as = <R>(status: number, body: (r: R) => unknown = (r) => r): Idempotency<R> | undefined =>
            idem && mapIdempotency<R, Answer>(idem, (r) => ({ status, body: body(r) }));
          if (mode === "plan") return { status: 200, body: await svc.plan(ctx, request, as(200)) };
          if (every) return { status: 201, body: scheduleBody(await svc.schedule(ctx, request, every, undefined, as(201, scheduleBody))) };
          // The key answers as the run starts (202); the run itself is not repeated by a retry.
          const { view, done } = await svc.start(ctx, request, { idem: as(202) });
          if (!wait) return { status: 202, body: view };
          await done.catch(() => undefined);
          return { status: 200, body: await svc.get(ctx, view.id) };
        },
      });
    },
  );

  r.get(
    "/v1/provisions",
    {
      schema: {
        summary: "List provisions (yours; operators see all)",
        tags: ["provisions"],
        querystring: z.object({ recipient: name.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        response: { 200: z.object({ provisions: z.array(provisionView) }), ...errors },
      },
    },
    async (req) => ({ provisions: await svc.list(ctxOf(req), req.query) }),
  );

  r.get(
    "/v1/provisions/:id",
    {
      schema: {
        summary: "A provision: status, progress, counts, population diff and (once completed) its signed manifest",
        tags: ["provisions"],
        params: idParam,
        response: { 200: provisionView, ...errors },
      },
    },
    async (req) => svc.get(ctxOf(req), req.params.id),
  );

  r.post(
    "/v1/provisions/:id/resume",
    {
      schema: {
        summary: "Resume an interrupted run (every condition is checked again)",
        description: withIdempotencyNote(),
        tags: ["provisions"],
        params: idParam,
        headers: idempotencyHeaders,
        response: { 202: provisionView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce(c, req, reply, {
        op: "provisions.resume",
        input: { id: req.params.id },
        status: () => 202,
        run: async (idem) => (await svc.resume(ctxOf(req), req.params.id, undefined, idem)).view,
      }),
  );

  r.get(
    "/v1/provisions/:id/verify",
    {
      schema: {
        summary: "Check the manifest signature, the part files and the ledger against the signed digests",
        tags: ["provisions"],
        params: idParam,
        response: { 200: z.object({ ok: z.boolean(), problems: z.array(z.string()) }), ...errors },
      },
    },
    async (req) => svc.verify(ctxOf(req), req.params.id),
  );

  r.get(
    "/v1/provisions/:id/export",
    {
      schema: {
        summary: "The export's signed manifest (its parts are fetched one by one)",
        tags: ["provisions"],
        params: idParam,
        response: { 200: z.unknown(), ...errors },
      },
    },
    async (req, reply) => {
      const f = await svc.exportFile(ctxOf(req), req.params.id, "manifest.json");
      return reply.type("application/json").send(fs.createReadStream(f.path));
    },
  );

  r.get(
    "/v1/provisions/:id/export/:file",
    {
      schema: {
        summary: "One encrypted part file of a completed export (age format, for the recipient's key)",
        tags: ["provisions"],
        params: z.object({ id: z.string().min(1).max(64), file: z.string().regex(/^part-\d{6}\.(ndjson|csv)\.age$/) }),
        response: { 200: z.unknown(), ...errors },
      },
    },
    async (req, reply) => {
      const f = await svc.exportFile(ctxOf(req), req.params.id, req.params.file);
      return reply
        .type("application/octet-stream")
        .header("content-length", f.bytes)
        .header("content-disposition", `attachment; filename="${req.params.file}"`)
        .send(fs.createReadStream(f.path));
    },
  );

  r.get(
    "/v1/subjects/:id/provisions",
    {
      schema: {
        summary: "Every provision of this person's data: recipient, country, fields, purpose, basis, time",
        tags: ["provisions"],
        params: subjectIdParam,
        response: {
          200: z.object({
            id: z.string(),
            provisions: z.array(
              z.object({
                provision: z.string(),
                recipient: z.string(),
                recipientName: z.unknown(),
                country: z.string(),
                purpose: z.string(),
                fields: z.array(z.string()),
                basis: z.string(),
                transferBasis: z.string().nullable(),
                status: z.string(),
                at: z.string(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (req) => svc.ledgerForSubject(ctxOf(req), req.params.id),
  );

  r.get(
    "/v1/recipients/:name/ledger",
    {
      schema: {
        summary: "A recipient's ledger (operators): who was sent, under the recipient's pseudonyms",
        tags: ["provisions"],
        params: z.object({ name }),
        querystring: z.object({ after: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(10_000).default(1000) }),
        response: {
          200: z.object({
            entries: z.array(
              z.object({ provision: z.string(), subject: z.string(), part: z.number(), fields: z.array(z.string()), status: z.string(), at: z.string() }),
            ),
            next: z.string().nullable(),
          }),
          ...errors,
        },
      },
    },
    async (req) => svc.ledgerForRecipient(ctxOf(req), req.params.name, req.query.after ?? null, req.query.limit),
  );

  const suspensionView = z.object({
    id: z.string(),
    scope: z.enum(["recipient", "country"]),
    target: z.string(),
    order: z.string(),
    reason: z.string(),
    at: z.string(),
    by: z.string(),
    liftedAt: z.string().nullable(),
    liftedBy: z.string().nullable(),
    objectionUntil: z.string().describe("Last day to object to the order (7 days, PIPA Art. 28-9; Decree Art. 29-12)"),
    stopped: z.array(z.string()).optional(),
  });
  const asView = <S extends { at: Date; liftedAt: Date | null }>(s: S) => ({
    ...s,
    at: s.at.toISOString(),
    liftedAt: s.liftedAt?.toISOString() ?? null,
    objectionUntil: objectionDeadline(s.at).toISOString(),
  });

  r.post(
    "/v1/suspensions",
    {
      schema: {
        summary: "Kill switch: suspend transfers to a recipient or a country at once (PIPA Art. 28-9)",
        description: withIdempotencyNote("`stopped`: the runs that were under way when the suspension was recorded."),
        tags: ["provisions"],
        headers: idempotencyHeaders,
        body: z
          .object({
            scope: z.enum(["recipient", "country"]),
            target: name,
            order: z.string().min(1).max(200).describe("The suspension order's reference"),
            reason: z.string().min(1).max(2000),
          })
          .strict(),
        response: { 201: suspensionView, ...errors },
      },
    },
    async (req, reply) =>
      answerOnce<SuspensionRow & { stopped: string[] }>(c, req, reply, {
        op: "provisions.suspend",
        input: { body: req.body },
        status: () => 201,
        run: (idem) => svc.suspend(ctxOf(req), req.body, idem),
        body: asView,
      }),
  );

  r.get(
    "/v1/suspensions",
    { schema: { summary: "Suspensions, active and lifted", tags: ["provisions"], response: { 200: z.object({ suspensions: z.array(suspensionView) }), ...errors } } },
    async (req) => ({ suspensions: (await svc.suspensions(ctxOf(req))).map(asView) }),
  );

  r.delete(
    "/v1/suspensions/:id",
    {
      schema: {
        summary: "Lift a suspension",
        description: withIdempotencyNote("A retry of a lift that was done answers 204 again (without a key: 404, no active suspension)."),
        tags: ["provisions"],
        params: idParam,
        headers: idempotencyHeaders,
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) =>
      answerOnce<void>(c, req, reply, {
        op: "provisions.lift",
        input: { id: req.params.id },
        status: () => 204,
        body: () => null,
        run: (idem) => svc.lift(ctxOf(req), req.params.id, idem),
      }),
  );
};
