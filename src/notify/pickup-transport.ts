/**
 * The built-in notice transport: the operator's pickup box. Delivering a message leaves it where
 * it already is, in the incident outbox (a database table, never a file or a log), marked sent
 * with a proof; the operator's mail or SMS gateway fetches it from there
 * (`GET /v1/incidents/{id}/outbox`, `haechi incident outbox`), which is when each person's
 * address is read from the vault, audited. No address passes through here.
 *
 * The proof is a SHA-256 over what was handed over (message id, channel, title, body), so the
 * text a person was sent can be shown later from the stored notice.
 */
import crypto from "node:crypto";
import type { NoticeTransport, OutgoingNotice } from "../core/ports.js";

export const deliveryDigest = (m: Pick<OutgoingNotice, "id" | "channel" | "title" | "body">): string =>
  crypto.createHash("sha256").update(m.id).update("\0").update(m.channel).update("\0").update(m.title).update("\0").update(m.body).digest("hex");

export const pickupTransport = (): NoticeTransport => ({
  name: "pickup",
  needsAddress: false,
  deliver: async (messages) => messages.map((m) => ({ id: m.id, proof: `pickup:sha256:${deliveryDigest(m)}`, error: null })),
});
