/**
 * The notice transports against real loopback servers started here: an HTTP server for the
 * webhook adapter, the SMTP sink (test/helpers/smtp-sink.ts) for the e-mail adapter. Nothing of
 * the code under test is mocked.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { after, before, describe, it } from "node:test";
import type { OutboundMessage } from "../../src/core/ports.js";
import { Secret } from "../../src/notify/secret.js";
import { buildMime, smtpTransport } from "../../src/notify/smtp-transport.js";
import { asNoticeTransport, routeByChannel } from "../../src/notify/transports.js";
import { checkWebhookUrl, webhookSignature, webhookTransport } from "../../src/notify/webhook-transport.js";
import { parseMime, selfSignedCert, startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";

const message = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
  id: `om_${crypto.randomBytes(6).toString("hex")}`,
  kind: "annual_notice",
  channel: "email",
  to: "person@example.test",
  title: "[해치톡] 개인정보 이용·제공 내역 안내 / Your annual notice",
  body: "안녕하세요.\n1. 수집·이용 목적 및 항목\n.a line starting with a dot\nHello.",
  ...over,
});

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}
/** An HTTP server answering each request with the next of `statuses` (the last repeats). */
const startHttp = async (statuses: (number | "hang")[]) => {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      const s = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      if (s === "hang") return;
      res.writeHead(s, { "content-type": "application/json" });
      res.end(JSON.stringify({ accepted: s < 300, ref: `gw-${received.length}` }));
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/notices`,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
};

describe("webhook transport (HTTP POST, HMAC-SHA256 signature with a timestamp)", () => {
  const secret = new Secret("whsec-test-0123456789");

  it("posts the message as JSON, signed over timestamp.body, with the message id as idempotency key; proof = status + response digest + time", async () => {
    const gw = await startHttp([202]);
    try {
      const t = webhookTransport({ url: gw.url, secret, now: () => new Date("2027-01-05T01:00:00Z") });
      const m = message({ channel: "sms", to: "010-1234-5678" });
      const r = await t.send(m);
      assert.equal(gw.received.length, 1);
      const got = gw.received[0]!;
      assert.equal(got.headers["x-haechi-timestamp"], String(Date.parse("2027-01-05T01:00:00Z") / 1000));
      assert.equal(got.headers["x-haechi-signature"], webhookSignature("whsec-test-0123456789", got.headers["x-haechi-timestamp"] as string, got.body));
      assert.equal(got.headers["idempotency-key"], m.id);
      const payload = JSON.parse(got.body) as Record<string, string>;
      assert.deepEqual([payload.id, payload.channel, payload.to, payload.title, payload.body], [m.id, "sms", "010-1234-5678", m.title, m.body]);
      const digest = crypto.createHash("sha256").update(JSON.stringify({ accepted: true, ref: "gw-1" })).digest("hex");
      assert.deepEqual(r, { ok: true, proof: `webhook:202:sha256:${digest}:2027-01-05T01:00:00.000Z` });
    } finally {
      await gw.close();
    }
  });

  it("retries a 5xx, then succeeds", async () => {
    const gw = await startHttp([503, 200]);
    try {
      const r = await webhookTransport({ url: gw.url, secret, retries: 2 }).send(message());
      assert.equal(r.ok, true);
      assert.equal(gw.received.length, 2);
    } finally {
      await gw.close();
    }
  });

  it("reports a 5xx that persists as retryable, and a 4xx as permanent without retrying", async () => {
    const down = await startHttp([502]);
    const bad = await startHttp([400]);
    try {
      assert.deepEqual(await webhookTransport({ url: down.url, secret, retries: 1 }).send(message()), { ok: false, error: "HTTP_502", retryable: true });
      assert.equal(down.received.length, 2);
      assert.deepEqual(await webhookTransport({ url: bad.url, secret, retries: 3 }).send(message()), { ok: false, error: "HTTP_400", retryable: false });
      assert.equal(bad.received.length, 1);
    } finally {
      await down.close();
      await bad.close();
    }
  });

  it("times out a gateway that does not answer, and reports a refused connection as a network error (both retryable)", async () => {
    const gw = await startHttp(["hang"]);
    try {
      assert.deepEqual(await webhookTransport({ url: gw.url, secret, timeoutMs: 150, retries: 0 }).send(message()), { ok: false, error: "TIMEOUT", retryable: true });
    } finally {
      await gw.close();
    }
    const closed = gw.url; // the server is gone now
    assert.deepEqual(await webhookTransport({ url: closed, secret, retries: 0 }).send(message()), { ok: false, error: "NETWORK", retryable: true });
  });

  it("refuses plain http to anything but loopback, and credentials in the URL", () => {
    assert.throws(() => checkWebhookUrl("http://gateway.example/notices"), /must be https/);
    assert.throws(() => checkWebhookUrl("https://user:pw@gateway.example/notices"), /credentials/);
    assert.equal(checkWebhookUrl("https://gateway.example/notices").hostname, "gateway.example");
    assert.equal(checkWebhookUrl("http://127.0.0.1:9/x").port, "9");
  });
});

describe("SMTP transport (speaks SMTP over node:net/tls)", () => {
  let plain: SmtpSink;
  let secure: SmtpSink;
  let cert: { key: string; cert: string };
  before(async () => {
    cert = selfSignedCert();
    plain = await startSmtpSink();
    secure = await startSmtpSink({ tls: cert, auth: { user: "haechi", password: "s3cret-pw" } });
  });
  after(async () => {
    await plain.close();
    await secure.close();
  });

  it("delivers a MIME UTF-8 message (EHLO, MAIL FROM, RCPT TO, DATA, QUIT); proof = the server's 250 reply with its queue id", async () => {
    const t = smtpTransport({ host: "127.0.0.1", port: plain.port, security: "none", from: "notice@haechitalk.example", fromName: "해치톡", helo: "haechi.test" });
    const m = message();
    const before = plain.messages.length;
    const r = await t.send(m);
    const got = plain.messages[before]!;
    assert.deepEqual(r, { ok: true, proof: `smtp:250 2.0.0 Ok: queued as ${got.queueId}` });
    assert.equal(got.from, "notice@haechitalk.example");
    assert.deepEqual(got.to, ["person@example.test"]);
    const mime = parseMime(got.data);
    assert.equal(mime.headers.subject, m.title);
    assert.equal(mime.headers["content-type"], "text/plain; charset=UTF-8");
    assert.equal(mime.headers["mime-version"], "1.0");
    assert.equal(mime.headers["message-id"], `<${m.id}@haechitalk.example>`);
    assert.equal(mime.headers.from, "해치톡 <notice@haechitalk.example>");
    assert.equal(mime.body, m.body.replace(/\n/g, "\r\n"));
    assert.deepEqual(plain.commands.slice(-5).map((c) => c.split(" ")[0]), ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
  });

  it("upgrades with STARTTLS before authenticating (AUTH PLAIN), trusting the configured CA", async () => {
    const t = smtpTransport({ host: "127.0.0.1", port: secure.port, security: "starttls", ca: cert.cert, user: "haechi", password: new Secret("s3cret-pw"), from: "notice@haechitalk.example" });
    const r = await t.send(message());
    assert.equal(r.ok, true, JSON.stringify(r));
    const got = secure.messages.at(-1)!;
    assert.equal(got.tls, true);
    assert.equal(got.user, "haechi");
    const cmds = secure.commands.map((c) => c.split(" ")[0]);
    assert.ok(cmds.indexOf("STARTTLS") < cmds.indexOf("AUTH"), "TLS first");
  });

  it("fails closed: STARTTLS required but not offered, an untrusted certificate, a wrong password (the password never in the result)", async () => {
    const noTls = await smtpTransport({ host: "127.0.0.1", port: plain.port, from: "notice@haechitalk.example" }).send(message());
    assert.deepEqual(noTls, { ok: false, error: "STARTTLS_UNAVAILABLE", retryable: false });
    const untrusted = await smtpTransport({ host: "127.0.0.1", port: secure.port, from: "notice@haechitalk.example" }).send(message());
    assert.equal(untrusted.ok, false);
    assert.equal(!untrusted.ok && untrusted.error, "TLS");
    const wrong = await smtpTransport({ host: "127.0.0.1", port: secure.port, ca: cert.cert, user: "haechi", password: new Secret("not-it"), from: "notice@haechitalk.example" }).send(message());
    assert.deepEqual(wrong, { ok: false, error: "AUTH_FAILED", retryable: false });
    assert.ok(!JSON.stringify(wrong).includes("not-it"));
  });

  it("a 4xx reply is retryable, a 5xx reply permanent; a malformed address is refused before connecting", async () => {
    const t = smtpTransport({ host: "127.0.0.1", port: plain.port, security: "none", from: "notice@haechitalk.example" });
    assert.deepEqual(await t.send(message({ to: "busy@example.test" })), { ok: false, error: "SMTP_451", retryable: true });
    assert.deepEqual(await t.send(message({ to: "reject@example.test" })), { ok: false, error: "SMTP_550", retryable: false });
    assert.deepEqual(await t.send(message({ to: "x@example.test>\r\nRCPT TO:<y@example.test" })), { ok: false, error: "BAD_ADDRESS", retryable: false });
  });

  it("refuses an unencrypted relay that is not on loopback, and a password in a config log line", () => {
    assert.throws(() => smtpTransport({ host: "smtp.example", port: 25, security: "none", from: "notice@haechitalk.example" }), /loopback/);
    const s = new Secret("s3cret-pw");
    assert.equal(JSON.stringify({ password: s }), '{"password":"[redacted]"}');
    assert.equal(`${s}`, "[redacted]");
  });

  it("encodes a long Korean subject as several encoded words that decode back", () => {
    const title = "개인정보 이용·제공 내역 통지 ".repeat(6).trim();
    const mime = buildMime({ id: "om_x", from: "a@b.example", to: "c@d.example", title, body: "본문", date: new Date("2027-01-05T00:00:00Z"), domain: "b.example" });
    for (const line of mime.split("\r\n")) assert.ok(line.length <= 78, `line too long: ${line.length}`);
    assert.equal(parseMime(mime).headers.subject, title);
    assert.match(mime, /^Date: Tue, 05 Jan 2027 00:00:00 \+0000$/m);
  });
});

describe("routing and the incident bridge", () => {
  it("sends e-mail over SMTP and the other channels to the webhook; a channel nobody takes fails permanently", async () => {
    const sink = await startSmtpSink();
    const gw = await startHttp([200]);
    try {
      const t = routeByChannel([
        smtpTransport({ host: "127.0.0.1", port: sink.port, security: "none", from: "notice@haechitalk.example" }),
        webhookTransport({ url: gw.url, secret: new Secret("k"), channels: ["sms", "written"] }),
      ]);
      const e = await t.send(message());
      assert.equal(e.ok && e.transport, "smtp");
      const s = await t.send(message({ channel: "sms", to: "010-0000-0000" }));
      assert.equal(s.ok && s.transport, "webhook");
      assert.deepEqual(await t.send(message({ channel: "app_alert" })), { ok: false, error: "NO_TRANSPORT", retryable: false });
      // Incident notices: the contact field `phone` goes out as sms.
      const n = asNoticeTransport(t);
      const [res] = await n.deliver([{ id: "msg_1", incidentId: "inc_1", channel: "phone", to: "010-1111-2222", title: "t", body: "b" }]);
      assert.equal(res?.error, null);
      assert.equal(gw.received.length, 2);
      assert.equal((JSON.parse(gw.received[1]!.body) as { channel: string }).channel, "sms");
    } finally {
      await sink.close();
      await gw.close();
    }
  });
});
