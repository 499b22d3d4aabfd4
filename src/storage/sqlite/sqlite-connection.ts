/** Opening one SQLite database file with the pragmas Haechi relies on. */
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { HaechiError } from "../../core/errors.js";
import { storageFailure } from "../storage-errors.js";

export type SqliteSynchronous = "FULL" | "NORMAL" | "EXTRA";

export interface SqliteConnectionOptions {
  /** WAL + FULL syncs every commit; NORMAL may lose the last commits on power loss. */
  synchronous: SqliteSynchronous;
  /** Overwrite deleted content with zeros (keys.db, data.db): a destroyed key must not linger. */
  secureDelete: boolean;
  /** A connection for reads only (the data store keeps writes on a separate connection). */
  readOnly?: boolean;
  busyTimeoutMs?: number;
  /** Page cache ceiling per connection (KiB); bulk imports insert at random ids and need room. */
  cacheKiB?: number;
}

const SYNCHRONOUS = new Set<string>(["FULL", "NORMAL", "EXTRA"]);

export const openSqlite = (file: string, opts: SqliteConnectionOptions): Database.Database => {
  if (!SYNCHRONOUS.has(opts.synchronous)) {
    throw new HaechiError("CONFIG_INVALID", "SQLite synchronous must be FULL, NORMAL or EXTRA");
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (String(mode).toLowerCase() !== "wal") throw new Error(`journal_mode is ${String(mode)}, expected wal`);
    db.pragma(`synchronous = ${opts.synchronous}`);
    db.pragma("foreign_keys = ON");
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    db.pragma(`secure_delete = ${opts.secureDelete ? "ON" : "OFF"}`);
    db.pragma(`cache_size = ${-Math.trunc(opts.cacheKiB ?? 16384)}`);
    if (opts.readOnly === true) db.pragma("query_only = ON");
    return db;
  } catch (e) {
    db?.close();
    throw storageFailure(e, "cannot open storage");
  }
};

/** A Kysely instance on an open connection (migrations and non-hot queries). */
export const kyselyOn = <DB>(db: Database.Database): Kysely<DB> =>
  new Kysely<DB>({ dialect: new SqliteDialect({ database: db }) });
