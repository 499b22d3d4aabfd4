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

export const importService = (deps: ImportServiceDeps) => ({
  async run(opts: ImportOptions): Promise<ImportProgress & { importId: string }> {
    const catalog = deps.catalog.current();
    const now = deps.clock.now();
    const principal = catalog.principals[opts.principal];
    if (!principal) throw new HaechiError("VALIDATION_FAILED", `principal "${opts.principal}" is not in the catalog`);
    const purpose = catalog.purposes[opts.purpose];
    if (!purpose) throw new HaechiError("UNKNOWN_PURPOSE", `purpose "${opts.purpose}" is not registered`);
    const stat = fs.statSync(opts.file);
    const format = opts.format ?? (opts.file.toLowerCase().endsWith(".csv") ? "csv" : "ndjson");
    const importId = opts.importId ?? crypto.createHash("sha256").update(`${fs.realpathSync(opts.file)}\0${stat.size}`).digest("base64url").slice(0, 16);
    const rowKey = crypto.createHmac("sha256", deps.importKey).update(importId).digest();
    const subjectIdFor = (line: number): SubjectId =>
      crypto.createHmac("sha256", rowKey).update(String(line)).digest().subarray(0, 16).toString("base64url") as SubjectId;
    const context = principal.id_context ?? opts.principal;
    const ctx = { principal: opts.principal, source: null, requestId: `import-${importId}` };
    const progress: ImportProgress = { lines: 0, imported: 0, skipped: 0, rejected: 0, bytes: 0, totalBytes: stat.size };
    const batchSize = opts.batchSize ?? 2000;

    const reject = (line: number, ref: string | null, e: unknown) => {
      progress.rejected++;
      const code = isHaechiError(e) ? e.code : "INTERNAL";
      const message = isHaechiError(e) ? e.message : "unexpected error";
      opts.onRejected?.({ line, ref, code, message });
    };

    let batch: ParsedRow[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const rows = batch;
      batch = [];
      const first = subjectIdFor(rows[0]!.line);
      if (await deps.data.subjectExists(first)) {
        // Committed by an earlier, interrupted run: report the ids again, write nothing.
        for (const r of rows) opts.onImported?.({ line: r.line, ref: r.ref, id: deps.pseudonyms.externalId(context, subjectIdFor(r.line)) });
        progress.skipped += rows.length;
        return;
      }
      const items: ImportItem[] = [];
      const keyRows: WrappedKeyRow[] = [];
      const audits: AuditEntry[] = [];
      for (const r of rows) {
        try {
          const values = prepareValues(catalog, r.fields, false);
          const missing = missingRequired(catalog, opts.purpose, values);
          if (missing.length > 0) throw new HaechiError("REQUIRED_FIELD_MISSING", `required field${missing.length > 1 ? "s" : ""} missing: ${missing.join(", ")}`);
          const checked = checkConsentInputs(catalog, opts.principal, r.consents, now);
          const id = subjectIdFor(r.line);
          const events: ConsentEvent[] = checked.map((c) => ({
            id: crypto.randomUUID(),
            subjectId: id,
            notice: c.notice,
            noticeVersion: c.version,
            category: c.category as ConsentEvent["category"],
            action: c.action,
            channel: c.channel,
            at: now,
            principal: opts.principal,
            requestId: ctx.requestId,
          }));
          const consents = events.map((e) => ({
            notice: e.notice,
            noticeVersion: e.noticeVersion,
            category: e.category,
            status: e.action === "grant" ? ("granted" as const) : ("withdrawn" as const),
            channel: e.channel,
            at: e.at,
          }));
          const d = evaluate(catalog, { principal: opts.principal, purpose: opts.purpose, action: "write", fields: Object.keys(values) }, { found: true, consents }, now);
          if (d.effect === "deny") throw new HaechiError("ACCESS_DENIED", d.reasons.map((x) => x.message).join("; "));
          const { row, key } = await deps.subjectKeys.create(id, now);
          keyRows.push(row);
          items.push({
            subject: { id, createdAt: now, updatedAt: now, status: "active" },
            fields: Object.entries(values).map(([field, v]) => ({ field, ciphertext: sealField(key.dek, key.dekVersion, id, field, v), updatedAt: now })),
            lookups: Object.entries(values)
              .filter(([f]) => catalog.fields[f]?.lookup)
              .map(([f, v]) => ({ field: f, digest: deps.blindIndex.digest(f, v) })),
            consents: events,
          });
          key.dek.fill(0);
          audits.push({
            at: now.toISOString(),
            requestId: ctx.requestId,
            principal: opts.principal,
            source: null,
            action: "subject.import",
            effect: "allow",
            purpose: opts.purpose,
            subjectRef: key.auditRef,
            fields: Object.keys(values),
            reasons: [],
            meta: { line: r.line },
          });
        } catch (e) {
          reject(r.line, r.ref, e);
        }
      }
      if (items.length === 0) return;
      await deps.audit.recordMany(audits);
      await deps.keys.putMany(keyRows);
      await deps.data.importBatch(items);
      for (const it of items) {
        const r = rows.find((x) => subjectIdFor(x.line) === it.subject.id)!;
        opts.onImported?.({ line: r.line, ref: r.ref, id: deps.pseudonyms.externalId(context, it.subject.id) });
      }
      progress.imported += items.length;
    };

    const input = fs.createReadStream(opts.file);
    input.on("data", (chunk) => {
      progress.bytes += chunk.length;
    });
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    let header: string[] | null = null;
    let lineNo = 0;
    let lastReport = 0;
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
        if (progress.lines - lastReport >= batchSize) {
          lastReport = progress.lines;
          opts.onProgress?.({ ...progress });
        }
      }
    }
    await flush();
    opts.onProgress?.({ ...progress });
    return { ...progress, importId };
  },
});

export type ImportService = ReturnType<typeof importService>;
