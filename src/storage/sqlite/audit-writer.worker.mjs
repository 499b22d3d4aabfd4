// The SQLite audit writer, on its own thread (docs/adr/0003-audit-before-effect.md).
//
// better-sqlite3 is synchronous: a durable commit (an fsync of the WAL, ≈ 250 µs here) would
// block the server's event loop. This thread owns a second connection to audit.db and does the
// appends, so the main thread keeps serving while a batch is being made durable — and entries
// that arrive meanwhile form the next, larger batch (group commit).
//
// Plain JavaScript on purpose: a worker does not inherit a TypeScript loader registered with
// module.register(), and this file must run however Haechi was started.
//
// Protocol (one message at a time, answered in order):
//   { id, type: "head" }                        → { id, head: { seq, hash } | null }
//   { id, type: "append", expected, expectedHash, flat, hashes } → { id, ok: true } | { id, conflict: head }
//     flat: [seq, at, subjectRef, principal, action, body] per row; hashes: 32 bytes per row
//   { id, type: "close" }                       → { id, ok: true }
// `expected`/`expectedHash` are the head the rows were chained to (0/null for an empty log); if
// another process moved the head meanwhile the append is refused and the caller re-chains.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const db = new Database(workerData.file);
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${workerData.synchronous}`);
db.pragma("busy_timeout = 5000");
// The by-subject index takes random inserts; a roomy page cache keeps them off the disk.
db.pragma(`cache_size = ${-Math.trunc(workerData.cacheKiB ?? 65536)}`);

const headStmt = db.prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
const insert = db.prepare("INSERT INTO audit_log (seq, at, subject_ref, principal, action, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
const setHead = db.prepare("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1");

const readHead = () => {
  const r = headStmt.get();
  return r === undefined || r.seq === null || r.hash === null ? null : { seq: r.seq, hash: r.hash };
};

const append = db.transaction((expected, expectedHash, flat, hashes) => {
  const head = readHead();
  // Seq and hash: another writer can leave the head at the same seq with a different hash.
  if ((head?.seq ?? 0) !== expected || (head !== null && (expectedHash === null || !head.hash.equals(expectedHash)))) {
    return { conflict: head };
  }
  const n = flat.length / 6;
  for (let i = 0; i < n; i++) {
    const o = i * 6;
    insert.run(flat[o], flat[o + 1], flat[o + 2], flat[o + 3], flat[o + 4], flat[o + 5], hashes.subarray(i * 32, i * 32 + 32));
  }
  setHead.run(flat[(n - 1) * 6], hashes.subarray((n - 1) * 32, n * 32));
  return { ok: true };
});

parentPort.on("message", (msg) => {
  try {
    if (msg.type === "head") parentPort.postMessage({ id: msg.id, head: readHead() });
    else if (msg.type === "append") {
      const hashes = Buffer.from(msg.hashes.buffer, msg.hashes.byteOffset, msg.hashes.byteLength);
      const expectedHash = msg.expectedHash ? Buffer.from(msg.expectedHash.buffer, msg.expectedHash.byteOffset, msg.expectedHash.byteLength) : null;
      parentPort.postMessage({ id: msg.id, ...append.immediate(msg.expected, expectedHash, msg.flat, hashes) });
    } else if (msg.type === "close") {
      db.close();
      parentPort.postMessage({ id: msg.id, ok: true });
    }
  } catch (e) {
    // Only the driver's error code crosses back: messages may quote SQL.
    parentPort.postMessage({ id: msg.id, error: String(e?.code ?? "SQLITE_ERROR") });
  }
});
