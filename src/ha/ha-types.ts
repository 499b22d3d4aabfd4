/** Types shared by the HA sites launchers (Patroni + etcd, pg_auto_failover) and the fire drill. */

export type HaManager = "patroni" | "pg_auto_failover";

export const HA_MANAGERS: readonly HaManager[] = ["patroni", "pg_auto_failover"];

/** One site: a directory of its own, its PostgreSQL node, and the manager's processes. */
export interface SiteInfo {
  /** `site1`, `site2`, `site3` (pg_auto_failover's monitor lives in `witness`, see ADR 0016). */
  name: string;
  dir: string;
  dataDir: string;
  pgPort: number;
  /** Every port the site listens on (PostgreSQL, the manager's API, etcd's client and peer ports). */
  ports: number[];
}

export interface ReplicaStatus {
  name: string;
  state: string;
  syncState: string;
  /** Bytes of WAL the standby has not replayed yet, seen from the primary. */
  replayLagBytes: number | null;
}

export interface NodeStatus {
  site: string;
  /** Whether any process of the site runs. */
  running: boolean;
  role: "primary" | "standby" | "down";
  timeline: number | null;
  lsn: string | null;
  /** On the primary: `synchronous_standby_names` and the standbys streaming from it. */
  synchronousStandbyNames?: string;
  replicas?: ReplicaStatus[];
}

export interface HaSites {
  readonly manager: HaManager;
  /** The temporary directory holding every site. */
  readonly root: string;
  readonly sites: readonly SiteInfo[];
  /** The PostgreSQL nodes, site order; a client must find the writable one itself. */
  readonly hosts: ReadonlyArray<{ host: string; port: number }>;
  /** A role with the right to create tables and write (trust on loopback: a drill, not production). */
  readonly user: string;
  readonly database: string;
  /** The settings the sites run with (timings, quorum), for the record of a measurement. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** `postgres://user@h1:p1,h2:p2,h3:p3/db`. */
  readonly url: string;
  /** Creates and starts every site; returns when a primary has both standbys streaming. */
  start(): Promise<void>;
  status(): Promise<NodeStatus[]>;
  /** The site whose etcd member leads the etcd cluster (Patroni only): it matters for the window. */
  dcsLeader?(): Promise<string | undefined>;
  /** Waits for one primary with `standbys` standbys streaming from it (default: every other running site). */
  waitHealthy(timeoutMs?: number, standbys?: number): Promise<NodeStatus[]>;
  /** SIGKILLs every process of the site at once (the fire); returns the pids killed. */
  killSite(name: string): number[];
  /**
   * Starts a killed site again: the manager rewinds its node (pg_rewind) and makes it a standby
   * of the current primary; the node's own settings are restored if the rewind overwrote them.
   */
  rejoinSite(name: string): Promise<void>;
  /**
   * Cuts the site off without killing it: every process stopped (SIGSTOP), so the other sites hear
   * nothing from it while its sockets stay open, as in a network partition. Returns the pids.
   */
  partitionSite(name: string): number[];
  /**
   * Ends a partition: the site's processes resume where they stopped. An old primary finds another
   * leader and is demoted, rewound and made a standby by the manager on its own; this waits for
   * that and restores the node's own settings.
   */
  healSite(name: string): Promise<void>;
  /**
   * Patroni only; the crisis manual's manual promotion when two sites are lost (§4.3, step 2): the
   * surviving site's etcd member restarted from its own data as a cluster of one
   * (`--force-new-cluster`), after which Patroni promotes the survivor on its own.
   */
  promoteLastSite?(name: string): Promise<void>;
  /** Patroni only: `patronictl edit-config -p …` (e.g. `synchronous_commit: "local"`, §4.3 step 4). */
  setDcsParameters?(parameters: Record<string, string>): Promise<void>;
  /** Stops and removes everything; kills what does not stop in time. Safe to call twice. */
  stop(): Promise<void>;
}
