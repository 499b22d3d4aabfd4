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
import { openSharedPool } from "./postgres/pg-pool.js";
import { openSqliteAuditStore } from "./sqlite/sqlite-audit-store.js";
import type { SqliteSynchronous } from "./sqlite/sqlite-connection.js";
import { openSqliteDataStore } from "./sqlite/sqlite-data-store.js";
import { openSqliteKeyStore } from "./sqlite/sqlite-key-store.js";
import { storageFailure } from "./storage-errors.js";

export interface Stores {
  data: DataStore;
  keys: KeyStore;
  audit: AuditStore;
  kind: "sqlite" | "postgres";
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
  try {
    const data = await openSqliteDataStore({ file: join(opts.dir, "data.db"), synchronous });
    opened.push(data);
    const keys = await openSqliteKeyStore({ file: join(opts.dir, "keys.db"), synchronous });
    opened.push(keys);
    const audit = await openSqliteAuditStore({ file: join(opts.dir, "audit.db"), synchronous });
    opened.push(audit);
    return { data, keys, audit, kind: "sqlite", close: () => closeAll([data, keys, audit]) };
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
    return { data, keys, audit, kind: "postgres", close: () => closeAll([data, keys, audit]) };
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
    : openPostgresStores({ url: cfg.url, ...(cfg.poolSize === undefined ? {} : { poolSize: cfg.poolSize }) });
}
