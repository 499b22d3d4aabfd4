/**
 * What an attacker with database access would do to the audit log (tests only): drop the
 * append-only guard, then edit, delete or swap rows directly.
 */
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import type { TestApp } from "./app.js";

export type Tamper =
  | { kind: "edit-body"; seq: number; from: string; to: string }
  | { kind: "delete"; seq: number }
  | { kind: "truncate-after"; seq: number }
  | { kind: "swap-bodies"; a: number; b: number };

export const tamperAudit = async (t: TestApp, op: Tamper) => {
  await t.c.audit.flush();
  if (t.c.config.store.kind === "sqlite") {
    const db = new Database(path.join(t.c.config.store.dir, "audit.db"));
    db.exec("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;");
    if (op.kind === "edit-body") db.prepare("UPDATE audit_log SET body = replace(body, ?, ?) WHERE seq = ?").run(op.from, op.to, op.seq);
    if (op.kind === "delete") db.prepare("DELETE FROM audit_log WHERE seq = ?").run(op.seq);
    if (op.kind === "truncate-after") {
      db.prepare("DELETE FROM audit_log WHERE seq > ?").run(op.seq);
      db.prepare("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)").run(op.seq, op.seq);
      db.prepare("DELETE FROM checkpoints WHERE seq > ?").run(op.seq);
    }
    if (op.kind === "swap-bodies") {
      const a = db.prepare("SELECT body, hash FROM audit_log WHERE seq = ?").get(op.a) as { body: string; hash: Buffer };
      const b = db.prepare("SELECT body, hash FROM audit_log WHERE seq = ?").get(op.b) as { body: string; hash: Buffer };
      db.prepare("UPDATE audit_log SET body = ?, hash = ? WHERE seq = ?").run(b.body, b.hash, op.a);
      db.prepare("UPDATE audit_log SET body = ?, hash = ? WHERE seq = ?").run(a.body, a.hash, op.b);
    }
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: (t.c.config.store as { url: string }).url });
  await client.connect();
  try {
    await client.query("ALTER TABLE haechi_audit.audit_log DISABLE TRIGGER USER");
    if (op.kind === "edit-body") await client.query("UPDATE haechi_audit.audit_log SET body = replace(body, $1, $2) WHERE seq = $3", [op.from, op.to, op.seq]);
    if (op.kind === "delete") await client.query("DELETE FROM haechi_audit.audit_log WHERE seq = $1", [op.seq]);
    if (op.kind === "truncate-after") {
      await client.query("DELETE FROM haechi_audit.audit_log WHERE seq > $1", [op.seq]);
      await client.query("UPDATE haechi_audit.audit_head SET seq = $1, hash = (SELECT hash FROM haechi_audit.audit_log WHERE seq = $1)", [op.seq]);
      await client.query("DELETE FROM haechi_audit.checkpoints WHERE seq > $1", [op.seq]);
    }
    if (op.kind === "swap-bodies") {
      const { rows } = await client.query("SELECT seq, body, hash FROM haechi_audit.audit_log WHERE seq IN ($1, $2)", [op.a, op.b]);
      const a = rows.find((r) => Number(r.seq) === op.a);
      const b = rows.find((r) => Number(r.seq) === op.b);
      await client.query("UPDATE haechi_audit.audit_log SET body = $1, hash = $2 WHERE seq = $3", [b.body, b.hash, op.a]);
      await client.query("UPDATE haechi_audit.audit_log SET body = $1, hash = $2 WHERE seq = $3", [a.body, a.hash, op.b]);
    }
    await client.query("ALTER TABLE haechi_audit.audit_log ENABLE TRIGGER USER");
  } finally {
    await client.end();
  }
};
