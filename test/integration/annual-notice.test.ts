/**
 * The annual usage-and-provision notice and the dormancy notices through the outbox, end to end
 * on SQLite and PostgreSQL: people made through the HTTP API, `haechi notices annual`, `haechi
 * outbox deliver | list | status` through the CLI, e-mail delivered to a real SMTP sink on
 * loopback and text messages to a real HTTP gateway on loopback (PIPA Art. 20-2; Decree Art.
 * 15-3; PIPC guidance 2023 on dormancy notices). Nothing under test is mocked.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import { after, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { webhookSignature } from "../../src/notify/webhook-transport.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";
import { runCli } from "../helpers/cli.js";
import { parseMime, startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";

const SECRET = "gateway-signing-secret-0123";
const YEAR = String(new Date(Date.now() + 9 * 3600_000).getUTCFullYear());

/** A loopback SMS gateway: records each signed POST, answers 200 with a reference. */
const startGateway = async () => {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ref: `sms-${received.length}` }));
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/sms`,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
};

const auditBodies = async (t: TestApp) => {
  await t.c.audit.flush();
  const out: any[] = [];
  for await (const page of t.c.stores.audit.iterate(0, 1000)) for (const row of page) out.push(JSON.parse(row.body));
  return out;
};

for (const kind of STORE_KINDS) {
  describe(`Art. 20-2 annual notice and dormancy notices through the outbox on ${kind}`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let gw: Awaited<ReturnType<typeof startGateway>>;
    let env: Record<string, string>;
    const clock = fixedClock(new Date());
    const ids: Record<string, string> = {};

    const create = async (name: string, fields: Record<string, string>) => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { user_id: name, name: "홍길동", nickname: name, ...fields } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ids[name] = r.body.id;
    };
    const cli = (...args: string[]) => runCli(env, ...args);

    before(async () => {
      sink = await startSmtpSink();
      gw = await startGateway();
      t = await startApp(kind, { clock });
      env = {
        ...t.env,
        HAECHI_NOTIFY_TRANSPORT: "smtp+webhook",
        HAECHI_SMTP_HOST: "127.0.0.1",
        HAECHI_SMTP_PORT: String(sink.port),
        HAECHI_SMTP_SECURITY: "none",
        HAECHI_SMTP_FROM: "notice@haechitalk.example",
        HAECHI_NOTIFY_WEBHOOK_URL: gw.url,
        HAECHI_NOTIFY_WEBHOOK_SECRET: SECRET,
        HAECHI_NOTIFY_WEBHOOK_RETRIES: "0",
      };
      await create("mail-1", { phone: "010-2000-0001", email: "mail1@example.test" });
      await create("mail-2", { phone: "010-2000-0002", email: "mail2@example.test" });
      await create("sms-only", { phone: "010-2000-0003" });
      await create("refuser", { phone: "010-2000-0004", email: "refuser@example.test" });
      await create("bounce", { phone: "010-2000-0005", email: "reject-me@example.test" });
      await create("later", { phone: "010-2000-0006", email: "busy-later@example.test" });
    });
    after(async () => {
      await t?.close();
      await sink?.close();
      await gw?.close();
    });

    test("Art. 20-2: a person's opt-out is recorded through their service, audited", async () => {
      const r = await cli("notices", "opt-out", ids.refuser!, "--as", "talk-app");
      assert.equal(r.code, 0, String(r.error));
      assert.match(r.out, /opted out of the annual notice/);
      const denied = await cli("notices", "opt-out", ids.refuser!, "--as", "security-ops");
      assert.equal(denied.code, 1);
      const pref = await t.c.stores.data.outbox.getPreference(internalOf(t, "talk-app", ids.refuser!), "annual_notice");
      assert.equal(pref?.optedOut, true);
    });

    test("Decree Art. 15-3: a dry run counts who would get the notice and who is left out, and queues nothing", async () => {
      const r = await cli("notices", "annual", "--year", YEAR, "--dry-run");
      assert.equal(r.code, 0, String(r.error));
      assert.match(r.out, /\(required: sensitive or unique-identifying data of 310000 people a day on average/);
      assert.match(r.out, /6 people scanned, 5 eligible \(dry run: nothing queued\)/);
      assert.match(r.out, /channels: 4 by email, 1 by sms/);
      assert.match(r.out, /left out OPTED_OUT: 1/);
      assert.deepEqual(await t.c.stores.data.outbox.counts({ kind: "annual_notice" }), []);
    });

    test("Art. 20-2: queues one notice per eligible person, idempotently per year", async () => {
      const r = await cli("notices", "annual", "--year", YEAR);
      assert.equal(r.code, 0, String(r.error));
      assert.match(r.out, /5 eligible, 5 queued, 0 already queued/);
      const again = await cli("notices", "annual", "--year", YEAR);
      assert.match(again.out, /5 eligible, 0 queued, 5 already queued/);
      const status = await cli("outbox", "status", "--kind", "annual_notice");
      assert.match(status.out, new RegExp(`annual_notice\\s+${YEAR}\\s+queued\\s+5`));
    });

    test("Decree Art. 15-3(4): delivered by e-mail over SMTP and by text message through the signed gateway, each with its proof", async () => {
      const r = await cli("outbox", "deliver");
      assert.equal(r.code, 2, `${r.out} ${String(r.error)}`); // one address is refused for good
      assert.match(r.out, /5 messages, 3 sent, 1 failed \(retried later\), 1 given up/);
      // E-mail: a MIME UTF-8 message with the Korean and English text.
      const mails = sink.messages.filter((m) => m.to[0] === "mail1@example.test" || m.to[0] === "mail2@example.test");
      assert.equal(mails.length, 2);
      const mime = parseMime(mails[0]!.data);
      assert.match(mime.headers.subject!, new RegExp(`${YEAR}년 개인정보 이용·제공 내역 통지`));
      assert.match(mime.body, /시행령 제15조의3제3항제1호/);
      assert.match(mime.body, /Decree Art\. 15-3\(3\)2/);
      assert.ok(!sink.messages.some((m) => m.to.includes("refuser@example.test")), "the opt-out is honoured");
      // SMS: the gateway got the number and a valid signature.
      assert.equal(gw.received.length, 1);
      const sms = gw.received[0]!;
      assert.equal(sms.headers["x-haechi-signature"], webhookSignature(SECRET, sms.headers["x-haechi-timestamp"] as string, sms.body));
      const payload = JSON.parse(sms.body) as { to: string; channel: string; kind: string };
      assert.deepEqual([payload.to, payload.channel, payload.kind], ["010-2000-0003", "sms", "annual_notice"]);
      // Proof per message.
      const list = await cli("outbox", "list", "--kind", "annual_notice", "--period", YEAR);
      const messages = list.out.trim().split("\n").map((l) => JSON.parse(l) as { status: string; proof: string | null; lastError: string | null; transport: string | null; channel: string });
      const sent = messages.filter((m) => m.status === "sent");
      assert.equal(sent.length, 3);
      for (const m of sent) assert.match(m.proof!, m.channel === "email" ? /^smtp:250 2\.0\.0 Ok: queued as [0-9A-F]+$/ : /^webhook:200:sha256:[0-9a-f]{64}:\d{4}-/);
      assert.deepEqual(messages.filter((m) => m.status === "given_up").map((m) => m.lastError), ["SMTP_550"]);
      assert.deepEqual(messages.filter((m) => m.status === "failed").map((m) => m.lastError), ["SMTP_451"]);
      assert.ok(!list.out.includes("@example.test") && !list.out.includes("010-2000"), "no address in the outbox listing");
    });

    test("a temporary failure waits for its backoff; nothing is sent twice", async () => {
      const before = sink.messages.length;
      const r = await cli("outbox", "deliver");
      assert.match(r.out, /0 messages/);
      assert.equal(sink.messages.length, before);
    });

    test("every enqueue, hand-over and outcome is audited with the person's reference, never an address", async () => {
      const bodies = await auditBodies(t);
      const enq = bodies.filter((b) => b.action === "outbox.enqueue" && b.meta?.kind === "annual_notice");
      assert.equal(enq.length, 10, "5 people, queued twice (the second time a no-op)");
      assert.ok(enq.every((b) => typeof b.subjectRef === "string" && b.reasons[0] === "PIPA_ART_20_2"));
      const sends = bodies.filter((b) => b.action === "outbox.send");
      assert.equal(sends.length, 5);
      const results = bodies.filter((b) => b.action === "outbox.result");
      assert.deepEqual(results.map((b) => b.meta.status).sort(), ["failed", "given_up", "sent", "sent", "sent"]);
      const text = JSON.stringify(bodies);
      for (const secret of ["mail1@example.test", "010-2000-0003", SECRET]) assert.ok(!text.includes(secret), `${secret} is not in the audit log`);
      assert.ok(bodies.some((b) => b.action === "notice.preference" && b.effect === "allow"));
    });

    test("the operator's pickup reads addresses from the vault, one audit entry per address", async () => {
      const r = await cli("outbox", "list", "--status", "sent", "--addresses", "--limit", "10");
      const rows = r.out.trim().split("\n").map((l) => JSON.parse(l) as { to: string | null; body: string });
      assert.equal(rows.length, 3);
      assert.ok(rows.some((m) => m.to === "mail1@example.test"));
      assert.ok(rows.every((m) => m.body.includes("Art. 20-2")));
      const fetched = (await auditBodies(t)).filter((b) => b.action === "outbox.address.fetch");
      assert.equal(fetched.length, 3);
    });

    test("PIPC guidance 2023: the dormancy sweep queues advance notices in the outbox, once per person and date, and they are delivered", async () => {
      // Someone last active 350 days ago reaches the 1-year threshold within notice_before (30 days).
      clock.set(new Date(Date.now() - 350 * 24 * 3600_000));
      await create("sleeper", { phone: "010-2000-0007", email: "sleeper@example.test" });
      clock.set(new Date());
      const first = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(first.noticeDue, 1);
      assert.deepEqual(first.notices, { queued: 1, already: 0, withoutContact: 0 });
      const second = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.deepEqual(second.notices, { queued: 0, already: 1, withoutContact: 0 });
      const r = await cli("outbox", "deliver", "--kind", "dormancy_notice");
      assert.match(r.out, /1 messages, 1 sent/);
      const mail = sink.messages.find((m) => m.to.includes("sleeper@example.test"));
      assert.ok(mail);
      const mime = parseMime(mail.data);
      assert.match(mime.headers.subject!, /장기 미이용 계정 파기 예정 안내/);
      assert.match(mime.body, /대상 항목: .*휴대전화번호/);
    });

    test("ADR 0009: canary (decoy) subjects are never sent the annual notice", async () => {
      const made = await cli("canary", "create", "--as", "talk-app", "--count", "2");
      assert.equal(made.code, 0, String(made.error));
      const r = await cli("notices", "annual", "--year", YEAR, "--dry-run");
      assert.match(r.out, /2 canary subjects passed over/);
      assert.match(r.out, /7 people scanned/);
    });

    test("Art. 20-2: a service records the opt-out over HTTP (PUT /v1/subjects/{id}/notice-preferences), and withdraws it", async () => {
      const r = await t.call("talk-app", "PUT", `/v1/subjects/${ids["mail-2"]}/notice-preferences`, { annualNotice: "opt_out" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.annualNotice, "opt_out");
      assert.match((await cli("notices", "annual", "--year", YEAR, "--dry-run")).out, /left out OPTED_OUT: 2/);
      const back = await t.call("talk-app", "PUT", `/v1/subjects/${ids["mail-2"]}/notice-preferences`, { annualNotice: "receive" });
      assert.equal(back.body.annualNotice, "receive");
      assert.match((await cli("notices", "annual", "--year", YEAR, "--dry-run")).out, /left out OPTED_OUT: 1/);
      const bad = await t.call("talk-app", "PUT", `/v1/subjects/${ids["mail-2"]}/notice-preferences`, { annualNotice: "maybe" });
      assert.equal(bad.status, 400);
    });

    test("fails closed: an unknown --year, a transport misconfigured, a non-operator driving the outbox", async () => {
      assert.equal((await cli("notices", "annual", "--year", "3000")).code, 1);
      const bad = await runCli({ ...env, HAECHI_NOTIFY_WEBHOOK_SECRET: "short" }, "outbox", "status");
      assert.equal(bad.code, 1);
      assert.match(String((bad.error as Error).message), /at least 16 characters/);
      assert.ok(!String((bad.error as Error).message).includes("short"));
      const denied = await cli("outbox", "deliver", "--as", "talk-app");
      assert.equal(denied.code, 1);
      assert.match(String((denied.error as Error).message), /not an operator/);
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`PIPA Art. 34(1): incident notices through the same transports (HAECHI_NOTIFY_INCIDENTS=transport) on ${kind}`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let gw: Awaited<ReturnType<typeof startGateway>>;
    let env: Record<string, string>;
    const start = new Date(Date.now() - 60_000).toISOString();
    before(async () => {
      sink = await startSmtpSink();
      gw = await startGateway();
      t = await startApp(kind);
      env = {
        ...t.env,
        HAECHI_NOTIFY_TRANSPORT: "smtp+webhook",
        HAECHI_NOTIFY_INCIDENTS: "transport",
        HAECHI_SMTP_HOST: "127.0.0.1",
        HAECHI_SMTP_PORT: String(sink.port),
        HAECHI_SMTP_SECURITY: "none",
        HAECHI_SMTP_FROM: "privacy-incident@haechitalk.example",
        HAECHI_NOTIFY_WEBHOOK_URL: gw.url,
        HAECHI_NOTIFY_WEBHOOK_SECRET: SECRET,
      };
      for (const [i, extra] of [{ email: "leaked0@example.test" }, {}].entries()) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { user_id: `inc-${i}`, phone: `010-6200-000${i}`, name: "최", nickname: `i${i}`, ...extra } });
        assert.equal(r.status, 201);
        assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${r.body.id}?purpose=talk_service&fields=name`)).status, 200);
      }
      await t.c.audit.flush();
    });
    after(async () => {
      await t?.close();
      await sink?.close();
      await gw?.close();
    });

    test("Art. 34(1): the notices go out by e-mail (SMTP) and text message (gateway), with the transports' proofs in the incident outbox", async () => {
      const opened = await runCli(env, "incident", "open", "--kind", "leak", "--summary", "names readable", "--source", "external", "--channel", "press", "--principal", "talk-app", "--from", start);
      const id = /^opened (inc_\S+)$/m.exec(opened.out)?.[1];
      assert.ok(id, `${opened.out} ${String(opened.error)}`);
      await runCli(env, "incident", "facts", id, "--circumstances-ko", "권한 검사 누락", "--circumstances-en", "a missing authorisation check", "--containment", "fixed_vulnerability:the check was added");
      const notify = await runCli(env, "incident", "notify", id);
      assert.equal(notify.error, undefined, String(notify.error));
      assert.match(notify.out, /full notice to 2 people: 1 by email, 1 by phone; 0 without contact details; 2 handed over, 0 failed/);
      const mail = sink.messages.find((m) => m.to.includes("leaked0@example.test"));
      assert.ok(mail, "the e-mail reached the SMTP sink");
      assert.match(parseMime(mail.data).body, /Art\. 34/);
      const sms = gw.received.map((r) => JSON.parse(r.body) as { to: string; channel: string; kind: string });
      assert.deepEqual(sms.map((s) => [s.to, s.channel, s.kind]), [["010-6200-0001", "sms", "incident_notice"]]);
      const outbox = await runCli(env, "incident", "outbox", id, "--status", "sent");
      const proofs = outbox.out.trim().split("\n").map((l) => (JSON.parse(l) as { proof: string }).proof).sort();
      assert.match(proofs[0]!, /^smtp:250 /);
      assert.match(proofs[1]!, /^webhook:200:sha256:/);
    });
  });
}
