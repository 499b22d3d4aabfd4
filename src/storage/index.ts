/**
 * Storage factories: the only entry into `storage/`. Both kinds implement the same ports and
 * pass the same contract suite (test/contract).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { AuditStore, DataStore, KeyStore } from "../core/ports.js";
import { openPgAuditStore } from "./postgres/pg-audit-store.js";
import { openPgDataStore } from "./postgres/pg-data-store.js";
import { openPgKeyStore } from "./postgres/pg-key-store.js";
import { PG_AUDIT_SCHEMA, PG_DATA_SCHEMA, PG_KEYS_SCHEMA } from "./migrations/postgres-migrations.js";
import { openSharedPool } from "./postgres/pg-pool.js";
import { openSqliteAuditStore } from "./sqlite/sqlite-audit-store.js";
import type { SqliteSynchronous } from "./sqlite/sqlite-connection.js";
import { openSqliteDataStore } from "./sqlite/sqlite-data-store.js";
import { openSqliteKeyStore } from "./sqlite/sqlite-key-store.js";
import { storageFailure } from "./storage-errors.js";

/**
 * Where the three stores live, for `haechi backup` and `haechi restore` (services/backup-service).
 * The PostgreSQL URL is the single host the pool is bound to and may hold a password: it is
 * handed to pg_dump / pg_restore through the environment, never on a command line or in a log.
 */
export type StoreLocation =
  | { kind: "sqlite"; files: { data: string; keys: string; audit: string } }
  | { kind: "postgres"; url: string; schemas: { data: string; keys: string; audit: string } };

export interface Stores {
  data: DataStore;
  keys: KeyStore;
  audit: AuditStore;
  kind: "sqlite" | "postgres";
  location: StoreLocation;
  close(): Promise<void>;
}

export interface SqliteStoresOptions {
  /** Directory holding data.db, keys.db and audit.db; created if missing. */
  dir: string;
  /** Default FULL: every commit is synced (WAL). NORMAL may lose the latest commits on power loss. */
  synchronous?: SqliteSynchronous;
}

export interface PostgresStoresOptions {
  /** Connection string; several hosts (`h1:5432,h2:5432`) are tried in order for a writable one. */
  url: string;
  poolSize?: number;
  /** Client-side bound on every query, commits included (default 30 s): see pg-pool.ts. */
  commitTimeoutMs?: number;
}

export type StoresConfig = ({ kind: "sqlite" } & SqliteStoresOptions) | ({ kind: "postgres" } & PostgresStoresOptions);

const closeAll = async (stores: readonly { close(): Promise<void> }[]) => {
  const results = await Promise.allSettled(stores.map((s) => s.close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw storageFailure(failed.reason);
};

/** Opens (creating and migrating) the three SQLite databases in `dir`. */
export async function openSqliteStores(opts: SqliteStoresOptions): Promise<Stores> {
  const synchronous = opts.synchronous ?? "FULL";
  try {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw storageFailure(e, "cannot create storage directory");
  }
  const opened: { close(): Promise<void> }[] = [];
  const files = { data: join(opts.dir, "data.db"), keys: join(opts.dir, "keys.db"), audit: join(opts.dir, "audit.db") };
  try {
    const data = await openSqliteDataStore({ file: files.data, synchronous });
    opened.push(data);
    const keys = await openSqliteKeyStore({ file: files.keys, synchronous });
    opened.push(keys);
    const audit = await openSqliteAuditStore({ file: files.audit, synchronous });
    opened.push(audit);
    return { data, keys, audit, kind: "sqlite", location: { kind: "sqlite", files }, close: () => closeAll([data, keys, audit]) };
  } catch (e) {
    await closeAll(opened).catch(() => undefined);
    throw e;
  }
}

/** Opens one pool on PostgreSQL and migrates the schemas `haechi`, `haechi_keys`, `haechi_audit`. */
export async function openPostgresStores(opts: PostgresStoresOptions): Promise<Stores> {
  const shared = await openSharedPool(opts);
  shared.retain(); // held while opening, so a failed open still ends the pool
  const opened: { close(): Promise<void> }[] = [];
  try {
    const data = await openPgDataStore(shared);
    opened.push(data);
    const keys = await openPgKeyStore(shared);
    opened.push(keys);
    const audit = await openPgAuditStore(shared);
    opened.push(audit);
    const location: StoreLocation = {
      kind: "postgres",
      // The host the pool is bound to now: after a failover, the new primary.
      get url() {
        return shared.currentUrl();
      },
      schemas: { data: PG_DATA_SCHEMA, keys: PG_KEYS_SCHEMA, audit: PG_AUDIT_SCHEMA },
    };
    return { data, keys, audit, kind: "postgres", location, close: () => closeAll([data, keys, audit]) };
  } catch (e) {
    await closeAll(opened).catch(() => undefined);
    throw e;
  } finally {
    await shared.release();
  }
}

/** Opens the stores the configuration names. */
export function openStores(cfg: StoresConfig): Promise<Stores> {
  return cfg.kind === "sqlite"
    ? openSqliteStores({ dir: cfg.dir, ...(cfg.synchronous === undefined ? {} : { synchronous: cfg.synchronous }) })
    : openPostgresStores({
        url: cfg.url,
        ...(cfg.poolSize === undefined ? {} : { poolSize: cfg.poolSize }),
        ...(cfg.commitTimeoutMs === undefined ? {} : { commitTimeoutMs: cfg.commitTimeoutMs }),
      });
}
