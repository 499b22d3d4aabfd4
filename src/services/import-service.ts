/**
 * Bulk import (`haechi import`): NDJSON or CSV, validated row by row exactly like a create,
 * committed in batches, resumable, with rejected rows reported with their line and reason.
 *
 * Resumption without duplicates: each row's subject id is derived from a secret import key, the
 * import id and the row's line number, and every batch commits atomically. The first run of an
 * import leaves a marker in the data store; a run that finds the marker checks each row and
 * reports the ones an earlier run committed as skipped (with their ids), writing nothing for
 * them, so an interrupted import is finished by running it again. Do not run the same import
 * twice at the same time: both runs would see a row as new.
 *
 * Throughput: with two or more cores, field sealing (AES-GCM per value) runs in a worker thread
 * while this thread validates the next batch and writes the previous one (storage is
 * synchronous on SQLite, so this thread is the bottleneck). The worker is this same module,
 * started with a marker in `workerData`.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { StringDecoder } from "node:string_decoder";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { AuditEntry } from "../audit/audit-types.js";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { checkConsentInputs, missingRequired, prepareValues, type ConsentInput } from "../core/collect-fns.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import { applyConsentEvents, consentEventsFor } from "../core/consent/consent-fns.js";
import { evaluate } from "../core/policy/policy-fns.js";
import type { Decision, ReasonCode } from "../core/policy/policy-types.js";
import type { ConsentEvent, DataStore, ImportItem, KeyStore, StoredField, WrappedKeyRow } from "../core/ports.js";
import type { BlindIndex } from "../crypto/blind-index.js";
import { sealField } from "../crypto/envelope.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import type { BaseDeps } from "./service-types.js";
import { denialError } from "./subject-service.js";

export type ImportServiceDeps = Omit<BaseDeps, "audit"> & {
  audit: { recordMany(entries: AuditEntry[]): Promise<number[]> };
  /** `getMeta`/`setMeta` hold the marker that tells a first run from a resumption. */
  data: Pick<DataStore, "importBatch" | "subjectExists" | "getMeta" | "setMeta">;
  keys: Pick<KeyStore, "putMany" | "destroy">;
  subjectKeys: SubjectKeys;
  pseudonyms: Pseudonyms;
  blindIndex: BlindIndex;
  /** Secret from which deterministic per-row subject ids are derived (never stored with data). */
  importKey: Buffer;
};

export interface ImportOptions {
  file: string;
  format?: "ndjson" | "csv";
  principal: string;
  purpose: string;
  /**
   * Names the import, so a rerun resumes it. Defaults to a digest of the file's real path, its
   * size, the principal and the purpose; give one to resume a file that was moved.
   */
  importId?: string;
  /** Rows per transaction (default 2000). */
  batchSize?: number;
  /**
   * Worker threads that seal field values (0 or 1): 0 seals on the calling thread. By default a
   * worker is used for files over 1 MiB on a machine with more than one core. If the worker
   * cannot start, the import seals on the calling thread.
   */
  workers?: number;
  /** Receives `{ line, ref, id }` for every imported (or already imported) row, so the service can keep its reference. */
  onImported?: (row: { line: number; ref: string | null; id: ExternalSubjectId }) => void;
  onRejected?: (row: { line: number; ref: string | null; code: string; message: string }) => void;
  /** Called after every committed batch and once at the end. */
  onProgress?: (p: ImportProgress) => void;
}

/** What a run did: its progress at the end, its id (to resume explicitly) and where sealing ran. */
export type ImportResult = ImportProgress & {
  importId: string;
  /** Batches sealed by the worker thread and on the calling thread. */
  sealing: { worker: number; inline: number };
};

export interface ImportProgress {
  /** Non-blank data lines read (the CSV header is not one). */
  lines: number;
  imported: number;
  /** Rows an earlier run of the same import had committed. */
  skipped: number;
  rejected: number;
  bytes: number;
  totalBytes: number;
}

interface ParsedRow {
  line: number;
  ref: string | null;
  fields: Record<string, unknown>;
  consents: ConsentInput[];
}

// ---------------------------------------------------------------- parsing (pure)

/** Splits one CSV line (RFC 4180 quoting; no embedded newlines). */
export const splitCsvLine = (line: string): string[] => {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur === "") quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new HaechiError("VALIDATION_FAILED", "unterminated quoted value");
  out.push(cur);
  return out;
};

/** CSV columns: field names; `ref` for the caller's own row key; `consent:<notice>` with grant|withdraw. */
const csvRow = (catalog: Catalog, header: readonly string[], cells: readonly string[], line: number): ParsedRow => {
  if (cells.length !== header.length) throw new HaechiError("VALIDATION_FAILED", `expected ${header.length} columns, found ${cells.length}`);
  const fields: Record<string, unknown> = {};
  const consents: ConsentInput[] = [];
  let ref: string | null = null;
  for (let i = 0; i < header.length; i++) {
    const h = header[i]!;
    const v = cells[i]!;
    if (h === "ref") ref = v || null;
    else if (h.startsWith("consent:")) {
      if (v === "grant" || v === "withdraw") consents.push({ notice: h.slice(8), action: v, channel: "import" });
      else if (v !== "") throw new HaechiError("VALIDATION_FAILED", `column ${h} must be grant, withdraw or empty`);
    } else if (v !== "") {
      const type = catalog.fields[h]?.type;
      if (type === "json") {
        try {
          fields[h] = JSON.parse(v);
        } catch {
          throw new HaechiError("VALIDATION_FAILED", `column ${h} is not valid JSON`);
        }
      } else fields[h] = type === "number" ? Number(v) : type === "boolean" ? v === "true" : v;
    }
  }
  return { line, ref, fields, consents };
};

const NDJSON_KEYS = new Set(["ref", "fields", "consents"]);
const CONSENT_KEYS = new Set(["notice", "version", "action", "channel"]);

/** The shape of one consent of an NDJSON row; its meaning is checked by checkConsentInputs. */
const consentInput = (c: unknown, i: number): ConsentInput => {
  if (!c || typeof c !== "object" || Array.isArray(c)) throw new HaechiError("VALIDATION_FAILED", `consents[${i}] must be an object`);
  const o = c as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !CONSENT_KEYS.has(k));
  if (extra.length > 0) throw new HaechiError("VALIDATION_FAILED", `consents[${i}]: unknown keys: ${extra.join(", ")}`);
  if (typeof o.notice !== "string" || o.notice === "") throw new HaechiError("VALIDATION_FAILED", `consents[${i}].notice must be a notice name`);
  if (o.action !== "grant" && o.action !== "withdraw") throw new HaechiError("VALIDATION_FAILED", `consents[${i}].action must be grant or withdraw`);
  if (o.version !== undefined && !(Number.isSafeInteger(o.version) && (o.version as number) > 0)) {
    throw new HaechiError("VALIDATION_FAILED", `consents[${i}].version must be a positive integer`);
  }
  if (o.channel !== undefined && typeof o.channel !== "string") throw new HaechiError("VALIDATION_FAILED", `consents[${i}].channel must be a string`);
  return {
    notice: o.notice,
    action: o.action,
    channel: (o.channel ?? "import") as ConsentInput["channel"],
    ...(o.version === undefined ? {} : { version: o.version as number }),
  };
};

/** One NDJSON line: `{ "ref"?: string, "fields": { … }, "consents"?: [{ notice, action, version?, channel? }] }`. */
const ndjsonRow = (text: string, line: number): ParsedRow => {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new HaechiError("VALIDATION_FAILED", "line is not valid JSON");
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new HaechiError("VALIDATION_FAILED", "line must be a JSON object");
  const o = obj as Record<string, unknown>;
  for (const k in o) {
    if (!NDJSON_KEYS.has(k)) {
      const extra = Object.keys(o).filter((x) => !NDJSON_KEYS.has(x));
      throw new HaechiError("VALIDATION_FAILED", `unknown keys: ${extra.join(", ")} (expected ref, fields, consents)`);
    }
  }
  if (!o.fields || typeof o.fields !== "object" || Array.isArray(o.fields)) throw new HaechiError("VALIDATION_FAILED", "fields must be an object");
  const raw = o.consents ?? [];
  if (!Array.isArray(raw)) throw new HaechiError("VALIDATION_FAILED", "consents must be an array");
  return {
    line,
    ref: o.ref === undefined || o.ref === null ? null : String(o.ref),
    fields: o.fields as Record<string, unknown>,
    consents: raw.length === 0 ? [] : raw.map(consentInput),
  };
};

/** The caller's ref of a line that failed to parse, when it can still be seen (for the reject report). */
const refOfBadLine = (format: "ndjson" | "csv", header: readonly string[] | null, text: string): string | null => {
  if (format === "csv") {
    const i = header?.indexOf("ref") ?? -1;
    if (i < 0) return null;
    try {
      return splitCsvLine(text)[i] || null;
    } catch {
      return text.split(",")[i] || null;
    }
  }
  try {
    const o = JSON.parse(text) as { ref?: unknown };
    return o && typeof o === "object" && (typeof o.ref === "string" || typeof o.ref === "number") ? String(o.ref) : null;
  } catch {
    return null;
  }
};

/**
 * The file's lines in chunks (one array per read), with their 1-based numbers implied by order.
 * Faster than readline and pulls the file only as fast as the import consumes it.
 */
async function* lineChunks(file: string, onBytes: (n: number) => void): AsyncGenerator<string[]> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    onBytes(chunk.length);
    const text = rest + decoder.write(chunk);
    const lines = text.split("\n");
    rest = lines.pop()!;
    yield lines;
  }
  rest += decoder.end();
  if (rest.length > 0) yield [rest];
}

// ---------------------------------------------------------------- ids

/**
 * Internal subject id of an import row: an 8-byte prefix derived from the secret row key, then
 * the line number (uint64 BE). Deterministic, so a rerun finds the rows an interrupted run
 * committed; clustered, so one import's rows sit together in every subject-keyed B-tree instead
 * of on random pages. The id never leaves Haechi: services see per-context pseudonyms of it.
 */
const importIds = (rowKey: Buffer) => {
  const buf = Buffer.alloc(16);
  crypto.createHmac("sha256", rowKey).update("subject-id-prefix").digest().copy(buf, 0, 0, 8);
  return (line: number): SubjectId => {
    buf.writeBigUInt64BE(BigInt(line), 8);
    return buf.toString("base64url") as SubjectId;
  };
};

// ---------------------------------------------------------------- sealing (inline or in a worker)

/** One batch of subjects to seal: DEKs packed 32 bytes each, values as [field, value] pairs. */
interface SealJob {
  ids: SubjectId[];
  dekVersions: number[];
  deks: Buffer;
  values: [string, unknown][][];
}

/** Ciphertexts per subject, in the order of its values. */
type Sealed = Buffer[][];

interface Sealer {
  /** Takes ownership of `job.deks` (zeroed once used). */
  seal(job: SealJob): Promise<Sealed>;
  close(): Promise<void>;
}

const DEK_BYTES = 32;
/** Files smaller than this are sealed on the calling thread. */
const WORKER_MIN_BYTES = 1 << 20;

const sealInline = (job: SealJob): Sealed => {
  const out: Sealed = new Array(job.ids.length);
  try {
    for (let i = 0; i < job.ids.length; i++) {
      const dek = job.deks.subarray(i * DEK_BYTES, (i + 1) * DEK_BYTES);
      const id = job.ids[i]!;
      const v = job.dekVersions[i]!;
      out[i] = job.values[i]!.map(([f, value]) => sealField(dek, v, id, f, value));
    }
  } finally {
    job.deks.fill(0);
  }
  return out;
};

const inlineSealer: Sealer = { seal: async (job) => sealInline(job), close: async () => undefined };

const WORKER_MARK = "haechi-import-sealer/1";

type WorkerRequest = Omit<SealJob, "deks"> & { seq: number; deks: Uint8Array };
type WorkerReply = { seq: number; ok: true; out: Uint8Array; offsets: Uint32Array } | { seq: number; ok: false; message: string } | { ready: true };

/**
 * The worker side: seals each job and answers with every ciphertext packed into one transferred
 * buffer (small Buffers share pooled memory, which postMessage would copy whole).
 */
const runSealerWorker = () => {
  const port = parentPort!;
  port.on("message", (m: WorkerRequest) => {
    try {
      const deks = Buffer.from(m.deks.buffer, m.deks.byteOffset, m.deks.byteLength);
      const sealed = sealInline({ ...m, deks });
      let count = 0;
      let total = 0;
      for (const s of sealed) for (const c of s) (count++, (total += c.length));
      const out = Buffer.alloc(total);
      const offsets = new Uint32Array(count + 1);
      let k = 0;
      for (const s of sealed) {
        for (const c of s) {
          c.copy(out, offsets[k]!);
          offsets[k + 1] = offsets[k]! + c.length;
          k++;
        }
      }
      port.postMessage({ seq: m.seq, ok: true, out, offsets } satisfies WorkerReply, [out.buffer, offsets.buffer]);
    } catch (e) {
      port.postMessage({ seq: m.seq, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply);
    }
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
};

if (!isMainThread && (workerData as { mark?: unknown } | null)?.mark === WORKER_MARK) runSealerWorker();

/**
 * The worker runs this module. From TypeScript sources (tsx, no build step) it is loaded through
 * tsx's API, since a worker does not inherit the parent's loader; the parent's other flags (e.g.
 * the test runner's) are not passed on.
 */
const spawnSealerWorker = (): Worker => {
  const workerData = { mark: WORKER_MARK };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL(import.meta.url), { workerData, execArgv: [] });
  const api = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const self = JSON.stringify(import.meta.url);
  return new Worker(`import(${api}).then((tsx) => tsx.tsImport(${self}, ${self}))`, { eval: true, workerData, execArgv: [] });
};

/** Starts a sealing worker; resolves with null (seal inline) if it cannot start. */
const startWorkerSealer = async (): Promise<Sealer | null> => {
  let worker: Worker;
  try {
    worker = spawnSealerWorker();
  } catch {
    return null;
  }
  const pending = new Map<number, { resolve: (s: Sealed) => void; reject: (e: Error) => void; sizes: number[] }>();
  let seq = 0;
  let failure: Error | null = null;
  const failAll = (e: Error) => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    worker.once("message", (m: WorkerReply) => {
      clearTimeout(timer);
      resolve("ready" in m);
    });
    worker.once("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    await worker.terminate().catch(() => undefined);
    return null;
  }
  worker.on("message", (m: WorkerReply) => {
    if ("ready" in m) return;
    const p = pending.get(m.seq);
    if (!p) return;
    pending.delete(m.seq);
    if (!m.ok) return p.reject(new HaechiError("INTERNAL", `sealing failed: ${m.message}`));
    const out = Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength);
    const sealed: Sealed = new Array(p.sizes.length);
    let k = 0;
    for (let i = 0; i < p.sizes.length; i++) {
      const s: Buffer[] = new Array(p.sizes[i]!);
      for (let j = 0; j < s.length; j++, k++) s[j] = out.subarray(m.offsets[k]!, m.offsets[k + 1]!);
      sealed[i] = s;
    }
    p.resolve(sealed);
  });
  worker.on("error", (e) => failAll(new HaechiError("INTERNAL", `sealing worker failed: ${e.message}`)));
  worker.on("exit", () => failAll(new HaechiError("INTERNAL", "sealing worker stopped")));
  return {
    seal(job) {
      if (failure) {
        job.deks.fill(0);
        return Promise.reject(failure);
      }
      const s = ++seq;
      return new Promise<Sealed>((resolve, reject) => {
        pending.set(s, { resolve, reject, sizes: job.values.map((v) => v.length) });
        const deks = job.deks;
        const msg: WorkerRequest = { seq: s, ids: job.ids, dekVersions: job.dekVersions, values: job.values, deks };
        // Transferred, not copied: the keys leave this thread's memory.
        worker.postMessage(msg, [deks.buffer as ArrayBuffer]);
      });
    },
    async close() {
      worker.removeAllListeners("exit");
      await worker.terminate();
    },
  };
};

// ---------------------------------------------------------------- the service

/** Denial reasons that hold for every row of an import, whatever it carries. */
const ROW_INDEPENDENT = new Set<ReasonCode>(["UNKNOWN_PRINCIPAL", "UNKNOWN_PURPOSE", "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL", "ROLE_NOT_PERMITTED", "PURPOSE_NOT_COLLECTING"]);

/** A batch validated and keyed, waiting to be written. */
interface Prepared {
  items: ImportItem[];
  itemRows: ParsedRow[];
  keyRows: WrappedKeyRow[];
  audits: AuditEntry[];
  skipped: { row: ParsedRow; id: SubjectId }[];
  sealed: Promise<Sealed> | null;
  /** The batch's audit entries, being written while the previous batch's data is. */
  audited: Promise<unknown> | null;
  /** Field names per item, in the order they were sealed. */
  names: string[][];
  bytes: number;
}

export const importService = (deps: ImportServiceDeps) => ({
  /**
   * Imports a file. Every row is validated like a create (known fields, value shapes, required
   * items, consents to notices in force, the write decision); valid rows are committed in
   * batches; rejected rows are reported with their line number and never block the rest. Rows
   * an earlier run already committed are reported again with their ids and counted as skipped.
   */
  async run(opts: ImportOptions): Promise<ImportResult> {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const principal = catalog.principals[opts.principal];
    if (!principal) throw new HaechiError("VALIDATION_FAILED", `principal "${opts.principal}" is not in the catalog`);
    const purpose = catalog.purposes[opts.purpose];
    if (!purpose) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${opts.purpose}" is not registered`);
    const batchSize = opts.batchSize ?? 2000;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new HaechiError("VALIDATION_FAILED", "batch size must be a positive integer");
    let stat: fs.Stats;
    try {
      stat = fs.statSync(opts.file);
    } catch {
      throw new HaechiError("NOT_FOUND", `cannot read ${opts.file}`);
    }
    const format = opts.format ?? (opts.file.toLowerCase().endsWith(".csv") ? "csv" : "ndjson");
    // The same file imported for another principal or purpose is another import: its rows are
    // validated for that purpose and become subjects of their own.
    const scope = `${opts.principal}\0${opts.purpose}`;
    const importId = opts.importId ?? crypto.createHash("sha256").update(`${fs.realpathSync(opts.file)}\0${stat.size}\0${scope}`).digest("base64url").slice(0, 16);
    const subjectIdFor = importIds(crypto.createHmac("sha256", deps.importKey).update(`${importId}\0${scope}`).digest());
    const context = principal.id_context ?? opts.principal;
    const requestId = `import-${importId}`;
    const at = now.toISOString();
    const progress: ImportProgress = { lines: 0, imported: 0, skipped: 0, rejected: 0, bytes: 0, totalBytes: stat.size };
    const sealing = { worker: 0, inline: 0 };
    const lookupFields = new Set(Object.entries(catalog.fields).filter(([, d]) => d.lookup).map(([f]) => f));
    const onImported = opts.onImported;
    const externalId = (id: SubjectId) => deps.pseudonyms.externalId(context, id);
    // Rows without consent events that write the same fields get the same decision: evaluate once.
    const decisions = new Map<string, Decision>();

    // A principal that may not collect for this purpose at all is refused once, not per row.
    const upfront = evaluate(catalog, { principal: opts.principal, purpose: opts.purpose, action: "write", fields: [] }, { found: true, consents: [] }, now);
    if (upfront.effect === "deny" && upfront.reasons.every((r) => ROW_INDEPENDENT.has(r.code))) {
      await deps.audit.recordMany([
        { at, requestId, principal: opts.principal, source: null, action: "subject.import", effect: "deny", purpose: opts.purpose, subjectRef: null, fields: [], reasons: upfront.reasons.map((r) => r.code) },
      ]);
      throw denialError(upfront.reasons);
    }

    // A first run needs no per-row check: nothing of this import can exist before its marker.
    const markerKey = `import:${importId}`;
    const resuming = (await deps.data.getMeta(markerKey)) !== undefined;
    if (!resuming) await deps.data.setMeta(markerKey, JSON.stringify({ startedAt: at, principal: opts.principal, purpose: opts.purpose }));

    const reject = (line: number, ref: string | null, e: unknown) => {
      progress.rejected++;
      const code = isHaechiError(e) ? e.code : "INTERNAL";
      const message = isHaechiError(e) ? e.message : "unexpected error";
      opts.onRejected?.({ line, ref, code, message });
    };

    const entry = (line: number, effect: "allow" | "deny", subjectRef: string | null, fields: string[], reasons: string[]): AuditEntry => ({
      at,
      requestId,
      principal: opts.principal,
      source: null,
      action: "subject.import",
      effect,
      purpose: opts.purpose,
      subjectRef,
      fields,
      reasons,
      meta: { line },
    });

    /** Validates one row like a create; returns what to store or throws why it is rejected. */
    const check = (r: ParsedRow, id: SubjectId, audits: AuditEntry[]) => {
      const values = prepareValues(catalog, r.fields, false);
      const missing = missingRequired(catalog, opts.purpose, values);
      if (missing.length > 0) throw new HaechiError("REQUIRED_FIELD_MISSING", `required field${missing.length > 1 ? "s" : ""} missing: ${missing.join(", ")}`);
      const names = Object.keys(values);
      const request = { principal: opts.principal, purpose: opts.purpose, action: "write" as const, fields: names };
      let events: ConsentEvent[] = [];
      let d: Decision | undefined;
      if (r.consents.length === 0) {
        const k = names.join("\u0000");
        d = decisions.get(k);
        if (d === undefined) decisions.set(k, (d = evaluate(catalog, request, { found: true, consents: [] }, now)));
      } else {
        events = consentEventsFor(checkConsentInputs(catalog, opts.principal, r.consents, now), id, { principal: opts.principal, requestId }, now, crypto.randomUUID);
        const consents = applyConsentEvents(events);
        d = evaluate(catalog, request, { found: true, consents }, now);
      }
      if (d.effect === "deny") {
        // Every denial is audited, like a refused create.
        audits.push(entry(r.line, "deny", null, names, d.reasons.map((x) => x.code)));
        throw denialError(d.reasons);
      }
      return { values, names, events };
    };

    /** Validates and keys a batch and hands its values to the sealer; writes nothing. */
    const prepare = async (rows: ParsedRow[], sealer: () => Sealer, bytes: number): Promise<Prepared> => {
      const ids = rows.map((r) => subjectIdFor(r.line));
      // Checked row by row: an earlier run's batches may straddle this one (another batch size
      // or catalog), and a data key must never be written over a live subject's key.
      const exists = resuming ? await Promise.all(ids.map((id) => deps.data.subjectExists(id))) : null;
      const p: Prepared = { items: [], itemRows: [], keyRows: [], audits: [], skipped: [], sealed: null, audited: null, names: [], bytes };
      const job: SealJob = { ids: [], dekVersions: [], deks: Buffer.alloc(0), values: [] };
      const deks: Buffer[] = [];
      try {
        for (let i = 0; i < rows.length; i++) {
          const r = rows[i]!;
          const id = ids[i]!;
          if (exists?.[i]) {
            p.skipped.push({ row: r, id });
            continue;
          }
          let checked: ReturnType<typeof check>;
          try {
            checked = check(r, id, p.audits);
          } catch (e) {
            reject(r.line, r.ref, e);
            continue;
          }
          const { row, key } = await deps.subjectKeys.create(id, now);
          deks.push(key.dek);
          const lookups: ImportItem["lookups"] = [];
          const pairs: [string, unknown][] = [];
          for (const f of checked.names) {
            const v = checked.values[f];
            pairs.push([f, v]);
            if (lookupFields.has(f)) lookups.push({ field: f, digest: deps.blindIndex.digest(f, v) });
          }
          job.ids.push(id);
          job.dekVersions.push(key.dekVersion);
          job.values.push(pairs);
          p.keyRows.push(row);
          p.names.push(checked.names);
          p.items.push({ subject: { id, createdAt: now, updatedAt: now, status: "active" }, fields: [], lookups, consents: checked.events });
          p.itemRows.push(r);
          p.audits.push(entry(r.line, "allow", key.auditRef, checked.names, []));
        }
        if (p.items.length > 0) {
          job.deks = Buffer.alloc(deks.length * DEK_BYTES);
          deks.forEach((d, i) => d.copy(job.deks, i * DEK_BYTES));
          const by = sealer();
          sealing[by === inlineSealer ? "inline" : "worker"]++;
          p.sealed = by.seal(job);
          // Awaited in commit; this only keeps a batch abandoned after a failure from being unhandled.
          p.sealed.catch(() => undefined);
        }
        if (p.audits.length > 0) {
          p.audited = deps.audit.recordMany(p.audits);
          p.audited.catch(() => undefined);
        }
      } finally {
        for (const d of deks) d.fill(0);
      }
      return p;
    };

    /**
     * Writes a prepared batch: its audit entries must be durable first (fail closed), then keys,
     * then data. A crash between them leaves audit entries of an attempt or orphan keys (replaced
     * on the rerun), never data without its key.
     */
    const commit = async (p: Prepared) => {
      await p.audited;
      if (p.items.length > 0) {
        await deps.keys.putMany(p.keyRows);
        const sealed = await p.sealed!;
        for (let i = 0; i < p.items.length; i++) {
          const names = p.names[i]!;
          const cts = sealed[i]!;
          const fields: StoredField[] = new Array(names.length);
          for (let j = 0; j < names.length; j++) fields[j] = { field: names[j]!, ciphertext: cts[j]!, updatedAt: now };
          p.items[i]!.fields = fields;
        }
        await deps.data.importBatch(p.items);
      }
      progress.imported += p.items.length;
      progress.skipped += p.skipped.length;
      progress.bytes = p.bytes;
      if (onImported) {
        for (const s of p.skipped) onImported({ line: s.row.line, ref: s.row.ref, id: externalId(s.id) });
        for (let i = 0; i < p.items.length; i++) onImported({ line: p.itemRows[i]!.line, ref: p.itemRows[i]!.ref, id: externalId(p.items[i]!.subject.id) });
      }
      opts.onProgress?.({ ...progress });
    };

    // By default a worker is used on a multi-core machine for files worth its start-up, and
    // batches are sealed here until it is ready; asked for explicitly, it is waited for.
    const auto = opts.workers === undefined;
    const useWorker = auto ? os.availableParallelism() > 1 && stat.size > WORKER_MIN_BYTES : opts.workers! > 0;
    let worker: Sealer | null = null;
    const starting = useWorker ? startWorkerSealer().then((s) => (worker = s)) : null;
    if (!auto) await starting;
    const sealer = () => worker ?? inlineSealer;
    try {
      // Two batches in flight: while one is written, the next one is sealed.
      const state: { inFlight: Prepared | null } = { inFlight: null };
      let batch: ParsedRow[] = [];
      let bytesRead = 0;
      const flush = async () => {
        const next = await prepare(batch, sealer, bytesRead);
        batch = [];
        if (state.inFlight) await commit(state.inFlight);
        state.inFlight = next;
      };
      let header: string[] | null = null;
      let lineNo = 0;
      for await (const lines of lineChunks(opts.file, (n) => (bytesRead += n))) {
        for (let text of lines) {
          lineNo++;
          if (text.endsWith("\r")) text = text.slice(0, -1);
          if (text.trim() === "") continue;
          if (format === "csv" && header === null) {
            header = splitCsvLine(text.replace(/^\uFEFF/, "")).map((h) => h.trim());
            continue;
          }
          progress.lines++;
          try {
            batch.push(format === "csv" ? csvRow(catalog, header!, splitCsvLine(text), lineNo) : ndjsonRow(text, lineNo));
          } catch (e) {
            reject(lineNo, refOfBadLine(format, header, text), e);
          }
          if (batch.length >= batchSize) await flush();
        }
      }
      if (batch.length > 0) await flush();
      if (state.inFlight) await commit(state.inFlight);
      progress.bytes = stat.size;
      opts.onProgress?.({ ...progress });
      return { ...progress, importId, sealing };
    } finally {
      await (await starting)?.close();
    }
  },
});

export type ImportService = ReturnType<typeof importService>;
