/**
 * Incidents over HTTP on SQLite and PostgreSQL, beyond the drill: opened from a detection alert
 * (by its audit seq or its id, without the detection code), a partial first notice and its
 * follow-up (Decree 39(2)), a rescope that finds more people, a possible breach (Art. 34(2)
 * 2026; Decree 39-3), an alteration (writes, not reads), a recipient traced through the
 * provision ledger (Credit Information Act Art. 39-4), the risk-reduced proviso (Decree 40(1)),
 * the pickup box; and bad input and other principals refused with clear errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { asSubjectId } from "../../src/core/ids.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const OP = "privacy-office";
const member = (n: number) => ({ user_id: `fl-${n}`, phone: `010-5${String(100 + n).padStart(3, "0")}-${String(1000 + n)}`, name: `이름${n}`, nickname: `n${n}`, email: `fl${n}@mail.example` });
const duty = (v: any, code: string) => v.duties.find((d: any) => d.code === code);

for (const kind of STORE_KINDS) {
  describe(`incidents on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T00:00:00.000Z");
    const ids: string[] = [];
    before(async () => {
      t = await startApp(kind, { clock });
      for (let i = 0; i < 12; i++) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
    });
    after(async () => {
      await t?.close();
    });
    const read = async (principal: string, i: number, fields = "name,phone") => {
      const r = await t.call(principal, "GET", `/v1/subjects/${ids[i]}?purpose=talk_service&fields=${fields}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };
    const open = async (body: Record<string, unknown>) => {
      const r = await t.call(OP, "POST", "/v1/incidents", { kind: "leak", summary: "test incident", source: { type: "manual" }, ...body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };
    const post = async (id: string, what: string, body?: unknown) => {
      const r = await t.call(OP, "POST", `/v1/incidents/${id}/${what}`, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };

    test("opened from a detection alert by its audit seq or its alert id: the alert's time, principal and window start", async () => {
      clock.set("2026-11-21T01:00:00.000Z");
      for (const i of [0, 1, 2]) await read("talk-app", i);
      clock.set("2026-11-21T01:05:00.000Z");
      // As the detection branch records an alert: no principal column, the subject principal in meta.
      const seq = await t.c.audit.record({
        requestId: "det-1",
        principal: null,
        source: null,
        action: "detection.alert",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: ["DETECTION:talk-enumeration"],
        count: 3,
        meta: { alert: "alt_test123", rule: "talk-enumeration", type: "enumeration", principal: "talk-app", reaction: "suspend", windowStart: "2026-11-21T00:55:00.000Z" },
      });
      clock.set("2026-11-21T01:30:00.000Z");
      const bySeq = await open({ summary: "enumeration alert on talk-app", source: { type: "alert", auditSeq: seq } });
      assert.deepEqual(bySeq.source, { type: "alert", auditSeq: seq, alertId: "alt_test123", rule: "talk-enumeration" });
      assert.equal(bySeq.awareAt, "2026-11-21T01:05:00.000Z", "awareness is the alert's time");
      assert.equal(bySeq.deadline, "2026-11-24T01:05:00.000Z");
      assert.equal(bySeq.timeLeft.text, "71h 35m left");
      assert.deepEqual(bySeq.scope.principals, ["talk-app"]);
      assert.equal(bySeq.scope.window.from, "2026-11-21T00:55:00.000Z");
      assert.equal(bySeq.scope.window.to, "2026-11-21T01:30:00.000Z");
      assert.equal(bySeq.scope.people.total, 3);
      const byId = await open({ summary: "the same alert by its id", source: { type: "alert", alertId: "alt_test123" }, scope: { from: "2026-11-21T00:00:00Z" } });
      assert.equal(byId.source.auditSeq, seq);
      assert.equal(byId.scope.window.from, "2026-11-21T00:00:00.000Z", "the caller's window wins");
      assert.equal(byId.scope.people.total, 3);
    });

    test("Decree Art. 39(2): a partial first notice while items 1–2 are unknown, then the follow-up to the same people", async () => {
      clock.set("2026-11-21T02:00:00.000Z");
      const v = await open({ scope: { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] } });
      const first = await post(v.id, "notices");
      assert.deepEqual([first.round.kind, first.round.people, first.round.posting, first.round.sent], ["partial", 3, false, 3]);
      assert.equal(duty(first, "NOTIFY_SUBJECTS").status, "pending", "a follow-up is still owed");
      // The pickup box: sent with a proof, nothing written anywhere else.
      const box = (await t.call(OP, "GET", `/v1/incidents/${v.id}/outbox?status=sent`)).body.messages;
      assert.equal(box.length, 3);
      assert.ok(box.every((m: any) => m.proof.startsWith("pickup:sha256:") && m.kind === "partial" && m.channel === "email"));
      assert.deepEqual(box.map((m: any) => m.to).sort(), ["fl0@mail.example", "fl1@mail.example", "fl2@mail.example"]);
      assert.match(box[0].body, /지금까지 확인된 내용/);
      clock.set("2026-11-21T03:00:00.000Z");
      await post(v.id, "facts", { facts: { circumstances: { ko: "내부 계정 오용", en: "an internal account was misused" } } });
      const second = await post(v.id, "notices");
      assert.deepEqual([second.round.kind, second.round.people], ["followup", 3]);
      assert.equal(duty(second, "NOTIFY_SUBJECTS").status, "done");
      assert.equal(duty(second, "NOTIFY_SUBJECTS").doneAt, "2026-11-21T03:00:00.000Z");
      assert.deepEqual(second.notices.documents.map((d: any) => d.kind), ["partial", "followup"]);
    });

    test("a rescope that finds more people notifies only those not yet told", async () => {
      clock.set("2026-11-21T04:00:00.000Z");
      const v = await open({ facts: { circumstances: { ko: "경위", en: "how" } }, scope: { from: "2026-11-21T00:00:00Z", to: "2026-11-21T03:59:00Z", principals: ["talk-app"] } });
      assert.equal((await post(v.id, "notices")).round.people, 3);
      await read("talk-app", 5);
      clock.set("2026-11-21T04:10:00.000Z");
      const wider = await post(v.id, "scope", { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] });
      assert.equal(wider.scope.people.total, 4);
      assert.equal(duty(wider, "NOTIFY_SUBJECTS").status, "pending", "the new person is not told yet");
      const more = await post(v.id, "notices");
      assert.deepEqual([more.round.kind, more.round.people], ["full", 1]);
      assert.equal(duty(more, "NOTIFY_SUBJECTS").status, "done");
    });

    test("PIPA Art. 34(2) (2026); Decree Art. 39-3: a possible breach with nobody identified is posted; found not to be one, that is posted too", async () => {
      clock.set("2026-11-21T05:00:00.000Z");
      const v = await open({ kind: "possible", summary: "intrusion on the chat servers; data access unknown", facts: { intrusion: true, possibleGround: "unidentified_intrusion" } });
      assert.equal(duty(v, "NOTIFY_POSSIBLE_BREACH").required, true);
      assert.equal(duty(v, "REPORT_PIPC_KISA").required, false);
      const n = await post(v.id, "notices");
      assert.deepEqual([n.round.kind, n.round.people, n.round.posting], ["possible", 0, true]);
      assert.equal(duty(n, "NOTIFY_POSSIBLE_BREACH").status, "done");
      assert.equal(n.notices.documents[0].audience, "public");
      assert.ok(n.notices.documents[0].postUntil >= "2026-12-21T05:00:00.000Z", "posted for at least 30 days");
      clock.set("2026-11-21T20:00:00.000Z");
      const cleared = await post(v.id, "facts", { noBreach: true });
      assert.equal(duty(cleared, "NOTIFY_NO_BREACH").required, true);
      const told = await post(v.id, "notices");
      assert.deepEqual([told.round.kind, told.round.posting], ["no_breach", true]);
      assert.equal(duty(told, "NOTIFY_NO_BREACH").status, "done");
      assert.deepEqual(told.timeline.map((e: any) => e.act), ["opened", "notices_queued", "notices_sent", "no_breach", "notices_queued", "notices_sent"]);
    });

    test("Decree Art. 39-3: a possible breach confirmed becomes a breach; those told of the possibility get the full notice", async () => {
      const v = await open({
        kind: "possible",
        summary: "records seen offered for sale",
        facts: { possibleGround: "partial_confirmed", circumstances: { ko: "판매 게시물 확인", en: "records seen offered for sale" } },
        scope: { from: "2026-11-21T00:00:00Z", to: "2026-11-21T01:30:00Z", principals: ["talk-app"] },
      });
      const possible = await post(v.id, "notices");
      assert.deepEqual([possible.round.kind, possible.round.people], ["possible", 3]);
      const c = await post(v.id, "facts", { confirm: { kind: "leak" } });
      assert.equal(c.kind, "leak");
      assert.ok(c.facts.confirmedAt);
      assert.equal(duty(c, "NOTIFY_SUBJECTS").required, true);
      assert.equal(duty(c, "NOTIFY_SUBJECTS").status, "pending");
      assert.equal(c.timeline.at(-1).act, "confirmed");
      const full = await post(v.id, "notices");
      assert.deepEqual([full.round.kind, full.round.people], ["full", 3]);
      assert.equal(duty(full, "NOTIFY_SUBJECTS").status, "done");
    });

    test("PIPA Art. 23(2) (2026): an alteration's scope is what the principal wrote, not what it read", async () => {
      clock.set("2026-11-21T06:00:00.000Z");
      const upd = await t.call("talk-app", "PATCH", `/v1/subjects/${ids[6]}`, { purpose: "talk_service", fields: { nickname: "changed" } });
      assert.equal(upd.status, 200, JSON.stringify(upd.body));
      await read("talk-app", 7);
      clock.set("2026-11-21T06:10:00.000Z");
      const alt = await open({ kind: "alteration", summary: "profile names changed by a misused key", scope: { from: "2026-11-21T05:59:00Z", principals: ["talk-app"] } });
      assert.equal(alt.scope.people.total, 2, "reads count too: what it read it may have copied");
      assert.deepEqual(alt.scope.fields.map((f: any) => f.field), ["name", "nickname", "phone"]);
      const leak = await open({ kind: "leak", scope: { from: "2026-11-21T05:59:00Z", principals: ["talk-app"] } });
      assert.equal(leak.scope.people.total, 1, "a leak counts what was read only");
      assert.deepEqual(leak.scope.fields.map((f: any) => f.field), ["name", "phone"]);
    });

    test("Credit Information Act Art. 39-4: a recipient traced through the provision ledger; its credit information counted", async () => {
      const pay: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await t.call("pay-app", "POST", "/v1/subjects", {
          purpose: "pay_service",
          fields: { user_id: `pay-${i}`, name: "김철수", phone: `010-7000-${String(1000 + i)}`, transaction_history: [{ at: "2026-10-01", amount: 1000 + i }] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        pay.push(r.body.id);
        const g = await t.call("pay-app", "POST", `/v1/subjects/${r.body.id}/consents`, {
          consents: ["pay_overseas", ...(i < 3 ? ["nsf_provision", "nsf_overseas_transfer"] : [])].map((notice) => ({ notice, action: "grant", channel: "app" })),
        });
        assert.equal(g.status, 200, JSON.stringify(g.body));
      }
      clock.set("2026-11-21T07:00:00.000Z");
      const run = await t.call("pay-app", "POST", "/v1/provisions", {
        recipient: "nsf-scoring",
        purpose: "pay_service",
        label: "provision",
        fields: ["user_id", "transaction_history"],
        population: { purposes: ["pay_overseas"] },
        mode: "run",
        wait: true,
      });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.counts.included, 3);
      clock.set("2026-11-21T08:00:00.000Z");
      const v = await open({ summary: "the recipient reported a breach of its scoring store", scope: { from: "2026-11-21T06:30:00Z", recipients: ["nsf-scoring"] } });
      assert.deepEqual(v.scope.people, { total: 3, linked: 3, unlinkable: 0, credit: 3 });
      assert.deepEqual(v.scope.fields, [
        { field: "transaction_history", people: 3, sensitivity: "credit" },
        { field: "user_id", people: 3, sensitivity: "general" },
      ]);
      assert.deepEqual(v.scope.through.map((c: any) => [c.kind, c.name, c.people]), [["recipient", "nsf-scoring", 3]]);
      assert.match(duty(v, "NOTIFY_SUBJECTS").article, /Credit Information Act Art\. 39-4\(1\)/);
      assert.deepEqual(duty(v, "REPORT_FSC_FSS").grounds, ["CREDIT_PEOPLE_3_BELOW_10000"]);
      const p = pseudonyms(t.c.keyring.secrets.pseudonymKey);
      const firstPayer = asSubjectId(p.resolve("pay-app", pay[0]!)!);
      assert.deepEqual((await t.c.services.incidents.forSubject(firstPayer)).map((i) => i.id), [v.id]);
      assert.deepEqual(await t.c.services.incidents.forSubject(asSubjectId(p.resolve("pay-app", pay[3]!)!)), [], "not provided: not affected");
    });

    test("Decree Art. 40(1) proviso: the risk-reduced finding needs retrieval or deletion, then no report is required (a voluntary one still can be filed)", async () => {
      const v = await open({ facts: { intrusion: true }, scope: { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] } });
      assert.equal(duty(v, "REPORT_PIPC_KISA").required, true);
      const early = await t.call(OP, "POST", `/v1/incidents/${v.id}/facts`, { riskReduced: { reason: "we asked them to delete it" } });
      assert.equal(early.status, 400);
      assert.match(early.body.error.message, /retrieved or deleted first \(Decree 40\(1\) proviso\)/);
      const ok = await post(v.id, "facts", {
        containment: [{ measure: "deleted", description: "the copy on the attacker's host was deleted under a court order" }],
        riskReduced: { reason: "the only copy was deleted and the route closed" },
      });
      assert.equal(duty(ok, "REPORT_PIPC_KISA").required, false);
      assert.deepEqual(ok.timeline.slice(-2).map((e: any) => e.act), ["containment", "risk_reduced"]);
      const none = await t.call(OP, "POST", `/v1/incidents/${v.id}/reports`);
      assert.equal(none.status, 409);
      assert.match(none.body.error.message, /no report is required .*Decree 40\(1\) proviso/);
      const voluntary = await post(v.id, "reports", { authority: "pipc_kisa" });
      assert.equal(voluntary.notices.documents.at(-1).audience, "pipc_kisa");
      assert.equal(voluntary.timeline.at(-1).act, "report_filed");
      assert.equal(voluntary.timeline.at(-2).detail.voluntary, true);
    });

    test("before 2026-09-11 an alteration is no breach: no notice is required, and notify says why", async () => {
      const v = await open({ kind: "alteration", awareAt: "2026-08-01T00:00:00Z", scope: { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] } });
      assert.equal(v.law, "2023");
      assert.equal(duty(v, "NOTIFY_SUBJECTS").required, false);
      assert.equal(v.timeLeft.overdue, true);
      const n = await t.call(OP, "POST", `/v1/incidents/${v.id}/notices`);
      assert.equal(n.status, 409);
      assert.match(n.body.error.message, /alteration is not a breach under the law in force at awareness \(2023\)/);
    });

    test("lists incidents newest first with their clocks, and closes one (then refuses changes)", async () => {
      const list = (await t.call(OP, "GET", "/v1/incidents?status=open&limit=3")).body.incidents;
      assert.equal(list.length, 3);
      assert.ok(list[0].awareAt >= list[1].awareAt && list[1].awareAt >= list[2].awareAt);
      assert.ok(list.every((i: any) => typeof i.timeLeft.text === "string" && i.deadline));
      const v = await open({});
      const closed = await post(v.id, "facts", { close: true });
      assert.equal(closed.status, "closed");
      const again = await t.call(OP, "POST", `/v1/incidents/${v.id}/scope`, { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] });
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /is closed/);
    });

    test("only operators: other principals are refused (and audited); no key is 401", async () => {
      const v = await open({});
      for (const [method, p, body] of [
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" } }],
        ["GET", "/v1/incidents", undefined],
        ["GET", `/v1/incidents/${v.id}`, undefined],
        ["POST", `/v1/incidents/${v.id}/facts`, { close: true }],
        ["POST", `/v1/incidents/${v.id}/scope`, { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] }],
        ["POST", `/v1/incidents/${v.id}/notices`, undefined],
        ["POST", `/v1/incidents/${v.id}/reports`, undefined],
        ["GET", `/v1/incidents/${v.id}/outbox`, undefined],
      ] as const) {
        const r = await t.call("talk-app", method, p, body);
        assert.equal(r.status, 403, `${method} ${p}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, "ACCESS_DENIED");
        assert.equal(r.body.error.details.reasons[0].code, "ROLE_NOT_PERMITTED");
      }
      // (Authentication is the same for every /v1 route; repeated anonymous calls would lock the address out.)
      const anon = await t.call(null, "GET", `/v1/incidents/${v.id}`);
      assert.equal(anon.status, 401);
      await t.c.audit.flush();
      let denials = 0;
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) if (row.action.startsWith("incident.") && row.principal === "talk-app" && JSON.parse(row.body).effect === "deny") denials += 1;
      }
      assert.equal(denials, 8);
    });

    test("bad input: clear errors naming the problem", async () => {
      const v = await open({});
      const cases: [string, string, unknown, number, RegExp][] = [
        ["POST", "/v1/incidents", { kind: "breach", summary: "x", source: { type: "manual" } }, 400, /kind: Invalid option/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "   ", source: { type: "manual" } }, 400, /summary: must not be blank/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "external" } }, 400, /source\.channel/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "alert" } }, 400, /source\.type alert needs source\.auditSeq .* or source\.alertId/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "alert", auditSeq: 1 } }, 400, /audit entry #1 is a .* entry, not a detection\.alert/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "alert", auditSeq: 99_999_999 } }, 404, /no audit entry #99999999/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "alert", alertId: "alt_nope" } }, 404, /no detection\.alert entry .* "alt_nope"/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, awareAt: "2027-01-01T00:00:00Z" }, 400, /awareAt .* is in the future/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, awareAt: "yesterday" }, 400, /awareAt/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, scope: { principals: ["talk-app"] } }, 400, /scope\.from is required/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, scope: { from: "2026-11-21T00:00:00Z" } }, 400, /scope needs at least one principal or recipient/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, scope: { from: "2026-11-21T00:00:00Z", principals: ["talk-ap"] } }, 400, /unknown principal "talk-ap": not in the catalog/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, scope: { from: "2026-11-21T00:00:00Z", recipients: ["nsf"] } }, 400, /unknown recipient "nsf"/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, scope: { from: "2026-11-21T09:00:00Z", to: "2026-11-21T08:00:00Z", principals: ["talk-app"] } }, 400, /scope\.from .* must be before scope\.to/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, facts: { possibleGround: "partial_confirmed" } }, 400, /possibleGround applies only to kind possible/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, facts: { occurredFrom: "2026-11-21T02:00:00Z", occurredTo: "2026-11-21T01:00:00Z" } }, 400, /occurredFrom .* is after facts\.occurredTo/],
        ["POST", "/v1/incidents", { kind: "leak", summary: "x", source: { type: "manual" }, facts: { circumstances: { ko: "한국어만" } } }, 400, /circumstances\.en/],
        ["GET", "/v1/incidents/inc_none", undefined, 404, /incident inc_none not found/],
        ["POST", `/v1/incidents/${v.id}/scope`, { from: "2026-11-21T00:00:00Z" }, 400, /at least one principal or recipient/],
        ["POST", `/v1/incidents/${v.id}/facts`, {}, 400, /nothing to record/],
        ["POST", `/v1/incidents/${v.id}/facts`, { confirm: { kind: "leak" } }, 400, /confirm applies to a possible breach; incident .* is a leak/],
        ["POST", `/v1/incidents/${v.id}/facts`, { noBreach: true }, 400, /noBreach applies to a possible breach/],
        ["POST", `/v1/incidents/${v.id}/facts`, { containment: [{ measure: "prayed", description: "x" }] }, 400, /measure: Invalid option/],
        ["POST", `/v1/incidents/${v.id}/facts`, { containment: [{ measure: "deleted", description: "x", at: "2030-01-01T00:00:00Z" }] }, 400, /containment deleted: at .* is in the future/],
        ["POST", `/v1/incidents/${v.id}/notices`, undefined, 409, /compute the scope first/],
        ["POST", `/v1/incidents/${v.id}/reports`, { authority: "police" }, 400, /authority: Invalid option/],
        ["GET", `/v1/incidents/${v.id}/outbox?limit=5000`, undefined, 400, /limit/],
      ];
      for (const [method, p, body, status, message] of cases) {
        const r = await t.call(OP, method, p, body);
        assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.error.message, message, `${method} ${p} ${JSON.stringify(body)}`);
      }
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`incident notices through a failing transport on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T00:00:00.000Z");
    let down = true;
    const delivered: string[] = [];
    before(async () => {
      t = await startApp(kind, {
        clock,
        transport: {
          name: "flaky-sms",
          needsAddress: true,
          // While "down", messages to the first member's address fail with a closed code.
          deliver: async (ms) =>
            ms.map((m) => {
              if (down && m.to === "fl0@mail.example") return { id: m.id, proof: null, error: "SMTP_451" };
              delivered.push(m.to ?? m.channel);
              return { id: m.id, proof: `flaky:${m.id}`, error: null };
            }),
        },
      });
      for (let i = 0; i < 2; i++) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
        assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${r.body.id}?purpose=talk_service&fields=name`)).status, 200);
      }
    });
    after(async () => {
      await t?.close();
    });

    test("a failed delivery leaves the duty pending, and the next notify sends it again", async () => {
      clock.set("2026-11-21T01:00:00.000Z");
      const v = (await t.call(OP, "POST", "/v1/incidents", {
        kind: "leak",
        summary: "test",
        source: { type: "manual" },
        facts: { circumstances: { ko: "경위", en: "how" } },
        scope: { from: "2026-11-21T00:00:00Z", principals: ["talk-app"] },
      })).body;
      const first = (await t.call(OP, "POST", `/v1/incidents/${v.id}/notices`)).body;
      assert.deepEqual([first.round.sent, first.round.failed], [1, 1]);
      assert.equal(duty(first, "NOTIFY_SUBJECTS").status, "pending");
      const failed = (await t.call(OP, "GET", `/v1/incidents/${v.id}/outbox?status=failed`)).body.messages;
      assert.deepEqual(failed.map((m: any) => [m.error, m.to]), [["SMTP_451", "fl0@mail.example"]]);
      down = false;
      clock.set("2026-11-21T02:00:00.000Z");
      const again = (await t.call(OP, "POST", `/v1/incidents/${v.id}/notices`)).body;
      assert.deepEqual([again.round.kind, again.round.people, again.round.sent, again.round.failed], ["full", 1, 1, 0]);
      assert.equal(duty(again, "NOTIFY_SUBJECTS").status, "done");
      assert.deepEqual(delivered.sort(), ["fl0@mail.example", "fl1@mail.example"]);
    });
  });
}
