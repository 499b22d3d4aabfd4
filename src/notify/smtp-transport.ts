/**
 * The e-mail adapter: speaks SMTP itself (RFC 5321) over node:net and node:tls, one connection per
 * message: greeting, EHLO, STARTTLS (required unless the server is on loopback) or implicit TLS,
 * AUTH PLAIN/LOGIN when a user is configured (only over TLS), MAIL FROM, RCPT TO, DATA with a
 * MIME message in UTF-8 (RFC 2045-2047: the subject as encoded words, the body base64), QUIT.
 *
 * The proof is the server's 250 reply to the end of DATA, which names its queue id
 * (`smtp:250 2.0.0 Ok: queued as 4XyZ`). 4xx replies, timeouts and network errors are retryable;
 * 5xx replies are permanent. Errors are closed codes (`SMTP_550`, `TIMEOUT`, `TLS`, …): the
 * server's text (which may echo an address) and the password never leave this file.
 */
import net from "node:net";
import os from "node:os";
import tls from "node:tls";
import { HaechiError } from "../core/errors.js";
import type { DeliveryResult, MessageTransport, OutboundMessage } from "../core/ports.js";
import { isLoopbackHost, type Secret } from "./secret.js";

export type SmtpSecurity = "starttls" | "tls" | "none";

export interface SmtpOptions {
  host: string;
  port: number;
  /** starttls (default): upgrade before anything else, refuse if the server cannot; tls: implicit TLS (port 465); none: loopback only. */
  security?: SmtpSecurity;
  user?: string;
  password?: Secret;
  /** The envelope sender and From address. */
  from: string;
  /** Display name in From (UTF-8 allowed). */
  fromName?: string;
  /** The name given in EHLO (default: this host's name). */
  helo?: string;
  /** PEM of a CA to trust besides the system's (a private relay). */
  ca?: string | Buffer;
  /** Whole conversation limit per reply (default 30 s). */
  timeoutMs?: number;
  now?: () => Date;
}

/** A failure with a closed code; `retryable` tells the outbox whether to try again later. */
class SmtpFailure extends Error {
  constructor(
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(code);
  }
}

/** An address we may put on an SMTP command line and in a header: no spaces, brackets, CR or LF. */
const ADDRESS_RE = /^[^\s<>()[\]\\,;:"@]+@[^\s<>()[\]\\,;:"@]+$/u;
// eslint-disable-next-line no-control-regex
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

export const checkSmtpOptions = (o: SmtpOptions): void => {
  const security = o.security ?? "starttls";
  if (!ADDRESS_RE.test(o.from)) throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_SMTP_FROM must be an e-mail address");
  if (security === "none" && !isLoopbackHost(o.host)) {
    throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_SMTP_SECURITY=none is allowed only for a loopback relay: notices must travel encrypted");
  }
  if ((o.user === undefined) !== (o.password === undefined)) throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_SMTP_USER and HAECHI_SMTP_PASSWORD go together");
};

/** RFC 2047 encoded words for a header value, split on character boundaries (≤ 75 characters each). */
export const encodeHeader = (value: string): string => {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const words: string[] = [];
  let chunk = "";
  for (const ch of value) {
    if (Buffer.byteLength(chunk + ch) > 42) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString("base64")}?=`).join("\r\n ");
};

/** The RFC 5322 date form with a numeric zone. */
const rfc5322Date = (d: Date) => d.toUTCString().replace(/GMT$/, "+0000");

/** The whole MIME message: text/plain in UTF-8, base64 in 76-character lines. */
export const buildMime = (m: { id: string; from: string; fromName?: string; to: string; title: string; body: string; date: Date; domain: string }): string => {
  const b64 = Buffer.from(m.body.replace(/\r?\n/g, "\r\n"), "utf8").toString("base64");
  const lines = b64.match(/.{1,76}/g) ?? [];
  const from = m.fromName ? `${encodeHeader(m.fromName)} <${m.from}>` : `<${m.from}>`;
  return [
    `From: ${from}`,
    `To: <${m.to}>`,
    `Subject: ${encodeHeader(m.title)}`,
    `Date: ${rfc5322Date(m.date)}`,
    `Message-ID: <${m.id}@${m.domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "Auto-Submitted: auto-generated",
    "",
    ...lines,
  ].join("\r\n");
};

interface Reply {
  code: number;
  lines: string[];
}

/** One SMTP conversation: reads replies (multi-line ones whole) and writes commands. */
const conversation = (first: net.Socket, timeoutMs: number) => {
  let socket: net.Socket = first;
  let buffer = "";
  let current: string[] = [];
  const replies: Reply[] = [];
  let waiter: { resolve: (r: Reply) => void; reject: (e: SmtpFailure) => void } | null = null;
  let failure: SmtpFailure | null = null;

  const fail = (e: SmtpFailure) => {
    if (failure !== null) return;
    failure = e;
    waiter?.reject(e);
    waiter = null;
  };
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    if (buffer.length > 1_000_000) return fail(new SmtpFailure("SMTP_PROTOCOL", true));
    for (let i; (i = buffer.indexOf("\r\n")) >= 0; ) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      const m = /^(\d{3})([ -])(.*)$/.exec(line);
      if (m === null) return fail(new SmtpFailure("SMTP_PROTOCOL", true));
      current.push(line);
      if (m[2] === " ") {
        const reply = { code: Number(m[1]), lines: current };
        current = [];
        if (waiter !== null) {
          const w = waiter;
          waiter = null;
          w.resolve(reply);
        } else replies.push(reply);
      }
    }
  };
  const onError = (e: Error) => fail(new SmtpFailure((e as { code?: string }).code?.startsWith("ERR_TLS") || e.message.includes("certificate") ? "TLS" : "NETWORK", true));
  const onClose = () => fail(new SmtpFailure("NETWORK", true));
  const onTimeout = () => {
    fail(new SmtpFailure("TIMEOUT", true));
    socket.destroy();
  };
  const attach = (s: net.Socket) => {
    socket = s;
    s.setTimeout(timeoutMs);
    s.on("data", onData);
    s.on("error", onError);
    s.on("close", onClose);
    s.on("timeout", onTimeout);
  };
  const detach = (s: net.Socket) => {
    s.off("data", onData);
    s.off("error", onError);
    s.off("close", onClose);
    s.off("timeout", onTimeout);
    s.setTimeout(0);
  };
  attach(first);

  const read = (): Promise<Reply> => {
    if (failure !== null) return Promise.reject(failure);
    const r = replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => (waiter = { resolve, reject }));
  };
  const write = (text: string) => {
    if (failure === null) socket.write(text);
  };
  return {
    read,
    /** Sends a command and checks the reply's code; 4xx is retryable, 5xx (and anything unexpected) is not. */
    async command(line: string, expect: number[]): Promise<Reply> {
      write(`${line}\r\n`);
      return expectReply(await read(), expect);
    },
    write,
    /** STARTTLS: the same TCP connection continues under TLS. */
    async upgrade(options: tls.ConnectionOptions): Promise<void> {
      if (buffer !== "" || replies.length > 0) throw new SmtpFailure("SMTP_PROTOCOL", false); // nothing may come before the handshake
      const plain = socket;
      detach(plain);
      const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ ...options, socket: plain }, () => resolve(s));
        s.once("error", () => reject(new SmtpFailure("TLS", true)));
        s.setTimeout(timeoutMs, () => {
          s.destroy();
          reject(new SmtpFailure("TIMEOUT", true));
        });
      });
      secure.removeAllListeners("error");
      attach(secure);
    },
    get encrypted() {
      return socket instanceof tls.TLSSocket;
    },
    end() {
      detach(socket);
      socket.on("error", () => undefined);
      socket.end();
      socket.destroy();
    },
  };
};

const expectReply = (r: Reply, expect: number[]): Reply => {
  if (expect.includes(r.code)) return r;
  throw new SmtpFailure(`SMTP_${r.code}`, r.code >= 400 && r.code < 500);
};

/** The text of a reply as proof: printable characters only, at most 300. */
const proofOf = (r: Reply) => `smtp:${r.lines.join(" ").replace(/[^\x20-\x7e]/g, "?").slice(0, 300)}`;

export const smtpTransport = (opts: SmtpOptions): MessageTransport => {
  checkSmtpOptions(opts);
  const security = opts.security ?? "starttls";
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const helo = opts.helo ?? os.hostname();
  const now = opts.now ?? (() => new Date());
  const loopback = isLoopbackHost(opts.host);
  const tlsOptions: tls.ConnectionOptions = {
    ...(net.isIP(opts.host) === 0 ? { servername: opts.host } : {}),
    ...(opts.ca !== undefined ? { ca: [...tls.rootCertificates, opts.ca.toString()] } : {}),
    minVersion: "TLSv1.2",
  };

  const connect = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(new SmtpFailure(security === "tls" && /certificate|TLS|SSL/i.test(e.message) ? "TLS" : "NETWORK", true));
      const s =
        security === "tls"
          ? tls.connect({ host: opts.host, port: opts.port, ...tlsOptions }, () => resolve(s))
          : net.connect({ host: opts.host, port: opts.port }, () => resolve(s));
      s.once("error", onError);
      s.setTimeout(timeoutMs, () => {
        s.destroy();
        reject(new SmtpFailure("TIMEOUT", true));
      });
      s.once(security === "tls" ? "secureConnect" : "connect", () => {
        s.off("error", onError);
        s.setTimeout(0);
      });
    });

  const ehlo = async (c: ReturnType<typeof conversation>): Promise<Set<string>> => {
    const r = await c.command(`EHLO ${helo}`, [250]);
    return new Set(r.lines.slice(1).map((l) => l.slice(4).trim().toUpperCase()));
  };

  const deliver = async (m: OutboundMessage): Promise<string> => {
    const to = m.to;
    if (to === null || !ADDRESS_RE.test(to)) throw new SmtpFailure("BAD_ADDRESS", false);
    const c = conversation(await connect(), timeoutMs);
    try {
      expectReply(await c.read(), [220]);
      let ext = await ehlo(c);
      if (security === "starttls") {
        if (!ext.has("STARTTLS")) throw new SmtpFailure("STARTTLS_UNAVAILABLE", false);
        await c.command("STARTTLS", [220]);
        await c.upgrade(tlsOptions);
        ext = await ehlo(c);
      }
      if (opts.user !== undefined && opts.password !== undefined) {
        if (!c.encrypted && !loopback) throw new SmtpFailure("AUTH_NEEDS_TLS", false);
        const auth = [...ext].find((e) => e.startsWith("AUTH"))?.split(/[\s=]+/).slice(1) ?? [];
        try {
          if (auth.includes("PLAIN")) {
            await c.command(`AUTH PLAIN ${Buffer.from(`\0${opts.user}\0${opts.password.reveal()}`).toString("base64")}`, [235]);
          } else if (auth.includes("LOGIN")) {
            await c.command("AUTH LOGIN", [334]);
            await c.command(Buffer.from(opts.user).toString("base64"), [334]);
            await c.command(Buffer.from(opts.password.reveal()).toString("base64"), [235]);
          } else throw new SmtpFailure("AUTH_UNAVAILABLE", false);
        } catch (e) {
          if (e instanceof SmtpFailure && e.code.startsWith("SMTP_5")) throw new SmtpFailure("AUTH_FAILED", false);
          throw e;
        }
      }
      const utf8 = !isAscii(to) || !isAscii(opts.from);
      if (utf8 && !ext.has("SMTPUTF8")) throw new SmtpFailure("SMTPUTF8_UNAVAILABLE", false);
      await c.command(`MAIL FROM:<${opts.from}>${utf8 ? " SMTPUTF8" : ""}`, [250]);
      await c.command(`RCPT TO:<${to}>`, [250, 251]);
      await c.command("DATA", [354]);
      const domain = opts.from.split("@")[1]!;
      const mime = buildMime({ id: m.id, from: opts.from, ...(opts.fromName ? { fromName: opts.fromName } : {}), to, title: m.title, body: m.body, date: now(), domain });
      // Dot-stuffing (RFC 5321 4.5.2); base64 lines never start with a dot, headers might not either, but be exact.
      c.write(`${mime.replace(/^\./gm, "..")}\r\n.\r\n`);
      const accepted = expectReply(await c.read(), [250]);
      // The message is accepted whatever QUIT brings: a polite close, not a condition.
      c.write("QUIT\r\n");
      await c.read().catch(() => undefined);
      return proofOf(accepted);
    } finally {
      c.end();
    }
  };

  return {
    name: "smtp",
    needsAddress: true,
    channels: ["email"],
    async send(m): Promise<DeliveryResult> {
      try {
        return { ok: true, proof: await deliver(m) };
      } catch (e) {
        if (e instanceof SmtpFailure) return { ok: false, error: e.code, retryable: e.retryable };
        return { ok: false, error: "NETWORK", retryable: true };
      }
    },
  };
};
