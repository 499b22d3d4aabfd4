/**
 * /v1/alerts: what detection flagged (ADR 0009), for operators; the hook incidents are opened
 * from. /v1/holds and /v1/principals/{name}/lift: the suspensions and throttles detection placed,
 * and an operator's lift of them (with a reason, audited).
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { errorSchema } from "../schemas.js";
import type { HoldRow } from "../../core/ports.js";
import { answerOnce, idempotencyHeaders, withIdempotencyNote } from "../idempotency.js";
import { ctxOf } from "../server.js";
import { requireOperator } from "./audit-routes.js";

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 429: errorSchema };

export const alertsQuery = z
  .object({
    principal: z.string().min(1).max(64).optional().describe("only alerts about this principal"),
    rule: z.string().min(1).max(64).optional().describe("only alerts of this catalog rule"),
    since: z.iso.datetime({ offset: true }).optional().describe("only alerts at or after this time (ISO 8601)"),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const alertView = z
  .object({
    id: z.string(),
    at: z.string().describe("when the rule fired (the time of the request that tipped it)"),
    principal: z.string(),
    rule: z.string().describe("the catalog rule's name"),
    type: z.string().describe("volume | enumeration | canary | off_hours | deny_storm | export_volume | new_network"),
    reaction: z.enum(["alert", "throttle", "suspend"]),
    count: z.number().describe("what was counted: reads, distinct subjects, misses, denials, exported subjects (1 for a single event)"),
    threshold: z.number(),
    windowStart: z.string().describe("the earliest counted event still in the window: with `at` and `principal`, the scope to look up in the audit log"),
    requestId: z.string().nullable(),
    detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).describe("non-personal facts (pattern, purpose, recipient, network, local time)"),
  })
  .meta({ id: "Alert" });

export const holdView = z
  .object({
    id: z.string(),
    principal: z.string(),
    kind: z.enum(["suspend", "throttle"]),
    rule: z.string().nullable().describe("the catalog rule that placed it (null: placed by hand)"),
    alertId: z.string().nullable(),
    reason: z.string(),
    at: z.string(),
    until: z.string().nullable().describe("a throttle's end; suspensions last until lifted"),
    liftedAt: z.string().nullable(),
    liftedBy: z.string().nullable(),
    liftReason: z.string().nullable(),
  })
  .meta({ id: "Hold" });

const holdOut = (h: HoldRow) => ({
  id: h.id,
  principal: h.principal,
  kind: h.kind,
  rule: h.rule,
  alertId: h.alertId,
  reason: h.reason,
  at: h.at.toISOString(),
  until: h.until?.toISOString() ?? null,
  liftedAt: h.liftedAt?.toISOString() ?? null,
  liftedBy: h.liftedBy,
  liftReason: h.liftReason,
});

export const registerDetectionRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/v1/alerts",
    {
      schema: {
        summary: "Detection alerts, newest first (operators)",
        tags: ["detection"],
        querystring: alertsQuery,
        response: { 200: z.object({ alerts: z.array(alertView) }), ...errors },
      },
    },
    async (req) => {
      await requireOperator(c, req, "detection.alerts", "alerts");
      const q = req.query;
      const rows = await c.services.detection.alerts({
        ...(q.principal === undefined ? {} : { principal: q.principal }),
        ...(q.rule === undefined ? {} : { rule: q.rule }),
        ...(q.since === undefined ? {} : { since: new Date(q.since) }),
        limit: q.limit,
      });
      return {
        alerts: rows.map((a) => ({
          id: a.id,
          at: a.at.toISOString(),
          principal: a.principal,
          rule: a.rule,
          type: a.type,
          reaction: a.reaction,
          count: a.count,
          threshold: a.threshold,
          windowStart: a.windowStart.toISOString(),
          requestId: a.requestId,
          detail: a.detail,
        })),
      };
    },
  );

  r.get(
    "/v1/holds",
    {
      schema: {
        summary: "Holds on principals (suspensions and throttles, active and lifted), newest first (operators)",
        tags: ["detection"],
        querystring: z.object({ principal: z.string().min(1).max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(),
        response: { 200: z.object({ holds: z.array(holdView) }), ...errors },
      },
    },
    async (req) => {
      await requireOperator(c, req, "detection.holds", "holds");
      const rows = await c.services.detection.holdsOf({ ...(req.query.principal === undefined ? {} : { principal: req.query.principal }), limit: req.query.limit });
      return { holds: rows.map(holdOut) };
    },
  );

  r.post(
    "/v1/principals/:name/lift",
    {
      schema: {
        summary: "Lift a principal's suspension and throttle, with a reason (operators; audited as principal.lift)",
        description: withIdempotencyNote("A retry of a lift that was done gets its answer again (without a key: 404, nothing left to lift)."),
        tags: ["detection"],
        params: z.object({ name: z.string().min(1).max(64) }),
        body: z.object({ reason: z.string().min(1).max(500).describe("why the principal may be let in again (kept with the hold and in the audit log)") }).strict(),
        headers: idempotencyHeaders,
        response: { 200: z.object({ lifted: z.array(holdView) }), 404: errorSchema, 422: errorSchema, 503: errorSchema, ...errors },
      },
    },
    async (req, reply) => {
      await requireOperator(c, req, "detection.lift", "lifting a hold");
      const ctx = ctxOf(req);
      return answerOnce<HoldRow[]>(c, req, reply, {
        op: "principals.lift",
        input: { name: req.params.name, body: req.body },
        status: () => 200,
        body: (lifted) => ({ lifted: lifted.map(holdOut) }),
        run: (idem) => c.services.detection.lift({ by: ctx.principal, source: ctx.source, requestId: ctx.requestId }, req.params.name, req.body.reason, idem),
      });
    },
  );
};
