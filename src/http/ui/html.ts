/**
 * Server-rendered HTML for the portal (people) and the console (operators): escaping, a tagged
 * template that escapes every interpolation unless it is already `Html`, and the page shell.
 *
 * Pages carry a strict Content-Security-Policy (no inline script; styles and scripts from this
 * origin only), so a value that slipped through escaping still could not run.
 */
import type { FastifyReply } from "fastify";

/** Markup that is already safe (built by `html` or `raw`). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for element content and quoted attribute values. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const render = (v: Part): string => {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join("");
  return escapeHtml(String(v));
};

/** `html\`<p>${name}</p>\``: every interpolation escaped unless it is `Html`; arrays are joined. */
export const html = (strings: TemplateStringsArray, ...values: Part[]): Html => {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
};

/** Markup from a trusted source (a generated SVG, a rendered policy): never from input. */
export const raw = (s: string): Html => new Html(s);

export type Lang = "ko" | "en";

/** `?lang=en` or the Accept-Language header's first choice; Korean otherwise. */
export const langOf = (query: unknown, acceptLanguage: string | undefined): Lang => {
  const q = (query as { lang?: unknown } | undefined)?.lang;
  if (q === "en" || q === "ko") return q;
  return /^\s*en\b/i.test(acceptLanguage ?? "") ? "en" : "ko";
};

export interface PageOptions {
  lang: Lang;
  title: string;
  body: Html;
  /** Stylesheets and scripts served from this origin (absolute paths). */
  styles?: readonly string[];
  scripts?: readonly string[];
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A whole document: language, viewport for phones, title, assets. */
export const page = (o: PageOptions): string =>
  "<!doctype html>\n" +
  html`<html lang="${o.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${o.title}</title>
${(o.styles ?? []).map((s) => html`<link rel="stylesheet" href="${s}">`)}
${(o.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`)}
</head>
<body>
${o.body}
</body>
</html>
`.value;

/** Sends a page with the headers every page carries: no caching of personal data, CSP, no framing. */
export const sendPage = (reply: FastifyReply, doc: string, status = 200): FastifyReply =>
  reply
    .status(status)
    .header("content-type", "text/html; charset=utf-8")
    .header("cache-control", "no-store")
    .header("content-security-policy", CONTENT_SECURITY_POLICY)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .send(doc);
