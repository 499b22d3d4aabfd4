/**
 * The HTTP surface (Fastify 5 + zod). Routes are thin: parse → service → defined response.
 * Errors leave only as `{ error: { code, message, requestId, details? } }`; driver errors and
 * stack traces never reach a client, and personal data never reaches the log.
 */
import crypto from "node:crypto";
import { performance } from "node:perf_hooks";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Container } from "../container.js";
import { HaechiError, isHaechiError, type ErrorCode } from "../core/errors.js";
import { errorBody, httpStatus, type ErrorBody } from "./error-map.js";
import { metricsRegistry } from "./metrics.js";
import { registerAuditRoutes } from "./routes/audit-routes.js";
import { registerIncidentRoutes } from "./routes/incident-routes.js";
import { registerDetectionRoutes } from "./routes/detection-routes.js";
import { registerPolicyRoutes } from "./routes/policy-routes.js";
import { registerPortalRoutes } from "./routes/portal-routes.js";
import { registerProvisionRoutes } from "./routes/provision-routes.js";
import { registerRequestRoutes } from "./routes/request-routes.js";
import { registerSubjectRoutes } from "./routes/subject-routes.js";
import { registerConsoleRoutes } from "./console/console-routes.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: string | null;
  }
}

/** Maps Fastify's own client errors to the closed vocabulary. */
const fastifyErrorCode = (err: { code?: string; statusCode?: number }): ErrorCode => {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return "PAYLOAD_TOO_LARGE";
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "UNSUPPORTED_MEDIA_TYPE";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "BAD_REQUEST";
    default:
      return err.statusCode === 413 ? "PAYLOAD_TOO_LARGE" : err.statusCode === 415 ? "UNSUPPORTED_MEDIA_TYPE" : "BAD_REQUEST";
  }
};

/** Deepest nesting a JSON body may have: deeper values would overflow JSON.stringify later on. */
export const MAX_JSON_DEPTH = 64;

/** Nesting depth of a JSON text that already parsed (strings are skipped; no recursion). */
const jsonDepth = (text: string): number => {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) max = Math.max(max, ++depth);
    else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return max;
};

export const sendError = (reply: FastifyReply, code: ErrorCode, message: string, details?: unknown) => {
  const body: ErrorBody = errorBody(String(reply.request.id), code, message, details);
  return reply.code(httpStatus[code]).type("application/json; charset=utf-8").send(JSON.stringify(body));
};

export interface ServerOptions {
  logger?: boolean;
  /** How long `/readyz` waits for its write to be acknowledged (default 2000 ms). */
  readyTimeoutMs?: number;
}

export const buildServer = async (c: Container, opts: ServerOptions = {}): Promise<FastifyInstance> => {
  const reqIdPrefix = `${crypto.randomBytes(4).toString("hex")}-`;
  let reqCounter = 0;
  const app = Fastify({
    logger: opts.logger === false || c.config.logLevel === "silent"
      ? false
      : {
          level: c.config.logLevel,
          // Nothing from a request body, query or Authorization header is ever logged.
          redact: { paths: ["req.headers.authorization", "req.headers.cookie"], remove: true },
          serializers: {
            req: (req: FastifyRequest) => ({ method: req.method, route: req.routeOptions?.url, id: req.id }),
          },
        },
    // Per-request log lines are off: they would carry URLs (pseudonymous ids) for every read.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: c.config.bodyLimit,
    // Unique per process run and cheap: a random prefix and a counter (no entropy per request).
    genReqId: () => `${reqIdPrefix}${(reqCounter++).toString(36)}`,
    requestIdHeader: false,
    trustProxy: false,
    return503OnClosing: true,
    ajv: undefined,
    // Requests Node's HTTP parser rejects (oversize headers or URL, bad Content-Length, garbage)
    // never reach a route; answer them in the error shape too.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      const message =
        err.code === "HPE_HEADER_OVERFLOW"
          ? "request headers or URL are too large"
          : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? "request timed out"
            : "malformed HTTP request";
      const body: ErrorBody = { error: { code: "BAD_REQUEST", message, requestId: crypto.randomBytes(8).toString("hex") } };
      const text = JSON.stringify(body);
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 400 Bad Request\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${text}`,
        );
      }
      socket.destroy(err);
    },
    // A malformed URL or an over-long path parameter is answered in the error shape too.
    frameworkErrors: (err, _req, reply) =>
      err.code === "FST_ERR_MAX_PARAM_LENGTH"
        ? sendError(reply, "VALIDATION_FAILED", "a path parameter is longer than 100 characters")
        : sendError(reply, "BAD_REQUEST", "the URL is not valid (check its percent-encoding)"),
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: text/plain is refused with 415 instead of reaching the schemas as a string.
  // Bodies keep Fastify's prototype-poisoning checks and get a nesting limit.
  const defaultJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = body as string;
    defaultJson(req, text, (err, parsed) => {
      if (err) {
        let plainJson = false;
        try {
          JSON.parse(text);
          plainJson = text.length > 0;
        } catch {
          /* not JSON at all */
        }
        if (plainJson) return done(new HaechiError("BAD_REQUEST", "request body contains a forbidden key (__proto__ or constructor.prototype)"));
        return done(err);
      }
      if (jsonDepth(text) > MAX_JSON_DEPTH) return done(new HaechiError("BAD_REQUEST", `request body is nested deeper than ${MAX_JSON_DEPTH} levels`));
      done(null, parsed);
    });
  });

  app.setValidatorCompiler(validatorCompiler);
  // Responses are typed by the zod schemas at compile time; at run time they are plain JSON.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.decorateRequest("principal", null);

  const metrics = metricsRegistry();
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions?.url ?? "unmatched";
    metrics.inc("haechi_http_requests_total", "HTTP requests by route and status", { method: req.method, route, status: reply.statusCode });
    metrics.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, req, reply) => {
    if (isHaechiError(err)) {
      if (httpStatus[err.code] >= 500) req.log.error({ code: err.code, requestId: req.id }, err.message);
      metrics.inc("haechi_errors_total", "Errors by code", { code: err.code });
      const retry = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
      if (err.code === "PRINCIPAL_THROTTLED" && typeof retry === "number") reply.header("retry-after", String(retry));
      return sendError(reply, err.code, err.message, err.details);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: `${(v as { instancePath?: string }).instancePath ?? ""}`.replace(/^\//, "").replace(/\//g, ".") || "(root)",
        message: v.message ?? "invalid",
      }));
      const where = err.validationContext ?? "request";
      return sendError(reply, "VALIDATION_FAILED", `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, { issues });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      const code = fastifyErrorCode(e);
      const message =
        code === "PAYLOAD_TOO_LARGE"
          ? `request body is larger than ${c.config.bodyLimit} bytes`
          : code === "UNSUPPORTED_MEDIA_TYPE"
            ? "send JSON with Content-Type: application/json"
            : e.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
              ? "request body is empty; send a JSON object"
              : e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e instanceof SyntaxError
                ? "request body is not valid JSON"
                : "bad request";
      return sendError(reply, code, message);
    }
    req.log.error({ requestId: req.id, errName: (err as Error).name }, "unhandled error");
    return sendError(reply, "INTERNAL", "internal error; quote the requestId when reporting it");
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, "NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Haechi API",
        version: "1.0.0",
        description: "Personal data, released only for a purpose with a legal basis. Every call is audited.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "hk_<keyId>_<secret>" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });

  /** Authentication for every /v1 route. */
  const authenticate = async (req: FastifyRequest) => {
    const h = req.headers.authorization;
    // The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer <key>" is the same credential.
    const token = typeof h === "string" ? /^bearer[ \t]+(.*)$/i.exec(h)?.[1]?.trim() || undefined : undefined;
    const principal = await c.services.auth.authenticate(token, req.ip, String(req.id));
    // Detection's holds (ADR 0009): a suspended or throttled principal is refused here, before
    // any route runs. No hold: no promise, nothing awaited.
    const held = c.services.detection.admit(principal, req.ip, String(req.id));
    if (held !== undefined) await held;
    req.principal = principal;
  };
  app.addHook("onRequest", async (req) => {
    if (req.url.startsWith("/v1/")) await authenticate(req);
  });

  /** Liveness: the process answers and the store can be read (a read-only store still passes). */
  app.get("/healthz", { schema: { hide: true } }, async (_req, reply) => {
    const head = await c.stores.audit.head();
    return reply.send({ status: "ok", store: c.stores.kind, auditSeq: head?.seq ?? 0 });
  });
  /**
   * Readiness: a write is acknowledged now. Every request writes its audit entry first, so a
   * store that is read-only (a standby, a demoted primary) or cannot acknowledge (PostgreSQL with
   * no synchronous standby left) serves nothing: that is not ready, whatever a read says. One small
   * durable write to the data store's meta table, bounded by `readyTimeoutMs`; for load balancers
   * and the monitoring of the crisis manual (§3).
   */
  const readyTimeoutMs = opts.readyTimeoutMs ?? 2000;
  app.get("/readyz", { schema: { hide: true } }, async (_req, reply) => {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      c.stores.data.setMeta("readyz", new Date().toISOString()).then(
        () => "ready" as const,
        (e: unknown) => (isHaechiError(e) ? e.code : "STORE_ERROR"),
      ),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("NOT_ACKNOWLEDGED_IN_TIME"), readyTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const tookMs = Math.round(performance.now() - started);
    if (outcome === "ready") return reply.send({ status: "ready", store: c.stores.kind, writeMs: tookMs });
    return reply.code(503).send({ status: "not ready", store: c.stores.kind, reason: outcome, afterMs: tookMs });
  });
  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) =>
    reply.type("text/plain; version=0.0.4").send(
      metrics.render({
        // Main-thread busy time: with requests_total it gives the event-loop cost per request.
        haechi_event_loop_busy_seconds_total: { help: "Event-loop busy time since start (counter)", value: performance.eventLoopUtilization().active / 1000 },
        process_cpu_seconds_total: { help: "Process CPU time, all threads (counter)", value: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 },
      }),
    ),
  );
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  // Browsers ask for it on every page of the console and the portal: nothing, and no 404 in their consoles.
  app.get("/favicon.ico", { schema: { hide: true } }, async (_req, reply) => reply.code(204).header("cache-control", "public, max-age=86400").send());

  registerSubjectRoutes(app, c);
  registerAuditRoutes(app, c);
  registerDetectionRoutes(app, c);
  registerProvisionRoutes(app, c);
  registerIncidentRoutes(app, c);
  registerPolicyRoutes(app, c);
  registerRequestRoutes(app, c);
  await registerConsoleRoutes(app, c);
  registerPortalRoutes(app, c);
  return app;
};

/** The request context services receive. */
export const ctxOf = (req: FastifyRequest) => {
  if (!req.principal) throw new HaechiError("UNAUTHENTICATED", "not authenticated");
  return { principal: req.principal, source: req.ip ?? null, requestId: String(req.id) };
};
