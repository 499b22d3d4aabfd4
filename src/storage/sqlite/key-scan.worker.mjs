// A key-scan thread for `KeyStore.findByAuditRefs` on SQLite (ADR 0015).
//
// The audit reference is not indexed (ADR 0008), so finding the subjects of a set of references
// is a pass over the whole key table. One thread does one range of subject ids on its own
// connection; the store runs one range per thread at once and merges what they find.
//
// Plain JavaScript on purpose, as audit-writer.worker.mjs: a worker does not inherit a
// TypeScript loader registered with module.register().
//
// Protocol (one message at a time, answered in order):
//   { id, type: "find", from, to, refs } → { id, found }   (found: JSON of [[audit_ref, subject_id], …])
//     from: the range's first subject id ("" for the start); to: the first id after it, or null
//     for the end; refs: a JSON array of references.
//   { id, type: "close" }                → { id, ok: true }
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 5000");
// Reads only: a scan never writes, not even by mistake.
db.pragma("query_only = ON");

// The references as an ephemeral lookup; the range from the primary key.
const SELECT = "SELECT audit_ref, subject_id FROM wrapped_keys";
const IN_REFS = "audit_ref IN (SELECT value FROM json_each(?))";
const bounded = db.prepare(`${SELECT} WHERE subject_id >= ? AND subject_id < ? AND ${IN_REFS}`).raw(true);
const toEnd = db.prepare(`${SELECT} WHERE subject_id >= ? AND ${IN_REFS}`).raw(true);

parentPort.on("message", (msg) => {
  try {
    if (msg.type === "find") {
      const rows = msg.to === null ? toEnd.all(msg.from, msg.refs) : bounded.all(msg.from, msg.to, msg.refs);
      parentPort.postMessage({ id: msg.id, found: JSON.stringify(rows) });
    } else if (msg.type === "close") {
      db.close();
      parentPort.postMessage({ id: msg.id, ok: true });
    } else {
      parentPort.postMessage({ id: msg.id, error: `unknown message ${String(msg.type)}` });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
