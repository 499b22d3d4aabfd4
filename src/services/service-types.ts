import type { AuditEntry } from "../audit/audit-types.js";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import type { Clock } from "../core/clock.js";

/** Who is asking: the authenticated principal, where from, and the request's id. */
export interface RequestContext {
  principal: string;
  source: string | null;
  requestId: string;
}

/** The audit port services use: resolves once the entry is durable, rejects otherwise. */
export interface AuditRecorder {
  record(entry: AuditEntry): Promise<number>;
}

/** The catalog is read through a getter so a reloaded catalog is seen at once. */
export interface CatalogSource {
  current(): Catalog;
}

export interface BaseDeps {
  catalog: CatalogSource;
  audit: AuditRecorder;
  clock: Clock;
}

/** The common part of an audit entry for a request. */
export const entryBase = (ctx: RequestContext, at: Date) => ({
  at: at.toISOString(),
  requestId: ctx.requestId,
  principal: ctx.principal,
  source: ctx.source,
});
