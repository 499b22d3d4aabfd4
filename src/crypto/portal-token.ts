/**
 * Signed portal links and session cookies (ADR 0012). Pure given a key and the time: HMAC-SHA256
 * over a small JSON payload, compared in constant time. The keys are derived from the keyring's
 * root secret and never stored (not in a data store, not in a log).
 *
 *   link:    pl1.<payload>.<mac>   payload { j: link id, s: subject (portal pseudonym), p: issuer, e: expiry }
 *   session: ps1.<payload>.<mac>   payload { j: link id, s, a: confirmed at, x: absolute end, t: last seen }
 *
 * Payloads name the person only by the portal context's pseudonymous id (unlinkable to any
 * service's ids) and carry no personal data.
 */
import crypto from "node:crypto";
import { deriveKey } from "./keyring.js";

export interface PortalKeys {
  link: Buffer;
  session: Buffer;
  csrf: Buffer;
}

/** Separate keys per use, derived from the root (a link can never pass as a session, or back). */
export const portalKeys = (root: Buffer): PortalKeys => ({
  link: deriveKey(root, "portal/link-mac"),
  session: deriveKey(root, "portal/session-mac"),
  csrf: deriveKey(root, "portal/csrf"),
});

export interface LinkClaims {
  /** The link's id (random): used once, and the session's id after. */
  j: string;
  /** The person, as the portal context's pseudonymous id. */
  s: string;
  /** The principal that asked for the link. */
  p: string;
  /** Expiry, ms since the epoch. */
  e: number;
}

export interface SessionClaims {
  j: string;
  s: string;
  /** When the person last confirmed (opened a fresh link), ms. */
  a: number;
  /** The session's absolute end, ms. */
  x: number;
  /** Last activity, ms (the idle timeout counts from here). */
  t: number;
}

export type TokenProblem = "MALFORMED" | "BAD_SIGNATURE" | "EXPIRED";
export type Verified<T> = { ok: true; claims: T } | { ok: false; problem: TokenProblem };

const mac = (key: Buffer, text: string) => crypto.createHmac("sha256", key).update(text).digest();

const sign = (prefix: string, key: Buffer, claims: object): string => {
  const body = `${prefix}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${mac(key, body).toString("base64url")}`;
};

const B64URL = /^[A-Za-z0-9_-]+$/;

/** The MAC is checked (in constant time) before the payload is even parsed. */
const open = (prefix: string, key: Buffer, token: unknown): { ok: true; payload: unknown } | { ok: false; problem: TokenProblem } => {
  if (typeof token !== "string" || token.length > 1024) return { ok: false, problem: "MALFORMED" };
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== prefix || !B64URL.test(parts[1]!) || !B64URL.test(parts[2]!)) return { ok: false, problem: "MALFORMED" };
  const given = Buffer.from(parts[2]!, "base64url");
  const want = mac(key, `${parts[0]}.${parts[1]}`);
  if (given.length !== want.length || !crypto.timingSafeEqual(given, want)) return { ok: false, problem: "BAD_SIGNATURE" };
  try {
    return { ok: true, payload: JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) };
  } catch {
    return { ok: false, problem: "MALFORMED" };
  }
};

const isStr = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 200;
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0;

export const signLink = (keys: PortalKeys, claims: LinkClaims): string => sign("pl1", keys.link, claims);

export const verifyLink = (keys: PortalKeys, token: unknown, now: Date): Verified<LinkClaims> => {
  const o = open("pl1", keys.link, token);
  if (!o.ok) return o;
  const c = o.payload as Partial<LinkClaims> | null;
  if (!c || !isStr(c.j) || !isStr(c.s) || !isStr(c.p) || !isTime(c.e)) return { ok: false, problem: "MALFORMED" };
  if (now.getTime() >= c.e) return { ok: false, problem: "EXPIRED" };
  return { ok: true, claims: { j: c.j, s: c.s, p: c.p, e: c.e } };
};

export const signSession = (keys: PortalKeys, claims: SessionClaims): string => sign("ps1", keys.session, claims);

/** Valid while before its absolute end and within `idleMs` of its last activity. */
export const verifySession = (keys: PortalKeys, token: unknown, now: Date, idleMs: number): Verified<SessionClaims> => {
  const o = open("ps1", keys.session, token);
  if (!o.ok) return o;
  const c = o.payload as Partial<SessionClaims> | null;
  if (!c || !isStr(c.j) || !isStr(c.s) || !isTime(c.a) || !isTime(c.x) || !isTime(c.t)) return { ok: false, problem: "MALFORMED" };
  const t = now.getTime();
  if (t >= c.x || t - c.t > idleMs) return { ok: false, problem: "EXPIRED" };
  return { ok: true, claims: { j: c.j, s: c.s, a: c.a, x: c.x, t: c.t } };
};

/** The session's anti-CSRF token: a MAC of its id (forms carry it; compared in constant time). */
export const csrfToken = (keys: PortalKeys, sessionId: string): string => mac(keys.csrf, sessionId).toString("base64url");

export const csrfValid = (keys: PortalKeys, sessionId: string, given: unknown): boolean => {
  if (typeof given !== "string" || !B64URL.test(given)) return false;
  const a = Buffer.from(given, "base64url");
  const b = mac(keys.csrf, sessionId);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
};
