/**
 * Starts a real Haechi server on loopback over a real store (SQLite file or PostgreSQL
 * database), with the demo catalog and one API key per principal.
 *
 * Detection is off unless a test asks for it (`detection: true`): the suites written for other
 * features read dozens of subjects a second and collect denials on purpose, which the demo
 * catalog's rules rightly throttle. test/integration/detection.test.ts runs with it on, a normal
 * workload included.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../../src/config/config.js";
import { buildContainer, loadCatalog, type Container, type ContainerOptions } from "../../src/container.js";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import { buildServer } from "../../src/http/server.js";
import { fetchJson } from "../../src/util/fetch-json.js";
import { freshDatabase } from "./pg.js";
import { asSubjectId, type SubjectId } from "../../src/core/ids.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";

export type StoreKind = "sqlite" | "postgres";
export const STORE_KINDS: StoreKind[] = ["sqlite", "postgres"];

export interface TestApp {
  url: string;
  c: Container;
  app: FastifyInstance;
  home: string;
  /** The environment the server was configured from (for a CLI on the same stores). */
  env: Record<string, string>;
  keys: Record<string, string>;
  /** fetch with the principal's key; JSON in, JSON out. */
  call(principal: string | null, method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** What `startApp` needs to start again on the same stores, after `close({ keep: true })`. */
  reuse: Reuse;
  /** Stops the server; `keep` leaves the home and the database for a restart (`reuse`). */
  close(opts?: { keep?: boolean }): Promise<void>;
}

export interface Reuse {
  home: string;
  env: Record<string, string>;
  db: { url: string; drop(): Promise<void> } | undefined;
}

export interface StartOptions extends ContainerOptions {
  env?: Record<string, string>;
  /** Keep the catalog's detection rules (default: detection off, see above). */
  detection?: boolean;
  /** Start again on the home (and PostgreSQL database) of an app closed with `keep`. */
  reuse?: Reuse;
}

/** The catalog without its detection section. */
export const withoutDetection = (c: Catalog): Catalog => {
  const { detection: _off, ...rest } = c;
  return rest;
};

export const pgUrl = () => {
  const url = process.env.HAECHI_TEST_PG_URL;
  if (!url) throw new Error("HAECHI_TEST_PG_URL is not set: run the tests through `npm test` (it starts PostgreSQL)");
  return url;
};

export const startApp = async (kind: StoreKind, opts: StartOptions = {}): Promise<TestApp> => {
  const home = opts.reuse?.home ?? fs.mkdtempSync(path.join(os.tmpdir(), "haechi-test-"));
  let db = opts.reuse?.db;
  const env: Record<string, string> = opts.reuse?.env ?? { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent", ...(opts.env ?? {}) };
  if (kind === "postgres" && opts.reuse === undefined) {
    db = await freshDatabase(pgUrl());
    env.HAECHI_STORE = "postgres";
    env.HAECHI_PG_URL = db.url;
  }
  const config = loadConfig(env);
  const { env: _env, detection, reuse: _reuse, ...containerOpts } = opts;
  const catalog = containerOpts.catalog ?? loadCatalog(config.catalogFile);
  const c = await buildContainer(config, { createKeyring: true, ...containerOpts, catalog: detection ? catalog : withoutDetection(catalog) });
  const app = await buildServer(c, { logger: false });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const keys: Record<string, string> = {};
  for (const p of Object.keys(c.catalog.current().principals)) keys[p] = (await c.services.auth.issue(p)).token;
  const call: TestApp["call"] = (principal, method, p, body, headers = {}) =>
    fetchJson(`${address}${p}`, { method, token: principal ? (keys[principal] ?? principal) : null, body, headers });
  return {
    url: address,
    c,
    app,
    home,
    env,
    keys,
    call,
    reuse: { home, env, db },
    async close(o = {}) {
      await app.close();
      await c.close();
      if (o.keep) return;
      if (db) await db.drop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
};

/** The internal subject id behind a principal's pseudonymous id (tests look into the stores with it). */
export const internalOf = (t: TestApp, principal: string, external: string): SubjectId =>
  asSubjectId(pseudonyms(t.c.keyring.secrets.pseudonymKey).resolve(principal, external)!);
