/**
 * The HTTP surface as a whole, on SQLite and PostgreSQL: the OpenAPI document lists every /v1
 * route the server answers, each behind the bearer scheme; unknown routes get the error shape;
 * /metrics counts by route template and never holds ids or personal values; and every /v1 route
 * runs through one common table (Unkey's runCommonRouteTests habit): no key → 401, wrong key →
 * 401, a principal without the purpose or role → 403 (404 for an id from another context), the
 * right principal → 2xx. Every refusal carries the error shape and is audited.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { ERROR_CODES, type ErrorCode } from "../../src/core/errors.js";
import { httpStatus } from "../../src/http/error-map.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

/**
 * The demo catalog with a lockout that never trips: the table below sends dozens of keyless
 * requests from 127.0.0.1, and a lockout (tested in http-api and bad-input) would turn them into 429s.
 */
const demo = loadCatalog(DEMO_CATALOG);
const catalog = { ...demo, security: { ...demo.security, lockout: { ...demo.security.lockout, max_failures: 100_000 } } };

const CODES = new Set<string>(ERROR_CODES);

/** The error contract: status from the one mapping, a code from the closed list, message, requestId. */
const assertError = (res: { status: number; body: any }, status: number, code: ErrorCode, what: string) => {
  const where = `${what}: ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.equal(typeof res.body, "object", where);
  assert.equal(res.body.error?.code, code, where);
  assert.ok(CODES.has(res.body.error.code), where);
  assert.equal(httpStatus[res.body.error.code as ErrorCode], res.status, where);
  assert.ok(typeof res.body.error.message === "string" && res.body.error.message.length > 0, where);
  assert.ok(typeof res.body.error.requestId === "string" && res.body.error.requestId.length > 0, where);
  assert.equal(/\n\s*at |node_modules|\.ts:\d+/.test(JSON.stringify(res.body)), false, where);
};

/** Routes of the tree Fastify prints (`printRoutes({ commonPrefix: false })`), without HEAD. */
const servedRoutes = (tree: string): Set<string> => {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split("\n")) {
    const m = /^((?:[│ ] {3})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const full = stack.join("");
    for (const method of (m[3] ?? "").split(", ").filter((x) => x && x !== "HEAD")) out.add(`${method} ${full}`);
  }
  return out;
};

const person = (n: number) => ({ user_id: `surface-${n}`, phone: `010-6000-${String(1000 + n)}`, name: "박보검", nickname: `bogum${n}` });

for (const kind of STORE_KINDS) {
  describe(`HTTP surface on ${kind}`, () => {
    let t: TestApp;
    let subject = "";
    let checkpoint: unknown;
    before(async () => {
      t = await startApp(kind, { catalog });
      const c = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(1) });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      subject = c.body.id;
      const cp = await t.call("privacy-office", "GET", "/v1/audit/checkpoint");
      assert.equal(cp.status, 200, JSON.stringify(cp.body));
      checkpoint = cp.body;
    });
    after(async () => {
      await t?.close();
    });

    /** Audit entries carrying this request id (every refusal must leave one). */
    const auditedDenial = async (requestId: string) => {
      await t.c.audit.flush();
      const found: { action: string; effect: string }[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) {
        for (const row of page) {
          const b = JSON.parse(row.body) as { requestId: string; action: string; effect: string };
          if (b.requestId === requestId) found.push(b);
        }
      }
      return found.filter((b) => b.effect === "deny");
    };

    test("the OpenAPI document lists every /v1 route the server answers, each behind the bearer scheme", async () => {
      const doc = (await t.call(null, "GET", "/openapi.json")).body;
      assert.equal(doc.openapi, "3.1.0");
      assert.deepEqual(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer", description: doc.components.securitySchemes.bearer.description });
      const documented = new Set<string>();
      for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
        for (const [method, op] of Object.entries(ops)) {
          if (!p.startsWith("/v1/")) continue;
          documented.add(`${method.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ":$1")}`);
          assert.deepEqual(op.security ?? doc.security, [{ bearer: [] }], `${method} ${p} requires the bearer scheme`);
          for (const s of ["401", "403"]) assert.ok(op.responses?.[s], `${method} ${p} documents ${s}`);
          assert.ok(op.summary, `${method} ${p} has a summary`);
        }
      }
      const served = [...servedRoutes(t.app.printRoutes({ commonPrefix: false }))].filter((r) => r.split(" ")[1]!.startsWith("/v1/"));
      assert.ok(served.length >= 8, `routes found in the router: ${served.join(", ")}`);
      for (const r of served) assert.ok(documented.has(r), `${r} is served but missing from the OpenAPI document`);
      for (const r of documented) assert.ok(served.includes(r), `${r} is documented but not served`);
      for (const r of ROUTES) assert.ok(documented.has(r), `${r} is documented`);
    });

    test("unknown routes: 404 NOT_FOUND in the error shape; under /v1 only after authentication", async () => {
      assertError(await t.call(null, "GET", "/nothing-here"), 404, "NOT_FOUND", "GET /nothing-here");
      assertError(await t.call(null, "POST", "/nothing-here", { a: 1 }), 404, "NOT_FOUND", "POST /nothing-here");
      const v1 = await t.call("talk-app", "GET", "/v1/nothing-here");
      assertError(v1, 404, "NOT_FOUND", "GET /v1/nothing-here");
      assert.match(v1.body.error.message, /\/v1\/nothing-here/);
      // Without a key an unknown /v1 path is just unauthenticated: the API's shape is not probed for free.
      assertError(await t.call(null, "GET", "/v1/nothing-here"), 401, "UNAUTHENTICATED", "GET /v1/nothing-here without a key");
      assertError(await t.call("talk-app", "PUT", `/v1/subjects/${subject}`, {}), 404, "NOT_FOUND", "PUT on a subject");
    });

    test("/metrics counts requests by route template and status; no ids or personal values in it", async () => {
      const counters = async () => {
        const res = await fetch(`${t.url}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
        const text = await res.text();
        const m = new Map<string, number>();
        for (const line of text.split("\n")) {
          if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
          assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*",?)*\})? -?[0-9.eE+-]+$/, `not Prometheus text: ${line}`);
          const c = /^haechi_http_requests_total\{method="(\w+)",route="([^"]*)",status="(\d+)"\} (\d+)$/.exec(line);
          if (c) m.set(`${c[1]} ${c[2]} ${c[3]}`, Number(c[4]));
        }
        return { m, text };
      };
      const before = (await counters()).m;
      const p = person(2);
      const created = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: p });
      assert.equal(created.status, 201);
      for (let i = 0; i < 3; i++) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${created.body.id}?purpose=talk_service`)).status, 200);
      for (let i = 0; i < 2; i++) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/sub_${p.phone}?purpose=talk_service`)).status, 404);
      assert.equal((await t.call(null, "GET", `/lost/${p.phone}/${encodeURIComponent(p.name)}`)).status, 404);
      const { m: afterCounts, text } = await counters();
      const delta = (k: string) => (afterCounts.get(k) ?? 0) - (before.get(k) ?? 0);
      assert.equal(delta("POST /v1/subjects 201"), 1);
      assert.equal(delta("GET /v1/subjects/:id 200"), 3);
      assert.equal(delta("GET /v1/subjects/:id 404"), 2);
      assert.equal(delta("GET unmatched 404"), 1);
      assert.match(text, /^haechi_http_request_duration_seconds_count\{route="\/v1\/subjects\/:id"\} \d+$/m, "latency by route template");
      for (const secret of [created.body.id, subject, p.phone, p.name, p.user_id, p.nickname, "talk_service", ...Object.values(t.keys)]) {
        assert.equal(text.includes(secret), false, `metrics hold ${secret}`);
      }
    });

    // ─── the common table: every /v1 route, no key / wrong key / wrong principal / right principal ───

    interface Call {
      principal: string | null;
      method: string;
      path: () => string;
      body?: () => unknown;
    }
    interface Denial extends Call {
      why: string;
      status: 403 | 404;
      code: ErrorCode;
      /** The first reason's code, when the denial comes from the policy engine. */
      reason?: string;
    }
    interface RouteCase {
      ok: Call & { status: number };
      denied: Denial[];
    }
    const ROUTE_CASES: Record<string, RouteCase> = {
      "POST /v1/subjects": {
        ok: { principal: "talk-app", method: "POST", path: () => "/v1/subjects", body: () => ({ purpose: "talk_service", fields: person(3) }), status: 201 },
        denied: [
          { why: "a principal without the purpose", principal: "marketing-svc", method: "POST", path: () => "/v1/subjects", body: () => ({ purpose: "talk_service", fields: person(4) }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
          { why: "an operator (no purposes)", principal: "privacy-office", method: "POST", path: () => "/v1/subjects", body: () => ({ purpose: "talk_service", fields: person(5) }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
        ],
      },
      "GET /v1/subjects/:id": {
        ok: { principal: "talk-app", method: "GET", path: () => `/v1/subjects/${subject}?purpose=talk_service&fields=nickname`, status: 200 },
        denied: [
          { why: "a purpose the principal may not use", principal: "talk-app", method: "GET", path: () => `/v1/subjects/${subject}?purpose=marketing`, status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
          { why: "an id from another context", principal: "openchat-app", method: "GET", path: () => `/v1/subjects/${subject}?purpose=openchat_service`, status: 404, code: "NOT_FOUND" },
          { why: "an id from another context, for a purpose that covers the field", principal: "support-console", method: "GET", path: () => `/v1/subjects/${subject}?purpose=customer_support&fields=phone`, status: 404, code: "NOT_FOUND" },
        ],
      },
      "PATCH /v1/subjects/:id": {
        ok: { principal: "talk-app", method: "PATCH", path: () => `/v1/subjects/${subject}`, body: () => ({ purpose: "talk_service", fields: { nickname: "patched" } }), status: 200 },
        denied: [
          { why: "a principal without the purpose", principal: "marketing-svc", method: "PATCH", path: () => `/v1/subjects/${subject}`, body: () => ({ purpose: "talk_service", fields: { nickname: "x" } }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
          { why: "an id from another context", principal: "openchat-app", method: "PATCH", path: () => `/v1/subjects/${subject}`, body: () => ({ purpose: "openchat_service", fields: { openchat_nickname: "x" } }), status: 404, code: "NOT_FOUND" },
        ],
      },
      "POST /v1/subjects/:id/consents": {
        ok: { principal: "talk-app", method: "POST", path: () => `/v1/subjects/${subject}/consents`, body: () => ({ consents: [{ notice: "analytics", action: "grant", channel: "app" }] }), status: 200 },
        denied: [
          { why: "an id from another context", principal: "openchat-app", method: "POST", path: () => `/v1/subjects/${subject}/consents`, body: () => ({ consents: [{ notice: "analytics", action: "grant", channel: "app" }] }), status: 404, code: "NOT_FOUND" },
          { why: "a notice the principal's purposes are not linked to", principal: "talk-app", method: "POST", path: () => `/v1/subjects/${subject}/consents`, body: () => ({ consents: [{ notice: "health_wallet", action: "grant", channel: "app" }] }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
        ],
      },
      "POST /v1/subjects/:id/reactivate": {
        ok: { principal: "talk-app", method: "POST", path: () => `/v1/subjects/${subject}/reactivate`, body: () => ({ purpose: "talk_service" }), status: 200 },
        denied: [
          { why: "a principal without the purpose", principal: "marketing-svc", method: "POST", path: () => `/v1/subjects/${subject}/reactivate`, body: () => ({ purpose: "talk_service" }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
          { why: "an id from another context", principal: "openchat-app", method: "POST", path: () => `/v1/subjects/${subject}/reactivate`, body: () => ({ purpose: "openchat_service" }), status: 404, code: "NOT_FOUND" },
        ],
      },
      "PUT /v1/subjects/:id/notice-preferences": {
        ok: { principal: "talk-app", method: "PUT", path: () => `/v1/subjects/${subject}/notice-preferences`, body: () => ({ annualNotice: "opt_out" }), status: 200 },
        denied: [
          { why: "an operator (people's preferences come through their service)", principal: "privacy-office", method: "PUT", path: () => `/v1/subjects/${subject}/notice-preferences`, body: () => ({ annualNotice: "opt_out" }), status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
          { why: "an id from another context", principal: "openchat-app", method: "PUT", path: () => `/v1/subjects/${subject}/notice-preferences`, body: () => ({ annualNotice: "opt_out" }), status: 404, code: "NOT_FOUND" },
        ],
      },
      "POST /v1/lookup": {
        ok: { principal: "talk-app", method: "POST", path: () => "/v1/lookup", body: () => ({ purpose: "talk_service", field: "user_id", value: "surface-1" }), status: 200 },
        denied: [
          { why: "a principal without the purpose", principal: "marketing-svc", method: "POST", path: () => "/v1/lookup", body: () => ({ purpose: "talk_service", field: "user_id", value: "surface-1" }), status: 403, code: "ACCESS_DENIED", reason: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL" },
          { why: "a field outside the purpose", principal: "security-ops", method: "POST", path: () => "/v1/lookup", body: () => ({ purpose: "security_monitoring", field: "phone", value: "010-6000-1001" }), status: 403, code: "ACCESS_DENIED", reason: "FIELD_NOT_IN_PURPOSE" },
        ],
      },
      "POST /v1/subjects/:id/requests": {
        ok: { principal: "talk-app", method: "POST", path: () => `/v1/subjects/${subject}/requests`, body: () => ({ kind: "access", channel: "portal", fulfil: false }), status: 201 },
        denied: [
          { why: "an operator (files nothing on a person's behalf)", principal: "privacy-office", method: "POST", path: () => `/v1/subjects/${subject}/requests`, body: () => ({ kind: "access", channel: "operator" }), status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
          { why: "a service without a collecting purpose", principal: "marketing-svc", method: "POST", path: () => `/v1/subjects/${subject}/requests`, body: () => ({ kind: "access", channel: "service_api" }), status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
          { why: "an id from another context", principal: "openchat-app", method: "POST", path: () => `/v1/subjects/${subject}/requests`, body: () => ({ kind: "access", channel: "service_api" }), status: 404, code: "NOT_FOUND" },
        ],
      },
      "GET /v1/requests": {
        ok: { principal: "privacy-office", method: "GET", path: () => "/v1/requests?overdue=true", status: 200 },
        denied: [{ why: "a service principal", principal: "talk-app", method: "GET", path: () => "/v1/requests", status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" }],
      },
      "POST /v1/subjects/:id/portal-link": {
        ok: { principal: "talk-app", method: "POST", path: () => `/v1/subjects/${subject}/portal-link`, status: 201 },
        denied: [
          { why: "an id from another context", principal: "openchat-app", method: "POST", path: () => `/v1/subjects/${subject}/portal-link`, status: 404, code: "NOT_FOUND" },
          { why: "an operator", principal: "privacy-office", method: "POST", path: () => `/v1/subjects/${subject}/portal-link`, status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
          { why: "a service that collects nothing", principal: "marketing-svc", method: "POST", path: () => `/v1/subjects/${subject}/portal-link`, status: 404, code: "NOT_FOUND" },
        ],
      },
      "GET /v1/subjects/:id/report": {
        ok: { principal: "talk-app", method: "GET", path: () => `/v1/subjects/${subject}/report`, status: 200 },
        denied: [
          { why: "an id from another context", principal: "support-console", method: "GET", path: () => `/v1/subjects/${subject}/report`, status: 404, code: "NOT_FOUND" },
          { why: "the legal-retention principal", principal: "legal-archive", method: "GET", path: () => `/v1/subjects/${subject}/report`, status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
        ],
      },
      "GET /v1/audit/verify": {
        ok: { principal: "privacy-office", method: "GET", path: () => "/v1/audit/verify", status: 200 },
        denied: [
          { why: "a service principal", principal: "talk-app", method: "GET", path: () => "/v1/audit/verify", status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
          { why: "the legal-retention principal", principal: "legal-archive", method: "GET", path: () => "/v1/audit/verify", status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" },
        ],
      },
      "POST /v1/audit/verify": {
        ok: { principal: "privacy-office", method: "POST", path: () => "/v1/audit/verify", body: () => ({ checkpoints: [checkpoint] }), status: 200 },
        denied: [{ why: "a service principal", principal: "support-console", method: "POST", path: () => "/v1/audit/verify", body: () => ({ checkpoints: [checkpoint] }), status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" }],
      },
      "GET /v1/audit/checkpoint": {
        ok: { principal: "privacy-office", method: "GET", path: () => "/v1/audit/checkpoint", status: 200 },
        denied: [{ why: "a service principal", principal: "pay-app", method: "GET", path: () => "/v1/audit/checkpoint", status: 403, code: "ACCESS_DENIED", reason: "ROLE_NOT_PERMITTED" }],
      },
    };
    const ROUTES = Object.keys(ROUTE_CASES);

    for (const [route, rc] of Object.entries(ROUTE_CASES)) {
      describe(route, () => {
        const send = (c: Call, principal: string | null, headers: Record<string, string> = {}) => t.call(principal, c.method, c.path(), c.body?.(), headers);

        test("no key → 401 UNAUTHENTICATED, audited", async () => {
          const res = await send(rc.ok, null);
          assertError(res, 401, "UNAUTHENTICATED", `${route} without a key`);
          assert.match(res.body.error.message, /missing API key/);
          assert.ok((await auditedDenial(res.body.error.requestId)).some((e) => e.action === "auth.failure"), "the failure is audited");
        });

        test("wrong keys → 401 UNAUTHENTICATED, never saying which part was wrong", async () => {
          const real = (await t.c.services.auth.issue(rc.ok.principal!)).token;
          const wrongs = {
            garbage: "garbage",
            "wrong secret": `${real.slice(0, -4)}${real.endsWith("AAAA") ? "BBBB" : "AAAA"}`,
            "unknown key id": `hk_${"Z".repeat(12)}_${real.slice(-43)}`,
            "wrong scheme": null,
          } as const;
          for (const [label, token] of Object.entries(wrongs)) {
            const res = token === null ? await send(rc.ok, null, { authorization: `Basic ${Buffer.from(`x:${real}`).toString("base64")}` }) : await send(rc.ok, token);
            assertError(res, 401, "UNAUTHENTICATED", `${route} with ${label}`);
            if (token !== null) assert.equal(res.body.error.message, "invalid API key", `${route} with ${label}`);
            assert.ok((await auditedDenial(res.body.error.requestId)).some((e) => e.action === "auth.failure"), `${label}: the failure is audited`);
          }
        });

        for (const d of rc.denied) {
          const refuse = async () => {
            const res = await send(d, d.principal);
            assertError(res, d.status, d.code, `${route} by ${d.principal}`);
            if (d.reason) assert.equal(res.body.error.details?.reasons?.[0]?.code, d.reason, JSON.stringify(res.body));
            if (d.status === 404) assert.equal(res.body.error.details, undefined, "a foreign id reveals nothing");
            return res.body.error.requestId as string;
          };
          const assertAudited = async (requestId: string) =>
            assert.ok((await auditedDenial(requestId)).length > 0, `${route} by ${d.principal}: the denial is not in the audit log`);
          test(`${d.why} (${d.principal}) → ${d.status} ${d.code}, audited`, async () => {
            await assertAudited(await refuse());
          });
        }

        test(`the right principal (${rc.ok.principal}) → ${rc.ok.status}`, async () => {
          const res = await send(rc.ok, rc.ok.principal);
          assert.equal(res.status, rc.ok.status, JSON.stringify(res.body));
        });
      });
    }

    test("HEAD variants of the GET routes need a key too", async () => {
      for (const p of [`/v1/subjects/${subject}?purpose=talk_service`, "/v1/audit/verify", "/v1/audit/checkpoint"]) {
        const res = await fetch(`${t.url}${p}`, { method: "HEAD" });
        assert.equal(res.status, 401, `HEAD ${p}`);
      }
    });
  });
}
