/**
 * The general outbox (ADR 0011): durable messages to people (the annual usage-and-provision
 * notice, dormancy notices, …), each with its delivery attempts and proof. A message names the
 * person by internal subject id and the contact field to use; the address itself is read from the
 * vault only when a transport that needs it is handed the message (audited), never stored here.
 */
import type { SubjectId } from "../ids.js";

/** What a message is. New kinds are added here (the store does not constrain them). */
export const MESSAGE_KINDS = ["annual_notice", "dormancy_notice"] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/**
 * queued: never tried; sending: claimed by a worker under a lease; sent: a transport returned a
 * proof; failed: the last attempt failed and another is due at `nextAt`; given_up: a permanent
 * refusal, or the attempts ran out.
 */
export const MESSAGE_STATUSES = ["queued", "sending", "sent", "failed", "given_up"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * How a message reaches the person (Decree Art. 15-3(4) for the annual notice: written form,
 * e-mail, telephone, text message, or an in-app alert only to say where the history can be seen).
 */
export const MESSAGE_CHANNELS = ["email", "sms", "phone", "written", "app_alert"] as const;
export type MessageChannel = (typeof MESSAGE_CHANNELS)[number];

export interface OutboxMessage {
  /** `om_` + random; also the idempotency key transports hand on (webhook header, SMTP Message-ID). */
  id: string;
  kind: MessageKind;
  subjectId: SubjectId | null;
  /** What the message is for, e.g. the year `2026` or the date a dormancy action falls due. */
  period: string;
  channel: MessageChannel;
  /** The catalog field holding the address (null: the transport needs none). */
  addressField: string | null;
  /** Which language(s) the text is in. */
  title: string;
  body: string;
  /** SHA-256 (hex) of `title \n body`: what was rendered, provable later. */
  bodySha256: string;
  status: MessageStatus;
  /** Attempts started (a claim counts one, so a crash mid-send still uses one up). */
  attempts: number;
  /** When the next attempt may start (queued and failed messages). */
  nextAt: Date;
  /** The worker holding the message while `sending`, and until when. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** The transport that last handled it. */
  transport: string | null;
  /** What the transport returned as proof of delivery (sent), e.g. the SMTP 250 reply. */
  proof: string | null;
  /** The last error's closed code (never an address or a server's free text with one). */
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  sentAt: Date | null;
}

/** A new message: status queued, no attempts yet. */
export type NewOutboxMessage = Pick<OutboxMessage, "id" | "kind" | "subjectId" | "period" | "channel" | "addressField" | "title" | "body" | "bodySha256" | "createdAt">;

/** How one attempt ended. */
export type AttemptOutcome =
  | { status: "sent"; proof: string; transport: string }
  | { status: "failed"; error: string; transport: string; nextAt: Date }
  | { status: "given_up"; error: string; transport: string | null };

export interface OutboxCountRow {
  kind: MessageKind;
  period: string;
  status: MessageStatus;
  count: number;
}

/** A person's notice preference: the annual notice goes to everyone except those who refused it (Art. 20-2; Decree Art. 15-3). */
export interface NoticePreferenceRow {
  subjectId: SubjectId;
  kind: MessageKind;
  optedOut: boolean;
  at: Date;
  principal: string;
  requestId: string;
}
