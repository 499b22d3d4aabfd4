/**
 * Composing transports: the operator's pickup box as a general transport, a router that sends
 * each channel to its adapter (e-mail over SMTP, the rest to the webhook gateway), and the bridge
 * that lets incident notices (ADR 0010) use the same adapters.
 */
import type { DeliveryResult, MessageTransport, NoticeTransport, OutboundMessage } from "../core/ports.js";
import { deliveryDigest } from "./pickup-transport.js";

/**
 * The pickup box for the general outbox: the message stays in the outbox table and is marked sent
 * with a digest of what was handed over; the operator's gateway reads it (`haechi outbox list
 * --addresses`, each address read audited).
 */
export const pickupMessageTransport = (): MessageTransport => ({
  name: "pickup",
  needsAddress: false,
  channels: null,
  send: async (m) => ({ ok: true, proof: `pickup:sha256:${deliveryDigest({ id: m.id, channel: m.channel, title: m.title, body: m.body })}` }),
});

/**
 * Sends each message to the first transport that takes its channel. A channel nobody takes is a
 * permanent failure (`NO_TRANSPORT`), so a misconfiguration shows up in the outbox, not as silence.
 */
export const routeByChannel = (transports: readonly MessageTransport[]): MessageTransport => {
  const pick = (channel: string) => transports.find((t) => t.channels === null || t.channels.includes(channel));
  return {
    name: transports.map((t) => t.name).join("+"),
    needsAddress: transports.some((t) => t.needsAddress),
    channels: transports.some((t) => t.channels === null) ? null : [...new Set(transports.flatMap((t) => t.channels ?? []))],
    send: async (m): Promise<DeliveryResult> => {
      const t = pick(m.channel);
      if (t === undefined) return { ok: false, error: "NO_TRANSPORT", retryable: false };
      return { ...(await t.send(m)), transport: t.name };
    },
    close: async () => {
      for (const t of transports) await t.close?.();
    },
  };
};

/**
 * Incident notices through a general transport. The incident outbox's channel is the contact
 * field (`email`, `phone`) or `website` / `regulator`; the field `phone` is delivered as `sms`.
 */
export const asNoticeTransport = (t: MessageTransport): NoticeTransport => ({
  name: t.name,
  needsAddress: t.needsAddress,
  deliver: async (messages) => {
    const results: { id: string; proof: string | null; error: string | null }[] = [];
    for (const m of messages) {
      const out: OutboundMessage = { id: m.id, kind: "incident_notice", channel: m.channel === "phone" ? "sms" : m.channel, to: m.to, title: m.title, body: m.body };
      const r = await t.send(out);
      results.push(r.ok ? { id: m.id, proof: r.proof, error: null } : { id: m.id, proof: null, error: r.error });
    }
    return results;
  },
});
