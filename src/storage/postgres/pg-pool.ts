/**
 * The one pg.Pool the three PostgreSQL stores share, closed when the last of them closes, and the
 * client rules a replicated PostgreSQL needs (issue 7; LAW §11.3):
 *
 * - **Multi-host URLs** (`postgres://u:p@h1:5432,h2:5432/db`): node-postgres connects to a single
 *   host, so every host is asked and the pool is bound to the one that accepts writes
 *   (`transaction_read_only = off`; of two, the one on the newer timeline: `pickWritable`). When a connection to it breaks, or a write meets a read-only
 *   node (SQLSTATE 25006: the old primary came back as a standby), the hosts are probed again and
 *   the pool is re-bound; connections made before the switch are refused, never reused.
 * - **A client-side timeout on every query** (`commitTimeoutMs`): `statement_timeout` does not
 *   bound a commit waiting for a synchronous standby, so a commit that is not answered in time is
 *   failed here and its connection dropped.
 * - **A commit answered with "canceling wait for synchronous replication"** (the server's
 *   WARNING when the wait is cancelled: committed locally, not replicated) counts as **not
 *   acknowledged**: the caller gets an error, not success.
 *
 * Each of these is a `STORE_UNAVAILABLE` (503) whose message says the outcome is unknown: the
 * write may or may not be there, and a retry with the same idempotency key is safe.
 */
import pg from "pg";
import { storageFailure } from "../storage-errors.js";

export interface PgPoolOptions {
  url: string;
  poolSize?: number;
  /**
   * Client-side bound on every query, commits included (default 30 s). A commit waiting longer
   * for a synchronous standby fails with an unknown outcome. Long scans page well below this.
   */
  commitTimeoutMs?: number;
}

export interface SharedPool {
  pool: pg.Pool;
  /** One more store uses the pool. */
  retain(): void;
  /** A store is done with the pool; the last release ends it. */
  release(): Promise<void>;
  /** The single-host URL the pool is bound to now (changes on failover). */
  currentUrl(): string;
  /** Probes the hosts now and re-binds the pool to the writable one; resolves to its URL. */
  rediscover(): Promise<string | null>;
}

/** Error codes (on the driver error) the storage layer maps to STORE_UNAVAILABLE. */
export const UNACKNOWLEDGED = "HAECHI_UNACKNOWLEDGED";
export const NOT_WRITABLE = "HAECHI_NOT_WRITABLE";

const unknownOutcome = (code: string, message: string): Error => Object.assign(new Error(message), { code });

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

/**
 * Whether the node accepts writes, and if so the timeline it writes on (each promotion starts a
 * new one), or null.
 */
const writableTimeline = async (url: string, timeoutMs: number): Promise<number | null> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const res = await client.query<{ ro: string; tli: number | null }>(
      `SELECT current_setting('transaction_read_only') AS ro,
              CASE WHEN pg_is_in_recovery() THEN NULL
                   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tli`,
    );
    const row = res.rows[0];
    return row?.ro === "off" && row.tli !== null ? row.tli : null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/**
 * The node to write to, of those that say they accept writes: the one on the newest timeline.
 * Two can say so for a moment after a partition heals (the old primary resumes and has not yet
 * been demoted): the newer timeline is the promoted one. Two on one timeline: none, until the
 * HA manager settles it.
 */
export const pickWritable = (probes: ReadonlyArray<{ url: string; timeline: number | null }>): string | null => {
  const writable = probes.filter((p) => p.timeline !== null).sort((a, b) => (b.timeline as number) - (a.timeline as number));
  if (writable.length === 0) return null;
  if (writable.length > 1 && writable[0]!.timeline === writable[1]!.timeline) return null;
  return writable[0]!.url;
};

/** SQLSTATE classes and socket errors after which the bound host may no longer be the primary. */
export const isConnectionLoss = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : "";
  if (typeof code === "string") {
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") return true; // connection exceptions; admin/crash shutdown; cannot connect now
    if (code === "25006") return true; // read-only transaction: a standby
    if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" || code === "EHOSTUNREACH") return true;
    if (code === UNACKNOWLEDGED || code === NOT_WRITABLE) return true;
  }
  return /Connection terminated|connection is closed|Client was closed and is not queryable|Client has encountered a connection error|Query read timeout/i.test(message);
};

interface Control {
  generation(): number;
  timeoutMs: number;
  lost(e: unknown): void;
}

type Callback = (err: Error | null | undefined, res?: unknown) => void;

/**
 * A pg.Client that applies the rules above: it remembers the pool's binding generation it was
 * made under, turns a sync-rep cancellation warning into an error, and drops its connection when
 * a query times out.
 */
class RuledClient extends pg.Client {
  #control: Control;
  #generation: number;
  #syncRepCancelled = false;

  constructor(config: pg.ClientConfig & { haechi: Control }) {
    super(config);
    this.#control = config.haechi;
    this.#generation = config.haechi.generation();
    // A connection lost while the client is checked out (between the queries of a transaction)
    // is emitted as 'error' with no pool listener attached: unheard, it would end the process.
    // The query in flight fails on its own; here the pool only learns that the host may be gone.
    this.on("error", (e) => this.#control.lost(e));
    this.on("notice", (n: { message?: string }) => {
      if (/wait for synchronous replication/i.test(n.message ?? "")) this.#syncRepCancelled = true;
    });
  }

  /**
   * A host that refuses connections may be a primary that is gone: the pool must look again.
   * (A failed connect is not a query error, and the pool does not report it.)
   */
  override connect(callback?: any): any {
    if (typeof callback === "function") {
      return super.connect((err: Error | null, c?: pg.Client) => {
        if (err) this.#control.lost(err);
        callback(err, c);
      });
    }
    return super.connect().catch((e: unknown) => {
      this.#control.lost(e);
      throw e;
    });
  }

  #drop(): void {
    // The server may still be working on it (a commit waiting for a standby): this connection is done.
    (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }

  /** Wraps a query's callback with the rules; leaves submittables (cursors) alone. */
  #ruled(cb: Callback): Callback {
    return (err, res) => {
      let e = err ?? null;
      if (e === null && this.#syncRepCancelled) {
        this.#syncRepCancelled = false;
        e = unknownOutcome(UNACKNOWLEDGED, "the commit was not acknowledged by a synchronous standby (its wait was cancelled): the outcome is unknown");
        this.#drop();
      } else if (e !== null && /Query read timeout/.test(e.message)) {
        e = unknownOutcome(UNACKNOWLEDGED, `PostgreSQL did not answer within ${this.#control.timeoutMs} ms: the outcome is unknown`);
        this.#drop();
      }
      if (e !== null && isConnectionLoss(e)) this.#control.lost(e);
      cb(e, res);
    };
  }

  override query(config: any, values?: any, callback?: any): any {
    if (config !== null && typeof config === "object" && typeof config.submit === "function") return super.query(config, values, callback);
    if (this.#generation !== this.#control.generation()) {
      // Made before a failover: it may point at the old primary. Refused; the pool makes a new one.
      const e = unknownOutcome(NOT_WRITABLE, "the database connection predates a failover");
      this.#drop();
      const cb: Callback | undefined = typeof values === "function" ? values : callback;
      if (cb !== undefined) {
        process.nextTick(() => cb(e));
        return undefined;
      }
      return Promise.reject(e);
    }
    if (typeof values === "function") return super.query(config, this.#ruled(values));
    if (typeof callback === "function") return super.query(config, values, this.#ruled(callback));
    return new Promise((resolve, reject) => {
      super.query(config, values, this.#ruled((err, res) => (err ? reject(err) : resolve(res))));
    });
  }
}

export const openSharedPool = async (opts: PgPoolOptions): Promise<SharedPool> => {
  const candidates = splitHosts(opts.url);
  const timeoutMs = opts.commitTimeoutMs ?? 30_000;
  const probeMs = Math.min(5000, timeoutMs);
  const findWritable = async (): Promise<string | null> => {
    if (candidates.length === 1) return candidates[0]!;
    // All at once: a dead site costs one connect timeout, not one per host before it.
    return pickWritable(await Promise.all(candidates.map(async (url) => ({ url, timeline: await writableTimeline(url, probeMs) }))));
  };
  const first = await findWritable();
  if (first === null) throw storageFailure(undefined, "no writable PostgreSQL host");

  let generation = 0;
  let probing: Promise<string | null> | null = null;
  let ending = false;
  const control: Control = {
    generation: () => generation,
    timeoutMs,
    lost: () => {
      if (candidates.length > 1 && !ending) void rediscover();
    },
  };
  const pool = new pg.Pool({
    connectionString: first,
    max: opts.poolSize ?? 10,
    // Fail instead of waiting forever when every client is held (e.g. by transaction bodies
    // that themselves wait for a pooled read).
    connectionTimeoutMillis: 15_000,
    query_timeout: timeoutMs,
    application_name: "haechi",
    Client: RuledClient as unknown as typeof pg.Client,
    haechi: control,
  } as pg.PoolConfig);
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", (e) => control.lost(e));

  /** One probe at a time; every caller meanwhile waits for the same answer. */
  const rediscover = (): Promise<string | null> => {
    probing ??= (async () => {
      try {
        const url = await findWritable();
        if (url !== null && url !== pool.options.connectionString) {
          pool.options.connectionString = url;
          generation += 1;
        }
        return url;
      } finally {
        probing = null;
      }
    })();
    return probing;
  };

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
      ending = true;
      ended ??= (async () => {
        await probing?.catch(() => undefined);
        await pool.end();
      })();
      return ended;
    },
    currentUrl: () => pool.options.connectionString ?? first,
    rediscover,
  };
};
