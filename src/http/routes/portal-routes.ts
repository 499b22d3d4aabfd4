/**
 * The portal for people (ADR 0012): `POST /v1/subjects/{id}/portal-link` for services, and the
 * `/portal` pages for the person.
 *
 * The pages live in their own Fastify context: only there are HTML forms parsed
 * (application/x-www-form-urlencoded, small bodies), and errors are answered as pages. Every
 * state-changing request carries the session's anti-CSRF token, must come from this origin when
 * the browser says where it came from, and rides a SameSite=Strict cookie. Nothing personal is
 * ever in a URL: values travel only in response bodies marked no-store.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { HaechiError, isHaechiError } from "../../core/errors.js";
import { exportToCsv } from "../../services/portal-fns.js";
import { IDLE_MS, PortalRefused, type PortalSession } from "../../services/portal-service.js";
import { httpStatus } from "../error-map.js";
import { errorSchema, subjectIdParam } from "../schemas.js";
import { ctxOf } from "../server.js";
import { html, langOf, sendPage, type Html, type Lang } from "../ui/html.js";
import { PORTAL_CSS } from "../ui/portal-assets.js";
import { deletedPage, deletePage, messagePage, overviewPage, PORTAL_CSS_PATH, withLang } from "../ui/portal-pages.js";
import { portalText } from "../ui/portal-text.js";

const COOKIE = "haechi_portal";
const FORM_LIMIT = 8 * 1024;

const cookieOf = (req: FastifyRequest): string | undefined => {
  const header = req.headers.cookie;
  if (typeof header !== "string") return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
};

/**
 * HttpOnly, SameSite=Strict, scoped to /portal; Secure when the request came over TLS or people
 * reach Haechi over https (HAECHI_PUBLIC_URL, a TLS-terminating proxy in front).
 */
const setCookie = (secure: boolean, reply: FastifyReply, value: string, maxAgeSeconds: number) =>
  reply.header("set-cookie", `${COOKIE}=${value}; Path=/portal; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`);

/** Form fields (a null-prototype record of strings; repeated names keep the first). */
type Form = Record<string, string>;
const formOf = (req: FastifyRequest): Form => (req.body && typeof req.body === "object" ? (req.body as Form) : Object.create(null));

const csrfError = () => new HaechiError("ACCESS_DENIED", "the form's anti-CSRF token or origin did not match", { reasons: [{ code: "CSRF" }] });

const reasonOf = (e: unknown): string | undefined => {
  const d = (e as { details?: { reasons?: { code?: unknown }[] } }).details;
  const c = d?.reasons?.[0]?.code;
  return typeof c === "string" ? c : undefined;
};

export const registerPortalRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = c.services.portal;

  r.post(
    "/v1/subjects/:id/portal-link",
    {
      schema: {
        summary: "A short-lived, single-use link to the privacy portal for the service's logged-in user",
        description:
          "Only a service principal that resolves the id to an active person, with a collecting purpose of its own standing for that person, gets a link; every answer is audited (portal.link). The link expires in 5 minutes and opens one session; hand it to the person in the signed-in app, never by message. It changes nothing stored, so it takes no Idempotency-Key: a retry gets a new link (the link is a credential and is never stored to be answered again; one that was lost expires unused).",
        tags: ["portal"],
        params: subjectIdParam,
        response: {
          201: z.object({ url: z.string().describe("Absolute URL with the signed token; open it once"), expiresAt: z.string() }),
          400: errorSchema,
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
          429: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const link = await svc.issueLink(ctxOf(req), req.params.id);
      const origin = c.config.publicUrl ?? `${req.protocol}://${req.host}`;
      return reply.code(201).header("cache-control", "no-store").send({ url: `${origin}${link.path}`, expiresAt: link.expiresAt });
    },
  );

  const bilingual = z.object({ ko: z.string(), en: z.string() });
  const reportResponse = z.object({
    controller: z.object({ name: bilingual, contact: z.string(), officer: z.object({ name: z.string(), contact: z.string() }).nullable() }),
    held: z.array(z.object({ field: z.string(), label: bilingual, class: z.string(), sensitivity: z.string(), updatedAt: z.string() })).describe("Items held (names only; no values)"),
    purposes: z.array(
      z.object({
        purpose: z.string(),
        description: bilingual,
        basis: z.string(),
        statute: z.string().nullable(),
        fields: z.array(z.string()),
        consent: z.enum(["granted", "withdrawn", "none"]).nullable(),
      }),
    ),
    consents: z.array(
      z.object({
        notice: z.string(),
        title: bilingual,
        category: z.string(),
        optional: z.boolean(),
        status: z.enum(["granted", "withdrawn", "none"]),
        stale: z.boolean(),
        version: z.number().nullable(),
        at: z.string().nullable(),
        text: z.unknown().describe("The notice text of the version a toggle acts on"),
        grantVersion: z.number().nullable(),
      }),
    ),
    recipients: z.array(
      z.object({
        recipient: z.string(),
        legalName: bilingual,
        kind: z.enum(["consignee", "third_party"]),
        country: z.string(),
        contact: z.string().nullable(),
        fields: z.array(z.string()),
        work: bilingual.nullable(),
        retention: bilingual.nullable(),
        transferBasis: z.string().nullable(),
        received: z.number().describe("Times the person's data went to it"),
      }),
    ),
    provisions: z.array(
      z.object({
        provision: z.string(),
        recipient: z.string(),
        country: z.string(),
        purpose: z.string(),
        fields: z.array(z.string()),
        basis: z.string(),
        transferBasis: z.string().nullable(),
        status: z.string(),
        at: z.string(),
      }),
    ),
    retention: z.array(z.object({ field: z.string(), heldUntil: z.string().nullable(), onDeletion: z.unknown() })),
    access: z
      .array(
        z.object({
          at: z.string(),
          actor: z.string(),
          actorLabel: bilingual.nullable(),
          action: z.string(),
          purpose: z.string().nullable(),
          fields: z.array(z.string()),
          effect: z.string(),
          reasons: z.array(z.string()),
        }),
      )
      .describe("The audit log's entries about the person, newest first, at most 200"),
    incidents: z.array(z.object({ id: z.string(), kind: z.string(), status: z.string(), summary: z.string(), awareAt: z.string() })),
  });

  r.get(
    "/v1/subjects/:id/report",
    {
      schema: {
        summary: "The transparency report for the service's signed-in user: what is held, why, shared with whom, for how long, who read it, incidents",
        description:
          "Everything the privacy portal shows except the values (nothing is decrypted). Allowed as a portal link is: a service principal whose collecting purpose stands for that person; audited (subject.report).",
        tags: ["portal"],
        params: subjectIdParam,
        response: { 200: reportResponse, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 429: errorSchema, 503: errorSchema },
      },
    },
    async (req, reply) => {
      const report = await svc.report(ctxOf(req), req.params.id);
      return reply.header("cache-control", "no-store").send({
        ...report,
        incidents: report.incidents.map((i) => ({ id: i.id, kind: i.kind, status: i.status, summary: i.summary, awareAt: i.awareAt })),
      });
    },
  );

  const secure = (req: FastifyRequest) => req.protocol === "https" || (c.config.publicUrl?.startsWith("https://") ?? false);
  const setCookieFor = (req: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number) => setCookie(secure(req), reply, value, maxAgeSeconds);
  const clearCookie = (req: FastifyRequest, reply: FastifyReply) => setCookieFor(req, reply, "", 0);

  void app.register(async (p) => {
    // Forms for /portal only; the rest of the API stays JSON-only.
    p.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: FORM_LIMIT }, (_req, body, done) => {
      const out: Form = Object.create(null);
      for (const [k, v] of new URLSearchParams(body as string)) if (!(k in out)) out[k] = v;
      done(null, out);
    });

    const lang = (req: FastifyRequest): Lang => langOf(req.query, req.headers["accept-language"]);

    p.setErrorHandler((err, req, reply) => {
      const l = lang(req);
      const tx = portalText(l);
      if (err instanceof PortalRefused) {
        clearCookie(req, reply);
        return sendPage(reply, messagePage(l, tx.errors.h, tx.errors[err.refusal]), 401);
      }
      if (isHaechiError(err)) {
        const why = reasonOf(err);
        if (why === "CSRF" || why === "CONFIRMATION_REQUIRED") return sendPage(reply, messagePage(l, tx.errors.h, tx.errors[why], backLink(l)), 403);
        const status = httpStatus[err.code];
        if (status >= 500) req.log.error({ code: err.code, requestId: req.id }, err.message);
        return sendPage(reply, messagePage(l, tx.errors.h, tx.errors.generic, requestIdNote(l, String(req.id), backLink(l))), status);
      }
      const e = err as { statusCode?: number };
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
      if (status === 500) req.log.error({ requestId: req.id, errName: (err as Error).name }, "unhandled portal error");
      return sendPage(reply, messagePage(l, tx.errors.h, tx.errors.generic, requestIdNote(l, String(req.id), backLink(l))), status);
    });

    const backLink = (l: Lang) => portalBack(l);

    /** The session behind the cookie (none: refused as such); the reply gets the refreshed cookie. */
    const session = async (req: FastifyRequest, reply: FastifyReply): Promise<PortalSession> => {
      const cookie = cookieOf(req);
      if (cookie === undefined || cookie === "") throw new NoSession();
      const s = await svc.session(cookie);
      setCookieFor(req, reply, s.cookie, Math.floor(IDLE_MS / 1000));
      return s;
    };

    /** A state change: the session's token in the form, and (when the browser says) this origin. */
    const changing = async (req: FastifyRequest, reply: FastifyReply): Promise<{ s: PortalSession; form: Form }> => {
      const s = await session(req, reply);
      const form = formOf(req);
      const site = req.headers["sec-fetch-site"];
      const origin = req.headers.origin;
      const self = `${req.protocol}://${req.host}`;
      // Pages are sent with Referrer-Policy no-referrer, so a browser says `Origin: null` even for
      // its own same-origin forms; then its Sec-Fetch-Site must vouch for the origin instead.
      // Behind a TLS-terminating proxy the browser's origin is the public one (HAECHI_PUBLIC_URL).
      const originOk =
        typeof origin !== "string" || origin === self || origin === c.config.publicUrl || (origin === "null" && site === "same-origin");
      if ((typeof site === "string" && site !== "same-origin") || !originOk || !svc.csrfValid(s, form.csrf)) {
        throw csrfError();
      }
      return { s, form };
    };

    const noSession = (req: FastifyRequest, reply: FastifyReply) => {
      const l = lang(req);
      const tx = portalText(l);
      return sendPage(reply, messagePage(l, tx.errors.h, tx.errors.NO_SESSION), 401);
    };
    const guarded =
      (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
      async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          return await fn(req, reply);
        } catch (e) {
          if (e instanceof NoSession) return noSession(req, reply);
          throw e;
        }
      };

    p.get(PORTAL_CSS_PATH, { schema: { hide: true } }, async (_req, reply) =>
      reply.header("content-type", "text/css; charset=utf-8").header("cache-control", "public, max-age=3600").header("x-content-type-options", "nosniff").send(PORTAL_CSS),
    );

    // Opening a link: the token is used up and exchanged for a cookie, then the browser goes on to
    // a URL without it (the token never stays in the address bar or the history).
    p.get("/portal/enter", { schema: { hide: true } }, async (req, reply) => {
      const token = (req.query as { t?: unknown } | undefined)?.t;
      const s = await svc.enter(token, req.ip ?? null, String(req.id));
      setCookieFor(req, reply, s.cookie, Math.floor(IDLE_MS / 1000));
      return reply.code(303).header("cache-control", "no-store").header("referrer-policy", "no-referrer").header("location", withLang("/portal", lang(req))).send();
    });

    p.get(
      "/portal",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const s = await session(req, reply);
        const l = lang(req);
        const tx = portalText(l);
        const done = (req.query as { done?: unknown } | undefined)?.done;
        const flash = done === "granted" ? tx.consents.granted : done === "withdrawn" ? tx.consents.withdrawn : undefined;
        return sendPage(reply, overviewPage(l, s, await svc.overview(s), flash ? { flash } : {}));
      }),
    );

    p.post(
      "/portal/reveal",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const { s } = await changing(req, reply);
        const values = await svc.reveal(s, req.ip ?? null, String(req.id));
        return sendPage(reply, overviewPage(lang(req), s, await svc.overview(s), { values }));
      }),
    );

    p.post(
      "/portal/consents",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const { s, form } = await changing(req, reply);
        const action = form.action;
        const version = Number(form.version);
        if ((action !== "grant" && action !== "withdraw") || typeof form.notice !== "string" || !Number.isSafeInteger(version) || version < 1) {
          throw new HaechiError("VALIDATION_FAILED", "consent form: notice, action (grant | withdraw) and version are required");
        }
        await svc.setConsent(s, { notice: form.notice, action, version }, req.ip ?? null, String(req.id));
        const to = withLang(`/portal?done=${action === "grant" ? "granted" : "withdrawn"}`, lang(req));
        return reply.code(303).header("cache-control", "no-store").header("location", `${to}#consent-${form.notice}`).send();
      }),
    );

    p.post(
      "/portal/download",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const { s, form } = await changing(req, reply);
        const format = form.format === "csv" ? "csv" : form.format === "json" ? "json" : undefined;
        if (format === undefined) throw new HaechiError("VALIDATION_FAILED", "format must be json or csv");
        const data = await svc.download(s, req.ip ?? null, String(req.id));
        const day = data.generatedAt.slice(0, 10).replace(/-/g, "");
        reply
          .header("cache-control", "no-store")
          .header("x-content-type-options", "nosniff")
          .header("content-disposition", `attachment; filename="my-data-${day}.${format}"`);
        if (format === "json") return reply.header("content-type", "application/json; charset=utf-8").send(JSON.stringify(data, null, 2));
        // A byte-order mark, so spreadsheets read the Korean text as UTF-8.
        return reply.header("content-type", "text/csv; charset=utf-8").send(`\uFEFF${exportToCsv(data)}`);
      }),
    );

    p.get(
      "/portal/delete",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const s = await session(req, reply);
        const overview = await svc.overview(s);
        return sendPage(reply, deletePage(lang(req), s, await svc.erasurePreview(s), overview.fieldLabels));
      }),
    );

    p.post(
      "/portal/delete",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const { s, form } = await changing(req, reply);
        if (form.confirm !== "yes") throw new HaechiError("VALIDATION_FAILED", "confirm the deletion first");
        const overview = await svc.overview(s);
        const preview = await svc.erasurePreview(s);
        const result = await svc.deleteAccount(s, req.ip ?? null, String(req.id));
        clearCookie(req, reply);
        return sendPage(reply, deletedPage(lang(req), result, preview, overview.fieldLabels));
      }),
    );

    p.post(
      "/portal/leave",
      { schema: { hide: true } },
      guarded(async (req, reply) => {
        const { s } = await changing(req, reply);
        await svc.signOut(s, req.ip ?? null, String(req.id));
        clearCookie(req, reply);
        const l = lang(req);
        const tx = portalText(l);
        return sendPage(reply, messagePage(l, tx.signedOutH, tx.signedOut));
      }),
    );
  });
};

class NoSession extends Error {}

const portalBack = (l: Lang) => {
  const tx = portalText(l);
  return htmlBack(withLang("/portal", l), tx.del.cancel);
};

const htmlBack = (href: string, label: string): Html => html`<p><a class="btn btn-secondary" href="${href}">${label}</a></p>`;
const requestIdNote = (l: Lang, id: string, extra: Html) => html`<p class="hint">${portalText(l).errors.requestId}: ${id}</p>${extra}`;
