/**
 * A small SMTP server for tests, speaking the protocol over a real loopback socket: greeting,
 * EHLO (advertising STARTTLS when given a certificate, AUTH PLAIN LOGIN when given a user),
 * STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP, QUIT. It keeps every
 * accepted message. Recipients whose local part starts with `busy` get 451, `reject` get 550.
 */
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";

export interface SinkMessage {
  from: string;
  to: string[];
  /** The raw message as received (after dot-unstuffing). */
  data: string;
  tls: boolean;
  user: string | null;
  queueId: string;
}

export interface SmtpSink {
  port: number;
  messages: SinkMessage[];
  /** Commands as received (AUTH arguments replaced), for protocol assertions. */
  commands: string[];
  close(): Promise<void>;
}

export interface SinkOptions {
  tls?: { key: string; cert: string };
  auth?: { user: string; password: string };
  /** Reply to DATA's end with this instead of 250 (e.g. 451 to test retries). */
  dataReply?: () => string | null;
}

/** A self-signed certificate for 127.0.0.1 / localhost (openssl), for STARTTLS tests. */
export const selfSignedCert = (): { key: string; cert: string } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-smtp-cert-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ], { stdio: "ignore" });
    return { key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"), cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export const startSmtpSink = async (opts: SinkOptions = {}): Promise<SmtpSink> => {
  const messages: SinkMessage[] = [];
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();

  const session = (raw: net.Socket) => {
    sockets.add(raw);
    raw.on("close", () => sockets.delete(raw));
    let socket: net.Socket = raw;
    let secure = false;
    let user: string | null = null;
    let from: string | null = null;
    let to: string[] = [];
    let buffer = "";
    let inData = false;
    let data: string[] = [];
    let authStep: null | { stage: "user" } | { stage: "pass"; user: string } = null;
    const send = (line: string) => socket.write(`${line}\r\n`);
    const ehloLines = () => [
      "250-sink.test greets you",
      "250-8BITMIME",
      ...(opts.tls && !secure ? ["250-STARTTLS"] : []),
      ...(opts.auth ? ["250-AUTH PLAIN LOGIN"] : []),
      "250 SMTPUTF8",
    ];
    const checkAuth = (u: string, p: string) => {
      if (opts.auth && u === opts.auth.user && p === opts.auth.password) {
        user = u;
        send("235 2.7.0 Authentication successful");
      } else send("535 5.7.8 Authentication credentials invalid");
    };
    const onLine = (line: string) => {
      if (inData) {
        if (line === ".") {
          inData = false;
          const override = opts.dataReply?.() ?? null;
          if (override !== null) {
            send(override);
          } else {
            const queueId = crypto.randomBytes(5).toString("hex").toUpperCase();
            messages.push({ from: from ?? "", to, data: data.join("\r\n"), tls: secure, user, queueId });
            send(`250 2.0.0 Ok: queued as ${queueId}`);
          }
          from = null;
          to = [];
          data = [];
          return;
        }
        data.push(line.startsWith("..") ? line.slice(1) : line);
        return;
      }
      if (authStep !== null) {
        const v = Buffer.from(line, "base64").toString("utf8");
        if (authStep.stage === "user") {
          authStep = { stage: "pass", user: v };
          send("334 UGFzc3dvcmQ6");
        } else {
          const u = authStep.user;
          authStep = null;
          checkAuth(u, v);
        }
        return;
      }
      const [verb = "", ...rest] = line.split(" ");
      const arg = rest.join(" ");
      commands.push(verb.toUpperCase() === "AUTH" ? `AUTH ${rest[0] ?? ""}` : line);
      switch (verb.toUpperCase()) {
        case "EHLO":
          for (const l of ehloLines()) send(l);
          return;
        case "HELO":
          return send("250 sink.test");
        case "STARTTLS": {
          if (!opts.tls || secure) return send("502 5.5.1 Not available");
          send("220 2.0.0 Ready to start TLS");
          socket.removeAllListeners("data");
          const s = new tls.TLSSocket(socket, { isServer: true, key: opts.tls.key, cert: opts.tls.cert });
          s.on("error", () => s.destroy());
          s.on("data", onData);
          socket = s;
          secure = true;
          from = null;
          to = [];
          return;
        }
        case "AUTH": {
          if (!opts.auth) return send("502 5.5.1 Not available");
          const [mech, initial] = rest;
          if (mech?.toUpperCase() === "PLAIN" && initial) {
            const [, u = "", p = ""] = Buffer.from(initial, "base64").toString("utf8").split("\0");
            return checkAuth(u, p);
          }
          if (mech?.toUpperCase() === "LOGIN") {
            authStep = { stage: "user" };
            return send("334 VXNlcm5hbWU6");
          }
          return send("504 5.5.4 Unrecognized authentication type");
        }
        case "MAIL": {
          if (opts.auth && user === null) return send("530 5.7.0 Authentication required");
          const m = /^FROM:<([^>]*)>/i.exec(arg);
          if (!m) return send("501 5.5.4 Syntax");
          from = m[1]!;
          return send("250 2.1.0 Ok");
        }
        case "RCPT": {
          const m = /^TO:<([^>]*)>/i.exec(arg);
          if (!m || from === null) return send("503 5.5.1 Bad sequence");
          const addr = m[1]!;
          if (addr.startsWith("busy")) return send("451 4.3.0 Try again later");
          if (addr.startsWith("reject")) return send("550 5.1.1 Mailbox unavailable");
          to.push(addr);
          return send("250 2.1.5 Ok");
        }
        case "DATA":
          if (to.length === 0) return send("503 5.5.1 No recipients");
          inData = true;
          return send("354 End data with <CR><LF>.<CR><LF>");
        case "RSET":
          from = null;
          to = [];
          return send("250 2.0.0 Ok");
        case "NOOP":
          return send("250 2.0.0 Ok");
        case "QUIT":
          send("221 2.0.0 Bye");
          socket.end();
          return;
        default:
          return send("502 5.5.2 Command not recognized");
      }
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      for (let i; (i = buffer.indexOf("\r\n")) >= 0; ) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
      }
    };
    raw.on("data", onData);
    raw.on("error", () => raw.destroy());
    send("220 sink.test ESMTP test sink");
  };

  const server = net.createServer(session);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    messages,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};

/** Decodes a sink message: headers (encoded words decoded) and the base64 UTF-8 body. */
export const parseMime = (data: string): { headers: Record<string, string>; body: string } => {
  const [head = "", ...rest] = data.split("\r\n\r\n");
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]/g, " ").split("\r\n")) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line
      .slice(i + 1)
      .trim()
      // Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
      .replace(/(=\?UTF-8\?B\?[^?]*\?=)\s+(?==\?UTF-8\?B\?)/g, "$1")
      .replace(/=\?UTF-8\?B\?([^?]*)\?=/g, (_, b64: string) => Buffer.from(b64, "base64").toString("utf8"));
  }
  return { headers, body: Buffer.from(rest.join("\r\n\r\n").replace(/\s+/g, ""), "base64").toString("utf8") };
};
