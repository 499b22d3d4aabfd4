/**
 * Principal authentication with API keys (PIPC Safety Standard Art. 5).
 *
 * Keys are stored hashed and compared in constant time. Repeated failures lock out: per key id
 * (persisted, so a restart does not reset it) and per source address for tokens that do not
 * even name a key (kept in memory). Every failure is audited.
 */
import { HaechiError } from "../core/errors.js";
import type { ApiKeyRow, DataStore } from "../core/ports.js";
import { issueApiKey, parseApiKey, secretMatches } from "../crypto/api-keys.js";
import { entryBase, type BaseDeps } from "./service-types.js";

export type AuthServiceDeps = BaseDeps & {
  data: Pick<DataStore, "getApiKey" | "putApiKey" | "recordAuthFailure" | "resetAuthFailures" | "listApiKeys">;
};

const durationMs = (iso: string): number => {
  const m = /^PT(\d+)([MH])$/.exec(iso);
  if (!m) return 15 * 60_000;
  return Number(m[1]) * (m[2] === "H" ? 3_600_000 : 60_000);
};

/** How long a cached key row is trusted before it is read again (revocations by another process). */
const KEY_CACHE_MS = 5_000;

export const authService = (deps: AuthServiceDeps) => {
  const keys = new Map<string, ApiKeyRow & { loadedAt: number }>();
  const cache = (row: ApiKeyRow) => keys.set(row.keyId, { ...row, loadedAt: Date.now() });
  /** Failures by source address for tokens that name no known key. */
  const anonymous = new Map<string, { count: number; first: number; lockedUntil: number }>();

  const policy = () => {
    const l = deps.catalog.current().security.lockout;
    return { max: l.max_failures, windowMs: durationMs(l.window), lockMs: durationMs(l.lock_for) };
  };

  const auditFailure = async (source: string | null, requestId: string, reason: string, keyId: string | null) => {
    await deps.audit.record({
      ...entryBase({ principal: "-", source, requestId }, deps.clock.now()),
      principal: null,
      action: "auth.failure",
      effect: "deny",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: [reason],
      meta: keyId ? { keyId } : undefined,
    });
  };

  const anonymousFailure = async (source: string | null, requestId: string, reason: string) => {
    const now = deps.clock.now().getTime();
    const { max, windowMs, lockMs } = policy();
    const k = source ?? "-";
    const s = anonymous.get(k);
    const next = !s || now - s.first > windowMs ? { count: 1, first: now, lockedUntil: 0 } : { ...s, count: s.count + 1 };
    if (next.count >= max) next.lockedUntil = now + lockMs;
    anonymous.set(k, next);
    if (anonymous.size > 100_000) anonymous.delete(anonymous.keys().next().value as string);
    await auditFailure(source, requestId, reason, null);
  };

  return {
    /**
     * Returns the principal a bearer token belongs to, or throws UNAUTHENTICATED / AUTH_LOCKED.
     * The message never says which part of the key was wrong.
     */
    async authenticate(token: string | undefined, source: string | null, requestId: string): Promise<string> {
      const now = deps.clock.now();
      // The per-address lock applies only to tokens that name no usable key, so garbage sent
      // from a shared address (a proxy, a NAT) cannot lock out principals with valid keys;
      // guessing the secret of a real key id is limited by that key's own lock below.
      const addressLocked = () => {
        const anon = anonymous.get(source ?? "-");
        if (anon && anon.lockedUntil > now.getTime()) {
          throw new HaechiError("AUTH_LOCKED", "too many failed authentications from this address; try again later");
        }
      };
      if (!token) {
        addressLocked();
        await anonymousFailure(source, requestId, "MISSING_KEY");
        throw new HaechiError("UNAUTHENTICATED", "missing API key: send Authorization: Bearer <key>");
      }
      const parsed = parseApiKey(token);
      if (!parsed) {
        addressLocked();
        await anonymousFailure(source, requestId, "MALFORMED_KEY");
        throw new HaechiError("UNAUTHENTICATED", "invalid API key");
      }
      const cached = keys.get(parsed.keyId);
      let row: ApiKeyRow | undefined = cached;
      if (!cached || Date.now() - cached.loadedAt > KEY_CACHE_MS) {
        row = await deps.data.getApiKey(parsed.keyId);
        if (row) cache(row);
        else keys.delete(parsed.keyId);
      }
      if (!row || row.revokedAt) {
        addressLocked();
        await anonymousFailure(source, requestId, row ? "REVOKED_KEY" : "UNKNOWN_KEY");
        throw new HaechiError("UNAUTHENTICATED", "invalid API key");
      }
      if (row.lockedUntil && row.lockedUntil > now) {
        await auditFailure(source, requestId, "LOCKED", row.keyId);
        throw new HaechiError("AUTH_LOCKED", "this API key is locked after repeated failed authentications; try again later");
      }
      if (!secretMatches(parsed.secret, row.secretHash)) {
        const { max, lockMs } = policy();
        const lockedUntil = row.failedCount + 1 >= max ? new Date(now.getTime() + lockMs) : null;
        const count = await deps.data.recordAuthFailure(row.keyId, lockedUntil);
        cache({ ...row, failedCount: count, lockedUntil });
        await auditFailure(source, requestId, "WRONG_SECRET", row.keyId);
        throw new HaechiError("UNAUTHENTICATED", "invalid API key");
      }
      if (!deps.catalog.current().principals[row.principal]) {
        await auditFailure(source, requestId, "UNKNOWN_PRINCIPAL", row.keyId);
        throw new HaechiError("UNAUTHENTICATED", "invalid API key");
      }
      if (row.failedCount > 0) {
        await deps.data.resetAuthFailures(row.keyId);
        cache({ ...row, failedCount: 0, lockedUntil: null });
      }
      return row.principal;
    },

    /** Issues a key for a principal; the token is returned once and never stored. */
    async issue(principal: string): Promise<{ principal: string; keyId: string; token: string }> {
      if (!deps.catalog.current().principals[principal]) throw new HaechiError("VALIDATION_FAILED", `principal "${principal}" is not in the catalog`);
      const k = issueApiKey();
      const row: ApiKeyRow = {
        keyId: k.keyId,
        principal,
        secretHash: k.secretHash,
        createdAt: deps.clock.now(),
        revokedAt: null,
        failedCount: 0,
        lockedUntil: null,
      };
      await deps.data.putApiKey(row);
      cache(row);
      await deps.audit.record({
        ...entryBase({ principal: "-", source: null, requestId: "cli" }, deps.clock.now()),
        principal: null,
        action: "apikey.issue",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        meta: { keyId: row.keyId, for: principal },
      });
      return { principal, keyId: k.keyId, token: k.token };
    },

    /** Revokes a key at once (Safety Standard Art. 5(2)); the revocation is audited. */
    async revoke(keyId: string): Promise<void> {
      const row = await deps.data.getApiKey(keyId);
      if (!row) throw new HaechiError("NOT_FOUND", `no API key ${keyId}`);
      if (row.revokedAt) return;
      const now = deps.clock.now();
      await deps.audit.record({
        ...entryBase({ principal: "-", source: null, requestId: "cli" }, now),
        principal: null,
        action: "apikey.revoke",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        meta: { keyId, for: row.principal },
      });
      await deps.data.putApiKey({ ...row, revokedAt: now });
      keys.delete(keyId);
    },

    /** Keys with their principal and state; never the secret or its hash. */
    async list() {
      return (await deps.data.listApiKeys()).map((k) => ({
        keyId: k.keyId,
        principal: k.principal,
        createdAt: k.createdAt.toISOString(),
        revokedAt: k.revokedAt?.toISOString() ?? null,
        lockedUntil: k.lockedUntil?.toISOString() ?? null,
      }));
    },
  };
};

export type AuthService = ReturnType<typeof authService>;
