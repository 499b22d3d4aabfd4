/** /v1/audit: verification and signed checkpoints, for operators. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { parseCheckpointExport } from "../../audit/checkpoint.js";
import { HaechiError, isHaechiError } from "../../core/errors.js";
import { errorSchema, verifyQuery, verifyResponse } from "../schemas.js";
import { ctxOf } from "../server.js";

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 429: errorSchema };

/**
 * A checkpoint document the client sent that does not parse or verify is bad input (400): it says
 * nothing about this server's own log, so it must not surface as AUDIT_TAMPERED (500) or INTERNAL.
 */
const parseTrusted = (d: unknown, i: number) => {
  try {
    return parseCheckpointExport(d);
  } catch (e) {
    throw new HaechiError("VALIDATION_FAILED", `checkpoints[${i}]: ${isHaechiError(e) ? e.message : "not a Haechi checkpoint export"}`);
  }
};

/**
 * Operator endpoints (audit, alerts) are for operator principals only; anything else is denied
 * and audited, and so is every allowed call.
 */
export const requireOperator = async (c: Container, req: FastifyRequest, action: string, what = "audit endpoints") => {
  const ctx = ctxOf(req);
  const allowed = c.catalog.current().principals[ctx.principal]?.role === "operator";
  await c.audit.record({
    at: c.clock.now().toISOString(),
    requestId: ctx.requestId,
    principal: ctx.principal,
    source: ctx.source,
    action,
    effect: allowed ? "allow" : "deny",
    purpose: null,
    subjectRef: null,
    fields: [],
    reasons: allowed ? [] : ["ROLE_NOT_PERMITTED"],
  });
  if (!allowed) {
    throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" is not an operator`, {
      reasons: [{ code: "ROLE_NOT_PERMITTED", message: `${what} need an operator principal` }],
    });
  }
};

export const registerAuditRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/v1/audit/verify",
    {
      schema: {
        summary: "Verify the whole audit chain against its stored signed checkpoints",
        tags: ["audit"],
        querystring: verifyQuery,
        response: { 200: verifyResponse, ...errors },
      },
    },
    async (req) => {
      await requireOperator(c, req, "audit.verify");
      return c.services.audit.verify();
    },
  );

  r.post(
    "/v1/audit/verify",
    {
      schema: {
        summary: "Verify the chain against checkpoints you kept outside (detects truncation of the tail)",
        description: "A read (POST only because the checkpoints travel in the body): repeating it changes nothing, so it takes no Idempotency-Key.",
        tags: ["audit"],
        querystring: verifyQuery,
        body: z.object({ checkpoints: z.array(z.unknown()).min(1).max(1000) }).strict(),
        response: { 200: verifyResponse, ...errors },
      },
    },
    async (req) => {
      await requireOperator(c, req, "audit.verify");
      const trusted = req.body.checkpoints.map((d, i) => {
        const { checkpoint, publicKey } = parseTrusted(d, i);
        if (!publicKey.equals(c.keyring.secrets.signer.publicKey)) {
          throw new HaechiError("VALIDATION_FAILED", "checkpoint was signed by another key");
        }
        return checkpoint;
      });
      return c.services.audit.verify({ trusted });
    },
  );

  r.get(
    "/v1/audit/checkpoint",
    {
      schema: {
        summary: "Sign the current head and return it as a document to keep outside",
        tags: ["audit"],
        querystring: verifyQuery,
        response: { 200: z.unknown(), 409: errorSchema, ...errors },
      },
    },
    async (req) => {
      await requireOperator(c, req, "audit.checkpoint");
      return c.services.audit.checkpoint();
    },
  );
};
