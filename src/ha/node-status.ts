/** What a PostgreSQL node says about itself: role, timeline, WAL position, its standbys. */
import pg from "pg";
import type { NodeStatus, ReplicaStatus } from "./ha-types.js";

export interface NodeAddress {
  host: string;
  port: number;
  user: string;
  database: string;
}

/** Opens a connection that gives up quickly: a dead site must not stall a status or a drill. */
export const connectNode = async (a: NodeAddress, timeoutMs = 1000): Promise<pg.Client> => {
  const client = new pg.Client({
    host: a.host,
    port: a.port,
    user: a.user,
    database: a.database,
    connectionTimeoutMillis: timeoutMs,
    application_name: "haechi-ha",
  });
  client.on("error", () => undefined);
  await client.connect();
  return client;
};

export const nodeStatus = async (site: string, running: boolean, a: NodeAddress): Promise<NodeStatus> => {
  let client: pg.Client | undefined;
  try {
    client = await connectNode(a);
    const self = await client.query<{ recovery: boolean; lsn: string | null; tli: number | null; ssn: string }>(
      `SELECT pg_is_in_recovery() AS recovery,
              (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
              current_setting('synchronous_standby_names') AS ssn`,
    );
    const row = self.rows[0];
    if (row === undefined) throw new Error("no status row");
    if (row.recovery) return { site, running, role: "standby", timeline: row.tli, lsn: row.lsn };
    const reps = await client.query<{ name: string; state: string; sync_state: string; lag: string | null }>(
      `SELECT application_name AS name, state, sync_state,
              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag
         FROM pg_stat_replication ORDER BY application_name`,
    );
    const replicas: ReplicaStatus[] = reps.rows.map((r) => ({
      name: r.name,
      state: r.state,
      syncState: r.sync_state,
      replayLagBytes: r.lag === null ? null : Number(r.lag),
    }));
    return { site, running, role: "primary", timeline: row.tli, lsn: row.lsn, synchronousStandbyNames: row.ssn, replicas };
  } catch {
    return { site, running, role: "down", timeline: null, lsn: null };
  } finally {
    await client?.end().catch(() => undefined);
  }
};
