/**
 * The privacy policy (PIPA Art. 30; Decree Art. 31): `GET /policy`, the public page (Korean by
 * default, `?lang=en`; no key: the policy must be public, Art. 30(2), Decree 31(2)), with earlier
 * versions and their change logs; `GET /v1/policy`, the same as JSON for services.
 *
 * Shown is the published version in force today; before any is in force, the catalog's current
 * policy marked as an unpublished draft. `?version=n` shows an earlier (or upcoming) version.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Container } from "../../container.js";
import { changeText, policyTitle } from "../../core/policy-doc/policy-doc-fns.js";
import type { PolicyLang } from "../../core/policy-doc/policy-doc-types.js";
import { POLICY_CSS, policyPageBody } from "../../core/policy-doc/policy-render-fns.js";
import type { PolicyVersionSummary } from "../../core/ports.js";
import { errorSchema } from "../schemas.js";
import { langOf, page, raw, sendPage } from "../ui/html.js";

const POLICY_CSS_PATH = "/policy/policy.css";

export const pageQuery = z
  .object({
    lang: z.enum(["ko", "en"]).optional().describe("ko or en (default: the browser's Accept-Language if English, else Korean)"),
    version: z.coerce.number().int().min(1).max(1_000_000).optional().describe("a published version (default: the one in force)"),
  })
  .strict();

export const policyQuery = z
  .object({
    lang: z.enum(["ko", "en"]).default("ko").describe("ko (default) or en"),
    version: z.coerce.number().int().min(1).max(1_000_000).optional().describe("a published version (default: the one in force)"),
  })
  .strict();

const changeView = z.object({
  subject: z.string().describe("purpose | item | third_party | trustee | transfer | retention_rule | section"),
  change: z.enum(["added", "removed", "changed"]),
  name: z.string().describe("the catalog name (or the section id)"),
  fields: z.array(z.string()).describe("what changed, for changed"),
  text: z.string().describe("the change-log line in the language asked"),
});
const versionView = z.object({
  version: z.number(),
  effective: z.string().describe("YYYY-MM-DD (KST)"),
  publishedAt: z.string(),
  contentSha256: z.string(),
  changes: z.array(changeView),
});

export const policyResponse = z
  .object({
    lang: z.enum(["ko", "en"]),
    draft: z.boolean().describe("true: no version is in force yet; this is the catalog's current policy, unpublished"),
    version: z.number().nullable(),
    effective: z.string().nullable(),
    inForce: z.number().nullable().describe("the version in force today"),
    upcoming: z.object({ version: z.number(), effective: z.string() }).nullable().describe("a published version still to take effect"),
    title: z.string(),
    markdown: z.string(),
    html: z.string().describe("the policy as an HTML <article> fragment"),
    contentSha256: z.string(),
    sha256: z.object({ markdown: z.string(), html: z.string() }).describe("digests of the texts as published (or rendered, for a draft)"),
    history: z.array(versionView).describe("published versions, newest first, with their change logs"),
  })
  .meta({ id: "PrivacyPolicy" });


/** What both routes show: the version asked, or the one in force, or the draft. */
const resolve = async (c: Container, lang: PolicyLang, version: number | undefined) => {
  const svc = c.services.policy;
  const state = await svc.inForce();
  const upcoming = state.upcoming === undefined ? null : { version: state.upcoming.version, effective: state.upcoming.effective };
  const inForce = state.current?.version ?? null;
  const row = version !== undefined ? await svc.version(version) : state.current;
  if (row !== undefined) {
    return {
      draft: false,
      title: policyTitle(row.content)[lang],
      version: row.version,
      effective: row.effective,
      markdown: row.texts[`${lang}.md`] ?? "",
      html: row.texts[`${lang}.html`] ?? "",
      contentSha256: row.contentSha256,
      sha256: { markdown: row.textSha256[`${lang}.md`] ?? "", html: row.textSha256[`${lang}.html`] ?? "" },
      inForce,
      upcoming,
      history: state.history,
    };
  }
  const d = await svc.draft();
  return {
    draft: true,
    title: d.document.title[lang],
    version: null,
    effective: null,
    markdown: d.texts[`${lang}.md`] ?? "",
    html: d.texts[`${lang}.html`] ?? "",
    contentSha256: d.contentSha256,
    sha256: { markdown: d.textSha256[`${lang}.md`] ?? "", html: d.textSha256[`${lang}.html`] ?? "" },
    inForce,
    upcoming,
    history: state.history,
  };
};

const historyView = (h: PolicyVersionSummary, lang: PolicyLang) => ({
  version: h.version,
  effective: h.effective,
  publishedAt: h.publishedAt.toISOString(),
  contentSha256: h.contentSha256,
  changes: h.changes.map((ch) => ({ subject: ch.subject, change: ch.change, name: ch.name, fields: ch.fields, text: changeText(ch)[lang] })),
});

export const registerPolicyRoutes = (app: FastifyInstance, c: Container) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    "/policy",
    {
      schema: {
        summary: "The privacy policy, public (no key): the version in force, earlier versions and their change logs (PIPA Art. 30(2))",
        tags: ["policy"],
        security: [],
        produces: ["text/html"],
        querystring: pageQuery,
        response: { 200: z.string().describe("an HTML page"), 400: errorSchema, 404: errorSchema, 500: errorSchema },
      },
    },
    async (req, reply) => {
      const lang = langOf(req.query, req.headers["accept-language"]);
      const v = await resolve(c, lang, req.query.version);
      const body = policyPageBody({
        lang,
        article: v.html,
        title: v.title,
        history: v.history.map((h) => ({ version: h.version, effective: h.effective, publishedAt: h.publishedAt.toISOString(), changes: h.changes })),
        shown: v.version,
        inForce: v.inForce,
        upcoming: v.upcoming,
        path: "/policy",
      });
      reply.header("content-language", lang);
      return sendPage(reply, page({ lang, title: v.title, body: raw(body), styles: [POLICY_CSS_PATH] }));
    },
  );

  r.get("/policy/policy.css", { schema: { hide: true } }, async (_req, reply) =>
    reply
      .type("text/css; charset=utf-8")
      .header("cache-control", "public, max-age=3600")
      .header("x-content-type-options", "nosniff")
      .send(POLICY_CSS),
  );

  r.get(
    "/v1/policy",
    {
      schema: {
        summary: "The privacy policy as JSON for services: Markdown, HTML, digests, earlier versions and their change logs",
        tags: ["policy"],
        querystring: policyQuery,
        response: { 200: policyResponse, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 429: errorSchema, 500: errorSchema },
      },
    },
    async (req) => {
      const { lang, version } = req.query;
      const v = await resolve(c, lang, version);
      return {
        lang,
        draft: v.draft,
        version: v.version,
        effective: v.effective,
        inForce: v.inForce,
        upcoming: v.upcoming,
        title: v.title,
        markdown: v.markdown,
        html: v.html,
        contentSha256: v.contentSha256,
        sha256: v.sha256,
        history: v.history.map((h) => historyView(h, lang)),
      };
    },
  );
};
