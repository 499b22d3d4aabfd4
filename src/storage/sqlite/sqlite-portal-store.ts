/**
 * PortalLinkStore on SQLite (`data.db`: `portal_links`, migration 0013_portal_links). Like the
 * detection store it has no connections of its own: writes go through the data store's writer
 * under its mutex, reads through its `query_only` reader.
 */
import type Database from "better-sqlite3";
import type { PortalLinkRow, PortalLinkStore } from "../../core/ports.js";
import { guard } from "../storage-errors.js";

export interface SqlitePortalDeps {
  writer: Database.Database;
  reader: Database.Database;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

interface LinkDbRow {
  jti: string;
  used_at: number;
  expires_at: number;
  ended_at: number | null;
}

const toRow = (r: LinkDbRow): PortalLinkRow => ({
  jti: r.jti,
  usedAt: new Date(r.used_at),
  expiresAt: new Date(r.expires_at),
  endedAt: r.ended_at === null ? null : new Date(r.ended_at),
});

export const sqlitePortalStore = (deps: SqlitePortalDeps): PortalLinkStore => {
  const { writer, reader, exclusive } = deps;
  // The reader is opened before migrations may have created the table: prepared on first use.
  let st:
    | {
        get: Database.Statement<[string], LinkDbRow>;
        consume: Database.Statement<[string, number, number]>;
        end: Database.Statement<[number, string]>;
        prune: Database.Statement<[number]>;
      }
    | undefined;
  const s = () =>
    (st ??= {
      get: reader.prepare<[string], LinkDbRow>("SELECT jti, used_at, expires_at, ended_at FROM portal_links WHERE jti = ?"),
      // The primary key makes the second use of a link a no-op: single use without a read first.
      consume: writer.prepare<[string, number, number]>(
        "INSERT INTO portal_links (jti, used_at, expires_at, ended_at) VALUES (?, ?, ?, NULL) ON CONFLICT (jti) DO NOTHING",
      ),
      end: writer.prepare<[number, string]>("UPDATE portal_links SET ended_at = coalesce(ended_at, ?) WHERE jti = ?"),
      prune: writer.prepare<[number]>("DELETE FROM portal_links WHERE expires_at < ?"),
    });
  const write = <T>(fn: () => T | Promise<T>) => exclusive(() => guard(fn));
  return {
    consume: (jti, usedAt, expiresAt) => write(() => s().consume.run(jti, usedAt.getTime(), expiresAt.getTime()).changes === 1),
    get: (jti) =>
      guard(() => {
        const r = s().get.get(jti);
        return r === undefined ? undefined : toRow(r);
      }),
    end: (jti, at) =>
      write(() => {
        s().end.run(at.getTime(), jti);
      }),
    prune: (before) => write(() => s().prune.run(before.getTime()).changes),
  };
};
