/**
 * Starts a real Haechi server on loopback over a real store (SQLite file or PostgreSQL
 * database), with the demo catalog and one API key per principal.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../../src/config/config.js";
import { buildContainer, type Container, type ContainerOptions } from "../../src/container.js";
import { buildServer } from "../../src/http/server.js";
import { freshDatabase } from "./pg.js";

export type StoreKind = "sqlite" | "postgres";
export const STORE_KINDS: StoreKind[] = ["sqlite", "postgres"];

export interface TestApp {
  url: string;
  c: Container;
  app: FastifyInstance;
  home: string;
  keys: Record<string, string>;
  /** fetch with the principal's key; JSON in, JSON out. */
  call(principal: string | null, method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export const pgUrl = () => {
  const url = process.env.HAECHI_TEST_PG_URL;
  if (!url) throw new Error("HAECHI_TEST_PG_URL is not set: run the tests through `npm test` (it starts PostgreSQL)");
  return url;
};

export const startApp = async (kind: StoreKind, opts: ContainerOptions & { env?: Record<string, string> } = {}): Promise<TestApp> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-test-"));
  let db: { url: string; drop(): Promise<void> } | undefined;
  const env: Record<string, string> = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent", ...(opts.env ?? {}) };
  if (kind === "postgres") {
    db = await freshDatabase(pgUrl());
    env.HAECHI_STORE = "postgres";
    env.HAECHI_PG_URL = db.url;
  }
  const config = loadConfig(env);
  const c = await buildContainer(config, { createKeyring: true, ...opts });
  const app = await buildServer(c, { logger: false });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const keys: Record<string, string> = {};
  for (const p of Object.keys(c.catalog.current().principals)) keys[p] = (await c.services.auth.issue(p)).token;
  const call: TestApp["call"] = async (principal, method, p, body, headers = {}) => {
    const res = await fetch(`${address}${p}`, {
      method,
      headers: {
        ...(principal ? { authorization: `Bearer ${keys[principal] ?? principal}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed };
  };
  return {
    url: address,
    c,
    app,
    home,
    keys,
    call,
    async close() {
      await app.close();
      await c.close();
      if (db) await db.drop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
};
