/**
 * DetectionStore on SQLite (`data.db`: `principal_holds`, `detection_alerts`, `canaries`).
 *
 * Like the sealed and provision stores it has no connections of its own: writes go through the
 * data store's writer under its mutex, reads through its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { asAuditRef } from "../../core/ids.js";
import type { AlertRow, CanaryRow, DetectionReactionKind, DetectionStore, HoldRow, IdempotencyRecord } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import type { SqliteDataDb } from "./sqlite-schema.js";
import { recordWith, type SqliteIdempotencyWriter } from "./sqlite-idempotency.js";

export interface SqliteDetectionDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Records an idempotency key in the writer's open transaction (docs/adr/0017-idempotency.md). */
  idempotency: SqliteIdempotencyWriter;
}

type HoldDbRow = SqliteDataDb["principal_holds"];
type AlertDbRow = SqliteDataDb["detection_alerts"];
type CanaryDbRow = SqliteDataDb["canaries"];

const HOLD_COLUMNS = "id, principal, kind, rule, alert_id, reason, at, until, lifted_at, lifted_by, lift_reason";
const ALERT_COLUMNS = "id, at, principal, rule, type, reaction, count, threshold, window_start, request_id, detail";

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

const toHold = (r: HoldDbRow): HoldRow => ({
  id: r.id,
  principal: r.principal,
  kind: r.kind as HoldRow["kind"],
  rule: r.rule,
  alertId: r.alert_id,
  reason: r.reason,
  at: new Date(r.at),
  until: date(r.until),
  liftedAt: date(r.lifted_at),
  liftedBy: r.lifted_by,
  liftReason: r.lift_reason,
});

const toAlert = (r: AlertDbRow): AlertRow => ({
  id: r.id,
  at: new Date(r.at),
  principal: r.principal,
  rule: r.rule,
  type: r.type,
  reaction: r.reaction as DetectionReactionKind,
  count: r.count,
  threshold: r.threshold,
  windowStart: new Date(r.window_start),
  requestId: r.request_id,
  detail: JSON.parse(r.detail) as AlertRow["detail"],
});

/** The detection store over the data store's connections. */
export const sqliteDetectionStore = (deps: SqliteDetectionDeps): DetectionStore => {
  const { writer, reader, exclusive, idempotency } = deps;

  const r = {
    active: reader.prepare<[number], HoldDbRow>(
      `SELECT ${HOLD_COLUMNS} FROM principal_holds
       WHERE lifted_at IS NULL AND (until IS NULL OR until > ?) ORDER BY at, id`,
    ),
    holds: reader.prepare<[number], HoldDbRow>(`SELECT ${HOLD_COLUMNS} FROM principal_holds ORDER BY at DESC, id DESC LIMIT ?`),
    holdsOf: reader.prepare<[string, number], HoldDbRow>(
      `SELECT ${HOLD_COLUMNS} FROM principal_holds WHERE principal = ? ORDER BY at DESC, id DESC LIMIT ?`,
    ),
    // Optional filters as NULL-able parameters: one statement for every combination.
    alerts: reader.prepare<[string | null, string | null, string | null, string | null, number | null, number | null, number], AlertDbRow>(
      `SELECT ${ALERT_COLUMNS} FROM detection_alerts
       WHERE (? IS NULL OR principal = ?) AND (? IS NULL OR rule = ?) AND (? IS NULL OR at >= ?)
       ORDER BY at DESC, id DESC LIMIT ?`,
    ),
    canaries: reader.prepare<[], CanaryDbRow>("SELECT audit_ref, principal, created_at FROM canaries ORDER BY created_at, audit_ref"),
  };

  const w = {
    hold: writer.prepare<[string, string, string, string | null, string | null, string, number, number | null, number | null, string | null, string | null]>(
      `INSERT INTO principal_holds (${HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    lift: writer.prepare<[number, string, string, string], HoldDbRow>(
      `UPDATE principal_holds SET lifted_at = ?, lifted_by = ?, lift_reason = ?
       WHERE principal = ? AND lifted_at IS NULL RETURNING ${HOLD_COLUMNS}`,
    ),
    alert: writer.prepare<[string, number, string, string, string, string, number, number, number, string | null, string]>(
      `INSERT INTO detection_alerts (${ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    canary: writer.prepare<[string, string, number]>(
      "INSERT INTO canaries (audit_ref, principal, created_at) VALUES (?, ?, ?) ON CONFLICT (audit_ref) DO NOTHING",
    ),
  };

  const putCanariesNow = writer.transaction((rows: readonly CanaryRow[]) => {
    for (const c of rows) w.canary.run(c.auditRef, c.principal, c.createdAt.getTime());
  });
  const liftNow = writer.transaction((principal: string, at: number, by: string, reason: string, idem: IdempotencyRecord<HoldRow[]> | undefined) =>
    recordWith(idempotency, idem, w.lift.all(at, by, reason, principal).map(toHold)),
  );

  const write = <T>(fn: () => T | Promise<T>) => exclusive(() => guard(fn));
  const read = <T>(fn: () => T | Promise<T>) => guard(fn);
  const ms = (d: Date | null) => (d === null ? null : d.getTime());

  return {
    putAlert: (a) =>
      write(() => {
        w.alert.run(
          a.id,
          a.at.getTime(),
          a.principal,
          a.rule,
          a.type,
          a.reaction,
          a.count,
          a.threshold,
          a.windowStart.getTime(),
          a.requestId,
          JSON.stringify(a.detail),
        );
      }),
    listAlerts: (f) =>
      read(() =>
        r.alerts
          .all(f.principal ?? null, f.principal ?? null, f.rule ?? null, f.rule ?? null, ms(f.since ?? null), ms(f.since ?? null), f.limit)
          .map(toAlert),
      ),
    putHold: (h) =>
      write(() => {
        w.hold.run(h.id, h.principal, h.kind, h.rule, h.alertId, h.reason, h.at.getTime(), ms(h.until), ms(h.liftedAt), h.liftedBy, h.liftReason);
      }),
    activeHolds: (now) => read(() => r.active.all(now.getTime()).map(toHold)),
    listHolds: (f) => read(() => (f.principal === undefined ? r.holds.all(f.limit) : r.holdsOf.all(f.principal, f.limit)).map(toHold)),
    liftHolds: (principal, at, by, reason, idem) => write(() => liftNow.immediate(principal, at.getTime(), by, reason, idem)),
    putCanaries: (rows) =>
      write(() => {
        if (rows.length > 0) putCanariesNow.immediate(rows);
      }),
    canaries: () =>
      read(() => r.canaries.all().map((c) => ({ auditRef: asAuditRef(c.audit_ref), principal: c.principal, createdAt: new Date(c.created_at) }))),
  };
};
