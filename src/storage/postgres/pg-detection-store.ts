/**
 * DetectionStore on PostgreSQL (schema `haechi`: `principal_holds`, `detection_alerts`,
 * `canaries`), on the data store's pool. Every method is one named statement.
 */
import type pg from "pg";
import { asAuditRef } from "../../core/ids.js";
import type { AlertRow, DetectionReactionKind, DetectionStore, HoldRow } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { recordOn } from "./pg-idempotency.js";
import { iso, named, runNamed } from "./pg-query.js";
import type { PgDataDb } from "./pg-schema.js";

export interface PgDetectionDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs `fn` on one client between BEGIN and COMMIT (a lift with its idempotency row). */
  withTransaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
}

const HOLD_COLUMNS = "id, principal, kind, rule, alert_id, reason, at, until, lifted_at, lifted_by, lift_reason";
const ALERT_COLUMNS = "id, at, principal, rule, type, reaction, count, threshold, window_start, request_id, detail";

const PUT_HOLD = named(
  "haechi_detection_put_hold",
  `INSERT INTO haechi.principal_holds (${HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
);
const ACTIVE_HOLDS = named(
  "haechi_detection_active_holds",
  `SELECT ${HOLD_COLUMNS} FROM haechi.principal_holds
   WHERE lifted_at IS NULL AND (until IS NULL OR until > $1) ORDER BY at, id`,
);
const LIST_HOLDS = named(
  "haechi_detection_list_holds",
  `SELECT ${HOLD_COLUMNS} FROM haechi.principal_holds
   WHERE ($1::text IS NULL OR principal = $1) ORDER BY at DESC, id DESC LIMIT $2`,
);
// One statement, atomic without BEGIN/COMMIT.
const LIFT_HOLDS = named(
  "haechi_detection_lift_holds",
  `UPDATE haechi.principal_holds SET lifted_at = $2, lifted_by = $3, lift_reason = $4
   WHERE principal = $1 AND lifted_at IS NULL RETURNING ${HOLD_COLUMNS}`,
);
const PUT_ALERT = named(
  "haechi_detection_put_alert",
  `INSERT INTO haechi.detection_alerts (${ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
);
const LIST_ALERTS = named(
  "haechi_detection_list_alerts",
  `SELECT ${ALERT_COLUMNS} FROM haechi.detection_alerts
   WHERE ($1::text IS NULL OR principal = $1) AND ($2::text IS NULL OR rule = $2) AND ($3::timestamptz IS NULL OR at >= $3)
   ORDER BY at DESC, id DESC LIMIT $4`,
);
const PUT_CANARIES = named(
  "haechi_detection_put_canaries",
  `INSERT INTO haechi.canaries (audit_ref, principal, created_at)
   SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT (audit_ref) DO NOTHING`,
);
const CANARIES = named("haechi_detection_canaries", "SELECT audit_ref, principal, created_at FROM haechi.canaries ORDER BY created_at, audit_ref");

type HoldDbRow = PgDataDb["haechi.principal_holds"];
type AlertDbRow = PgDataDb["haechi.detection_alerts"];
type CanaryDbRow = PgDataDb["haechi.canaries"];

const toHold = (r: HoldDbRow): HoldRow => ({
  id: r.id,
  principal: r.principal,
  kind: r.kind as HoldRow["kind"],
  rule: r.rule,
  alertId: r.alert_id,
  reason: r.reason,
  at: r.at,
  until: r.until,
  liftedAt: r.lifted_at,
  liftedBy: r.lifted_by,
  liftReason: r.lift_reason,
});

const toAlert = (r: AlertDbRow): AlertRow => ({
  id: r.id,
  at: r.at,
  principal: r.principal,
  rule: r.rule,
  type: r.type,
  reaction: r.reaction as DetectionReactionKind,
  count: Number(r.count),
  threshold: Number(r.threshold),
  windowStart: r.window_start,
  requestId: r.request_id,
  detail: r.detail,
});

/** The detection store on the data store's pool. */
export const pgDetectionStore = (deps: PgDetectionDeps): DetectionStore => {
  const { pool, outsideTransaction } = deps;
  const write = <T>(fn: () => Promise<T>) => outsideTransaction(() => guard(fn));

  return {
    putAlert: (a) =>
      write(async () => {
        await runNamed(pool, PUT_ALERT, [
          a.id,
          a.at,
          a.principal,
          a.rule,
          a.type,
          a.reaction,
          a.count,
          a.threshold,
          a.windowStart,
          a.requestId,
          JSON.stringify(a.detail),
        ]);
      }),
    listAlerts: (f) =>
      guard(async () =>
        (await runNamed<AlertDbRow>(pool, LIST_ALERTS, [f.principal ?? null, f.rule ?? null, f.since ?? null, f.limit])).rows.map(toAlert),
      ),
    putHold: (h) =>
      write(async () => {
        await runNamed(pool, PUT_HOLD, [h.id, h.principal, h.kind, h.rule, h.alertId, h.reason, h.at, h.until, h.liftedAt, h.liftedBy, h.liftReason]);
      }),
    activeHolds: (now) => guard(async () => (await runNamed<HoldDbRow>(pool, ACTIVE_HOLDS, [now])).rows.map(toHold)),
    listHolds: (f) => guard(async () => (await runNamed<HoldDbRow>(pool, LIST_HOLDS, [f.principal ?? null, f.limit])).rows.map(toHold)),
    liftHolds: (principal, at, by, reason, idem) =>
      write(async () => {
        if (idem === undefined) return (await runNamed<HoldDbRow>(pool, LIFT_HOLDS, [principal, at, by, reason])).rows.map(toHold);
        return deps.withTransaction(async (client) => recordOn(client, idem, (await runNamed<HoldDbRow>(client, LIFT_HOLDS, [principal, at, by, reason])).rows.map(toHold)));
      }),
    putCanaries: (rows) =>
      write(async () => {
        if (rows.length === 0) return;
        await runNamed(pool, PUT_CANARIES, [rows.map((c) => c.auditRef), rows.map((c) => c.principal), rows.map((c) => iso(c.createdAt))]);
      }),
    canaries: () =>
      guard(async () =>
        (await runNamed<CanaryDbRow>(pool, CANARIES, [])).rows.map((c) => ({ auditRef: asAuditRef(c.audit_ref), principal: c.principal, createdAt: c.created_at })),
      ),
  };
};
