/**
 * The work behind the export writer (export-writer.ts), shared by its worker threads and its
 * inline mode: open each stored value, transform it, format the part (NDJSON or CSV), encrypt it
 * to the recipient as one age file and write that file durably.
 *
 * Personal data exists here only in memory: the plaintext of a part is never written, logged or
 * put in an error message. Messages name the part, the row (its position in the part, not an
 * id) and the field, nothing else.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Encrypter } from "age-encryption";
import type { Masking } from "../core/catalog/catalog-schema.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { SubjectId } from "../core/ids.js";
import { mask } from "../core/masking.js";
import { openField } from "../crypto/envelope.js";

export type ExportFormat = "ndjson" | "csv";
export type ExportTransform = "hash" | Masking;

/** What the work needs to know: plain data, so it can be handed to a worker thread. */
export interface ExportSettings {
  recipientKey: string;
  pseudonymKey: Uint8Array;
  hashKey: Uint8Array;
  format: ExportFormat;
  fields: readonly string[];
  transforms: Readonly<Record<string, ExportTransform>>;
}

/** One part's inputs, read by position. `dek(i)` and `value(i, j)` may be views into one buffer. */
export interface PartSource {
  count: number;
  id(i: number): string;
  dek(i: number): Buffer;
  value(i: number, j: number): Buffer | null;
}

export interface PartOutcome {
  part: number;
  file: string;
  subjects: number;
  bytes: number;
  sha256: string;
}

export const DEK_BYTES = 32;
/** Length of an internal subject id: base64url of 16 bytes, unpadded. */
export const SUBJECT_ID_CHARS = 22;
const ID_BYTES = 16;
const PSEUDONYM_PREFIX = "sub_";

// ---------------------------------------------------------------- formatting

/**
 * Cells a spreadsheet would read as a formula (CSV/formula injection, OWASP): text starting with
 * `=`, `+`, `-`, `@`, TAB or CR. Such a string value is sent with a leading `'`, which spreadsheets
 * show as text and never evaluate. Values that were not strings (numbers, booleans, objects, in
 * their JSON form) are left alone: a JSON number such as `-5` cannot form a formula, and
 * prefixing it would turn the number into text. Recipients loading the CSV programmatically must
 * know that a string value starting with one of these characters carries this extra `'`; the
 * NDJSON format is never altered.
 */
const FORMULA_START = new Set([0x3d /* = */, 0x2b /* + */, 0x2d /* - */, 0x40 /* @ */, 0x09 /* TAB */, 0x0d /* CR */]);
const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV field (RFC 4180): quoted when it holds `,` `"` CR or LF, quotes doubled. */
export const csvField = (text: string): string => (NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

/** A value as a CSV cell: strings as they are (formula-guarded), other JSON types JSON-encoded. */
export const csvCell = (value: unknown): string => {
  if (typeof value !== "string") return csvField(JSON.stringify(value));
  return csvField(value.length > 0 && FORMULA_START.has(value.charCodeAt(0)) ? `'${value}` : value);
};

/** The header row of every CSV part. */
export const csvHeader = (fields: readonly string[]): string => `${["id", ...fields].map(csvCell).join(",")}\r\n`;

// ---------------------------------------------------------------- settings

/** Checks settings once, when the writer opens: a mistake here must not surface as a sent file. */
export const checkSettings = (s: ExportSettings, maskings: readonly string[]): void => {
  const bad = (message: string): never => {
    throw new HaechiError("INTERNAL", `export writer: ${message}`);
  };
  if (typeof s.recipientKey !== "string" || !s.recipientKey.startsWith("age1")) bad("recipientKey must be an age recipient (age1…)");
  try {
    new Encrypter().addRecipient(s.recipientKey);
  } catch {
    bad("recipientKey is not a valid age recipient");
  }
  if (s.pseudonymKey?.length !== 32) bad("pseudonymKey must be 32 bytes");
  if (s.hashKey?.length !== 32) bad("hashKey must be 32 bytes");
  if (s.format !== "ndjson" && s.format !== "csv") bad(`unknown format ${String(s.format)}`);
  const seen = new Set<string>();
  for (const f of s.fields) {
    if (typeof f !== "string" || f.length === 0) bad("field names must be non-empty strings");
    if (f === "id") bad('a field cannot be named "id" (the id column)');
    if (seen.has(f)) bad(`field ${f} is listed twice`);
    seen.add(f);
  }
  for (const [f, t] of Object.entries(s.transforms)) {
    // A transform for a field that is not exported is most likely a misspelt name, which would
    // send the intended field untransformed: refuse it.
    if (!seen.has(f)) bad(`transform for ${f}, which is not an exported field`);
    if (t !== "hash" && !maskings.includes(t)) bad(`unknown transform ${String(t)} for field ${f}`);
  }
};

// ---------------------------------------------------------------- the part writer

export interface PartWriter {
  /**
   * The plaintext of one part. Reads every DEK of `src`; the caller zeroes them afterwards.
   * The returned buffer is the caller's to zero once encrypted.
   */
  render(part: number, src: PartSource): Buffer;
  /** Encrypts `plain` to the recipient (zeroing it), writes `file` durably, and describes it. */
  seal(part: number, file: string, subjects: number, plain: Buffer): Promise<PartOutcome>;
}

export const partWriter = (s: ExportSettings): PartWriter => {
  const fields = [...s.fields];
  const m = fields.length;
  const pseudonymKey: KeyObject = crypto.createSecretKey(Buffer.from(s.pseudonymKey));
  const hashKey: KeyObject = crypto.createSecretKey(Buffer.from(s.hashKey));
  const transforms: (((v: unknown) => unknown) | null)[] = fields.map((f) => {
    const t = s.transforms[f];
    if (t === undefined || t === "none") return null;
    if (t === "hash") return (v) => crypto.createHmac("sha256", hashKey).update(JSON.stringify(v), "utf8").digest("hex");
    return (v) => mask(t, v);
  });
  const ndjsonKeys = fields.map((f) => `,${JSON.stringify(f)}:`);
  const header = s.format === "csv" ? csvHeader(fields) : "";
  const csv = s.format === "csv";
  const encrypter = new Encrypter();
  encrypter.addRecipient(s.recipientKey);

  /** Every id of the part enciphered in one AES-256-ECB pass: ECB enciphers each block alone. */
  const pseudonymsOf = (part: number, src: PartSource): Buffer => {
    const raw = Buffer.alloc(src.count * ID_BYTES);
    for (let i = 0; i < src.count; i++) {
      const id = src.id(i);
      if (id.length !== SUBJECT_ID_CHARS || raw.write(id, i * ID_BYTES, ID_BYTES, "base64url") !== ID_BYTES) {
        throw new HaechiError("INTERNAL", `export part ${part}: row ${i} has a malformed subject id`);
      }
    }
    const c = crypto.createCipheriv("aes-256-ecb", pseudonymKey, null);
    c.setAutoPadding(false);
    const out = c.update(raw);
    c.final();
    return out;
  };

  const render: PartWriter["render"] = (part, src) => {
    const enciphered = pseudonymsOf(part, src);
    let out = header;
    for (let i = 0; i < src.count; i++) {
      const external = PSEUDONYM_PREFIX + enciphered.toString("base64url", i * ID_BYTES, (i + 1) * ID_BYTES);
      const id = src.id(i) as SubjectId;
      const dek = src.dek(i);
      let line = csv ? external : `{"id":"${external}"`;
      for (let j = 0; j < m; j++) {
        const sealed = src.value(i, j);
        let value: unknown = null;
        if (sealed !== null) {
          const field = fields[j]!;
          try {
            value = openField(dek, id, field, sealed);
          } catch (e) {
            // openField's own messages name only the field; anything else (a JSON parse error
            // quotes the text) is not repeated.
            const why = isHaechiError(e) ? e.message : `stored value of field ${field} could not be read`;
            throw new HaechiError("INTERNAL", `export part ${part}, row ${i}: ${why}`);
          }
          // A stored null is no data: it is exported as absent, never hashed or masked.
          if (value !== null) value = transforms[j] === null ? value : transforms[j]!(value);
        }
        if (csv) line += value === null ? "," : `,${csvCell(value)}`;
        else if (value !== null) line += `${ndjsonKeys[j]}${JSON.stringify(value)}`;
      }
      out += csv ? `${line}\r\n` : `${line}}\n`;
    }
    return Buffer.from(out, "utf8");
  };

  const seal: PartWriter["seal"] = async (part, file, subjects, plain) => {
    let encrypted: Uint8Array;
    try {
      encrypted = await encrypter.encrypt(plain);
    } catch {
      throw new HaechiError("INTERNAL", `export part ${part}: encryption failed`);
    } finally {
      plain.fill(0);
    }
    await writeDurably(part, file, encrypted);
    return { part, file, subjects, bytes: encrypted.length, sha256: crypto.createHash("sha256").update(encrypted).digest("hex") };
  };

  return { render, seal };
};

// ---------------------------------------------------------------- files

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Writes `bytes` to `file` (replacing it: a resumed run rewrites a part that was never committed),
 * owner-only, and fsyncs the file and its directory. The file is written in place, not through a
 * temporary name, so nothing else ever appears in the export directory; a file cut short by a
 * crash is not committed and is rewritten on resumption. A symlink at `file` is refused.
 */
export const writeDurably = async (part: number, file: string, bytes: Uint8Array): Promise<void> => {
  const failed = (e: unknown, what: string) => {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    return new HaechiError("INTERNAL", `export part ${part}: cannot ${what} ${file}${typeof code === "string" ? ` (${code})` : ""}`);
  };
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | O_NOFOLLOW, 0o600);
  } catch (e) {
    throw failed(e, "create");
  }
  try {
    await handle.chmod(0o600); // an existing file keeps its mode through O_TRUNC
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    // What was written is ciphertext, but a part file cut short is of no use to anyone.
    await fs.promises.unlink(file).catch(() => undefined);
    throw failed(e, "write");
  }
  try {
    await handle.close();
  } catch (e) {
    throw failed(e, "write");
  }
  await syncDirectory(path.dirname(file)).catch((e: unknown) => {
    throw failed(e, "sync the directory of");
  });
};

/** Makes the directory entry durable. Windows cannot open a directory for fsync: skipped there. */
const syncDirectory = async (dir: string): Promise<void> => {
  if (process.platform === "win32") return;
  const d = await fs.promises.open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
};

// ---------------------------------------------------------------- transfer

/**
 * A part as sent to a worker: every DEK and stored value in one buffer (transferred, not copied),
 * the ids in one string. Small Buffers share pooled memory, which postMessage would copy whole.
 */
export interface PackedPart {
  seq: number;
  part: number;
  file: string;
  count: number;
  /** The ids, each SUBJECT_ID_CHARS long, one after another. */
  ids: string;
  /** count × DEK_BYTES of data keys, then the stored values one after another. */
  data: Uint8Array;
  /** Length of each stored value (row-major, count × fields); -1 for an absent one. */
  lengths: Int32Array;
}

export interface PartInputLike {
  part: number;
  file: string;
  ids: readonly string[];
  deks: readonly Buffer[];
  values: readonly (readonly (Buffer | null)[])[];
}

/** Checks a part's shape; throws a message naming the row, never a value. */
export const checkPartInput = (p: PartInputLike, fields: number): void => {
  const bad = (message: string): never => {
    throw new HaechiError("INTERNAL", `export part ${String(p.part)}: ${message}`);
  };
  if (!Number.isSafeInteger(p.part)) bad("part must be an integer");
  if (typeof p.file !== "string" || !path.isAbsolute(p.file)) bad("file must be an absolute path");
  const n = p.ids.length;
  if (p.deks.length !== n || p.values.length !== n) bad(`ids (${n}), deks (${p.deks.length}) and values (${p.values.length}) differ in length`);
  for (let i = 0; i < n; i++) {
    const id = p.ids[i];
    if (typeof id !== "string" || id.length !== SUBJECT_ID_CHARS) bad(`row ${i} has a malformed subject id`);
    if (!(p.deks[i] instanceof Uint8Array) || p.deks[i]!.length !== DEK_BYTES) bad(`row ${i} has no ${DEK_BYTES}-byte data key`);
    const row = p.values[i]!;
    if (row.length !== fields) bad(`row ${i} has ${row.length} values for ${fields} fields`);
    for (let j = 0; j < fields; j++) {
      const v = row[j];
      if (v !== null && !(v instanceof Uint8Array)) bad(`row ${i}, field ${j}: a stored value must be a Buffer or null`);
    }
  }
};

/** The input as it is, for work on the calling thread. */
export const inputSource = (p: PartInputLike): PartSource => ({
  count: p.ids.length,
  id: (i) => p.ids[i]!,
  dek: (i) => p.deks[i]!,
  value: (i, j) => p.values[i]![j] ?? null,
});

/** Packs a checked part for a worker. The caller still holds (and zeroes) its own DEKs. */
export const packPart = (seq: number, p: PartInputLike, fields: number): PackedPart => {
  const n = p.ids.length;
  const lengths = new Int32Array(n * fields);
  let total = n * DEK_BYTES;
  for (let i = 0, k = 0; i < n; i++) {
    const row = p.values[i]!;
    for (let j = 0; j < fields; j++, k++) {
      const v = row[j] ?? null;
      lengths[k] = v === null ? -1 : v.length;
      if (v !== null) total += v.length;
    }
  }
  const data = new Uint8Array(total); // its own ArrayBuffer, so it can be transferred
  for (let i = 0; i < n; i++) data.set(p.deks[i]!, i * DEK_BYTES);
  let at = n * DEK_BYTES;
  for (let i = 0, k = 0; i < n; i++) {
    const row = p.values[i]!;
    for (let j = 0; j < fields; j++, k++) {
      const v = row[j];
      if (v) {
        data.set(v, at);
        at += v.length;
      }
    }
  }
  return { seq, part: p.part, file: p.file, count: n, ids: p.ids.join(""), data, lengths };
};

/** Reads a packed part in place (views, no copies). */
export const packedSource = (p: PackedPart, fields: number): PartSource => {
  const buf = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
  const starts = new Uint32Array(p.lengths.length);
  let at = p.count * DEK_BYTES;
  for (let k = 0; k < p.lengths.length; k++) {
    starts[k] = at;
    if (p.lengths[k]! > 0) at += p.lengths[k]!;
  }
  if (at !== buf.length || p.ids.length !== p.count * SUBJECT_ID_CHARS) throw new HaechiError("INTERNAL", `export part ${p.part}: packed part is inconsistent`);
  return {
    count: p.count,
    id: (i) => p.ids.slice(i * SUBJECT_ID_CHARS, (i + 1) * SUBJECT_ID_CHARS),
    dek: (i) => buf.subarray(i * DEK_BYTES, (i + 1) * DEK_BYTES),
    value: (i, j) => {
      const k = i * fields + j;
      const len = p.lengths[k]!;
      return len < 0 ? null : buf.subarray(starts[k]!, starts[k]! + len);
    },
  };
};

/**
 * A failure as it may be shown: our own messages (composed without values) pass; anything else
 * is replaced, since a foreign message could quote data.
 */
export const describeFailure = (e: unknown, part: number): string => (isHaechiError(e) ? e.message : `export part ${part} failed`);

// ---------------------------------------------------------------- worker protocol

export const EXPORT_WORKER_MARK = "haechi-export-writer/1";

export type WorkerReply = { seq: number; ok: true; result: PartOutcome } | { seq: number; ok: false; message: string } | { ready: true };
