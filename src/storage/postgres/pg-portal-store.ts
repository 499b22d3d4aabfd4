/**
 * PortalLinkStore on PostgreSQL (schema `haechi`: `portal_links`, migration 0013_portal_links),
 * on the data store's pool. Every method is one named statement.
 */
import type pg from "pg";
import type { PortalLinkRow, PortalLinkStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { named, runNamed } from "./pg-query.js";

export interface PgPortalDeps {
  pool: pg.Pool;
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
}

interface LinkDbRow {
  jti: string;
  used_at: Date;
  expires_at: Date;
  ended_at: Date | null;
}

const GET = named("haechi_portal_get", "SELECT jti, used_at, expires_at, ended_at FROM haechi.portal_links WHERE jti = $1");
// The primary key makes the second use of a link a no-op: single use, atomic, without a read first.
const CONSUME = named(
  "haechi_portal_consume",
  "INSERT INTO haechi.portal_links (jti, used_at, expires_at, ended_at) VALUES ($1, $2, $3, NULL) ON CONFLICT (jti) DO NOTHING",
);
const END = named("haechi_portal_end", "UPDATE haechi.portal_links SET ended_at = coalesce(ended_at, $1) WHERE jti = $2");
const PRUNE = named("haechi_portal_prune", "DELETE FROM haechi.portal_links WHERE expires_at < $1");

const toRow = (r: LinkDbRow): PortalLinkRow => ({ jti: r.jti, usedAt: r.used_at, expiresAt: r.expires_at, endedAt: r.ended_at });

export const pgPortalStore = (deps: PgPortalDeps): PortalLinkStore => {
  const { pool, outsideTransaction } = deps;
  const write = <T>(fn: () => Promise<T>) => outsideTransaction(() => guard(fn));
  return {
    consume: (jti, usedAt, expiresAt) => write(async () => (await runNamed(pool, CONSUME, [jti, usedAt, expiresAt])).rowCount === 1),
    get: (jti) =>
      guard(async () => {
        const r = (await runNamed<LinkDbRow>(pool, GET, [jti])).rows[0];
        return r === undefined ? undefined : toRow(r);
      }),
    end: (jti, at) =>
      write(async () => {
        await runNamed(pool, END, [at, jti]);
      }),
    prune: (before) => write(async () => (await runNamed(pool, PRUNE, [before])).rowCount ?? 0),
  };
};
