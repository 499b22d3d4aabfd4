/**
 * The console's staff accounts and sessions (issue 6; ADR 0013; Safety Standard Arts. 5–8; LAW §15
 * G1–G2): one account per person with a role; a login needs the password (scrypt) and a TOTP code
 * (RFC 6238, ±1 step, never the same step twice); the catalog's `security.lockout` locks an account
 * after that many failures in a row; a session ends after the idle timeout and after its longest
 * life; every login, failure, lockout, logout, grant, revocation and console act is an audit entry
 * (`console.*`), written before it takes effect (ADR 0003). Nothing secret is ever logged or
 * audited: not a password, a code, a TOTP secret, a session token or an id nobody has.
 *
 * Sessions live in this process's memory (a restart ends them); each request re-reads the account,
 * so a revocation by the CLI (another process) ends sessions at their next request.
 */
import crypto from "node:crypto";
import { isStaffRole, roleAllows, STAFF_ID_RE, staffPrincipal, type ConsolePermission } from "../core/console/console-roles.js";
import { durationMs } from "../core/detection/detection-fns.js";
import { HaechiError } from "../core/errors.js";
import type { OperatorRow, OperatorStore, StaffRole } from "../core/ports.js";
import { DUMMY_PASSWORD_HASH, hashPassword, passwordMatches, passwordProblem } from "../crypto/password.js";
import { newTotpSecret, openTotpSecret, otpauthUri, sealTotpSecret, verifyTotp } from "../crypto/totp.js";
import type { AuditRecorder, CatalogSource } from "./service-types.js";
import type { Clock } from "../core/clock.js";

export interface OperatorServiceDeps {
  catalog: CatalogSource;
  audit: AuditRecorder;
  clock: Clock;
  store: OperatorStore;
  /** 32 bytes: seals TOTP secrets at rest (derived from the keyring). */
  totpKey: Buffer;
  idleMs: number;
  maxSessionMs: number;
  /** Shown in authenticator apps. */
  issuer?: string;
}

/** Where a console request comes from (for the audit entry). */
export interface ConsoleRequest {
  source: string | null;
  requestId: string;
}

/** A signed-in staff member, as a page sees it. */
export interface StaffSession {
  /** A short, non-secret session reference for the audit log (a digest prefix of the token). */
  sid: string;
  staff: string;
  role: StaffRole;
  /** The principal the staff member acts as in services and the audit log. */
  principal: string;
  /** The CSRF token every state-changing form must carry. */
  csrf: string;
  createdAt: Date;
  lastSeen: Date;
}

export type SessionResult = { ok: true; session: StaffSession } | { ok: false; reason: "NONE" | "IDLE_TIMEOUT" | "SESSION_EXPIRED" | "ACCOUNT_DISABLED" };

export interface StaffView {
  id: string;
  role: StaffRole;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
  lastLoginAt: string | null;
  lockedUntil: string | null;
  failedCount: number;
}

const MAX_SESSIONS = 10_000;
const digest = (token: string) => crypto.createHash("sha256").update(token, "utf8").digest("hex");

export const operatorService = (deps: OperatorServiceDeps) => {
  /** Sessions by the SHA-256 of their token: a memory dump does not hand out live tokens. */
  const sessions = new Map<string, { staff: string; sid: string; csrf: string; createdAt: number; lastSeen: number }>();
  const issuer = deps.issuer ?? "Haechi";

  const lockoutPolicy = () => {
    const l = deps.catalog.current().security.lockout;
    return { max: l.max_failures, lockMs: durationMs(l.lock_for) ?? 30 * 60_000 };
  };

  const record = (r: ConsoleRequest, principal: string | null, action: string, effect: "allow" | "deny" | "info", reasons: string[], meta?: Record<string, string | number | boolean | null>) =>
    deps.audit.record({
      at: deps.clock.now().toISOString(),
      requestId: r.requestId,
      principal,
      source: r.source,
      action,
      effect,
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons,
      ...(meta ? { meta } : {}),
    });

  const viewOf = (o: OperatorRow): StaffView => ({
    id: o.id,
    role: o.role,
    createdAt: o.createdAt.toISOString(),
    createdBy: o.createdBy,
    disabledAt: o.disabledAt?.toISOString() ?? null,
    lastLoginAt: o.lastLoginAt?.toISOString() ?? null,
    lockedUntil: o.lockedUntil?.toISOString() ?? null,
    failedCount: o.failedCount,
  });

  const endSessionsOf = (staff: string) => {
    for (const [k, s] of sessions) if (s.staff === staff) sessions.delete(k);
  };

  const refused = (): never => {
    throw new HaechiError("UNAUTHENTICATED", "the staff id, password or one-time code is wrong");
  };

  return {
    /**
     * A new staff account (Safety Standard Art. 5(1), (3)–(4)): audited first; returns the TOTP
     * enrolment URI, shown once and never stored in the clear.
     */
    async add(input: { id: string; role: string; password: string; by: string }): Promise<StaffView & { otpauthUri: string }> {
      if (!STAFF_ID_RE.test(input.id)) throw new HaechiError("VALIDATION_FAILED", "a staff id is lower kebab-case, 2 to 40 characters, starting with a letter (e.g. kim-cpo)");
      if (!isStaffRole(input.role)) throw new HaechiError("VALIDATION_FAILED", `role must be one of cpo, security, auditor (got "${input.role}")`);
      const problem = passwordProblem(input.password);
      if (problem !== null) throw new HaechiError("VALIDATION_FAILED", problem);
      if ((await deps.store.get(input.id)) !== undefined) throw new HaechiError("CONFLICT", `staff id "${input.id}" exists (ids are never reused: its history stays its own)`);
      const secret = newTotpSecret();
      const now = deps.clock.now();
      const row: OperatorRow = {
        id: input.id,
        role: input.role,
        passwordHash: await hashPassword(input.password),
        totpSealed: sealTotpSecret(deps.totpKey, input.id, secret),
        totpLastStep: 0,
        failedCount: 0,
        lockedUntil: null,
        createdAt: now,
        createdBy: input.by,
        disabledAt: null,
        lastLoginAt: null,
      };
      await record({ source: "cli", requestId: `console-${crypto.randomUUID()}` }, input.by, "console.staff.add", "info", [], { staff: input.id, role: input.role });
      await deps.store.insert(row);
      const uri = otpauthUri(secret, input.id, issuer);
      secret.fill(0);
      return { ...viewOf(row), otpauthUri: uri };
    },

    async list(): Promise<StaffView[]> {
      return (await deps.store.list()).map(viewOf);
    },

    /** Revokes an account at once (Art. 5(2)): audited first; its sessions end here now, elsewhere at their next request. */
    async disable(input: { id: string; by: string; reason?: string }): Promise<StaffView> {
      const row = await deps.store.get(input.id);
      if (row === undefined) throw new HaechiError("NOT_FOUND", `no staff account "${input.id}"`);
      if (row.disabledAt !== null) return viewOf(row);
      await record({ source: "cli", requestId: `console-${crypto.randomUUID()}` }, input.by, "console.staff.disable", "info", [], {
        staff: input.id,
        role: row.role,
        reason: input.reason?.trim().slice(0, 500) || null,
      });
      await deps.store.disable(input.id, deps.clock.now());
      endSessionsOf(input.id);
      return viewOf((await deps.store.get(input.id))!);
    },

    /**
     * Password and TOTP code → a session token (returned once; only its digest is kept). Any
     * failure says the same thing to the caller; the audit entry names the reason code.
     */
    async login(input: { id: string; password: string; code: string }, r: ConsoleRequest): Promise<{ token: string; session: StaffSession }> {
      const now = deps.clock.now();
      const id = STAFF_ID_RE.test(input.id) ? input.id : null;
      const row = id === null ? undefined : await deps.store.get(id);
      if (row === undefined || row.disabledAt !== null) {
        // As slow as a real check; an id nobody has is not written down (it may be a mistyped password).
        await passwordMatches(input.password, DUMMY_PASSWORD_HASH);
        await record(r, null, "console.login", "deny", [row === undefined ? "UNKNOWN_STAFF" : "ACCOUNT_DISABLED"], row === undefined ? undefined : { staff: row.id });
        return refused();
      }
      const staff = row.id;
      if (row.lockedUntil !== null && row.lockedUntil > now) {
        await record(r, null, "console.login", "deny", ["LOCKED"], { staff, lockedUntil: row.lockedUntil.toISOString() });
        throw new HaechiError("AUTH_LOCKED", `this account is locked after repeated failed logins until ${row.lockedUntil.toISOString()}; try again later or ask the privacy officer`);
      }
      const passwordOk = await passwordMatches(input.password, row.passwordHash);
      let step: number | null = null;
      let reason = "WRONG_PASSWORD";
      if (passwordOk) {
        let secret: Buffer;
        try {
          secret = openTotpSecret(deps.totpKey, staff, row.totpSealed);
        } catch {
          // Fail closed: a secret that does not open (another keyring, an altered row) admits no one.
          await record(r, null, "console.login", "deny", ["TOTP_UNAVAILABLE"], { staff });
          throw new HaechiError("KEY_UNAVAILABLE", "this account's second factor cannot be read with this keyring; enrol the account again");
        }
        step = verifyTotp(secret, input.code.trim(), now, row.totpLastStep);
        reason = step === null ? (verifyTotp(secret, input.code.trim(), now, -1) === null ? "WRONG_TOTP" : "TOTP_REUSED") : "";
        secret.fill(0);
        // Accepted once, atomically: a code raced to two servers is taken by one of them.
        if (step !== null && !(await deps.store.acceptLogin(staff, step, now))) {
          step = null;
          reason = "TOTP_REUSED";
        }
      }
      if (step === null) {
        const { max, lockMs } = lockoutPolicy();
        await record(r, null, "console.login", "deny", [reason], { staff });
        const after = await deps.store.recordFailure(staff, max, new Date(now.getTime() + lockMs));
        if (after?.lockedUntil && after.lockedUntil > now && after.failedCount >= max) {
          await record(r, null, "console.lockout", "info", ["TOO_MANY_FAILURES"], { staff, failures: after.failedCount, lockedUntil: after.lockedUntil.toISOString() });
          endSessionsOf(staff);
        }
        return refused();
      }
      const token = crypto.randomBytes(32).toString("base64url");
      const key = digest(token);
      const sid = key.slice(0, 16);
      const csrf = crypto.randomBytes(32).toString("base64url");
      await record(r, staffPrincipal(staff), "console.login", "allow", [], { staff, role: row.role, session: sid });
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      sessions.set(key, { staff, sid, csrf, createdAt: now.getTime(), lastSeen: now.getTime() });
      return { token, session: { sid, staff, role: row.role, principal: staffPrincipal(staff), csrf, createdAt: now, lastSeen: now } };
    },

    /**
     * The session a token opens, touched now; or why there is none (idle, expired, the account
     * disabled since: each such end is audited once).
     */
    async session(token: string | undefined, r: ConsoleRequest): Promise<SessionResult> {
      if (token === undefined || token.length < 32 || token.length > 64) return { ok: false, reason: "NONE" };
      const key = digest(token);
      const s = sessions.get(key);
      if (s === undefined) return { ok: false, reason: "NONE" };
      const now = deps.clock.now().getTime();
      const end = async (reason: "IDLE_TIMEOUT" | "SESSION_EXPIRED" | "ACCOUNT_DISABLED"): Promise<SessionResult> => {
        sessions.delete(key);
        await record(r, staffPrincipal(s.staff), "console.logout", "info", [reason], { staff: s.staff, session: s.sid });
        return { ok: false, reason };
      };
      if (now - s.lastSeen > deps.idleMs) return end("IDLE_TIMEOUT");
      if (now - s.createdAt > deps.maxSessionMs) return end("SESSION_EXPIRED");
      const row = await deps.store.get(s.staff);
      if (row === undefined || row.disabledAt !== null) return end("ACCOUNT_DISABLED");
      s.lastSeen = now;
      return {
        ok: true,
        session: { sid: s.sid, staff: s.staff, role: row.role, principal: staffPrincipal(s.staff), csrf: s.csrf, createdAt: new Date(s.createdAt), lastSeen: new Date(now) },
      };
    },

    async logout(token: string | undefined, r: ConsoleRequest): Promise<void> {
      if (token === undefined) return;
      const key = digest(token);
      const s = sessions.get(key);
      if (s === undefined) return;
      await record(r, staffPrincipal(s.staff), "console.logout", "info", ["LOGOUT"], { staff: s.staff, session: s.sid });
      sessions.delete(key);
    },

    /** The CSRF check of a state-changing request, in constant time. */
    csrfMatches(session: StaffSession, presented: unknown): boolean {
      if (typeof presented !== "string") return false;
      const a = Buffer.from(session.csrf, "utf8");
      const b = Buffer.from(presented, "utf8");
      return a.length === b.length && crypto.timingSafeEqual(a, b);
    },

    /**
     * The role check of every console page and act: audited either way (`console.view.*`,
     * `console.act.*`); anything the role is not granted is refused with ACCESS_DENIED.
     */
    async authorize(session: StaffSession, permission: ConsolePermission, r: ConsoleRequest, meta?: Record<string, string | number | boolean | null>): Promise<void> {
      const allowed = roleAllows(session.role, permission);
      await record(r, session.principal, `console.${permission}`, allowed ? "allow" : "deny", allowed ? [] : ["ROLE_NOT_PERMITTED"], { role: session.role, session: session.sid, ...meta });
      if (!allowed) {
        throw new HaechiError("ACCESS_DENIED", `the ${session.role} role may not ${permission.startsWith("act.") ? "do" : "see"} this (${permission})`, {
          reasons: [{ code: "ROLE_NOT_PERMITTED", message: `${permission} is not granted to ${session.role}` }],
        });
      }
    },
  };
};

export type OperatorService = ReturnType<typeof operatorService>;
