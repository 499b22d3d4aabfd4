/**
 * /console: the operators' console (issue 6; ADR 0013). Its own authentication — staff accounts
 * with a role, password and TOTP (services/operator-service.ts) — never API keys. A session is an
 * HttpOnly, SameSite=Strict cookie scoped to /console (Secure behind TLS); every state-changing
 * form carries the session's CSRF token and must come from this origin. Every page view and act is
 * authorised by role and audited (`console.view.*`, `console.act.*`); acts go through the same
 * services as the API, as the staff member (`staff:<id>`).
 *
 * Pages are server-rendered (ui/html.ts: escaped, strict CSP); one same-origin script counts the
 * incident deadlines down.
 */
import crypto from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Container } from "../../container.js";
import type { ConsolePermission } from "../../core/console/console-roles.js";
import { roleAllows } from "../../core/console/console-roles.js";
import { dataMapLayout, dataMapSvg } from "../../core/console/datamap-fns.js";
import { activitySvg, ACTIVITY_VIEWS, type ActivityView } from "../../core/console/activity-fns.js";
import { HaechiError, isHaechiError } from "../../core/errors.js";
import { INCIDENT_KINDS } from "../../core/incident/incident-types.js";
import { monthOf, monthWindow } from "../../core/review/access-review-fns.js";
import type { RequestContext } from "../../services/service-types.js";
import type { StaffSession } from "../../services/operator-service.js";
import { httpStatus } from "../error-map.js";
import { html, langOf, raw, sendPage, type Html, type Lang } from "../ui/html.js";
import { CONSOLE_CSS, CONSOLE_JS } from "./console-assets.js";
import { countdown, href, layout, loginPage, t, table, tr, when } from "./console-pages.js";

const SESSION_COOKIE = "haechi_console";
const LOGIN_COOKIE = "haechi_console_login";

const parseCookies = (header: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k === SESSION_COOKIE || k === LOGIN_COOKIE) out[k] = part.slice(i + 1).trim();
  }
  return out;
};

/** What a signed-in page handler gets. */
interface Seen {
  lang: Lang;
  now: Date;
  session: StaffSession;
  /** The request context services take: the staff member as the principal. */
  ctx: RequestContext;
  r: { source: string | null; requestId: string };
}

const formBody = z.record(z.string(), z.string());

export const registerConsoleRoutes = async (app: FastifyInstance, c: Container): Promise<void> => {
  const ops = c.services.operators;

  await app.register(
    async (scope) => {
      // Forms post application/x-www-form-urlencoded; only here (the API stays JSON only).
      scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 16 * 1024 }, (_req, body, done) => {
        const out: Record<string, string> = {};
        for (const [k, v] of new URLSearchParams(body as string)) out[k] = v;
        done(null, out);
      });

      const secure = (req: FastifyRequest) => c.config.console.secureCookie || req.protocol === "https";
      const cookie = (req: FastifyRequest, name: string, value: string, clear = false) =>
        `${name}=${value}; Path=/console; HttpOnly; SameSite=Strict${secure(req) ? "; Secure" : ""}${clear ? "; Max-Age=0" : ""}`;
      const reqOf = (req: FastifyRequest) => ({ source: req.ip ?? null, requestId: String(req.id) });
      const langOfReq = (req: FastifyRequest): Lang => langOf(req.query, req.headers["accept-language"]);

      // Errors as pages (the API's JSON shape would mean nothing to a browser); never a stack or a driver message.
      scope.setErrorHandler((err, req, reply) => {
        const lang = langOfReq(req);
        const code = isHaechiError(err) ? err.code : "INTERNAL";
        const status = isHaechiError(err) ? httpStatus[err.code] : (err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500 ? 400 : 500;
        if (status >= 500) req.log.error({ code, requestId: req.id }, "console error");
        const message = isHaechiError(err) || status < 500 ? (err as Error).message : tr(lang, "내부 오류입니다. 요청 ID를 알려 주세요.", "Internal error; quote the request id when reporting it.");
        return sendPage(
          reply,
          layout({
            lang,
            title: code === "ACCESS_DENIED" ? tr(lang, "권한 없음", "Not permitted") : tr(lang, "오류", "Error"),
            active: "",
            session: null,
            now: c.clock.now(),
            path: req.url.split("?")[0] ?? "/console",
            body: html`<p class="error" role="alert"><strong>${code}</strong>: ${message}</p><p class="muted">request ${String(req.id)}</p><p><a href="${href(lang, "/console/overview")}">${t(lang, "overview")}</a></p>`,
          }),
          status,
        );
      });

      /** The session behind the cookie, authorised for `permission` (audited); null after a redirect to the login page. */
      const gate = async (req: FastifyRequest, reply: FastifyReply, permission: ConsolePermission, opts: { csrf?: unknown; meta?: Record<string, string | number | boolean | null> } = {}): Promise<Seen | null> => {
        const lang = langOfReq(req);
        const r = reqOf(req);
        const s = await ops.session(parseCookies(req.headers.cookie)[SESSION_COOKIE], r);
        if (!s.ok) {
          reply.header("set-cookie", cookie(req, SESSION_COOKIE, "", true));
          await reply.redirect(`/console/login?lang=${lang}${s.reason === "NONE" ? "" : `&reason=${s.reason}`}`, 303);
          return null;
        }
        if (opts.csrf !== undefined || req.method !== "GET") {
          if (!ops.csrfMatches(s.session, opts.csrf) || !sameOrigin(req)) {
            await c.audit.record({
              at: c.clock.now().toISOString(),
              ...r,
              principal: s.session.principal,
              action: `console.${permission}`,
              effect: "deny",
              purpose: null,
              subjectRef: null,
              fields: [],
              reasons: ["CSRF_CHECK_FAILED"],
              meta: { session: s.session.sid },
            });
            throw new HaechiError("ACCESS_DENIED", tr(lang, "양식이 만료되었거나 다른 사이트에서 왔습니다. 페이지를 다시 열어 주세요.", "The form is stale or came from another site; open the page again."));
          }
        }
        await ops.authorize(s.session, permission, r, opts.meta);
        return { lang, now: c.clock.now(), session: s.session, ctx: { principal: s.session.principal, ...r }, r };
      };

      /**
       * The browser's word that a form came from this site: Sec-Fetch-Site when it sends it, else
       * Origin. Pages are sent with Referrer-Policy no-referrer, so a browser may say `Origin: null`
       * for our own forms; then the CSRF token (and SameSite=Strict) decide alone.
       */
      const sameOrigin = (req: FastifyRequest): boolean => {
        const site = req.headers["sec-fetch-site"];
        if (typeof site === "string") return site === "same-origin" || site === "none";
        const origin = req.headers.origin;
        if (origin === undefined || origin === "null") return true;
        return origin === `${req.protocol}://${req.headers.host ?? ""}`;
      };

      const render = (reply: FastifyReply, s: Seen, active: string, title: string, body: Html, status = 200) =>
        sendPage(reply, layout({ lang: s.lang, title, active, session: s.session, now: s.now, path: active, body }), status);

      const body = (req: FastifyRequest): Record<string, string> => {
        const parsed = formBody.safeParse(req.body ?? {});
        if (!parsed.success) throw new HaechiError("BAD_REQUEST", "send the console's own form");
        return parsed.data;
      };

      // ---------------------------------------------------------------- assets

      scope.get("/assets/console.css", { schema: { hide: true } }, async (_req, reply) =>
        reply.header("content-type", "text/css; charset=utf-8").header("cache-control", "public, max-age=300").header("x-content-type-options", "nosniff").send(CONSOLE_CSS),
      );
      scope.get("/assets/console.js", { schema: { hide: true } }, async (_req, reply) =>
        reply.header("content-type", "text/javascript; charset=utf-8").header("cache-control", "public, max-age=300").header("x-content-type-options", "nosniff").send(CONSOLE_JS),
      );

      // ---------------------------------------------------------------- sign in and out

      const showLogin = (req: FastifyRequest, reply: FastifyReply, message: string | null, status = 200) => {
        const lang = langOfReq(req);
        const token = crypto.randomUUID();
        const reason = (req.query as { reason?: unknown } | undefined)?.reason;
        const notice =
          reason === "IDLE_TIMEOUT"
            ? tr(lang, "오래 사용하지 않아 로그아웃되었습니다.", "You were signed out after a period of inactivity.")
            : reason === "SESSION_EXPIRED"
              ? tr(lang, "세션이 만료되었습니다.", "Your session expired.")
              : reason === "ACCOUNT_DISABLED"
                ? tr(lang, "계정이 비활성화되었습니다.", "Your account was disabled.")
                : reason === "LOGOUT"
                  ? tr(lang, "로그아웃했습니다.", "You are signed out.")
                  : null;
        reply.header("set-cookie", cookie(req, LOGIN_COOKIE, token));
        return sendPage(reply, loginPage({ lang, now: c.clock.now(), token, message, notice }), status);
      };

      scope.get("/", { schema: { hide: true } }, async (req, reply) => reply.redirect(`/console/overview?lang=${langOfReq(req)}`, 303));
      scope.get("/login", { schema: { hide: true } }, async (req, reply) => showLogin(req, reply, null));

      scope.post("/login", { schema: { hide: true } }, async (req, reply) => {
        const lang = langOfReq(req);
        const f = body(req);
        // Login CSRF: the form's token must match the cookie set with it, and come from this site.
        const expected = parseCookies(req.headers.cookie)[LOGIN_COOKIE];
        if (expected === undefined || f._login !== expected || !sameOrigin(req)) {
          return showLogin(req, reply, tr(lang, "로그인 양식이 만료되었습니다. 다시 시도하세요.", "The sign-in form expired; try again."), 400);
        }
        try {
          const { token } = await ops.login({ id: (f.id ?? "").trim(), password: f.password ?? "", code: f.code ?? "" }, reqOf(req));
          reply.header("set-cookie", [cookie(req, SESSION_COOKIE, token), cookie(req, LOGIN_COOKIE, "", true)]);
          return reply.redirect(`/console/overview?lang=${lang}`, 303);
        } catch (e) {
          if (!isHaechiError(e) || (e.code !== "UNAUTHENTICATED" && e.code !== "AUTH_LOCKED")) throw e;
          const message =
            e.code === "AUTH_LOCKED"
              ? tr(lang, "로그인 실패가 반복되어 계정이 잠겼습니다. 나중에 다시 시도하거나 개인정보 보호책임자에게 문의하세요.", e.message)
              : tr(lang, "직원 ID, 비밀번호 또는 일회용 코드가 틀렸습니다.", "The staff id, password or one-time code is wrong.");
          return showLogin(req, reply, message, httpStatus[e.code]);
        }
      });

      scope.post("/logout", { schema: { hide: true } }, async (req, reply) => {
        const lang = langOfReq(req);
        const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
        const s = await ops.session(token, reqOf(req));
        if (s.ok && ops.csrfMatches(s.session, body(req)._csrf) && sameOrigin(req)) await ops.logout(token, reqOf(req));
        reply.header("set-cookie", cookie(req, SESSION_COOKIE, "", true));
        return reply.redirect(`/console/login?lang=${lang}&reason=LOGOUT`, 303);
      });

      // ---------------------------------------------------------------- overview

      scope.get("/overview", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.overview");
        if (s === null) return reply;
        const { lang, now, session } = s;
        const can = (p: ConsolePermission) => roleAllows(session.role, p);
        const cards: Html[] = [];
        if (can("view.incidents")) {
          const open = await c.services.incidents.list(s.ctx, { status: "open", limit: 100 });
          const next = [...open].sort((a, b) => (a.deadline < b.deadline ? -1 : 1))[0];
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/incidents")}">${t(lang, "incidents")}</a></h2>
<p class="big">${open.length}</p><p>${tr(lang, "진행 중인 사고", "open")}</p>
${next ? html`<p>${tr(lang, "가장 가까운 마감", "Nearest deadline")}: ${countdown(lang, next.deadline, now)}</p>` : ""}</section>`);
        }
        if (can("view.alerts")) {
          const recent = await c.services.detection.alerts({ since: new Date(now.getTime() - 24 * 3600_000), limit: 1000 });
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/alerts")}">${t(lang, "alerts")}</a></h2>
<p class="big${recent.length > 0 ? " warn" : ""}">${recent.length}</p><p>${tr(lang, "최근 24시간", "in the last 24 hours")}</p></section>`);
        }
        if (can("view.destruction")) {
          const d = await c.services.erase.schedule({ cap: 5000 });
          const overdue = d.sealed.overdue + (d.dormancy?.overdue ?? 0);
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/destruction")}">${t(lang, "destruction")}</a></h2>
<p class="big${overdue > 0 ? " bad" : " ok"}">${overdue}</p><p>${tr(lang, `${d.overdueDays}일 넘게 지연된 파기`, `destructions more than ${d.overdueDays} days late`)}</p>
<p class="muted">${tr(lang, "파기 대기", "Due now")}: ${d.sealed.dueNow + (d.dormancy?.dueNow ?? 0)} · ${tr(lang, "정리 대기", "compaction backlog")}: ${d.backlog.subjects}</p></section>`);
        }
        if (can("view.review")) {
          const month = monthOf(new Date(monthWindow(monthOf(now)).start.getTime() - 1));
          const st = await c.services.console.reviewStatus(month);
          const state = st === null ? tr(lang, "감사 로그를 읽는 중…", "still reading the audit log…") : st.signedOff ? tr(lang, "승인됨", "signed off") : st.generated ? tr(lang, "승인 대기", "awaiting sign-off") : tr(lang, "미생성", "not generated");
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/review")}">${t(lang, "review")}</a></h2>
<p class="big${st?.signedOff ? " ok" : " warn"}">${month}</p><p>${state}</p></section>`);
        }
        if (can("view.audit")) {
          const a = await c.services.console.auditStatus();
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/audit")}">${t(lang, "audit")}</a></h2>
<p class="big">#${a.head}</p><p>${a.lastVerify ? (a.lastVerify.result.ok ? html`<span class="ok">${tr(lang, "검증 통과", "verified")}</span> ${when(a.lastVerify.at)}` : html`<span class="bad">${tr(lang, "검증 실패", "verification FAILED")}</span>`) : tr(lang, "이 서버에서 아직 검증하지 않음", "not verified from this server yet")}</p>
<p class="muted">${tr(lang, "최근 체크포인트", "Last checkpoint")}: ${a.checkpoint ? html`#${a.checkpoint.seq} ${when(a.checkpoint.at)}` : t(lang, "none")}</p></section>`);
        }
        if (can("view.requests")) {
          const { counts } = await c.services.requests.list(s.ctx, { overdue: true, limit: 1 });
          cards.push(html`<section class="card"><h2><a href="${href(lang, "/console/requests")}">${t(lang, "requests")}</a></h2>
<p class="big${counts.overdue > 0 ? " bad" : " ok"}">${counts.overdue}</p><p>${tr(lang, "10일 기한을 넘긴 요청", "past their 10-day deadline")}</p>
<p class="muted">${tr(lang, "처리 중", "Open")}: ${counts.open}</p></section>`);
        }
        return render(reply, s, "/console/overview", t(lang, "overview"), html`<div class="cards">${cards}</div>`);
      });

      // ---------------------------------------------------------------- data map

      scope.get("/datamap", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.datamap");
        if (s === null) return reply;
        const { lang } = s;
        const catalog = c.catalog.current();
        const layoutData = dataMapLayout(catalog);
        const svg = dataMapSvg(layoutData, {
          title: tr(lang, "데이터 맵: 항목 → 목적 → 수령인 → 국가", "Data map: fields → purposes → recipients → countries"),
          columns: { field: tr(lang, "항목", "Fields"), purpose: tr(lang, "목적", "Purposes"), recipient: tr(lang, "수령인", "Recipients"), country: tr(lang, "국가", "Countries") },
          legend: { sensitive: tr(lang, "민감·고유식별 등 (일반 외)", "sensitive, unique id, … (not general)"), consignee: tr(lang, "수탁자 / 국내", "consignee / home"), thirdParty: tr(lang, "제3자", "third party"), abroad: tr(lang, "국외", "abroad") },
        });
        const fieldRows = Object.entries(catalog.fields)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, f]) => [
            name,
            f.sensitivity === "general" ? f.sensitivity : html`<span class="bad">${f.sensitivity}</span>`,
            f.class,
            Object.entries(catalog.purposes).filter(([, p]) => p.fields.includes(name)).map(([p]) => p).join(", ") || "—",
            Object.entries(catalog.recipients).filter(([, r]) => r.fields.includes(name)).map(([r, x]) => `${r} (${x.country})`).join(", ") || "—",
          ]);
        const recipientRows = Object.entries(catalog.recipients).map(([name, r]) => [
          name,
          r.kind,
          r.country === catalog.controller.country ? r.country : html`<span class="warn">${r.country}</span>`,
          r.purposes.join(", "),
          r.fields.join(", "),
          r.transfer ? r.transfer.basis : "—",
        ]);
        return render(
          reply,
          s,
          "/console/datamap",
          t(lang, "datamap"),
          html`<p>${tr(lang, "카탈로그(haechi.yaml)에서 그린 그림입니다. 선은 데이터가 흐를 수 있는 길입니다.", "Drawn from the catalog (haechi.yaml): each line is a way data may flow.")}</p>
<figure class="scroll map">${raw(svg)}</figure>
<h2>${tr(lang, "항목", "Fields")}</h2>
${table(tr(lang, "항목", "Fields"), [tr(lang, "항목", "field"), tr(lang, "민감도", "sensitivity"), tr(lang, "구분", "class"), tr(lang, "목적", "purposes"), tr(lang, "수령인", "recipients")], fieldRows, t(lang, "none"))}
<h2>${tr(lang, "수령인", "Recipients")}</h2>
${table(tr(lang, "수령인", "Recipients"), [tr(lang, "수령인", "recipient"), tr(lang, "구분", "kind"), tr(lang, "국가", "country"), tr(lang, "목적", "purposes"), tr(lang, "항목", "fields"), tr(lang, "국외이전 근거", "transfer basis")], recipientRows, t(lang, "none"))}`,
        );
      });

      // ---------------------------------------------------------------- provisions

      scope.get("/provisions", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.provisions");
        if (s === null) return reply;
        const { lang } = s;
        const rows = await c.services.provisions.list(s.ctx, { limit: 200 });
        return render(
          reply,
          s,
          "/console/provisions",
          t(lang, "provisions"),
          html`<p>${tr(lang, "최근 200건. 완료된 제공은 서명된 매니페스트, 파일 해시, 원장 다이제스트를 검증할 수 있습니다.", "The latest 200. A completed provision can be verified: its signed manifest, file hashes and ledger digests.")}</p>
${table(
  t(lang, "provisions"),
  [tr(lang, "시각", "at"), "id", tr(lang, "요청자", "principal"), tr(lang, "수령인", "recipient"), tr(lang, "국가", "country"), tr(lang, "판정", "classification"), tr(lang, "근거", "basis"), tr(lang, "이전 근거", "transfer"), t(lang, "status"), tr(lang, "포함", "included"), t(lang, "verify")],
  rows.map((p) => [
    when(p.createdAt),
    p.id,
    p.principal,
    p.recipient,
    p.country,
    p.classification,
    p.basis,
    p.transferBasis,
    p.status === "refused" ? html`<span class="bad">${p.status}</span> ${p.reasons.join(", ")}` : p.status,
    p.counts.included,
    p.status === "completed" ? html`<a href="${href(lang, `/console/provisions/${encodeURIComponent(p.id)}/verify`)}">${t(lang, "verify")}</a>` : "—",
  ]),
  tr(lang, "제공 기록이 없습니다.", "No provisions yet."),
)}`,
        );
      });

      scope.get("/provisions/:id/verify", { schema: { hide: true } }, async (req, reply) => {
        const id = z.string().min(1).max(64).parse((req.params as { id: string }).id);
        const s = await gate(req, reply, "view.provisions", { meta: { provision: id } });
        if (s === null) return reply;
        const { lang } = s;
        const v = await c.services.provisions.verify(s.ctx, id);
        return render(
          reply,
          s,
          "/console/provisions",
          `${t(lang, "verify")}: ${id}`,
          html`<p class="${v.ok ? "ok" : "bad"}">${v.ok ? tr(lang, "매니페스트 서명, 파일 해시, 원장 다이제스트가 모두 일치합니다.", "Manifest signature, file hashes and ledger digests all check out.") : tr(lang, "검증 실패", "Verification failed")}</p>
${v.problems.length > 0 ? html`<ul>${v.problems.map((p) => html`<li>${p}</li>`)}</ul>` : ""}
<p><a href="${href(lang, "/console/provisions")}">${t(lang, "provisions")}</a></p>`,
        );
      });

      // ---------------------------------------------------------------- alerts

      scope.get("/alerts", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.alerts");
        if (s === null) return reply;
        const { lang, session } = s;
        const [alerts, holds, incidents] = await Promise.all([
          c.services.detection.alerts({ limit: 100 }),
          c.services.detection.holdsOf({ limit: 100 }),
          c.services.incidents.list(s.ctx, { limit: 1000 }),
        ]);
        const opened = new Map<string, string>();
        for (const i of incidents) {
          const src = i.source as { type: string; alertId?: string | null };
          if (src.type === "alert" && typeof src.alertId === "string") opened.set(src.alertId, i.id);
        }
        const canOpen = roleAllows(session.role, "act.incident.open");
        const canLift = roleAllows(session.role, "act.hold.lift");
        const now = s.now.getTime();
        const active = holds.filter((h) => h.liftedAt === null && (h.until === null || h.until.getTime() > now));
        const alertRows = alerts.map((a) => {
          const inc = opened.get(a.id);
          return [
            when(a.at.toISOString()),
            a.principal,
            html`${a.rule} <span class="muted">(${a.type})</span>`,
            a.reaction === "alert" ? a.reaction : html`<span class="warn">${a.reaction}</span>`,
            `${a.count} / ${a.threshold}`,
            when(a.windowStart.toISOString()),
            inc
              ? html`<a href="${href(lang, `/console/incidents/${encodeURIComponent(inc)}`)}">${inc}</a>`
              : canOpen
                ? html`<form class="inline" method="post" action="${href(lang, `/console/alerts/${encodeURIComponent(a.id)}/incident`)}">
<input type="hidden" name="_csrf" value="${session.csrf}">
<label class="skip" for="kind-${a.id}">${t(lang, "kind")}</label><select id="kind-${a.id}" name="kind">${INCIDENT_KINDS.map((k) => html`<option value="${k}"${k === "possible" ? raw(" selected") : ""}>${k}</option>`)}</select>
<button type="submit">${t(lang, "openIncident")}</button></form>`
                : "—",
          ];
        });
        const holdRows = active.map((h) => [
          h.principal,
          h.kind,
          h.reason,
          when(h.at.toISOString()),
          h.until ? when(h.until.toISOString()) : tr(lang, "해제 시까지", "until lifted"),
          canLift
            ? html`<form class="inline" method="post" action="${href(lang, `/console/holds/${encodeURIComponent(h.principal)}/lift`)}">
<input type="hidden" name="_csrf" value="${session.csrf}"><label class="skip" for="reason-${h.id}">${tr(lang, "사유", "reason")}</label>
<input id="reason-${h.id}" name="reason" required maxlength="500" placeholder="${tr(lang, "해제 사유", "why it is safe")}"><button type="submit">${tr(lang, "해제", "Lift")}</button></form>`
            : "—",
        ]);
        return render(
          reply,
          s,
          "/console/alerts",
          t(lang, "alerts"),
          html`<p>${tr(lang, "탐지 규칙이 감지한 경보입니다. 사고로 전환하면 경보 시각부터 72시간 시계가 시작되고, 경보의 주체와 기간으로 영향 범위가 계산됩니다.", "What detection flagged. Opening an incident from an alert starts the 72-hour clock at the alert's time and scopes it from the alert's principal and window.")}</p>
${table(t(lang, "alerts"), [tr(lang, "시각", "at"), tr(lang, "주체", "principal"), tr(lang, "규칙", "rule"), tr(lang, "대응", "reaction"), tr(lang, "건수/기준", "count / threshold"), tr(lang, "기간 시작", "window from"), t(lang, "incidents")], alertRows, tr(lang, "경보가 없습니다.", "No alerts."))}
<h2>${tr(lang, "차단·제한 중인 주체", "Principals held now")}</h2>
${table(tr(lang, "차단·제한", "Holds"), [tr(lang, "주체", "principal"), tr(lang, "종류", "kind"), tr(lang, "사유", "reason"), tr(lang, "시작", "since"), tr(lang, "종료", "until"), ""], holdRows, tr(lang, "없습니다.", "None."))}`,
        );
      });

      scope.post("/alerts/:id/incident", { schema: { hide: true } }, async (req, reply) => {
        const alertId = z.string().min(1).max(64).parse((req.params as { id: string }).id);
        const f = body(req);
        const s = await gate(req, reply, "act.incident.open", { csrf: f._csrf, meta: { alert: alertId } });
        if (s === null) return reply;
        const kind = z.enum(INCIDENT_KINDS).safeParse(f.kind);
        if (!kind.success) throw new HaechiError("VALIDATION_FAILED", `kind must be one of ${INCIDENT_KINDS.join(", ")}`);
        // The incident service finds the alert in the audit log (NOT_FOUND if there is none); the row only words the summary.
        const alert = (await c.services.detection.alerts({ limit: 1000 })).find((a) => a.id === alertId);
        const v = await c.services.incidents.open(s.ctx, {
          kind: kind.data,
          summary: alert ? `${alert.rule} (${alert.type}) on ${alert.principal}: ${alert.count} / ${alert.threshold}` : `detection alert ${alertId}`,
          source: { type: "alert", alertId },
        });
        return reply.redirect(`/console/incidents/${encodeURIComponent(v.id)}?lang=${s.lang}`, 303);
      });

      scope.post("/holds/:principal/lift", { schema: { hide: true } }, async (req, reply) => {
        const principal = z.string().min(1).max(64).parse((req.params as { principal: string }).principal);
        const f = body(req);
        const s = await gate(req, reply, "act.hold.lift", { csrf: f._csrf, meta: { principal } });
        if (s === null) return reply;
        await c.services.detection.lift({ by: s.session.principal, source: s.r.source, requestId: s.r.requestId }, principal, f.reason ?? "");
        return reply.redirect(`/console/alerts?lang=${s.lang}`, 303);
      });

      // ---------------------------------------------------------------- incidents

      scope.get("/incidents", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.incidents");
        if (s === null) return reply;
        const { lang, now } = s;
        const rows = await c.services.incidents.list(s.ctx, { limit: 200 });
        return render(
          reply,
          s,
          "/console/incidents",
          t(lang, "incidents"),
          html`<p>${tr(lang, "인지 시점부터 72시간 안에 정보주체 통지와(해당 시) 신고를 마쳐야 합니다 (개인정보 보호법 제34조).", "Within 72 hours of awareness, people must be notified and, where required, the authorities told (PIPA Art. 34).")}</p>
${table(
  t(lang, "incidents"),
  ["id", t(lang, "kind"), t(lang, "status"), t(lang, "summary"), tr(lang, "인지", "aware"), t(lang, "deadline"), t(lang, "timeLeft"), t(lang, "people")],
  rows.map((i) => [
    html`<a href="${href(lang, `/console/incidents/${encodeURIComponent(i.id)}`)}">${i.id}</a>`,
    i.kind,
    i.status,
    i.summary,
    when(i.awareAt),
    when(i.deadline),
    i.status === "open" ? countdown(lang, i.deadline, now) : tr(lang, "종결", "closed"),
    i.people === null ? "—" : i.people.total,
  ]),
  tr(lang, "사고가 없습니다.", "No incidents."),
)}`,
        );
      });

      scope.get("/incidents/:id", { schema: { hide: true } }, async (req, reply) => {
        const id = z.string().min(1).max(64).parse((req.params as { id: string }).id);
        const s = await gate(req, reply, "view.incidents", { meta: { incident: id } });
        if (s === null) return reply;
        const { lang, now } = s;
        const v = await c.services.incidents.get(s.ctx, id);
        const src = v.source as { type: string; alertId?: string | null; rule?: string | null; auditSeq?: number };
        return render(
          reply,
          s,
          "/console/incidents",
          `${tr(lang, "사고", "Incident")} ${v.id}`,
          html`<section class="card">
<p>${t(lang, "summary")}: ${v.summary}</p>
<p>${t(lang, "kind")}: <strong>${v.kind}</strong> · ${t(lang, "status")}: ${v.status} · ${tr(lang, "적용 법령", "law")}: ${v.law} · ${tr(lang, "출처", "source")}: ${src.type}${src.type === "alert" ? ` (${src.rule ?? ""} ${src.alertId ?? ""}, audit #${src.auditSeq ?? ""})` : ""}</p>
<p>${tr(lang, "인지", "Aware")}: ${when(v.awareAt)} · ${t(lang, "deadline")}: ${when(v.deadline)}</p>
<p>${t(lang, "timeLeft")}: ${v.status === "open" ? countdown(lang, v.deadline, now, true) : tr(lang, "종결", "closed")}</p>
<p>${t(lang, "people")}: ${v.scope ? html`<strong>${v.scope.people.total}</strong> (${tr(lang, "식별", "identified")} ${v.scope.people.linked}, ${tr(lang, "삭제되어 연결 불가", "erased since")} ${v.scope.people.unlinkable})` : tr(lang, "범위 미계산", "scope not computed")}</p>
</section>
<h2>${t(lang, "duties")}</h2>
${table(
  t(lang, "duties"),
  [tr(lang, "의무", "duty"), tr(lang, "필요", "required"), tr(lang, "조문", "article"), tr(lang, "기한", "due"), t(lang, "status"), tr(lang, "이행", "done"), tr(lang, "사유", "reason")],
  v.duties.map((d) => [
    d.code,
    d.required ? tr(lang, "예", "yes") : tr(lang, "아니오", "no"),
    d.article,
    d.due ? when(d.due) : "—",
    d.status === "pending" ? html`<span class="warn">${d.status}</span>` : d.status === "done" ? html`<span class="ok">${d.status}</span>` : d.status,
    d.doneAt ? html`${when(d.doneAt)}${d.onTime === false ? html` <span class="bad">${tr(lang, "지연", "late")}</span>` : ""}` : "—",
    d.reason,
  ]),
  t(lang, "none"),
)}
${v.scope
  ? html`<h2>${tr(lang, "영향 범위", "Scope")}</h2>
${table(tr(lang, "항목", "Fields"), [tr(lang, "항목", "field"), t(lang, "people"), tr(lang, "민감도", "sensitivity")], v.scope.fields.map((f) => [f.field, f.people, f.sensitivity]), t(lang, "none"))}`
  : ""}
<h2>${tr(lang, "경과 기록", "Timeline")}</h2>
${table(tr(lang, "경과", "Timeline"), ["#", tr(lang, "시각", "at"), tr(lang, "행위자", "actor"), tr(lang, "행위", "act"), "audit"], v.timeline.map((e) => [e.seq, when(e.at), e.actor, e.act, `#${e.auditSeq}`]), t(lang, "none"))}`,
        );
      });

      // ---------------------------------------------------------------- destruction

      scope.get("/destruction", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.destruction");
        if (s === null) return reply;
        const { lang } = s;
        const d = await c.services.erase.schedule();
        const capped = (b: boolean) => (b ? html` <span class="warn">(${tr(lang, `${d.cap}건까지만 셈`, `counted up to ${d.cap}`)})</span>` : "");
        return render(
          reply,
          s,
          "/console/destruction",
          t(lang, "destruction"),
          html`<p>${tr(lang, `파기 작업은 매일 실행됩니다. 기한을 ${d.overdueDays}일 넘긴 것은 지연으로 표시합니다 (개인정보 보호법 제21조).`, `The destruction sweeps run daily; anything more than ${d.overdueDays} days past its deadline is shown as late (PIPA Art. 21).`)}</p>
<div class="cards">
<section class="card"><h2>${tr(lang, "법정 보존 종료 (분리 보관)", "Legal retention ending (sealed store)")}</h2>
<p>${tr(lang, "지금 파기 대상", "Due now")}: <strong>${d.sealed.dueNow}</strong> · ${tr(lang, "지연", "late")}: <strong class="${d.sealed.overdue > 0 ? "bad" : "ok"}">${d.sealed.overdue}</strong>${capped(d.sealed.capped)}</p></section>
<section class="card"><h2>${tr(lang, "장기 미이용 (휴면)", "Dormancy")}</h2>
${d.dormancy
  ? html`<p>${tr(lang, "정책", "Policy")}: ${d.dormancy.action} ${tr(lang, "미이용", "after")} ${d.dormancy.after}</p><p>${tr(lang, "지금 대상", "Due now")}: <strong>${d.dormancy.dueNow}</strong> · ${tr(lang, "지연", "late")}: <strong class="${d.dormancy.overdue > 0 ? "bad" : "ok"}">${d.dormancy.overdue}</strong> · ${tr(lang, `${d.horizonDays}일 안에`, `within ${d.horizonDays} days`)}: ${d.dormancy.withinHorizon}${capped(d.dormancy.capped)}</p>`
  : html`<p class="muted">${tr(lang, "휴면 정책 없음", "No dormancy policy")}</p>`}</section>
<section class="card"><h2>${tr(lang, "삭제 후 정리 대기", "Erased, rows awaiting compaction")}</h2>
<p><strong>${d.backlog.subjects}</strong> ${d.backlog.oldest ? html`· ${tr(lang, "가장 오래된", "oldest")} ${when(d.backlog.oldest)}` : ""}</p><p class="muted">${tr(lang, "키는 이미 파기되어 읽을 수 없는 행입니다 (ADR 0008).", "Their keys are already destroyed: the rows are unreadable (ADR 0008).")}</p></section>
</div>
<h2>${tr(lang, `다음 ${d.horizonDays}일간 법정 보존 종료`, `Legal retention ending in the next ${d.horizonDays} days`)}</h2>
${table(tr(lang, "예정", "Upcoming"), [tr(lang, "날짜 (UTC)", "day (UTC)"), tr(lang, "대상자", "subjects")], d.sealed.upcoming.map((u) => [u.day, u.subjects]), tr(lang, "예정된 파기가 없습니다.", "Nothing scheduled."))}
<h2>${tr(lang, "보존 규칙", "Retention rules")}</h2>
${table(tr(lang, "보존 규칙", "Retention rules"), [tr(lang, "규칙", "rule"), tr(lang, "기간", "period"), tr(lang, "근거", "citation")], Object.entries(c.catalog.current().retention_rules).map(([name, r]) => [name, r.period, r.citation]), t(lang, "none"))}`,
        );
      });

      // ---------------------------------------------------------------- monthly review

      scope.get("/review", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.review");
        if (s === null) return reply;
        const { lang, now, session } = s;
        const last = monthOf(new Date(monthWindow(monthOf(now)).start.getTime() - 1));
        const asked = (req.query as { month?: unknown }).month;
        const month = typeof asked === "string" && /^\d{4}-\d{2}$/.test(asked) ? asked : last;
        // The tail covers last month; an older month is read from the log once (a longer scan).
        const st = (await c.services.console.reviewStatus(month)) ?? (await c.services.review.status(month));
        const report = c.services.review.report(month);
        const months = c.services.review.months();
        const canSign = roleAllows(session.role, "act.review.signoff") && st.generated !== null && st.signedOff === null && report !== null;
        return render(
          reply,
          s,
          "/console/review",
          `${t(lang, "review")} ${month}`,
          html`<p>${tr(lang, "접속기록은 월 1회 이상 점검하고 승인합니다 (안전성 확보조치 기준 제8조). 보고서는 haechi review generate 로 생성합니다.", "Access records are reviewed and signed off at least monthly (Safety Standard Art. 8). Reports are generated with haechi review generate.")}</p>
<p>${tr(lang, "생성", "Generated")}: ${st.generated ? html`${when(st.generated.at)} (${st.generated.by ?? "—"}) <span class="muted">sha256 ${st.generated.sha256.slice(0, 16)}…</span>` : html`<span class="warn">${tr(lang, "아직 없음", "not yet")}</span> — <code>haechi review generate --month ${month}</code>`}</p>
<p>${tr(lang, "승인", "Signed off")}: ${st.signedOff ? html`<span class="ok">${when(st.signedOff.at)} (${st.signedOff.by ?? "—"})</span>${st.signedOff.note ? ` — ${st.signedOff.note}` : ""}` : html`<span class="warn">${tr(lang, "아직 없음", "not yet")}</span>`}</p>
${report
  ? html`<h2>${tr(lang, "발견 사항", "Findings")} (${report.review.findings.length})</h2>
${report.review.findings.length === 0 ? html`<p class="ok">${tr(lang, "특이 사항 없음", "Nothing unusual.")}</p>` : html`<ul>${report.review.findings.map((f) => html`<li>${f}</li>`)}</ul>`}
<p class="muted">${tr(lang, "기록", "Entries")}: ${report.review.entries} · ${tr(lang, "대량 반출", "bulk releases")}: ${report.review.bulk.length}</p>`
  : ""}
${canSign
  ? html`<form method="post" action="${href(lang, "/console/review/signoff")}"><input type="hidden" name="_csrf" value="${session.csrf}"><input type="hidden" name="month" value="${month}">
<label for="note">${tr(lang, "메모 (개인정보 없이)", "Note (no personal data)")}</label> <input id="note" name="note" maxlength="500"> <button type="submit">${t(lang, "signOff")}</button></form>`
  : ""}
<h2>${tr(lang, "생성된 보고서", "Generated reports")}</h2>
${months.length === 0 ? html`<p class="muted">${t(lang, "none")}</p>` : html`<ul>${months.map((m) => html`<li><a href="${href(lang, `/console/review?month=${m}`)}">${m}</a></li>`)}</ul>`}`,
        );
      });

      scope.post("/review/signoff", { schema: { hide: true } }, async (req, reply) => {
        const f = body(req);
        const month = z.string().regex(/^\d{4}-\d{2}$/).safeParse(f.month);
        if (!month.success) throw new HaechiError("VALIDATION_FAILED", "month must be YYYY-MM");
        const s = await gate(req, reply, "act.review.signoff", { csrf: f._csrf, meta: { month: month.data } });
        if (s === null) return reply;
        await c.services.review.signOff({ month: month.data, by: s.session.principal, ...(f.note ? { note: f.note } : {}) });
        return reply.redirect(`/console/review?month=${month.data}&lang=${s.lang}`, 303);
      });

      // ---------------------------------------------------------------- audit verification

      scope.get("/audit", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.audit");
        if (s === null) return reply;
        const { lang, session } = s;
        const a = await c.services.console.auditStatus();
        const v = a.lastVerify;
        return render(
          reply,
          s,
          "/console/audit",
          t(lang, "audit"),
          html`<p>${tr(lang, "감사 로그는 키가 있는 해시 체인이고, 서명된 체크포인트로 꼬리 잘림을 잡아냅니다.", "The audit log is a keyed hash chain; signed checkpoints catch a truncated tail.")}</p>
<p>${tr(lang, "마지막 기록", "Head")}: <strong>#${a.head}</strong></p>
<p>${tr(lang, "최근 체크포인트", "Last checkpoint")}: ${a.checkpoint ? html`#${a.checkpoint.seq} ${when(a.checkpoint.at)} <span class="muted">key ${a.checkpoint.keyId}</span>` : t(lang, "none")}</p>
<p>${tr(lang, "최근 검증", "Last verification")}: ${v
            ? html`${v.result.ok ? html`<span class="ok">${tr(lang, "통과", "passed")}</span>` : html`<span class="bad">${tr(lang, "실패", "FAILED")}</span>`} ${when(v.at)} ${tr(lang, "실행", "by")} ${v.by} — ${v.result.entries} ${tr(lang, "건", "entries")}, ${v.ms} ms, ${tr(lang, "체크포인트", "checkpoints")} ${v.result.checkpointsChecked}`
            : tr(lang, "이 서버에서 아직 실행하지 않음", "not run from this server yet")}</p>
${v && v.result.problems.length > 0 ? html`<ul>${v.result.problems.map((p) => html`<li class="bad">#${p.seq} ${p.kind}: ${p.detail}</li>`)}</ul>` : ""}
${roleAllows(session.role, "act.audit.verify") ? html`<form method="post" action="${href(lang, "/console/audit/verify")}"><input type="hidden" name="_csrf" value="${session.csrf}"><button type="submit">${t(lang, "verifyNow")}</button></form>` : ""}`,
        );
      });

      scope.post("/audit/verify", { schema: { hide: true } }, async (req, reply) => {
        const f = body(req);
        const s = await gate(req, reply, "act.audit.verify", { csrf: f._csrf });
        if (s === null) return reply;
        await c.services.console.verify(s.session.principal);
        return reply.redirect(`/console/audit?lang=${s.lang}`, 303);
      });

      // ---------------------------------------------------------------- access volume

      scope.get("/activity", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.activity");
        if (s === null) return reply;
        const { lang } = s;
        const asked = (req.query as { view?: unknown }).view;
        const view: ActivityView = asked === "48h" ? "48h" : "30d";
        const byPurpose = await c.services.console.activity(view, "purpose");
        const byPrincipal = await c.services.console.activity(view, "principal");
        const span = view === "30d" ? tr(lang, "최근 30일 (일별, KST)", "last 30 days by day (KST)") : tr(lang, "최근 48시간 (시간별)", "last 48 hours by hour");
        const other = view === "30d" ? "48h" : "30d";
        return render(
          reply,
          s,
          "/console/activity",
          t(lang, "activity"),
          html`<p>${tr(lang, "개인정보에 대한 접근(한 사람을 지목한 기록, 또는 목적이 있는 대량 처리의 건수)을 감사 로그에서 셉니다.", "Accesses to personal data (entries naming one person, or a bulk act's count for a purpose), counted from the audit log.")}
<a href="${href(lang, `/console/activity?view=${other}`)}">${other === "48h" ? tr(lang, "48시간 보기", "show 48 hours") : tr(lang, "30일 보기", "show 30 days")}</a></p>
<h2>${tr(lang, "목적별", "By purpose")}, ${span}</h2>
<figure class="scroll">${raw(activitySvg(byPurpose, `${tr(lang, "목적별 접근", "Accesses by purpose")}, ${span}: ${byPurpose.total}`))}</figure>
<h2>${tr(lang, "주체별", "By principal")}, ${span}</h2>
<figure class="scroll">${raw(activitySvg(byPrincipal, `${tr(lang, "주체별 접근", "Accesses by principal")}, ${span}: ${byPrincipal.total}`))}</figure>
${byPrincipal.stats.complete ? "" : html`<p class="notice" role="status">${tr(lang, `아직 세는 중입니다: 지금까지 ${byPrincipal.stats.readLast}건을 읽었습니다. 잠시 후 새로 고치세요.`, `Still counting: ${byPrincipal.stats.readLast} entries read so far. Reload in a moment.`)}</p>`}
<p class="muted">${tr(lang, "집계 시작", "Counting from")} ${when(byPrincipal.stats.from)} · ${tr(lang, "마지막 갱신에서 읽은 기록", "entries read by the last refresh")}: ${byPrincipal.stats.readLast} (${byPrincipal.stats.msLast} ms) · ${tr(lang, "단위", "unit")}: ${ACTIVITY_VIEWS[view].unit}</p>`,
        );
      });

      // ---------------------------------------------------------------- data-subject requests

      // The request ledger (PIPA Arts. 35–37; ADR 0014): open requests earliest deadline first,
      // with the 10-day clock; answering them is `haechi requests complete|extend|refuse`.
      scope.get("/requests", { schema: { hide: true } }, async (req, reply) => {
        const s = await gate(req, reply, "view.requests");
        if (s === null) return reply;
        const { lang } = s;
        const all = (req.query as { all?: unknown }).all === "1";
        const { requests, counts } = await c.services.requests.list(s.ctx, all ? { limit: 200 } : { status: ["received", "in_progress", "extended"], limit: 200 });
        const kindName = (k: string) =>
          ({ access: tr(lang, "열람", "access"), portability: tr(lang, "전송", "portability"), correction: tr(lang, "정정", "correction"), deletion: tr(lang, "삭제", "deletion"), suspension: tr(lang, "처리정지", "suspension"), withdrawal: tr(lang, "동의 철회", "withdrawal") })[k] ?? k;
        return render(
          reply,
          s,
          "/console/requests",
          t(lang, "requests"),
          html`<p>${tr(lang, "정보주체의 요청은 받은 날의 다음 날부터 10일 안에 답합니다 (시행령 제41조·제43조·제44조). 열람·전송만 사유를 알리고 연기할 수 있습니다.", "A person's request is answered within 10 days of receipt (Decree Arts. 41, 43, 44); only access and portability may be postponed, with the reason told first.")}</p>
<p><strong class="${counts.overdue > 0 ? "bad" : "ok"}">${tr(lang, `기한 경과 ${counts.overdue}건`, `${counts.overdue} overdue`)}</strong> · ${tr(lang, `처리 중 ${counts.open}건`, `${counts.open} open`)} ·
<a href="${href(lang, all ? "/console/requests" : "/console/requests?all=1")}">${all ? tr(lang, "처리 중인 것만", "open only") : tr(lang, "모두 보기", "show all")}</a></p>
${requests.length === 0
  ? html`<p class="muted">${t(lang, "none")}</p>`
  : html`<div class="scroll"><table><caption>${t(lang, "requests")}</caption>
<thead><tr><th scope="col">${tr(lang, "요청", "Request")}</th><th scope="col">${tr(lang, "종류", "Kind")}</th><th scope="col">${tr(lang, "접수", "Received")}</th><th scope="col">${tr(lang, "기한", "Deadline")}</th><th scope="col">${tr(lang, "남은 시간", "Time left")}</th><th scope="col">${tr(lang, "상태", "Status")}</th><th scope="col">${tr(lang, "경로", "Channel")}</th></tr></thead>
<tbody>${requests.map(
      (r) => html`<tr><td><code>${r.id}</code></td><td>${kindName(r.kind)}</td><td>${when(r.receivedAt)}</td><td>${when(r.deadline)}</td>
<td class="${r.overdue ? "bad" : r.timeLeft && r.timeLeft.ms < 2 * 86_400_000 ? "warn" : ""}">${r.timeLeft ? (r.overdue ? tr(lang, `${r.timeLeft.text} 초과`, `${r.timeLeft.text} overdue`) : r.timeLeft.text) : r.onTime === false ? tr(lang, "기한 후 종결", "closed late") : "—"}</td>
<td>${r.status}</td><td>${r.channel}</td></tr>`,
    )}</tbody></table></div>`}
<p class="muted">${tr(lang, "답변: haechi requests complete | extend | refuse <id> (사유와 이의제기 방법을 기록합니다).", "Answer: haechi requests complete | extend | refuse <id> (the reason and how to object are recorded).")}</p>`,
        );
      });
    },
    { prefix: "/console" },
  );
};
