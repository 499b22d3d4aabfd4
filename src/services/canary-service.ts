/**
 * Canary (decoy) subjects (issue 5, ADR 0009): real subjects with invented, real-looking values,
 * collected under a principal's collecting purpose in its own identifier context, so they look
 * like any member to that principal. No person owns them and no legitimate flow reads them; the
 * operator plants their ids among the service's own records (a member table, a room list), where
 * only someone dumping or walking those records finds them.
 *
 * Only their audit references are stored (`canaries`), in a table no route lists; the detector
 * knows them and any access trips the catalog's `canary` rule.
 */
import crypto from "node:crypto";
import { LEGAL_RETENTION_PURPOSE } from "../core/catalog/catalog-fns.js";
import { canaryValues, type RandomInt } from "../core/detection/canary-fns.js";
import { HaechiError } from "../core/errors.js";
import type { AuditRef } from "../core/ids.js";
import type { DetectionStore } from "../core/ports.js";
import type { BaseDeps, RequestContext } from "./service-types.js";
import type { SubjectService } from "./subject-service.js";

export type CanaryServiceDeps = BaseDeps & {
  subjects: Pick<SubjectService, "create">;
  /** The audit reference of a subject the principal knows by this id. */
  auditRefOf: (principal: string, externalId: string) => Promise<AuditRef>;
  store: Pick<DetectionStore, "putCanaries">;
  /** Told once the canaries are stored (the detector re-reads them). */
  onCreated?: () => Promise<void>;
  random?: RandomInt;
};

export interface CanaryResult {
  principal: string;
  purpose: string;
  /** The ids, in the principal's context, to plant among its records. */
  ids: string[];
  /** Whether the catalog has a canary rule (without one, reads of a canary are not flagged). */
  watched: boolean;
}

const MAX = 1000;

export const canaryService = (deps: CanaryServiceDeps) => {
  const random: RandomInt = deps.random ?? ((n) => crypto.randomInt(n));
  return {
    /**
     * Creates `count` canaries in `principal`'s context under `purpose` (default: its first
     * collecting purpose). Audited first (`detection.canary.create`, how many and for whom; never
     * which), then each is collected like any subject, then their references are stored.
     */
    async create(ctx: Omit<RequestContext, "principal">, principal: string, opts: { count?: number; purpose?: string } = {}): Promise<CanaryResult> {
      const catalog = deps.catalog.current();
      const count = opts.count ?? 1;
      if (!Number.isSafeInteger(count) || count < 1 || count > MAX) throw new HaechiError("VALIDATION_FAILED", `count must be a whole number from 1 to ${MAX}`);
      const p = catalog.principals[principal];
      if (p === undefined) throw new HaechiError("VALIDATION_FAILED", `principal "${principal}" is not in the catalog`);
      if (p.role !== "service") throw new HaechiError("VALIDATION_FAILED", `principal "${principal}" is not a service principal: canaries live in a service's context`);
      const purpose =
        opts.purpose ?? p.purposes.find((name) => name !== LEGAL_RETENTION_PURPOSE && catalog.purposes[name]?.collects === true);
      if (purpose === undefined) throw new HaechiError("VALIDATION_FAILED", `principal "${principal}" has no collecting purpose to create canaries under`);
      if (!p.purposes.includes(purpose) || catalog.purposes[purpose]?.collects !== true)
        throw new HaechiError("VALIDATION_FAILED", `purpose "${purpose}" is not a collecting purpose of principal "${principal}"`);
      const now = deps.clock.now();
      await deps.audit.record({
        at: now.toISOString(),
        requestId: ctx.requestId,
        principal: null,
        source: ctx.source,
        action: "detection.canary.create",
        effect: "info",
        purpose,
        subjectRef: null,
        fields: [],
        reasons: [],
        count,
        meta: { for: principal },
      });
      const ids: string[] = [];
      const refs: AuditRef[] = [];
      for (let i = 0; i < count; i++) {
        const fields = canaryValues(catalog, purpose, random);
        const r = await deps.subjects.create({ principal, source: ctx.source, requestId: ctx.requestId }, { purpose, fields });
        ids.push(r.id);
        refs.push(await deps.auditRefOf(principal, r.id));
      }
      await deps.store.putCanaries(refs.map((auditRef) => ({ auditRef, principal, createdAt: now })));
      await deps.onCreated?.();
      const watched = Object.values(catalog.detection?.rules ?? {}).some((r) => r.type === "canary" && (r.principals === undefined || r.principals.includes(principal)));
      return { principal, purpose, ids, watched };
    },
  };
};

export type CanaryService = ReturnType<typeof canaryService>;
