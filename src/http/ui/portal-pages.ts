/**
 * The portal's pages (ADR 0012): server-rendered, every value escaped by `html`, forms only (the
 * CSP allows no inline script), Korean by default and English with `?lang=en`. Mobile first:
 * one column, tables that scroll sideways on a phone, controls at least 44 px high.
 */
import type { EraseResult } from "../../services/erase-service.js";
import { PORTAL_ACTOR, SUBJECT_ACCESS, type Bilingual, type ErasurePreview, type PortalOverview, type PortalSession } from "../../services/portal-service.js";
import { html, page, raw, type Html, type Lang } from "./html.js";
import { portalText, type PortalText } from "./portal-text.js";

export const PORTAL_CSS_PATH = "/portal/assets/portal.css";

const pick = (b: Bilingual, lang: Lang) => b[lang];

const fmt = (iso: string | Date, lang: Lang) =>
  new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", { timeZone: "Asia/Seoul", dateStyle: "medium", timeStyle: "short" }).format(new Date(iso)) + " KST";
const fmtDate = (iso: string | Date, lang: Lang) =>
  new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", { timeZone: "Asia/Seoul", dateStyle: "long" }).format(new Date(iso));

const country = (code: string, lang: Lang) => {
  try {
    return `${new Intl.DisplayNames([lang], { type: "region" }).of(code) ?? code} (${code})`;
  } catch {
    return code;
  }
};

/** ISO-8601 periods as words (P5Y → 5년 / 5 years). */
const period = (p: string, lang: Lang) => {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$/.exec(p);
  if (!m) return p;
  const parts: string[] = [];
  const [y, mo, d] = [m[1], m[2], m[3]].map((x) => (x === undefined ? 0 : Number(x)));
  if (lang === "ko") {
    if (y) parts.push(`${y}년`);
    if (mo) parts.push(`${mo}개월`);
    if (d) parts.push(`${d}일`);
    return parts.join(" ");
  }
  if (y) parts.push(`${y} year${y === 1 ? "" : "s"}`);
  if (mo) parts.push(`${mo} month${mo === 1 ? "" : "s"}`);
  if (d) parts.push(`${d} day${d === 1 ? "" : "s"}`);
  return parts.join(" ");
};

/** A path with the language kept (Korean is the default and needs nothing). */
export const withLang = (path: string, lang: Lang) => (lang === "en" ? `${path}${path.includes("?") ? "&" : "?"}lang=en` : path);

const hidden = (name: string, value: string | number) => html`<input type="hidden" name="${name}" value="${value}">`;

const shell = (lang: Lang, title: string, body: Html, opts: { session?: PortalSession; here?: string } = {}) => {
  const tx = portalText(lang);
  const other: Lang = lang === "ko" ? "en" : "ko";
  const here = opts.here ?? "/portal";
  return page({
    lang,
    title,
    styles: [PORTAL_CSS_PATH],
    body: html`<a class="skip" href="#main">${tx.skip}</a>
<header class="top">
  <span class="brand">${tx.title}</span>
  <span class="top-actions">
    <a class="lang" href="${withLang(here, other)}" hreflang="${other}" lang="${other}" aria-label="${tx.switchLangLabel}">${tx.switchLang}</a>
    ${
      opts.session
        ? html`<form method="post" action="${withLang("/portal/leave", lang)}" class="inline">${hidden("csrf", opts.session.csrf)}<button type="submit" class="btn btn-quiet">${tx.signOut}</button></form>`
        : ""
    }
  </span>
</header>
<main id="main" tabindex="-1">
${body}
</main>`,
  });
};

/** A message page: errors, signed out, deleted. */
export const messagePage = (lang: Lang, heading: string, message: string, extra?: Html): string =>
  shell(lang, heading, html`<h1>${heading}</h1><p class="notice" role="alert">${message}</p>${extra ?? ""}`);

const fieldList = (fields: readonly string[], labels: Record<string, Bilingual>, lang: Lang) =>
  fields.map((f) => (labels[f] ? pick(labels[f]!, lang) : f)).join(", ");

export interface OverviewOptions {
  /** Decrypted values (after a fresh confirmation), when the person asked to see them. */
  values?: Record<string, unknown>;
  /** A short confirmation after an action (PRG): consent granted or withdrawn. */
  flash?: string;
}

const valueText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

const dataSection = (tx: PortalText, v: PortalOverview, s: PortalSession, lang: Lang, values: Record<string, unknown> | undefined) => html`
<section id="data" aria-labelledby="data-h">
  <h2 id="data-h">${tx.data.h}</h2>
  <p>${tx.data.lead}</p>
  ${
    v.held.length === 0
      ? html`<p>${tx.data.none}</p>`
      : html`<div class="scroll" role="region" aria-labelledby="data-h" tabindex="0"><table>
    <thead><tr><th scope="col">${tx.data.item}</th><th scope="col">${tx.data.kind}</th><th scope="col">${tx.data.value}</th><th scope="col">${tx.data.updated}</th></tr></thead>
    <tbody>${v.held.map(
      (h) => html`<tr><th scope="row">${pick(h.label, lang)}</th><td>${tx.data.classes[h.class] ?? h.class}</td><td class="value">${
        values && h.field in values ? html`<span class="shown">${valueText(values[h.field])}</span>` : html`<span class="muted">${tx.data.hidden}</span>`
      }</td><td>${fmt(h.updatedAt, lang)}</td></tr>`,
    )}</tbody></table></div>`
  }
  ${
    values
      ? html`<p class="ok" role="status">${tx.data.shown}</p>`
      : s.fresh
        ? html`<form method="post" action="${withLang("/portal/reveal", lang)}">${hidden("csrf", s.csrf)}<p class="hint">${tx.data.revealHint} ${fmt(s.freshUntil, lang)}</p><button type="submit" class="btn">${tx.data.reveal}</button></form>`
        : html`<p class="notice">${tx.data.stale}</p>`
  }
</section>`;

const purposesSection = (tx: PortalText, v: PortalOverview, lang: Lang) => html`
<section id="purposes" aria-labelledby="purposes-h">
  <h2 id="purposes-h">${tx.purposes.h}</h2>
  <p>${tx.purposes.lead}</p>
  <ul class="cards">${v.purposes.map(
    (p) => html`<li class="card"><h3>${pick(p.description, lang)}</h3><dl>
      <dt>${tx.purposes.basis}</dt><dd>${tx.bases[p.basis] ?? p.basis}${p.statute ? html`<br><small>${p.statute}</small>` : ""}</dd>
      <dt>${tx.purposes.fields}</dt><dd>${fieldList(p.fields, v.fieldLabels, lang)}</dd>
      ${p.consent ? html`<dt>${tx.purposes.consent}</dt><dd><span class="badge badge-${p.consent}">${tx.consents.status[p.consent]}</span></dd>` : ""}
    </dl></li>`,
  )}</ul>
</section>`;

const consentsSection = (tx: PortalText, v: PortalOverview, s: PortalSession, lang: Lang) => html`
<section id="consents" aria-labelledby="consents-h">
  <h2 id="consents-h">${tx.consents.h}</h2>
  <p>${tx.consents.lead}</p>
  <ul class="cards">${v.consents.map((c) => {
    const id = `consent-${c.notice}`;
    const action = c.status === "granted" ? "withdraw" : "grant";
    const version = c.status === "granted" ? c.version : c.grantVersion;
    return html`<li class="card" id="${id}"><h3 id="${id}-h">${pick(c.title, lang)}</h3>
      <p><span class="badge badge-${c.status}">${tx.consents.status[c.status]}</span>
        <small>${tx.consents.categories[c.category] ?? c.category}${c.version !== null ? html` · ${tx.consents.version} ${c.version}` : ""}${c.at ? html` · ${fmt(c.at, lang)}` : ""}</small></p>
      ${c.stale ? html`<p class="notice">${tx.consents.staleNote}</p>` : ""}
      ${
        c.text
          ? html`<details${action === "grant" ? raw(" open") : ""}><summary>${tx.consents.noticeText} (${tx.consents.version} ${c.text.version})</summary><dl class="notice-text">
        <dt>${tx.consents.purpose}</dt><dd class="em">${pick(c.text.purpose, lang)}</dd>
        <dt>${tx.consents.items}</dt><dd class="em">${fieldList(c.text.items, v.fieldLabels, lang)}</dd>
        <dt>${tx.consents.retention}</dt><dd class="em">${pick(c.text.retention, lang)}</dd>
        <dt>${tx.consents.right}</dt><dd>${pick(c.text.right, lang)}</dd>
        <dt>${tx.consents.disadvantage}</dt><dd>${pick(c.text.disadvantage, lang)}</dd>
      </dl></details>`
          : ""
      }
      ${
        version === null
          ? html`<p class="muted">${tx.consents.noVersion}</p>`
          : html`<form method="post" action="${withLang("/portal/consents", lang)}">${hidden("csrf", s.csrf)}${hidden("notice", c.notice)}${hidden("action", action)}${hidden("version", version)}
        <button type="submit" class="btn ${action === "withdraw" ? "btn-secondary" : ""}" aria-describedby="${id}-h">${action === "withdraw" ? tx.consents.withdraw : tx.consents.grant}</button></form>`
      }
    </li>`;
  })}</ul>
</section>`;

const recipientsSection = (tx: PortalText, v: PortalOverview, lang: Lang) => html`
<section id="recipients" aria-labelledby="recipients-h">
  <h2 id="recipients-h">${tx.recipients.h}</h2>
  <p>${tx.recipients.lead}</p>
  <ul class="cards">${v.recipients.map(
    (r) => html`<li class="card"><h3>${pick(r.legalName, lang)}</h3><dl>
      <dt>${tx.data.kind}</dt><dd><span class="badge">${tx.recipients.kind[r.kind]}</span></dd>
      <dt>${tx.recipients.country}</dt><dd>${country(r.country, lang)}</dd>
      <dt>${tx.recipients.fields}</dt><dd>${fieldList(r.fields, v.fieldLabels, lang)}</dd>
      ${r.work ? html`<dt>${tx.recipients.work}</dt><dd>${pick(r.work, lang)}</dd>` : ""}
      ${r.retention ? html`<dt>${tx.recipients.retention}</dt><dd>${pick(r.retention, lang)}</dd>` : ""}
      ${r.transferBasis ? html`<dt>${tx.recipients.transfer}</dt><dd>${tx.recipients.transferBases[r.transferBasis] ?? r.transferBasis}</dd>` : ""}
      ${r.contact ? html`<dt>${tx.recipients.contact}</dt><dd>${r.contact}</dd>` : ""}
      <dt>${tx.recipients.received}</dt><dd>${r.received}</dd>
    </dl></li>`,
  )}</ul>
  <h3 id="provisions-h">${tx.recipients.history}</h3>
  ${
    v.provisions.length === 0
      ? html`<p>${tx.recipients.noHistory}</p>`
      : html`<div class="scroll" role="region" aria-labelledby="provisions-h" tabindex="0"><table>
    <thead><tr><th scope="col">${tx.recipients.at}</th><th scope="col">${tx.recipients.to}</th><th scope="col">${tx.recipients.country}</th><th scope="col">${tx.recipients.fields}</th><th scope="col">${tx.recipients.basis}</th><th scope="col">${tx.recipients.status}</th></tr></thead>
    <tbody>${v.provisions.map((p) => {
      const r = v.recipients.find((x) => x.recipient === p.recipient);
      return html`<tr><td>${fmt(p.at, lang)}</td><th scope="row">${r ? pick(r.legalName, lang) : p.recipient}</th><td>${country(p.country, lang)}</td><td>${fieldList(p.fields, v.fieldLabels, lang)}</td><td>${p.basis}${p.transferBasis ? ` / ${p.transferBasis}` : ""}</td><td>${p.status}</td></tr>`;
    })}</tbody></table></div>`
  }
</section>`;

const retentionSection = (tx: PortalText, v: PortalOverview, lang: Lang) => html`
<section id="retention" aria-labelledby="retention-h">
  <h2 id="retention-h">${tx.retention.h}</h2>
  <p>${tx.retention.lead}</p>
  <div class="scroll" role="region" aria-labelledby="retention-h" tabindex="0"><table class="narrow">
    <thead><tr><th scope="col">${tx.data.item}</th><th scope="col">${tx.retention.until}</th><th scope="col">${tx.retention.onDeletion}</th></tr></thead>
    <tbody>${v.retention.map(
      (r) => html`<tr><th scope="row">${v.fieldLabels[r.field] ? pick(v.fieldLabels[r.field]!, lang) : r.field}</th>
        <td>${r.heldUntil ? fmtDate(r.heldUntil, lang) : tx.retention.untilEnd}</td>
        <td>${r.onDeletion ? html`${tx.retention.kept}: ${pick(r.onDeletion.description, lang)} (${period(r.onDeletion.period, lang)})<br><small>${r.onDeletion.citation}</small>` : tx.retention.destroyed}</td></tr>`,
    )}</tbody></table></div>
</section>`;

const accessSection = (tx: PortalText, v: PortalOverview, lang: Lang) => html`
<section id="access" aria-labelledby="access-h">
  <h2 id="access-h">${tx.access.h}</h2>
  <p>${tx.access.lead}</p>
  ${
    v.access.length === 0
      ? html`<p>${tx.access.none}</p>`
      : html`<div class="scroll" role="region" aria-labelledby="access-h" tabindex="0"><table>
    <thead><tr><th scope="col">${tx.access.at}</th><th scope="col">${tx.access.who}</th><th scope="col">${tx.access.what}</th><th scope="col">${tx.access.purpose}</th><th scope="col">${tx.access.fields}</th><th scope="col">${tx.access.result}</th></tr></thead>
    <tbody>${v.access.map(
      (a) => html`<tr class="${a.effect === "deny" ? "denied" : ""}"><td>${fmt(a.at, lang)}</td>
        <th scope="row">${a.actor === PORTAL_ACTOR ? tx.access.you : a.actorLabel ? html`${pick(a.actorLabel, lang)} <small>(${a.actor})</small>` : a.actor}</th>
        <td>${tx.access.actions[a.action] ?? a.action}</td>
        <td>${a.purpose === SUBJECT_ACCESS ? tx.nav.data : a.purpose ?? ""}</td>
        <td>${fieldList(a.fields, v.fieldLabels, lang)}</td>
        <td class="nowrap">${tx.access.effects[a.effect] ?? a.effect}${a.effect === "deny" && a.reasons.length > 0 ? html`<br><small>${a.reasons.join(", ")}</small>` : ""}</td></tr>`,
    )}</tbody></table></div>`
  }
</section>`;

const incidentsSection = (tx: PortalText, v: PortalOverview, lang: Lang) => html`
<section id="incidents" aria-labelledby="incidents-h">
  <h2 id="incidents-h">${tx.incidents.h}</h2>
  <p>${tx.incidents.lead}</p>
  ${
    v.incidents.length === 0
      ? html`<p class="ok">${tx.incidents.none}</p>`
      : html`<ul class="cards">${v.incidents.map(
          (i) => html`<li class="card"><h3>${i.summary}</h3><dl>
        <dt>${tx.incidents.kind}</dt><dd>${i.kind}</dd>
        <dt>${tx.incidents.aware}</dt><dd>${fmt(i.awareAt, lang)}</dd>
        <dt>${tx.recipients.status}</dt><dd>${tx.incidents.status[i.status] ?? i.status}</dd></dl></li>`,
        )}</ul>`
  }
</section>`;

const downloadSection = (tx: PortalText, s: PortalSession, lang: Lang) => html`
<section id="download" aria-labelledby="download-h">
  <h2 id="download-h">${tx.download.h}</h2>
  <p>${tx.download.lead}</p>
  ${
    s.fresh
      ? html`<div class="row">
    <form method="post" action="${withLang("/portal/download", lang)}">${hidden("csrf", s.csrf)}${hidden("format", "json")}<button type="submit" class="btn">${tx.download.json}</button></form>
    <form method="post" action="${withLang("/portal/download", lang)}">${hidden("csrf", s.csrf)}${hidden("format", "csv")}<button type="submit" class="btn">${tx.download.csv}</button></form>
  </div>`
      : html`<p class="notice">${tx.data.stale}</p>`
  }
</section>`;

const deleteSection = (tx: PortalText, lang: Lang) => html`
<section id="delete" aria-labelledby="delete-h">
  <h2 id="delete-h">${tx.del.h}</h2>
  <p>${tx.del.lead}</p>
  <p><a class="btn btn-danger" href="${withLang("/portal/delete", lang)}">${tx.del.open}</a></p>
</section>`;

/** The portal's main page: every answer on one page, sections reachable from the top. */
export const overviewPage = (lang: Lang, s: PortalSession, v: PortalOverview, o: OverviewOptions = {}): string => {
  const tx = portalText(lang);
  const nav = Object.entries(tx.nav) as [keyof PortalText["nav"], string][];
  return shell(
    lang,
    tx.title,
    html`<h1>${tx.title}</h1>
<p class="lead">${pick(v.controller.name, lang)} · ${tx.intro}</p>
<p class="hint">${tx.sessionEnds} ${fmt(s.endsAt, lang)}</p>
${o.flash ? html`<p class="ok" role="status">${o.flash}</p>` : ""}
<nav aria-label="${tx.sections}" class="toc"><ul>${nav.map(([k, label]) => html`<li><a href="#${k}">${label}</a></li>`)}</ul></nav>
${dataSection(tx, v, s, lang, o.values)}
${purposesSection(tx, v, lang)}
${consentsSection(tx, v, s, lang)}
${recipientsSection(tx, v, lang)}
${retentionSection(tx, v, lang)}
${accessSection(tx, v, lang)}
${incidentsSection(tx, v, lang)}
${downloadSection(tx, s, lang)}
${deleteSection(tx, lang)}
<footer><p>${tx.contact}: ${v.controller.officer ? html`${v.controller.officer.name} · ${v.controller.officer.contact}` : v.controller.contact}</p></footer>`,
    { session: s },
  );
};

/** Deletion, step 1: what goes at once and what a law keeps, under which law, until when. */
export const deletePage = (lang: Lang, s: PortalSession, preview: ErasurePreview, labels: Record<string, Bilingual>): string => {
  const tx = portalText(lang);
  return shell(
    lang,
    tx.del.confirmH,
    html`<h1>${tx.del.confirmH}</h1>
<p class="lead">${tx.del.lead}</p>
<section aria-labelledby="destroy-h"><h2 id="destroy-h">${tx.del.destroyNow}</h2>
<p>${preview.destroy.length === 0 ? tx.noneShort : fieldList(preview.destroy, labels, lang)}</p></section>
<section aria-labelledby="kept-h"><h2 id="kept-h">${tx.del.keptH}</h2>
${
  preview.retain.length === 0
    ? html`<p>${tx.del.nothingKept}</p>`
    : html`<p>${tx.del.keptLead}</p><div class="scroll" role="region" aria-labelledby="kept-h" tabindex="0"><table class="narrow">
  <thead><tr><th scope="col">${tx.data.item}</th><th scope="col">${tx.del.law}</th><th scope="col">${tx.del.until}</th></tr></thead>
  <tbody>${preview.retain.map(
    (r) => html`<tr><th scope="row">${labels[r.field] ? pick(labels[r.field]!, lang) : r.field}</th><td>${pick(r.description, lang)}<br><small>${r.citation}</small></td><td>${fmtDate(r.until, lang)}</td></tr>`,
  )}</tbody></table></div>`
}</section>
<form method="post" action="${withLang("/portal/delete", lang)}" class="danger-zone">${hidden("csrf", s.csrf)}
  <p><input type="checkbox" id="confirm" name="confirm" value="yes" required> <label for="confirm">${tx.del.confirm}</label></p>
  <div class="row"><button type="submit" class="btn btn-danger">${tx.del.submit}</button> <a class="btn btn-secondary" href="${withLang("/portal", lang)}">${tx.del.cancel}</a></div>
</form>`,
    { session: s, here: "/portal/delete" },
  );
};

/** Deletion, done: what was destroyed and what is kept, until when (the certificate's gist). */
export const deletedPage = (lang: Lang, r: EraseResult, preview: ErasurePreview, labels: Record<string, Bilingual>): string => {
  const tx = portalText(lang);
  return shell(
    lang,
    tx.del.doneH,
    html`<h1>${tx.del.doneH}</h1>
<p class="ok" role="status">${tx.del.doneLead}</p>
<h2>${tx.del.destroyNow}</h2><p>${r.destroyed.length === 0 ? tx.noneShort : fieldList(r.destroyed, labels, lang)}</p>
<h2>${tx.del.keptH}</h2>
${
  r.retained.length === 0
    ? html`<p>${tx.del.nothingKept}</p>`
    : html`<ul>${r.retained.map((k) => {
        const d = preview.retain.find((p) => p.field === k.field);
        return html`<li>${labels[k.field] ? pick(labels[k.field]!, lang) : k.field}: ${d ? pick(d.description, lang) : k.rule} (${k.citation}), ${tx.del.until} ${fmtDate(k.until, lang)}</li>`;
      })}</ul>`
}`,
    { here: "/portal/delete" },
  );
};
