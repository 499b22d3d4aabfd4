/** /v1/alerts: what detection flagged (ADR 0009), for operators; the hook incidents are opened from. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { errorSchema } from "../schemas.js";
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
};
