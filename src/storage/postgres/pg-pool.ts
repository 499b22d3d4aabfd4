/**
 * The one pg.Pool the three PostgreSQL stores share, closed when the last of them closes.
 *
 * Multi-host URLs (`postgres://u:p@h1:5432,h2:5432/db`) are accepted: node-postgres connects to a
 * single host, so at open the hosts are tried in order and the pool is bound to the first that
 * accepts writes (`transaction_read_only = off`). A later failover needs the stores reopened.
 */
import pg from "pg";
import { storageFailure } from "../storage-errors.js";

export interface PgPoolOptions {
  url: string;
  poolSize?: number;
}

export interface SharedPool {
  pool: pg.Pool;
  /** One more store uses the pool. */
  retain(): void;
  /** A store is done with the pool; the last release ends it. */
  release(): Promise<void>;
}

/** Splits `scheme://[auth@]h1[:p1],h2[:p2]/rest` into one single-host URL per host. */
export const splitHosts = (url: string): string[] => {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/i.exec(url);
  if (m === null) return [url];
  const [, scheme, auth = "", hosts = "", rest = ""] = m;
  const list = hosts.split(",").filter((h) => h.length > 0);
  if (list.length <= 1) return [url];
  // target_session_attrs is libpq's; node-postgres would pass it to the server as a setting.
  const cleaned = rest.replace(/([?&])target_session_attrs=[^&]*&?/i, "$1").replace(/[?&]$/, "");
  return list.map((h) => `${scheme}${auth}${h}${cleaned}`);
};

const isWritable = async (url: string): Promise<boolean> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const res = await client.query<{ transaction_read_only: string }>("SHOW transaction_read_only");
    return res.rows[0]?.transaction_read_only === "off";
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};

export const openSharedPool = async (opts: PgPoolOptions): Promise<SharedPool> => {
  const candidates = splitHosts(opts.url);
  let url = candidates[0] ?? opts.url;
  if (candidates.length > 1) {
    const writable: string[] = [];
    for (const candidate of candidates) {
      if (await isWritable(candidate)) {
        writable.push(candidate);
        break;
      }
    }
    if (writable[0] === undefined) throw storageFailure(undefined, "no writable PostgreSQL host");
    url = writable[0];
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    // Fail instead of waiting forever when every client is held (e.g. by transaction bodies
    // that themselves wait for a pooled read).
    connectionTimeoutMillis: 15_000,
    application_name: "haechi",
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw storageFailure(e, "cannot connect to PostgreSQL");
  }
  let users = 0;
  let ended: Promise<void> | undefined;
  return {
    pool,
    retain: () => {
      users += 1;
    },
    release: () => {
      users -= 1;
      if (users > 0) return Promise.resolve();
      ended ??= pool.end();
      return ended;
    },
  };
};
