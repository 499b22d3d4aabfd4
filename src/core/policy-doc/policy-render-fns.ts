/**
 * Renders a privacy-policy document to Markdown and to HTML in one language. Pure string building;
 * every catalog text is escaped. The HTML page is meant to be read on a phone and with a screen
 * reader: `lang` on the root, one h1, h2 per section, h3 per group, table captions and header
 * scopes, a skip link, contrast well above WCAG AA, tables that scroll sideways on narrow screens.
 */
import { articleFor, changeText } from "./policy-doc-fns.js";
import type { Bilingual, PolicyBlock, PolicyDocument, PolicyHistoryEntry, PolicyLang, RenderedPolicy } from "./policy-doc-types.js";

const mdCell = (s: string) => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
const mdText = (s: string) => s.replace(/\r?\n/g, " ");

const blockMd = (b: PolicyBlock, lang: PolicyLang): string => {
  switch (b.kind) {
    case "p":
      return mdText(b.text[lang]);
    case "list":
      return b.items.map((i) => `- ${mdText(i[lang])}`).join("\n");
    case "table":
      return [
        `| ${b.head.map((h) => mdCell(h[lang])).join(" | ")} |`,
        `|${b.head.map(() => "---").join("|")}|`,
        ...b.rows.map((r) => `| ${r.map((c) => mdCell(c[lang])).join(" | ")} |`),
      ].join("\n");
    case "group":
      return [`### ${mdText(b.title[lang])}`, ...b.blocks.map((x) => blockMd(x, lang))].join("\n\n");
  }
};

const LABELS = {
  version: { ko: "버전", en: "Version" },
  draft: { ko: "초안 (공표 전)", en: "Draft (not published)" },
  effective: { ko: "시행일", en: "Effective" },
  basis: { ko: "근거", en: "Basis" },
  published: { ko: "게시 위치", en: "Published at" },
} satisfies Record<string, Bilingual>;

/** Markdown of the document in one language. */
export const policyMarkdown = (doc: PolicyDocument, lang: PolicyLang): string => {
  const head = [
    `# ${mdText(doc.title[lang])}`,
    "",
    `${LABELS.version[lang]}: ${doc.version === null ? LABELS.draft[lang] : doc.version}${doc.effective === null ? "" : ` · ${LABELS.effective[lang]}: ${doc.effective}`}${doc.website === null ? "" : ` · ${LABELS.published[lang]}: ${doc.website}`}`,
  ];
  const body = doc.sections.map((s, i) =>
    [`## ${i + 1}. ${mdText(s.title[lang])}`, "", `_${LABELS.basis[lang]}: ${articleFor(s.article, lang)}_`, "", ...s.blocks.map((b) => `${blockMd(b, lang)}\n`)].join("\n"),
  );
  return `${[...head, "", ...body].join("\n").trimEnd()}\n`;
};

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

const blockHtml = (b: PolicyBlock, lang: PolicyLang): string => {
  switch (b.kind) {
    case "p":
      return `<p>${escapeHtml(b.text[lang])}</p>`;
    case "list":
      return `<ul>${b.items.map((i) => `<li>${escapeHtml(i[lang])}</li>`).join("")}</ul>`;
    case "table":
      return (
        `<div class="scroll" role="region" tabindex="0" aria-label="${escapeHtml(b.caption[lang])}"><table>` +
        `<caption>${escapeHtml(b.caption[lang])}</caption>` +
        `<thead><tr>${b.head.map((h) => `<th scope="col">${escapeHtml(h[lang])}</th>`).join("")}</tr></thead>` +
        `<tbody>${b.rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${escapeHtml(c[lang])}</th>` : `<td>${escapeHtml(c[lang])}</td>`)).join("")}</tr>`).join("")}</tbody>` +
        `</table></div>`
      );
    case "group":
      return `<section class="group"><h3>${escapeHtml(b.title[lang])}</h3>${b.blocks.map((x) => blockHtml(x, lang)).join("")}</section>`;
  }
};

/** The `<article>` of the document in one language: the policy itself, without the page frame. */
export const policyArticleHtml = (doc: PolicyDocument, lang: PolicyLang): string => {
  const meta = `${LABELS.version[lang]} ${doc.version === null ? LABELS.draft[lang] : doc.version}${doc.effective === null ? "" : ` · ${LABELS.effective[lang]} <time datetime="${doc.effective}">${doc.effective}</time>`}`;
  const toc = `<nav aria-labelledby="toc-h"><h2 id="toc-h">${lang === "ko" ? "목차" : "Contents"}</h2><ol>${doc.sections
    .map((s) => `<li><a href="#${s.id}">${escapeHtml(s.title[lang])}</a></li>`)
    .join("")}</ol></nav>`;
  const sections = doc.sections
    .map(
      (s, i) =>
        `<section id="${s.id}" aria-labelledby="${s.id}-h"><h2 id="${s.id}-h">${i + 1}. ${escapeHtml(s.title[lang])}</h2>` +
        `<p class="article">${LABELS.basis[lang]}: ${escapeHtml(articleFor(s.article, lang))}</p>${s.blocks.map((b) => blockHtml(b, lang)).join("")}</section>`,
    )
    .join("");
  return `<article><h1>${escapeHtml(doc.title[lang])}</h1><p class="meta">${meta}</p>${toc}${sections}</article>`;
};

/** Markdown and the HTML article of one language. */
export const renderPolicy = (doc: PolicyDocument, lang: PolicyLang): RenderedPolicy => ({
  markdown: policyMarkdown(doc, lang),
  html: policyArticleHtml(doc, lang),
});

/** The page's stylesheet: inline in a standalone file, served from `/policy/policy.css` on the web (the CSP allows no inline style). */
export const POLICY_CSS = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:1rem/1.65 system-ui,-apple-system,"Segoe UI","Apple SD Gothic Neo","Noto Sans KR","Malgun Gothic",sans-serif;color:#1a1a1a;background:#fff}
main{max-width:52rem;margin:0 auto;padding:1rem}
header.bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;justify-content:space-between;align-items:center;max-width:52rem;margin:0 auto;padding:.75rem 1rem;border-bottom:1px solid #c8c8c8}
h1{font-size:1.6rem;line-height:1.3;margin:.5rem 0}
h2{font-size:1.25rem;line-height:1.35;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid #d0d0d0}
h3{font-size:1.05rem;margin:1.25rem 0 .25rem}
a{color:#0a4fb4}
a:focus-visible,[tabindex]:focus-visible{outline:3px solid #0a4fb4;outline-offset:2px}
.meta,.article{color:#3d3d3d;font-size:.95rem}
.article{margin-top:0}
.scroll{overflow-x:auto;margin:.75rem 0}
table{border-collapse:collapse;width:100%;min-width:36rem;font-size:.95rem}
caption{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
th,td{border:1px solid #b5b5b5;padding:.45rem .55rem;text-align:left;vertical-align:top}
thead th{background:#eef1f5}
tbody th{font-weight:600}
.notice{border-left:4px solid #8a5a00;background:#fff6e0;padding:.6rem .8rem}
.skip{position:absolute;left:-999px}
.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
details{margin:.5rem 0}
summary{cursor:pointer}
@media (max-width:40rem){h1{font-size:1.35rem}table{min-width:30rem}}
`;

export interface PolicyPageOptions {
  lang: PolicyLang;
  /** The policy's `<article>` (from `policyArticleHtml`, or stored with a published version). */
  article: string;
  title: string;
  /** Published versions, newest first: listed with their change logs and links. */
  history: readonly PolicyHistoryEntry[];
  /** The version shown (null: the unpublished draft). */
  shown: number | null;
  /** The version in force, if any. */
  inForce: number | null;
  /** A published version not yet in force. */
  upcoming?: { version: number; effective: string } | null;
  /** Base path of the page (links to other languages and versions). */
  path: string;
}

const versionLink = (path: string, lang: PolicyLang, version?: number) =>
  `${path}?lang=${lang}${version === undefined ? "" : `&amp;version=${version}`}`;

/** The page's body: skip link, header with the language switch, notices, the article, and the versions with their change logs (Art. 30(2)). */
export const policyPageBody = (o: PolicyPageOptions): string => {
  const ko = o.lang === "ko";
  const other: PolicyLang = ko ? "en" : "ko";
  const otherLink = `<a href="${versionLink(o.path, other, o.shown ?? undefined)}" hreflang="${other}" lang="${other}">${ko ? "English" : "한국어"}</a>`;
  const notices: string[] = [];
  if (o.shown === null)
    notices.push(ko ? "이 처리방침은 아직 공표되지 않은 초안입니다." : "This policy is a draft that has not been published yet.");
  else if (o.upcoming && o.shown >= o.upcoming.version) {
    const effective = o.history.find((h) => h.version === o.shown)?.effective ?? o.upcoming.effective;
    notices.push(
      ko
        ? `아직 시행 전인 제${o.shown}판(${effective} 시행)을 보고 계십니다.${o.inForce === null ? "" : ` <a href="${versionLink(o.path, o.lang)}">현재 적용되는 처리방침 보기</a>`}`
        : `You are reading version ${o.shown}, which takes effect on ${effective}.${o.inForce === null ? "" : ` <a href="${versionLink(o.path, o.lang)}">Read the policy in force</a>`}`,
    );
  } else if (o.inForce !== null && o.shown !== o.inForce)
    notices.push(
      ko
        ? `지난 버전(제${o.shown}판)을 보고 계십니다. <a href="${versionLink(o.path, o.lang)}">현재 적용되는 처리방침 보기</a>`
        : `You are reading an earlier version (${o.shown}). <a href="${versionLink(o.path, o.lang)}">Read the policy in force</a>`,
    );
  if (o.upcoming && (o.shown === null || o.shown < o.upcoming.version))
    notices.push(
      ko
        ? `개정된 처리방침(제${o.upcoming.version}판)이 ${o.upcoming.effective}부터 시행됩니다. <a href="${versionLink(o.path, o.lang, o.upcoming.version)}">미리 보기</a>`
        : `A revised policy (version ${o.upcoming.version}) takes effect on ${o.upcoming.effective}. <a href="${versionLink(o.path, o.lang, o.upcoming.version)}">Read it now</a>`,
    );
  const history =
    o.history.length === 0
      ? ""
      : `<section aria-labelledby="versions-h"><h2 id="versions-h">${ko ? "이전 버전과 변경 내역" : "Versions and what changed"}</h2><ul>${o.history
          .map((h) => {
            const label = ko ? `제${h.version}판 (${h.effective} 시행)` : `Version ${h.version} (effective ${h.effective})`;
            const changes = h.changes.length === 0 ? [ko ? "최초 공표" : "First publication"] : h.changes.map((c) => changeText(c)[o.lang]);
            const link = h.version === o.shown ? `<strong aria-current="page">${escapeHtml(label)}</strong>` : `<a href="${versionLink(o.path, o.lang, h.version)}">${escapeHtml(label)}</a>`;
            return `<li>${link}<details><summary>${ko ? `변경 내역 ${changes.length}건` : `${changes.length} change(s)`}</summary><ul>${changes.map((c) => `<li>${escapeHtml(c)}</li>`).join("")}</ul></details></li>`;
          })
          .join("")}</ul></section>`;
  return (
    `<a class="skip" href="#main">${ko ? "본문 바로가기" : "Skip to content"}</a>` +
    `<header class="bar"><span>${escapeHtml(o.title)}</span><nav aria-label="${ko ? "언어" : "Language"}">${otherLink}</nav></header>` +
    `<main id="main">${notices.map((n) => `<p class="notice" role="note">${n}</p>`).join("")}${o.article}${history}</main>`
  );
};

/** A standalone page (the files `haechi policy render --out` writes): the body with its stylesheet inline. */
export const policyPageHtml = (o: PolicyPageOptions): string =>
  `<!doctype html>\n<html lang="${o.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<title>${escapeHtml(o.title)}</title><style>${POLICY_CSS}</style></head><body>${policyPageBody(o)}</body></html>\n`;
