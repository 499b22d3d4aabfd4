/**
 * A Haechi server over the HA sites, as production runs it: the PostgreSQL stores reached through
 * the multi-host URL of every site (the pool finds the primary again after a failover), the HTTP
 * API on a loopback port outside the kernel's ephemeral range, one API key per catalog principal.
 * The fire drill drives its load through this server, and looks at the nodes directly only to
 * compare them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../config/config.js";
import { buildContainer, loadCatalog, type Container } from "../container.js";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { idContextOf } from "../core/catalog/catalog-fns.js";
import type { SubjectId } from "../core/ids.js";
import { pseudonyms } from "../crypto/pseudonym.js";
import { buildServer } from "../http/server.js";
import { fetchJson } from "../util/fetch-json.js";
import { failoverWriter } from "./failover-drill.js";
import { freePortBlock } from "./ha-env.js";
import type { HaSites } from "./ha-types.js";

export interface HaechiOnSites {
  url: string;
  c: Container;
  /** One HTTP call with the principal's key; never throws on an HTTP status, only on a lost connection. */
  call(principal: string, method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** The internal subject id behind a principal's pseudonymous id. */
  internalOf(principal: string, external: string): SubjectId;
  /** The pseudonymous id a principal sees for an internal id. */
  externalOf(principal: string, id: SubjectId): string;
  close(): Promise<void>;
}

export interface HaechiOnSitesOptions {
  /** The catalog file (default: the example catalog). */
  catalogFile?: string;
  /**
   * Client-side bound on every PostgreSQL query, commits waiting for a standby included
   * (`HAECHI_PG_COMMIT_TIMEOUT_MS`; default 5000 ms here: a drill wants an answer soon).
   */
  commitTimeoutMs?: number;
  /** Give up on an HTTP call after this long (default 20 s); the outcome is then unknown. */
  httpTimeoutMs?: number;
  /** Parent of the server's home directory (default: the OS's temporary directory). */
  tmpDir?: string;
}

/** The catalog without its detection rules: a drill's synthetic load is not an attack. */
const withoutDetection = (c: Catalog): Catalog => {
  const { detection: _off, ...rest } = c;
  return rest;
};

/** Creates the database `haechi` on the sites' current primary if it is missing. */
const ensureDatabase = async (sites: HaSites, name: string) => {
  await sites.waitHealthy(60_000);
  const w = failoverWriter(sites.hosts, { user: sites.user, database: sites.database });
  try {
    const r = await w.query<{ n: string }>("SELECT count(*) AS n FROM pg_database WHERE datname = $1", [name]);
    if (Number(r.rows[0]?.n ?? 0) === 0) await w.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    w.close();
  }
};

export const startHaechiOnSites = async (sites: HaSites, opts: HaechiOnSitesOptions = {}): Promise<HaechiOnSites> => {
  const database = "haechi";
  await ensureDatabase(sites, database);
  const home = fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), "haechi-drill-home-"));
  const hosts = sites.hosts.map((h) => `${h.host}:${h.port}`).join(",");
  const config = loadConfig({
    HAECHI_HOME: home,
    HAECHI_STORE: "postgres",
    HAECHI_PG_URL: `postgres://${encodeURIComponent(sites.user)}@${hosts}/${database}`,
    HAECHI_PG_POOL: "10",
    HAECHI_PG_COMMIT_TIMEOUT_MS: String(opts.commitTimeoutMs ?? 5000),
    HAECHI_LOG_LEVEL: "silent",
    HAECHI_OUTBOX_INTERVAL_S: "0",
    ...(opts.catalogFile ? { HAECHI_CATALOG: opts.catalogFile } : {}),
  });
  const c = await buildContainer(config, { createKeyring: true, catalog: withoutDetection(loadCatalog(config.catalogFile)) });
  const app = await buildServer(c, { logger: false });
  const [port] = await freePortBlock(1);
  const url = await app.listen({ port, host: "127.0.0.1" });
  const keys: Record<string, string> = {};
  for (const p of Object.keys(c.catalog.current().principals)) keys[p] = (await c.services.auth.issue(p)).token;
  const names = pseudonyms(c.keyring.secrets.pseudonymKey);
  const timeout = opts.httpTimeoutMs ?? 20_000;
  return {
    url,
    c,
    call: (principal, method, p, body, headers = {}) =>
      fetchJson(`${url}${p}`, { method, token: keys[principal] ?? principal, body, headers, timeoutMs: timeout }),
    internalOf: (principal, external) => {
      const id = names.resolve(idContextOf(c.catalog.current(), principal), external);
      if (id === undefined) throw new Error(`${external} is not an id of ${principal}`);
      return id;
    },
    externalOf: (principal, id) => names.externalId(idContextOf(c.catalog.current(), principal), id),
    close: async () => {
      await app.close();
      await c.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
};
