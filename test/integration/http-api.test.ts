/**
 * The v1 HTTP API against a real server on loopback and a real store, on SQLite and PostgreSQL,
 * with the demo catalog: collect, read for a purpose, update, consent, lookup, audit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { policyCatalog } from "../fixtures/policy-catalog.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";
import { tamperAudit } from "../helpers/tamper.js";

const person = (n: number) => ({
  user_id: `user-${n}`,
  phone: `010-5555-${String(1000 + n).slice(-4)}`,
  name: "홍길동",
  nickname: `gildong${n}`,
});

for (const kind of STORE_KINDS) {
  describe(`HTTP API on ${kind}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(kind);
    });
    after(async () => {
      await t?.close();
    });

    const create = (n: number, extra: Record<string, unknown> = {}, consents?: unknown[]) =>
      t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { ...person(n), ...extra }, ...(consents ? { consents } : {}) });

    test("collect then read back for the purpose; the id is a pseudonym", async () => {
      const c = await create(1, { email: "Gil@Example.com" });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.match(c.body.id, /^sub_[A-Za-z0-9_-]{22}$/);
      assert.deepEqual(c.body.fields, ["email", "name", "nickname", "phone", "user_id"]);
      const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=talk_service&fields=phone,nickname`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.fields, { phone: "010-5555-1001", nickname: "gildong1" });
      assert.equal(r.body.basis, "contract");
    });

    test("PIPA Art. 16(3): declining every optional item never blocks sign-up", async () => {
      const c = await create(2);
      assert.equal(c.status, 201);
    });

    test("PIPA Art. 16: a missing required item is refused, naming it", async () => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { user_id: "x", name: "김", nickname: "k" } });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, "REQUIRED_FIELD_MISSING");
      assert.match(r.body.error.message, /phone/);
      assert.ok(r.body.error.requestId);
    });

    test("unknown fields and bad values are refused with their names, nothing written", async () => {
      const u = await create(3, { shoe_size: 270 });
      assert.equal(u.status, 400);
      assert.equal(u.body.error.code, "UNKNOWN_FIELD");
      assert.match(u.body.error.message, /shoe_size/);
      const v = await create(3, { phone: "not a phone" });
      assert.equal(v.status, 400);
      assert.equal(v.body.error.code, "VALIDATION_FAILED");
      assert.match(v.body.error.message, /phone/);
      assert.equal(v.body.error.message.includes("not a phone"), false, "the value is not echoed");
      const look = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "user-3" });
      assert.deepEqual(look.body.matches, []);
    });

    test("auto fields are minimised at collection (IP truncated)", async () => {
      const c = await t.call("talk-app", "POST", "/v1/subjects", {
        purpose: "security_monitoring",
        fields: { user_id: "sec-1", ip_address: "203.0.113.77", last_seen: "2026-11-20T13:45:12Z" },
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=security_monitoring&fields=ip_address,last_seen`);
      assert.equal(r.body.fields.ip_address, "203.0.113.0");
      assert.match(r.body.fields.last_seen, /^2026-11-20T13:00:00/);
    });

    test("seed 000: another principal's context cannot use this id", async () => {
      const c = await create(4);
      const other = await t.call("openchat-app", "GET", `/v1/subjects/${c.body.id}?purpose=openchat_service`);
      assert.equal(other.status, 404);
      assert.equal(other.body.error.code, "NOT_FOUND");
    });

    test("a principal is limited to its purposes; the denial names why", async () => {
      const c = await create(5);
      const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=marketing`);
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, "ACCESS_DENIED");
      assert.equal(r.body.error.details.reasons[0].code, "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL");
    });

    test("PIPA Art. 16(1): fields beyond the purpose are denied", async () => {
      const c = await create(6);
      const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=security_monitoring&fields=phone`);
      assert.equal(r.status, 403);
      assert.equal(r.body.error.details.reasons[0].code, "FIELD_NOT_IN_PURPOSE");
    });

    test("support finds the person by phone (blind index) and sees masked values", async () => {
      await create(7, { email: "seven@example.com" });
      const look = await t.call("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "phone", value: "+82 10-5555-1007" });
      assert.equal(look.status, 200, JSON.stringify(look.body));
      assert.equal(look.body.matches.length, 1);
      const r = await t.call("support-console", "GET", `/v1/subjects/${look.body.matches[0]}?purpose=customer_support`);
      assert.equal(r.status, 200);
      assert.equal(r.body.fields.phone, "010-****-1007");
      assert.equal(r.body.fields.name, "홍*동");
      assert.match(r.body.fields.email, /^s\*+@example\.com$/);
      assert.deepEqual(r.body.masked.sort(), ["email", "name", "phone"]);
    });

    test("lookup needs a purpose like any read", async () => {
      const r = await t.call("support-console", "POST", "/v1/lookup", { field: "phone", value: "010-5555-1007" });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, "VALIDATION_FAILED");
      assert.match(r.body.error.message, /purpose/);
    });

    test("PIPA Art. 22(1)7, 37: marketing needs its consent; withdrawal stops it at once", async () => {
      const c = await create(8, { email: "eight@example.com" });
      const find = () => t.call("marketing-svc", "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: "010-5555-1008" });
      assert.deepEqual((await find()).body.matches, [], "no consent: not even found for marketing");
      const g = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/consents`, { consents: [{ notice: "marketing", action: "grant", channel: "app" }] });
      assert.equal(g.status, 200, JSON.stringify(g.body));
      assert.equal(g.body.consents.find((x: { notice: string }) => x.notice === "marketing").version, 2);
      const m = await find();
      assert.equal(m.body.matches.length, 1);
      const read = await t.call("marketing-svc", "GET", `/v1/subjects/${m.body.matches[0]}?purpose=marketing&fields=phone,email`);
      assert.equal(read.status, 200);
      assert.equal(read.body.fields.email, "eight@example.com");
      const w = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/consents`, { consents: [{ notice: "marketing", action: "withdraw", channel: "web" }] });
      assert.equal(w.status, 200);
      const after = await t.call("marketing-svc", "GET", `/v1/subjects/${m.body.matches[0]}?purpose=marketing&fields=phone`);
      assert.equal(after.status, 403);
      assert.equal(after.body.error.details.reasons[0].code, "CONSENT_WITHDRAWN");
    });

    test("PIPA Art. 15(2): a consent must be to the notice version in force", async () => {
      const c = await create(9);
      const r = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/consents`, { consents: [{ notice: "marketing", version: 1, action: "grant", channel: "app" }] });
      assert.equal(r.status, 409);
      assert.match(r.body.error.message, /v1 is not the version in force \(v2\)/);
    });

    test("PIPA Art. 23: sensitive data is refused without its separate consent, accepted with it", async () => {
      const base = { user_id: "pay-1", name: "이몽룡", phone: "010-7777-0001" };
      const created = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: base });
      assert.equal(created.status, 201);
      const noConsent = await t.call("pay-app", "PATCH", `/v1/subjects/${created.body.id}`, { purpose: "health_wallet", fields: { health_status: { allergy: "none" } } });
      assert.equal(noConsent.status, 403);
      assert.equal(noConsent.body.error.details.reasons[0].code, "NO_LEGAL_BASIS");
      await t.call("pay-app", "POST", `/v1/subjects/${created.body.id}/consents`, { consents: [{ notice: "health_wallet", action: "grant", channel: "app" }] });
      const ok = await t.call("pay-app", "PATCH", `/v1/subjects/${created.body.id}`, { purpose: "health_wallet", fields: { health_status: { allergy: "none" } } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    test("PIPA Art. 24: a passport number needs the separate unique-id consent", async () => {
      const fields = { user_id: "pay-2", name: "성춘향", passport_number: "M12345678" };
      const only = await t.call("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_overseas",
        fields,
        consents: [{ notice: "pay_overseas", action: "grant", channel: "app" }],
      });
      assert.equal(only.status, 403);
      assert.equal(only.body.error.details.reasons[0].code, "SEPARATE_CONSENT_REQUIRED");
      const both = await t.call("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_overseas",
        fields,
        consents: [
          { notice: "pay_overseas", action: "grant", channel: "app" },
          { notice: "passport_unique_id", action: "grant", channel: "app" },
        ],
      });
      assert.equal(both.status, 201, JSON.stringify(both.body));
    });

    test("PIPA Art. 24-2: an RRN is accepted under its statutory basis and kept encrypted", async () => {
      const r = await t.call("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_kyc",
        fields: { rrn: "900101-1234567", name: "박문수", birth_date: "1990-01-01", phone: "010-8888-0001" },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const read = await t.call("pay-app", "GET", `/v1/subjects/${r.body.id}?purpose=pay_kyc&fields=rrn`);
      assert.equal(read.body.fields.rrn, "900101-1******");
    });

    test("PATCH changes and removes optional values; required ones cannot be removed", async () => {
      const c = await create(10, { email: "ten@example.com" });
      const u = await t.call("talk-app", "PATCH", `/v1/subjects/${c.body.id}`, { purpose: "talk_service", fields: { nickname: "new-nick", email: null } });
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.deepEqual(u.body, { id: c.body.id, updated: ["nickname"], removed: ["email"] });
      const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=talk_service`);
      assert.equal(r.body.fields.nickname, "new-nick");
      assert.equal("email" in r.body.fields, false);
      const bad = await t.call("talk-app", "PATCH", `/v1/subjects/${c.body.id}`, { purpose: "talk_service", fields: { phone: null } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /phone/);
    });

    test("Idempotency-Key: a retry returns the first answer; another body with the key is refused", async () => {
      const body = { purpose: "talk_service", fields: person(11) };
      const h = { "idempotency-key": "create-user-11-abc" };
      const a = await t.call("talk-app", "POST", "/v1/subjects", body, h);
      const b = await t.call("talk-app", "POST", "/v1/subjects", body, h);
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.equal(b.body.id, a.body.id);
      const look = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "user-11" });
      assert.equal(look.body.matches.length, 1, "one subject, not two");
      const c = await t.call("talk-app", "POST", "/v1/subjects", { ...body, fields: person(12) }, h);
      assert.equal(c.status, 422);
      assert.equal(c.body.error.code, "IDEMPOTENCY_MISMATCH");
    });

    test("Safety Standard Art. 5: missing and wrong keys are refused; repeated failures lock the key", async () => {
      const none = await t.call(null, "GET", "/v1/subjects/sub_x?purpose=talk_service");
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, "UNAUTHENTICATED");
      const real = t.keys["security-ops"]!;
      const wrong = `${real.slice(0, -4)}AAAA`;
      for (let i = 0; i < 5; i++) {
        const r = await t.call(wrong, "GET", "/v1/subjects/sub_x?purpose=security_monitoring");
        assert.equal(r.status, 401);
      }
      const locked = await t.call("security-ops", "GET", "/v1/subjects/sub_x?purpose=security_monitoring");
      assert.equal(locked.status, 429);
      assert.equal(locked.body.error.code, "AUTH_LOCKED");
    });

    test("Safety Standard Art. 8: every decision is audited with who, when, where, whose, what", async () => {
      const c = await create(13);
      await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=talk_service&fields=phone`);
      await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=marketing`);
      await t.c.audit.flush();
      const rows: { action: string; body: string }[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) rows.push(...page);
      const bodies = rows.map((r) => JSON.parse(r.body));
      const reads = bodies.filter((b) => b.action === "subject.read" && b.principal === "talk-app");
      const allow = reads.find((b) => b.effect === "allow" && b.fields.includes("phone"));
      const deny = reads.find((b) => b.effect === "deny" && b.reasons.includes("PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL"));
      assert.ok(allow && deny);
      for (const b of [allow, deny]) {
        assert.match(b.at, /^\d{4}-\d{2}-\d{2}T/);
        assert.equal(b.source, "127.0.0.1");
        assert.match(b.subjectRef, /^ar_/);
      }
      const all = rows.map((r) => r.body).join("\n");
      for (const secret of ["010-5555", "홍길동", "gildong13", c.body.id]) assert.equal(all.includes(secret), false, `audit log holds ${secret}`);
    });

    test("audit verify: ok for an operator, refused for a service principal", async () => {
      const denied = await t.call("talk-app", "GET", "/v1/audit/verify");
      assert.equal(denied.status, 403);
      const v = await t.call("privacy-office", "GET", "/v1/audit/verify");
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal(v.body.ok, true);
      assert.ok(v.body.entries > 20);
    });

    test("tampering is detected: edited entry, deleted entry, swapped entries, truncated tail", async () => {
      const cp = await t.call("privacy-office", "GET", "/v1/audit/checkpoint");
      assert.equal(cp.status, 200, JSON.stringify(cp.body));
      const seq = cp.body.checkpoint.seq as number;
      await tamperAudit(t, { kind: "edit-body", seq: 5, from: '"requestId":"', to: '"requestId":"X' });
      let v = await t.call("privacy-office", "GET", "/v1/audit/verify");
      assert.equal(v.body.ok, false);
      assert.ok(v.body.problems.some((p: { kind: string; seq: number }) => p.kind === "hash_mismatch" && p.seq === 5), JSON.stringify(v.body.problems));
      await tamperAudit(t, { kind: "edit-body", seq: 5, from: '"requestId":"X', to: '"requestId":"' });
      v = await t.call("privacy-office", "GET", "/v1/audit/verify");
      assert.equal(v.body.ok, true, "restored");

      await tamperAudit(t, { kind: "swap-bodies", a: 7, b: 8 });
      v = await t.call("privacy-office", "GET", "/v1/audit/verify");
      assert.equal(v.body.ok, false);
      await tamperAudit(t, { kind: "swap-bodies", a: 7, b: 8 });

      await tamperAudit(t, { kind: "delete", seq: 10 });
      v = await t.call("privacy-office", "GET", "/v1/audit/verify");
      assert.equal(v.body.ok, false);
      assert.ok(v.body.problems.some((p: { kind: string }) => p.kind === "seq_gap"), JSON.stringify(v.body.problems));

      // Truncation that also removes the stored checkpoints: only the copy kept outside catches it.
      await tamperAudit(t, { kind: "truncate-after", seq: seq - 3 });
      const outside = await t.call("privacy-office", "POST", "/v1/audit/verify", { checkpoints: [cp.body] });
      assert.equal(outside.status, 200, JSON.stringify(outside.body));
      assert.ok(outside.body.problems.some((p: { kind: string }) => p.kind === "truncated"), JSON.stringify(outside.body.problems));
    });
  });

  describe(`fail closed on ${kind}`, () => {
    let t: TestApp;
    let broken = false;
    before(async () => {
      t = await startApp(kind, {
        wrapAuditStore: (s) => ({
          ...s,
          appendBatch: (build) => (broken ? Promise.reject(new Error("disk full")) : s.appendBatch(build)),
          head: () => s.head(),
          iterate: (a, b) => s.iterate(a, b),
          bySubjectRef: (r, l) => s.bySubjectRef(r, l),
          count: () => s.count(),
          putCheckpoint: (c) => s.putCheckpoint(c),
          latestCheckpoint: () => s.latestCheckpoint(),
          listCheckpoints: () => s.listCheckpoints(),
          close: () => s.close(),
        }),
      });
    });
    after(async () => {
      await t?.close();
    });

    test("if the audit entry cannot be written, a read releases nothing and a create writes nothing", async () => {
      const c = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(50) });
      assert.equal(c.status, 201);
      broken = true;
      try {
        const r = await t.call("talk-app", "GET", `/v1/subjects/${c.body.id}?purpose=talk_service`);
        assert.equal(r.status, 503);
        assert.equal(r.body.error.code, "AUDIT_UNAVAILABLE");
        assert.equal(JSON.stringify(r.body).includes("5555"), false);
        const w = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(51) });
        assert.equal(w.status, 503);
      } finally {
        broken = false;
      }
      const look = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "user-51" });
      assert.deepEqual(look.body.matches, []);
    });
  });

  describe(`runtime defence in depth on ${kind}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(kind, { catalog: policyCatalog });
    });
    after(async () => {
      await t?.close();
    });

    test("PIPA Art. 24-2: RRN_CONSENT_NOT_A_BASIS even if a catalog tried to rest an RRN on consent", async () => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", {
        purpose: "kyc_by_consent",
        fields: { rrn: "900101-1234567" },
        consents: [{ notice: "marketing", action: "grant", channel: "app" }],
      });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "RRN_CONSENT_NOT_A_BASIS");
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`API key revocation on ${kind}`, () => {
    test("Safety Standard Art. 5(2): a revoked key stops working at once and the revocation is audited", async () => {
      const t = await startApp(kind);
      try {
        const issued = await t.c.services.auth.issue("talk-app");
        const ok = await t.call(issued.token, "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "nobody" });
        assert.equal(ok.status, 200);
        await t.c.services.auth.revoke(issued.keyId);
        const after = await t.call(issued.token, "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "nobody" });
        assert.equal(after.status, 401);
        const listed = (await t.c.services.auth.list()).find((k) => k.keyId === issued.keyId);
        assert.ok(listed?.revokedAt);
        await t.c.audit.flush();
        const actions: string[] = [];
        for await (const page of t.c.stores.audit.iterate(0, 1000)) for (const r of page) actions.push(r.action);
        assert.ok(actions.includes("apikey.revoke"));
      } finally {
        await t.close();
      }
    });
  });
}
