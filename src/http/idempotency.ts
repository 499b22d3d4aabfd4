/**
 * The `Idempotency-Key` header on every write route (issue 7; docs/adr/0017-idempotency.md): one
 * schema for OpenAPI, one parser, one note for the route descriptions, and `answerOnce`, which
 * runs a route's write under the key and sends the answer, or the stored answer of an earlier
 * request with the same key (byte for byte, marked `Idempotent-Replayed: true`).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Container } from "../container.js";
import { HaechiError } from "../core/errors.js";
import { requestHash, type Idempotency } from "../core/idempotency/idempotency-fns.js";
import { errorBody, httpStatus } from "./error-map.js";
import { ctxOf } from "./server.js";

const KEY = /^[A-Za-z0-9._:-]{8,128}$/;
const KEY_RULE = "8–128 characters of A-Z a-z 0-9 . _ : -";

/** The header as every write route declares it (OpenAPI shows it with its pattern). */
export const idempotencyHeaders = z
  .object({
    "idempotency-key": z
      .string()
      .regex(KEY, `must be ${KEY_RULE}`)
      .optional()
      .describe(`${KEY_RULE}, unique per request you mean to make once; send the same key again to retry it (kept 24 hours, per principal)`),
  })
  .loose();

/** What every write route's description says about the header. */
export const IDEMPOTENCY_NOTE =
  "Send an `Idempotency-Key` header to make a retry safe (after a timeout, a lost connection or 503 STORE_UNAVAILABLE, whose outcome is unknown): a repeat with the same key and the same request answers exactly as the first did without doing anything twice, and finishes what the first left half done; the same key with another request, or on another route, is 422 IDEMPOTENCY_MISMATCH. Keys are per principal and kept 24 hours.";

/** A route description with the note about the header appended. */
export const withIdempotencyNote = (description?: string): string => (description === undefined ? IDEMPOTENCY_NOTE : `${description} ${IDEMPOTENCY_NOTE}`);

/** The key a request sent, or undefined; VALIDATION_FAILED for a malformed one. */
export const idempotencyKeyOf = (req: FastifyRequest): string | undefined => {
  const h = req.headers["idempotency-key"];
  if (h === undefined) return undefined;
  if (typeof h !== "string" || !KEY.test(h)) throw new HaechiError("VALIDATION_FAILED", `Idempotency-Key must be ${KEY_RULE}`);
  return h;
};

export interface AnswerOnce<T> {
  /** The operation: part of the request's fingerprint, so a key reused on another route is a mismatch. */
  op: string;
  /** What else identifies the request: path parameters and body. */
  input: unknown;
  /** The success status for a result. */
  status: (result: T) => number;
  /** The body sent for a result (default: the result itself). */
  body?: (result: T) => unknown;
  /** What of the body the key keeps, when not all of it may be stored (default: all of it). */
  stored?: (body: unknown, result: T) => unknown;
  /** Rebuilds the answer to send from a stored one that was not kept whole (or is only a step). */
  replayed?: (answer: { status: number; body: unknown }) => Promise<{ status: number; body: unknown }>;
  /** Carries out the write; with a key, it records the answer in its completing transaction. */
  run: (idem: Idempotency<T> | undefined) => Promise<T>;
}

/**
 * Runs a write route once per `Idempotency-Key` and sends its answer. Without a key nothing is
 * looked up (the hot path pays nothing); with one, see services/idempotency-service.ts.
 */
export const answerOnce = async <T>(c: Container, req: FastifyRequest, reply: FastifyReply, spec: AnswerOnce<T>): Promise<FastifyReply> => {
  const bodyOf = spec.body ?? ((r: T) => r);
  const send = (status: number, body: unknown) => (status === 204 ? reply.code(204).send(null) : reply.code(status).send(body));
  const key = idempotencyKeyOf(req);
  if (key === undefined) {
    const result = await spec.run(undefined);
    return send(spec.status(result), bodyOf(result));
  }
  const ctx = ctxOf(req);
  const outcome = await c.services.idempotency.run<T>(
    {
      principal: ctx.principal,
      key,
      requestHash: requestHash(spec.op, spec.input),
      answer: (result) => {
        const body = bodyOf(result);
        return { status: spec.status(result), response: JSON.stringify(spec.stored ? spec.stored(body, result) : body) ?? "null" };
      },
      refusal: (e) => ({ status: httpStatus[e.code], response: JSON.stringify(errorBody(ctx.requestId, e.code, e.message, e.details)) }),
    },
    spec.run,
  );
  if (!outcome.replayed) {
    const result = outcome.result;
    return send(spec.status(result), bodyOf(result));
  }
  reply.header("idempotent-replayed", "true");
  if (spec.replayed !== undefined && outcome.status < 300) {
    const again = await spec.replayed({ status: outcome.status, body: JSON.parse(outcome.response) });
    return send(again.status, again.body);
  }
  if (outcome.status === 204) return reply.code(204).send(null);
  return reply.code(outcome.status).type("application/json; charset=utf-8").send(outcome.response);
};
