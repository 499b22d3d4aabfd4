// One range of the audit chain, verified on its own thread over its own read connection.
// audit/parallel-verify.ts starts it and stitches the ranges; docs/adr/0002-audit-chain.md
// ("Verification throughput") says why.
//
// Plain JavaScript on purpose, like storage/sqlite/audit-writer.worker.mjs: a worker does not
// inherit a TypeScript loader registered with module.register(), and starting one per worker
// (and loading the store modules through it) costs about a second. So this file imports only
// node: modules and the driver the store's read source names, and repeats the chain formula of
// chain.ts; a unit test keeps the two equal. The SQL comes from the store
// (`AuditStore.readSource()`): only storage/ writes SQL.
//
// The row logic mirrors verifyChain (verify.ts) line for line, but reports structured events
// instead of worded problems: parallel-verify.ts words them, so both paths say the same thing.
//
// workerData: { haechiVerifyRange: true, source, chainKey, lo, hi, origin, pageSize,
//               checkpoints: [{ seq, hash, index }], maxEvents }
//   Rows with lo < seq <= hi (hi null: to the end). `origin` ({ seq, hash }) is where the whole
//   verification starts (seq 0 and 32 zero bytes, or `after`); a range starts from the last row at
//   or below lo, its stored predecessor, or from origin when there is none.
// Messages: { type: "progress", rows } now and then; { type: "done", result } at the end.
// Errors are thrown. The parent treats an error, or an exit without "done", as a failed
// verification, never as "ok".
import * as crypto from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

const KEY_BYTES = 32;
const HASH_BYTES = 32;
const OFF_PREV = KEY_BYTES;
const OFF_SEQ = OFF_PREV + HASH_BYTES;
const OFF_LEN = OFF_SEQ + 8;
const HEADER_BYTES = OFF_LEN + 4;
const W_PREV = OFF_PREV >>> 2;
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const PROGRESS_EVERY = 16384;

/** SHA-256 as a 32-character latin1 string: cheaper to make than a Buffer (see chain.ts). */
const sha256Latin1 =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "latin1")
    : (data) => crypto.createHash("sha256").update(data).digest("latin1");

/**
 * Hashes chain entries in one scratch buffer holding key ‖ prev ‖ uint64be(seq) ‖
 * uint32be(len) ‖ body, as chain.ts does; one view per total length is reused, so an entry
 * costs two copies and a digest.
 */
const chainScratch = (key) => {
  let buf = Buffer.from(new ArrayBuffer(4096)); // its own ArrayBuffer: word-aligned at 0
  buf.set(key, 0);
  let words = new Uint32Array(buf.buffer, 0, buf.length >>> 2);
  let views = [];
  // The predecessor hash is copied as eight 32-bit words when it is 4-byte aligned (it is, in the
  // packed pages and the copy slots): ten times cheaper than Buffer#copy for 32 bytes.
  let prevBuffer = null;
  let prevWords = null;
  return (prev, prevOff, prevLen, seq, body, start, end) => {
    const n = end - start;
    if (HEADER_BYTES + n > buf.length) {
      const bigger = Buffer.from(new ArrayBuffer(HEADER_BYTES + n + 4096));
      buf.copy(bigger, 0, 0, KEY_BYTES);
      buf = bigger;
      words = new Uint32Array(buf.buffer, 0, buf.length >>> 2);
      views = [];
    }
    const at = prev.byteOffset + prevOff;
    if (prevLen === HASH_BYTES && (at & 3) === 0) {
      if (prev.buffer !== prevBuffer) {
        prevBuffer = prev.buffer;
        prevWords = new Uint32Array(prevBuffer, 0, prevBuffer.byteLength >>> 2);
      }
      const w = at >>> 2;
      words[W_PREV] = prevWords[w];
      words[W_PREV + 1] = prevWords[w + 1];
      words[W_PREV + 2] = prevWords[w + 2];
      words[W_PREV + 3] = prevWords[w + 3];
      words[W_PREV + 4] = prevWords[w + 4];
      words[W_PREV + 5] = prevWords[w + 5];
      words[W_PREV + 6] = prevWords[w + 6];
      words[W_PREV + 7] = prevWords[w + 7];
    } else if (prevLen === HASH_BYTES) prev.copy(buf, OFF_PREV, prevOff, prevOff + HASH_BYTES);
    else {
      // As verify.ts: a stored hash of another length chains zero-padded or cut to 32 bytes.
      buf.fill(0, OFF_PREV, OFF_SEQ);
      prev.copy(buf, OFF_PREV, prevOff, prevOff + Math.min(prevLen, HASH_BYTES));
    }
    const hi = Math.floor(seq / 0x1_0000_0000);
    const lo = seq >>> 0;
    buf[OFF_SEQ] = hi >>> 24;
    buf[OFF_SEQ + 1] = hi >>> 16;
    buf[OFF_SEQ + 2] = hi >>> 8;
    buf[OFF_SEQ + 3] = hi;
    buf[OFF_SEQ + 4] = lo >>> 24;
    buf[OFF_SEQ + 5] = lo >>> 16;
    buf[OFF_SEQ + 6] = lo >>> 8;
    buf[OFF_SEQ + 7] = lo;
    buf[OFF_LEN] = n >>> 24;
    buf[OFF_LEN + 1] = n >>> 16;
    buf[OFF_LEN + 2] = n >>> 8;
    buf[OFF_LEN + 3] = n;
    body.copy(buf, HEADER_BYTES, start, end);
    const total = HEADER_BYTES + n;
    return sha256Latin1(views[total] ?? (views[total] = buf.subarray(0, total)));
  };
};

/**
 * The chain formula, for the unit test that pins it to chain.ts:
 * SHA-256(key ‖ prev ‖ uint64be(seq) ‖ uint32be(byteLength(body)) ‖ body), as hex.
 */
export const chainHashHex = (key, prev, seq, body) => {
  const bytes = Buffer.from(body, "utf8");
  const p = Buffer.from(prev);
  return Buffer.from(chainScratch(key)(p, 0, p.length, seq, bytes, 0, bytes.length), "latin1").toString("hex");
};

/** True when the latin1 digest `h` equals the `len` bytes of `b` at `off` (and len is 32). */
const latin1Equals = (h, b, off, len) => {
  if (len !== HASH_BYTES) return false;
  for (let j = 0; j < HASH_BYTES; j++) if (h.charCodeAt(j) !== b[off + j]) return false;
  return true;
};

// Event tuples; parallel-verify.ts (`RangeEvent`) reads them.
const EV_RUN = 0; // [0, start, len, linkedBefore, closedByMatch 0|1, lead 0|1]
const EV_GAP = 1; // [1, seq, first, last]
const EV_ORDER = 2; // [2, seq, lastSeq]
const EV_CHECKPOINT = 3; // [3, seq, checkpoint index]

/**
 * verifyChain's state machine over one range. `start` ({ seq, hash }) is the range's stored
 * predecessor, which is all the state verifyChain carries over a boundary between rows read in
 * seq order (plus an open run of mismatches, which the parent joins up).
 */
export const rangeVerifier = (chainKey, start, checkpoints, maxEvents) => {
  const hash = chainScratch(chainKey);
  const cps = new Map();
  for (const c of checkpoints) {
    const list = cps.get(c.seq) ?? [];
    list.push({ hash: Buffer.from(c.hash), index: c.index });
    cps.set(c.seq, list);
  }
  const events = [];
  let eventCount = 0;
  const emit = (ev) => {
    eventCount++;
    if (events.length < maxEvents) events.push(ev);
  };

  let maxSeq = start.seq;
  let lastSeq = start.seq;
  let prev = Buffer.from(start.hash);
  let prevOff = 0;
  let prevLen = prev.length;
  let pendingGap = null;
  let entries = 0;
  let linked = 0;
  /** How the first row met its predecessor: "ok", "bad" (hash mismatch) or "break" (unlinked). */
  let first = null;
  /** The last row's stored hash: lastHashes[lastHo, lastHo + lastHl). */
  let lastHashes = null;
  let lastHo = 0;
  let lastHl = 0;
  let runStart = 0;
  let runLen = 0;
  let runLinkedBefore = 0;
  let runLead = 0;

  const closeRun = (byMatch) => {
    if (runLen === 0) return;
    emit([EV_RUN, runStart, runLen, runLinkedBefore, byMatch ? 1 : 0, runLead]);
    runLen = 0;
    runLead = 0;
  };
  const flushGap = () => {
    if (pendingGap === null) return;
    emit([EV_GAP, pendingGap.seq, pendingGap.first, pendingGap.last]);
    pendingGap = null;
  };
  /** The checkpoints at `seq` against the recomputed hash `h`, or the stored one if unlinked. */
  const checkpointAt = (seq, h, stored, off, len) => {
    const at = cps.get(seq);
    if (at === undefined) return;
    cps.delete(seq);
    for (const t of at) {
      const same =
        h !== null
          ? latin1Equals(h, t.hash, 0, t.hash.length)
          : len === t.hash.length && stored.compare(t.hash, 0, t.hash.length, off, off + len) === 0;
      if (!same) emit([EV_CHECKPOINT, seq, t.index]);
    }
  };

  /**
   * One row: body = body[bs, be) (UTF-8), stored hash = hashes[ho, ho + hl). The buffers must
   * stay unchanged while they may be the predecessor of the next row.
   */
  const row = (seq, body, bs, be, hashes, ho, hl) => {
    if (pendingGap === null && seq === maxSeq + 1 && Number.isSafeInteger(seq)) {
      const h = hash(prev, prevOff, prevLen, seq, body, bs, be);
      if (runLen === 0 && entries !== 0 && cps.size === 0 && latin1Equals(h, hashes, ho, hl)) {
        // The common case, inlined: a linked row that matches, and nothing else to do.
        linked++;
        maxSeq = seq;
        lastSeq = seq;
        entries++;
        prev = lastHashes = hashes;
        prevOff = lastHo = ho;
        prevLen = lastHl = hl;
      } else settle(seq, h, hashes, ho, hl);
      return;
    }
    if (pendingGap !== null) {
      if (seq === pendingGap.first && pendingGap.first === pendingGap.last) pendingGap = null; // a swap
      else flushGap();
    }
    settle(seq, seq === maxSeq + 1 && Number.isSafeInteger(seq) ? hash(prev, prevOff, prevLen, seq, body, bs, be) : null, hashes, ho, hl);
  };
  /** The rest of a row once its hash `h` is recomputed (null: not linked to its predecessor). */
  const settle = (seq, h, hashes, ho, hl) => {
    if (h !== null) {
      linked++;
      if (!latin1Equals(h, hashes, ho, hl)) {
        if (runLen === 0) {
          runStart = seq;
          runLinkedBefore = linked - 1;
          runLead = entries === 0 ? 1 : 0;
        }
        runLen++;
        if (entries === 0) first = "bad";
      } else {
        closeRun(true);
        if (entries === 0) first = "ok";
      }
      maxSeq = seq;
      prev = hashes;
      prevOff = ho;
      prevLen = hl;
    } else {
      // The seq itself breaks the link; the row's hash cannot be checked without its predecessor.
      closeRun(false);
      if (entries === 0) first = "break";
      if (Number.isSafeInteger(seq) && seq > maxSeq + 1) {
        pendingGap = { seq, first: maxSeq + 1, last: seq - 1 };
        maxSeq = seq;
        prev = hashes;
        prevOff = ho;
        prevLen = hl;
      } else {
        emit([EV_ORDER, seq, lastSeq]);
      }
    }
    if (cps.size > 0) checkpointAt(seq, h, hashes, ho, hl);
    lastSeq = seq;
    entries++;
    lastHashes = hashes;
    lastHo = ho;
    lastHl = hl;
  };

  return {
    row,
    /** True when the predecessor of the next row is stored in `buf` (which must then stay intact). */
    prevIs: (buf) => prev === buf,
    /**
     * `n` rows packed: seqs[i]; body i = bodies[ends[i-1], ends[i]) with ends[-1] = 0; stored
     * hash i = hashes[32i, 32i + 32).
     */
    packed(n, seqs, ends, bodies, hashes) {
      let bs = 0;
      for (let i = 0; i < n; i++) {
        const be = ends[i];
        row(seqs[i], bodies, bs, be, hashes, i * HASH_BYTES, HASH_BYTES);
        bs = be;
      }
    },
    get entries() {
      return entries;
    },
    finish() {
      flushGap();
      const unmet = [];
      for (const at of cps.values()) for (const t of at) unmet.push(t.index);
      return {
        entries,
        linked,
        first,
        events,
        eventCount,
        open: runLen === 0 ? null : { start: runStart, len: runLen, linkedBefore: runLinkedBefore, lead: runLead },
        last: entries === 0 ? null : { seq: lastSeq, hash: Uint8Array.from(lastHashes.subarray(lastHo, lastHo + lastHl)) },
        maxSeq,
        unmet,
      };
    },
  };
};

/** Parses `n` comma-separated integers. */
const parseList = (s, n, out) => {
  let k = 0;
  let v = 0;
  let neg = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 44) {
      out[k++] = neg ? -v : v;
      v = 0;
      neg = false;
    } else if (c === 45) neg = true;
    else v = v * 10 + (c - 48);
  }
  out[k++] = neg ? -v : v;
  if (k !== n) throw new Error("packed page: value count differs from row count");
  return out;
};

const safeSeq = (n) => {
  if (!Number.isSafeInteger(n)) throw new Error("range bound is not a safe integer");
  return String(n);
};

/**
 * SQLite: `sql.packed` (after, upTo) returns the rows after < seq <= upTo as one row,
 *   [count, "seq,seq,…", "bodyBytes,bodyBytes,…", bodies BLOB, hashes BLOB,
 *    rows whose hash is not 32 bytes]
 * so a page costs a handful of values instead of three per row. Pages span `pageSize` seqs; an
 * empty one asks `sql.next` (after) for the next seq, to jump a gap or find the end. A page
 * holding a hash of another length (only ever a tampered row) is read again with `sql.rows`
 * (after, upTo): [seq, body, hash].
 */
const sqliteReader = async (source) => {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(source.file, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    const packed = db.prepare(source.sql.packed).raw(true);
    const next = db.prepare(source.sql.next).pluck(true);
    const rows = db.prepare(source.sql.rows).raw(true);
    const before = db.prepare(source.sql.before).raw(true);
    return {
      before(lo, floor) {
        const r = before.get(lo, floor);
        return r === undefined ? null : { seq: r[0], hash: r[1] };
      },
      async scan(v, lo, hi, pageSize, progress) {
        let after = lo;
        while (after < hi) {
          const upTo = Math.min(after + pageSize, hi);
          const r = packed.get(after, upTo);
          const n = r === undefined ? 0 : Number(r[0]);
          if (n === 0) {
            const following = next.get(upTo);
            if (following === null || following === undefined || following > hi) return;
            after = Number(following) - 1;
            continue;
          }
          if (Number(r[5]) === 0) {
            const seqs = parseList(String(r[1]), n, new Array(n));
            const ends = parseList(String(r[2]), n, new Float64Array(n));
            for (let i = 1; i < n; i++) ends[i] += ends[i - 1];
            const bodies = r[3];
            const hashes = r[4];
            if (!Buffer.isBuffer(bodies) || !Buffer.isBuffer(hashes) || bodies.length !== ends[n - 1] || hashes.length !== n * HASH_BYTES) {
              throw new Error("packed page: lengths do not add up");
            }
            v.packed(n, seqs, ends, bodies, hashes);
          } else {
            for (const [seq, body, hash] of rows.all(after, upTo)) {
              const b = Buffer.from(body, "utf8");
              v.row(seq, b, 0, b.length, hash, 0, hash.length);
            }
          }
          progress();
          after = upTo;
        }
      },
      close: async () => db.close(),
    };
  } catch (e) {
    db.close();
    throw e;
  }
};

/**
 * PostgreSQL: the range streams in one `COPY … TO STDOUT (FORMAT binary)` (`sql.copy`, with
 * `$1` = after and `$2` = up to, inclusive, replaced by safe integers: COPY takes no bind
 * parameters). Each CopyData message is one row of (seq int8, body text, hash bytea) as raw
 * bytes, so nothing is decoded to strings, and the server produces rows while this thread
 * hashes them.
 */
const postgresReader = async (source) => {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: source.url, application_name: "haechi-audit-verify" });
  /** Fails the scan in progress when the connection drops (no ReadyForQuery will come). */
  let dropped = () => undefined;
  client.on("error", (e) => dropped(e));
  client.on("end", () => dropped(new Error("connection ended")));
  await client.connect();
  return {
    async before(lo, floor) {
      const r = (await client.query({ text: source.sql.before, values: [lo, floor], rowMode: "array" })).rows[0];
      return r === undefined ? null : { seq: Number(r[0]), hash: r[1] };
    },
    scan(v, lo, hi, _pageSize, progress) {
      const text = source.sql.copy.replace("$1", safeSeq(lo)).replace("$2", safeSeq(hi));
      return new Promise((resolve, reject) => {
        dropped = reject;
        let error = null;
        let header = true;
        let count = 0;
        const slotMemory = Buffer.from(new ArrayBuffer(2 * HASH_BYTES)); // one ArrayBuffer: one word view
        const slots = [slotMemory.subarray(0, HASH_BYTES), slotMemory.subarray(HASH_BYTES)];
        const onRow = (chunk) => {
          let o = 0;
          if (header) {
            // "PGCOPY\n\xff\r\n\0", int32 flags, int32 extension length, extension.
            header = false;
            if (chunk.length < 19 || chunk.toString("latin1", 0, 11) !== "PGCOPY\n\xff\r\n\0") {
              throw new Error("COPY: not a binary copy stream");
            }
            o = 19 + chunk.readInt32BE(15);
            if (o >= chunk.length) return;
          }
          const fields = chunk.readInt16BE(o);
          if (fields === -1) return; // trailer
          if (fields !== 3) throw new Error("COPY: unexpected row shape");
          o += 2;
          if (chunk.readInt32BE(o) !== 8) throw new Error("COPY: unexpected seq");
          const seq = chunk.readInt32BE(o + 4) * 0x1_0000_0000 + chunk.readUInt32BE(o + 8);
          o += 12;
          const bodyLen = chunk.readInt32BE(o);
          const bs = o + 4;
          o = bs + bodyLen;
          const hashLen = chunk.readInt32BE(o);
          if (bodyLen < 0 || hashLen < 0 || o + 4 + hashLen !== chunk.length) throw new Error("COPY: unexpected row shape");
          // The driver reuses its receive buffer: the stored hash, which the next row chains
          // to, is copied out, into whichever of two slots does not hold the predecessor.
          let stored;
          if (hashLen === HASH_BYTES) {
            stored = v.prevIs(slots[0]) ? slots[1] : slots[0];
            chunk.copy(stored, 0, o + 4, o + 4 + HASH_BYTES);
          } else stored = Buffer.from(chunk.subarray(o + 4, o + 4 + hashLen));
          v.row(seq, chunk, bs, bs + bodyLen, stored, 0, hashLen);
          if (++count % PROGRESS_EVERY === 0) progress();
        };
        client.query({
          submit(connection) {
            connection.query(text);
          },
          handleCopyData(msg) {
            if (error !== null) return;
            try {
              onRow(msg.chunk);
            } catch (e) {
              error = e;
            }
          },
          handleCopyInResponse(connection) {
            connection.sendCopyFail("not expected");
          },
          handleRowDescription() {},
          handleDataRow() {},
          handleCommandComplete() {},
          handleEmptyQuery() {},
          handlePortalSuspended() {},
          handleError(e) {
            // The driver drops the query on an error: no ReadyForQuery reaches it afterwards.
            dropped = () => undefined;
            reject(error ?? e);
          },
          handleReadyForQuery() {
            dropped = () => undefined;
            progress();
            if (error !== null) reject(error);
            else resolve();
          },
        });
      });
    },
    close: async () => {
      dropped = () => undefined;
      await client.end();
    },
  };
};

const openReader = (source) => {
  if (source.kind === "sqlite") return sqliteReader(source);
  if (source.kind === "postgres") return postgresReader(source);
  throw new Error("unknown audit read source");
};

/** Verifies rows lo < seq <= hi of the store and returns the range's result (rangeVerifier). */
const verifyRange = async (d) => {
  const reader = await openReader(d.source);
  try {
    const hi = d.hi ?? MAX_SEQ;
    const start = d.lo > d.origin.seq ? ((await reader.before(d.lo, d.origin.seq)) ?? d.origin) : d.origin;
    const v = rangeVerifier(d.chainKey, start, d.checkpoints, d.maxEvents);
    await reader.scan(v, d.lo, hi, d.pageSize, () => parentPort.postMessage({ type: "progress", rows: v.entries }));
    return v.finish();
  } finally {
    await reader.close();
  }
};

if (parentPort !== null && workerData?.haechiVerifyRange === true) {
  const result = await verifyRange(workerData);
  parentPort.postMessage({ type: "done", result });
}
