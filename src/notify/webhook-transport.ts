/**
 * The webhook adapter: POSTs each message as JSON to the operator's gateway (which sends the SMS,
 * the letter or the e-mail), signed so the gateway can tell it came from Haechi and is fresh.
 *
 * Signature: `X-Haechi-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `X-Haechi-Timestamp: <unix seconds>`; the gateway recomputes it and refuses old timestamps.
 * `Idempotency-Key` is the outbox message id: a retry after a lost answer can be recognised.
 *
 * Network errors, timeouts, 429 and 5xx are retried here (`retries` times, short backoff) and then
 * reported as retryable, so the outbox tries again later; other statuses are permanent. The proof
 * is the status, a SHA-256 of the response body and the time. Nothing is logged: errors are
 * closed codes (`HTTP_503`, `TIMEOUT`, `NETWORK`), never the gateway's text.
 */
import crypto from "node:crypto";
import { HaechiError } from "../core/errors.js";
import type { DeliveryResult, MessageTransport, OutboundMessage } from "../core/ports.js";
import { isLoopbackHost, type Secret } from "./secret.js";

export interface WebhookOptions {
  url: string;
  secret: Secret;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Further attempts within one send on a retryable failure (default 2). */
  retries?: number;
  /** Channels it takes (default: any). */
  channels?: readonly string[] | null;
  /** Clock for the timestamp header (tests). */
  now?: () => Date;
}

/** Largest response body read (and digested); the rest is discarded. */
const MAX_RESPONSE = 64 * 1024;

/** The signature a gateway checks: HMAC-SHA256 over `<timestamp>.<body>`. */
export const webhookSignature = (secret: string, timestamp: string, body: string): string =>
  `v1=${crypto.createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;

/** Checks the URL once, at configuration: https, or http to a loopback address only. */
export const checkWebhookUrl = (raw: string): URL => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_NOTIFY_WEBHOOK_URL is not a URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_NOTIFY_WEBHOOK_URL must be https (plain http only to a loopback address): notices carry addresses");
  }
  if (url.username || url.password) throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_NOTIFY_WEBHOOK_URL must not hold credentials; use HAECHI_NOTIFY_WEBHOOK_SECRET");
  return url;
};

const readCapped = async (res: Response): Promise<Buffer> => {
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_RESPONSE) chunks.push(Buffer.from(value.subarray(0, MAX_RESPONSE - size)));
    size += value.byteLength;
    if (size >= MAX_RESPONSE) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks);
};

export const webhookTransport = (opts: WebhookOptions): MessageTransport => {
  const url = checkWebhookUrl(opts.url);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const retries = opts.retries ?? 2;
  const now = opts.now ?? (() => new Date());

  const attempt = async (m: OutboundMessage): Promise<DeliveryResult> => {
    const sentAt = now();
    const payload = JSON.stringify({ id: m.id, kind: m.kind, channel: m.channel, to: m.to, title: m.title, body: m.body, sentAt: sentAt.toISOString() });
    const timestamp = String(Math.floor(sentAt.getTime() / 1000));
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "x-haechi-timestamp": timestamp,
          "x-haechi-signature": webhookSignature(opts.secret.reveal(), timestamp, payload),
          "idempotency-key": m.id,
        },
        body: payload,
        redirect: "error",
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const name = (e as { name?: string } | null)?.name;
      return { ok: false, error: name === "TimeoutError" || name === "AbortError" ? "TIMEOUT" : "NETWORK", retryable: true };
    }
    let body: Buffer;
    try {
      body = await readCapped(res);
    } catch {
      return { ok: false, error: "NETWORK", retryable: true };
    }
    if (res.status >= 200 && res.status < 300) {
      const digest = crypto.createHash("sha256").update(body).digest("hex");
      return { ok: true, proof: `webhook:${res.status}:sha256:${digest}:${now().toISOString()}` };
    }
    return { ok: false, error: `HTTP_${res.status}`, retryable: res.status === 429 || res.status >= 500 };
  };

  return {
    name: "webhook",
    needsAddress: true,
    channels: opts.channels ?? null,
    async send(m) {
      let last: DeliveryResult = { ok: false, error: "NETWORK", retryable: true };
      for (let i = 0; i <= retries; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** (i - 1))));
        last = await attempt(m);
        if (last.ok || !last.retryable) return last;
      }
      return last;
    },
  };
};
