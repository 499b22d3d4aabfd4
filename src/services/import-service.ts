/**
 * Bulk import (`haechi import`): NDJSON or CSV, validated row by row exactly like a create,
 * committed in batches, resumable, with rejected rows reported with their reasons.
 *
 * Resumption without duplicates: each row's subject id is derived from a secret import key,
 * the import id and the row's line number, and every batch commits atomically. On a rerun a
 * batch whose first subject exists is skipped, so an interrupted import can simply be run again.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import readline from "node:readline";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { checkConsentInputs, missingRequired, prepareValues, type ConsentInput } from "../core/collect-fns.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import { evaluate } from "../core/policy/policy-fns.js";
import { denialError } from "./subject-service.js";
import type { ConsentEvent, DataStore, ImportItem, KeyStore, WrappedKeyRow } from "../core/ports.js";
import type { AuditEntry } from "../audit/audit-types.js";
import type { BlindIndex } from "../crypto/blind-index.js";
import { sealField } from "../crypto/envelope.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import type { BaseDeps } from "./service-types.js";

export type ImportServiceDeps = Omit<BaseDeps, "audit"> & {
  audit: { recordMany(entries: AuditEntry[]): Promise<number[]> };
  data: Pick<DataStore, "importBatch" | "subjectExists">;
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
  /** Defaults to a digest of the file's path and content size; give one to resume explicitly. */
  importId?: string;
  batchSize?: number;
  /** Receives `{ line, ref, id }` for every imported row, so the service can keep its reference. */
  onImported?: (row: { line: number; ref: string | null; id: ExternalSubjectId }) => void;
  onRejected?: (row: { line: number; ref: string | null; code: string; message: string }) => void;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportProgress {
  lines: number;
  imported: number;
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
const csvRow = (catalog: Catalog, header: string[], cells: string[], line: number): ParsedRow => {
  if (cells.length !== header.length) throw new HaechiError("VALIDATION_FAILED", `expected ${header.length} columns, found ${cells.length}`);
  const fields: Record<string, unknown> = {};
  const consents: ConsentInput[] = [];
  let ref: string | null = null;
  header.forEach((h, i) => {
    const v = cells[i]!;
    if (h === "ref") ref = v || null;
    else if (h.startsWith("consent:")) {
      if (v === "grant" || v === "withdraw") consents.push({ notice: h.slice(8), action: v, channel: "import" });
      else if (v !== "") throw new HaechiError("VALIDATION_FAILED", `column ${h} must be grant, withdraw or empty`);
    } else if (v !== "") {
      const def = catalog.fields[h];
      fields[h] = def?.type === "number" ? Number(v) : def?.type === "boolean" ? v === "true" : def?.type === "json" ? JSON.parse(v) : v;
    }
  });
  return { line, ref, fields, consents };
};

const ndjsonRow = (text: string, line: number): ParsedRow => {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new HaechiError("VALIDATION_FAILED", "line is not valid JSON");
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new HaechiError("VALIDATION_FAILED", "line must be a JSON object");
  const o = obj as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !["ref", "fields", "consents"].includes(k));
  if (extra.length > 0) throw new HaechiError("VALIDATION_FAILED", `unknown keys: ${extra.join(", ")} (expected ref, fields, consents)`);
  if (!o.fields || typeof o.fields !== "object" || Array.isArray(o.fields)) throw new HaechiError("VALIDATION_FAILED", "fields must be an object");
  const consents = (o.consents ?? []) as ConsentInput[];
  if (!Array.isArray(consents)) throw new HaechiError("VALIDATION_FAILED", "consents must be an array");
  return {
    line,
    ref: o.ref === undefined || o.ref === null ? null : String(o.ref),
    fields: o.fields as Record<string, unknown>,
    consents: consents.map((c) => ({ ...c, channel: c.channel ?? "import" })),
  };
};

/** The evaluation inputs that make two rows' write decisions identical (rows without consents). */
const decisionKey = (fields: readonly string[]) => fields.join("\u0000");

/**
 * Internal subject id of an import row: an 8-byte prefix derived from the secret row key, then
 * the line number (uint64 BE). Deterministic, so a rerun finds the rows an interrupted run
 * committed; clustered, so one import's rows sit together in every subject-keyed B-tree instead
 * of landing on random pages (what made large imports I/O-bound). The id never leaves Haechi:
 * services see per-context pseudonyms of it.
 */
const importIds = (rowKey: Buffer) => {
  const buf = Buffer.alloc(16);
  crypto.createHmac("sha256", rowKey).update("subject-id-prefix").digest().copy(buf, 0, 0, 8);
  return (line: number): SubjectId => {
    buf.writeBigUInt64BE(BigInt(line), 8);
    return buf.toString("base64url") as SubjectId;
  };
};

export const importService = (deps: ImportServiceDeps) => ({
  /**
   * Imports a file. Every row is validated like a create (known fields, value shapes, required
   * items, consent notices in force, the write decision); valid rows are committed in batches of
   * `batchSize`; rejected rows are reported with their line number and never block the rest.
   * Rows an earlier run already committed are reported again with their ids and counted as
   * `skipped`, so an interrupted import is finished by running it again.
   */
  async run(opts: ImportOptions): Promise<ImportProgress & { importId: string }> {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const principal = catalog.principals[opts.principal];
    if (!principal) throw new HaechiError("VALIDATION_FAILED", `principal "${opts.principal}" is not in the catalog`);
    const purpose = catalog.purposes[opts.purpose];
    if (!purpose) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${opts.purpose}" is not registered`);
    const batchSize = opts.batchSize ?? 2000;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new HaechiError("VALIDATION_FAILED", "batch size must be a positive integer");
    const stat = fs.statSync(opts.file);
    const format = opts.format ?? (opts.file.toLowerCase().endsWith(".csv") ? "csv" : "ndjson");
    const importId = opts.importId ?? crypto.createHash("sha256").update(`${fs.realpathSync(opts.file)}\0${stat.size}`).digest("base64url").slice(0, 16);
    const subjectIdFor = importIds(crypto.createHmac("sha256", deps.importKey).update(importId).digest());
    const context = principal.id_context ?? opts.principal;
    const requestId = `import-${importId}`;
    const at = now.toISOString();
    const progress: ImportProgress = { lines: 0, imported: 0, skipped: 0, rejected: 0, bytes: 0, totalBytes: stat.size };
    const lookupFields = new Set(Object.entries(catalog.fields).filter(([, d]) => d.lookup).map(([f]) => f));
    // Rows without consent events that write the same fields get the same decision: evaluate once.
    const decisions = new Map<string, ReturnType<typeof evaluate>>();
    const onImported = opts.onImported;
    const externalId = (id: SubjectId) => deps.pseudonyms.externalId(context, id);

    const reject = (line: number, ref: string | null, e: unknown) => {
      progress.rejected++;
      const code = isHaechiError(e) ? e.code : "INTERNAL";
      const message = isHaechiError(e) ? e.message : "unexpected error";
      opts.onRejected?.({ line, ref, code, message });
    };

    const denial = (line: number, fields: string[], reasons: string[]): AuditEntry => ({
      at,
      requestId,
      principal: opts.principal,
      source: null,
      action: "subject.import",
      effect: "deny",
      purpose: opts.purpose,
      subjectRef: null,
      fields,
      reasons,
      meta: { line },
    });

    /** Validates one row; returns what to store, or throws the reason it is rejected. */
    const check = (r: ParsedRow, id: SubjectId, denials: AuditEntry[]) => {
      const values = prepareValues(catalog, r.fields, false);
      const missing = missingRequired(catalog, opts.purpose, values);
      if (missing.length > 0) throw new HaechiError("REQUIRED_FIELD_MISSING", `required field${missing.length > 1 ? "s" : ""} missing: ${missing.join(", ")}`);
      const names = Object.keys(values);
      let events: ConsentEvent[] = [];
      let d: ReturnType<typeof evaluate> | undefined;
      if (r.consents.length === 0) {
        const k = decisionKey(names);
        d = decisions.get(k);
        if (d === undefined) {
          d = evaluate(catalog, { principal: opts.principal, purpose: opts.purpose, action: "write", fields: names }, { found: true, consents: [] }, now);
          decisions.set(k, d);
        }
      } else {
        events = checkConsentInputs(catalog, opts.principal, r.consents, now).map((c) => ({
          id: crypto.randomUUID(),
          subjectId: id,
          notice: c.notice,
          noticeVersion: c.version,
          category: c.category as ConsentEvent["category"],
          action: c.action,
          channel: c.channel,
          at: now,
          principal: opts.principal,
          requestId,
        }));
        const consents = events.map((e) => ({
          notice: e.notice,
          noticeVersion: e.noticeVersion,
          category: e.category,
          status: e.action === "grant" ? ("granted" as const) : ("withdrawn" as const),
          channel: e.channel,
          at: e.at,
        }));
        d = evaluate(catalog, { principal: opts.principal, purpose: opts.purpose, action: "write", fields: names }, { found: true, consents }, now);
      }
      if (d.effect === "deny") {
        denials.push(denial(r.line, names, d.reasons.map((x) => x.code)));
        throw denialError(d.reasons);
      }
      return { values, names, events };
    };

    let batch: ParsedRow[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const rows = batch;
      batch = [];
      const ids = rows.map((r) => subjectIdFor(r.line));
      // Which rows an earlier run committed. Checked row by row: a batch committed earlier may
      // straddle this one (another batch size), and a key must never be written over a live one.
      const exists = await Promise.all(ids.map((id) => deps.data.subjectExists(id)));
      const items: ImportItem[] = [];
      const itemRows: ParsedRow[] = [];
      const keyRows: WrappedKeyRow[] = [];
      const audits: AuditEntry[] = [];
      const denials: AuditEntry[] = [];
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        const id = ids[i]!;
        if (exists[i]) {
          progress.skipped++;
          onImported?.({ line: r.line, ref: r.ref, id: externalId(id) });
          continue;
        }
        let checked: ReturnType<typeof check>;
        try {
          checked = check(r, id, denials);
        } catch (e) {
          reject(r.line, r.ref, e);
          continue;
        }
        const { row, key } = await deps.subjectKeys.create(id, now);
        const fields: ImportItem["fields"] = [];
        const lookups: ImportItem["lookups"] = [];
        for (const f of checked.names) {
          const v = checked.values[f];
          fields.push({ field: f, ciphertext: sealField(key.dek, key.dekVersion, id, f, v), updatedAt: now });
          if (lookupFields.has(f)) lookups.push({ field: f, digest: deps.blindIndex.digest(f, v) });
        }
        key.dek.fill(0);
        keyRows.push(row);
        items.push({ subject: { id, createdAt: now, updatedAt: now, status: "active" }, fields, lookups, consents: checked.events });
        itemRows.push(r);
        audits.push({
          at,
          requestId,
          principal: opts.principal,
          source: null,
          action: "subject.import",
          effect: "allow",
          purpose: opts.purpose,
          subjectRef: key.auditRef,
          fields: checked.names,
          reasons: [],
          meta: { line: r.line },
        });
      }
      // Audit first (fail closed), then keys, then data: a crash between them leaves audit
      // entries of an attempt or orphan keys, never data without a key; a rerun redoes the batch.
      if (denials.length > 0 || audits.length > 0) await deps.audit.recordMany([...denials, ...audits]);
      if (items.length === 0) return;
      await deps.keys.putMany(keyRows);
      await deps.data.importBatch(items);
      progress.imported += items.length;
      if (onImported) for (let i = 0; i < items.length; i++) onImported({ line: itemRows[i]!.line, ref: itemRows[i]!.ref, id: externalId(items[i]!.subject.id) });
    };

    const input = fs.createReadStream(opts.file, { highWaterMark: 1 << 20 });
    input.on("data", (chunk) => {
      progress.bytes += chunk.length;
    });
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    let header: string[] | null = null;
    let lineNo = 0;
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === "") continue;
      if (format === "csv" && header === null) {
        header = splitCsvLine(text.replace(/^\uFEFF/, "")).map((h) => h.trim());
        continue;
      }
      progress.lines++;
      try {
        batch.push(format === "csv" ? csvRow(catalog, header!, splitCsvLine(text), lineNo) : ndjsonRow(text, lineNo));
      } catch (e) {
        reject(lineNo, null, e);
      }
      if (batch.length >= batchSize) {
        await flush();
        opts.onProgress?.({ ...progress });
      }
    }
    await flush();
    opts.onProgress?.({ ...progress });
    return { ...progress, importId };
  },
});

export type ImportService = ReturnType<typeof importService>;
