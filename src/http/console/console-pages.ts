/**
 * The console's pages (issue 6; ADR 0013), server-rendered in Korean and English with the escaping
 * templates of ui/html.ts: every value is escaped unless it is markup built here. Rendering only;
 * the routes fetch, authorise and audit.
 */
import { roleAllows, type ConsolePermission } from "../../core/console/console-roles.js";
import type { StaffRole } from "../../core/ports.js";
import { html, page, raw, type Html, type Lang } from "../ui/html.js";

type Dict = Record<string, string>;

const KO: Dict = {
  brand: "해치 운영 콘솔",
  overview: "개요",
  datamap: "데이터 맵",
  provisions: "제공 원장",
  alerts: "경보",
  incidents: "사고 (72시간)",
  destruction: "파기 일정",
  review: "월간 점검",
  audit: "감사 로그 검증",
  activity: "접근 현황",
  requests: "정보주체 요청",
  logout: "로그아웃",
  login: "로그인",
  staffId: "직원 ID",
  password: "비밀번호",
  otp: "일회용 코드 (OTP)",
  signIn: "로그인",
  langSwitch: "English",
  skip: "본문으로 건너뛰기",
  role: "역할",
  none: "없음",
  deadline: "마감",
  timeLeft: "남은 시간",
  openIncident: "사고로 전환",
  summary: "요약",
  kind: "유형",
  status: "상태",
  people: "대상자",
  duties: "법적 의무",
  verify: "검증",
  verifyNow: "지금 검증",
  signOff: "승인",
};
const EN: Dict = {
  brand: "Haechi operators' console",
  overview: "Overview",
  datamap: "Data map",
  provisions: "Provision ledger",
  alerts: "Alerts",
  incidents: "Incidents (72 h)",
  destruction: "Destruction schedule",
  review: "Monthly review",
  audit: "Audit verification",
  activity: "Access volume",
  requests: "Data-subject requests",
  logout: "Sign out",
  login: "Sign in",
  staffId: "Staff id",
  password: "Password",
  otp: "One-time code (OTP)",
  signIn: "Sign in",
  langSwitch: "한국어",
  skip: "Skip to content",
  role: "Role",
  none: "none",
  deadline: "Deadline",
  timeLeft: "Time left",
  openIncident: "Open an incident",
  summary: "Summary",
  kind: "Kind",
  status: "Status",
  people: "People",
  duties: "Legal duties",
  verify: "Verify",
  verifyNow: "Verify now",
  signOff: "Sign off",
};

export const t = (lang: Lang, key: keyof typeof EN & string): string => (lang === "ko" ? KO : EN)[key] ?? key;
/** Inline bilingual text: the language's half. */
export const tr = (lang: Lang, ko: string, en: string): string => (lang === "ko" ? ko : en);

export const NAV: { path: string; key: string; permission: ConsolePermission }[] = [
  { path: "/console/overview", key: "overview", permission: "view.overview" },
  { path: "/console/datamap", key: "datamap", permission: "view.datamap" },
  { path: "/console/provisions", key: "provisions", permission: "view.provisions" },
  { path: "/console/alerts", key: "alerts", permission: "view.alerts" },
  { path: "/console/incidents", key: "incidents", permission: "view.incidents" },
  { path: "/console/destruction", key: "destruction", permission: "view.destruction" },
  { path: "/console/review", key: "review", permission: "view.review" },
  { path: "/console/audit", key: "audit", permission: "view.audit" },
  { path: "/console/activity", key: "activity", permission: "view.activity" },
  { path: "/console/requests", key: "requests", permission: "view.requests" },
];

/** A console link that keeps the language. */
export const href = (lang: Lang, path: string): string => `${path}${path.includes("?") ? "&" : "?"}lang=${lang}`;

/** The time left as the script writes it (so the first paint and the ticks agree). */
export const countdownText = (lang: Lang, ms: number): string => {
  const abs = Math.abs(ms);
  const h = Math.floor(abs / 3600_000);
  const m = Math.floor((abs % 3600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  const hms = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return ms >= 0 ? tr(lang, `${hms} 남음`, `${hms} left`) : tr(lang, `${hms} 초과`, `overdue by ${hms}`);
};

export const countdown = (lang: Lang, deadline: string, now: Date, big = false): Html => {
  const ms = Date.parse(deadline) - now.getTime();
  return html`<span class="countdown${big ? " big" : ""}${ms < 0 ? " overdue" : ""}" data-deadline="${deadline}" role="timer" aria-live="off">${countdownText(lang, ms)}</span>`;
};

/** KST date-time for display (the ISO instant in a title). */
export const when = (iso: string | null | undefined): Html => {
  if (!iso) return html`—`;
  const local = new Date(Date.parse(iso) + 9 * 3600_000).toISOString().replace("T", " ").slice(0, 16);
  return html`<time datetime="${iso}" title="${iso}">${local} KST</time>`;
};

export interface LayoutOptions {
  lang: Lang;
  title: string;
  /** The nav entry to mark current. */
  active: string;
  session: { staff: string; role: StaffRole; csrf: string } | null;
  now: Date;
  body: Html;
  /** The current path (for the language switch). */
  path: string;
}

/** The page around every console view: header, navigation (only what the role may see), content. */
export const layout = (o: LayoutOptions): string => {
  const other: Lang = o.lang === "ko" ? "en" : "ko";
  const nav = o.session
    ? html`<nav class="main" aria-label="${tr(o.lang, "콘솔 메뉴", "Console")}">${NAV.filter((n) => roleAllows(o.session!.role, n.permission)).map(
        (n) => html`<a href="${href(o.lang, n.path)}"${n.path === o.active ? raw(' aria-current="page"') : ""}>${t(o.lang, n.key)}</a>`,
      )}</nav>`
    : "";
  const who = o.session
    ? html`<span>${o.session.staff} · ${t(o.lang, "role")}: ${o.session.role}</span>
<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${o.session.csrf}"><button class="secondary" type="submit">${t(o.lang, "logout")}</button></form>`
    : "";
  return page({
    lang: o.lang,
    title: `${o.title} — ${t(o.lang, "brand")}`,
    styles: ["/console/assets/console.css"],
    scripts: ["/console/assets/console.js"],
    body: html`<a class="skip" href="#main">${t(o.lang, "skip")}</a>
<header class="top"><span class="brand">${t(o.lang, "brand")}</span>${who}<a href="${href(other, o.path)}" lang="${other}">${t(o.lang, "langSwitch")}</a></header>
${nav}
<main id="main"><span id="server-now" hidden data-server-now="${o.now.toISOString()}"></span>
<h1>${o.title}</h1>
${o.body}
</main>`,
  });
};

/** A table that scrolls sideways on a phone instead of breaking the page. */
export const table = (caption: string, head: readonly (string | Html)[], rows: readonly (readonly (string | number | Html | null)[])[], empty: string): Html =>
  rows.length === 0
    ? html`<p class="muted">${empty}</p>`
    : html`<div class="scroll" role="region" aria-label="${caption}" tabindex="0"><table><caption class="skip">${caption}</caption><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows.map(
        (r) => html`<tr>${r.map((c) => (typeof c === "number" ? html`<td class="num">${c.toLocaleString("en-US")}</td>` : html`<td>${c ?? "—"}</td>`))}</tr>`,
      )}</tbody></table></div>`;

export const loginPage = (o: { lang: Lang; now: Date; token: string; message: string | null; notice: string | null }): string =>
  layout({
    lang: o.lang,
    title: t(o.lang, "login"),
    active: "",
    session: null,
    now: o.now,
    path: "/console/login",
    body: html`<form class="login" method="post" action="${href(o.lang, "/console/login")}">
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ""}
${o.message ? html`<p class="error" role="alert">${o.message}</p>` : ""}
<input type="hidden" name="_login" value="${o.token}">
<label for="id">${t(o.lang, "staffId")}</label><input id="id" name="id" autocomplete="username" required maxlength="40" autocapitalize="none" spellcheck="false">
<label for="password">${t(o.lang, "password")}</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<label for="code">${t(o.lang, "otp")}</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required maxlength="6">
<button type="submit">${t(o.lang, "signIn")}</button>
<p class="muted">${tr(o.lang, "운영자 전용입니다. 모든 로그인과 실패는 감사 로그에 기록되며, 연속 실패 시 계정이 잠깁니다.", "Operators only. Every sign-in and failure is recorded in the audit log; repeated failures lock the account.")}</p>
</form>`,
  });
