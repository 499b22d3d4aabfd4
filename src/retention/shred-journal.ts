/**
 * The shred journal as an append-only NDJSON file beside the key file, never inside a store or a
 * backup of one: each line is fsynced before the destruction it records happens, so a restore
 * of any older backup can replay it (services/backup-service).
 */
import fs from "node:fs";
import path from "node:path";
import { HaechiError } from "../core/errors.js";
import { asSubjectId } from "../core/ids.js";
import type { ShredEntry, ShredJournal } from "../core/ports.js";
import { writeFileDurably } from "../util/durable-file.js";

export const fileShredJournal = (file: string): ShredJournal => ({
  async append(entries) {
    if (entries.length === 0) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // A bulk erasure appends tens of thousands of entries sharing one `at`: formatted once, and
    // each subject-scope line written directly (the same JSON as JSON.stringify, keys in order).
    let lastAt: Date | undefined;
    let iso = "";
    const line = (e: ShredEntry) => {
      if (e.at !== lastAt) {
        lastAt = e.at;
        iso = e.at.toISOString();
      }
      return e.fields
        ? JSON.stringify({ at: iso, subject: e.subjectId, scope: e.scope, fields: e.fields })
        : `{"at":"${iso}","subject":${JSON.stringify(e.subjectId)},"scope":"${e.scope}"}`;
    };
    const text = entries.map(line).join("\n") + "\n";
    writeFileDurably(file, text, "a");
  },
  async entries() {
    if (!fs.existsSync(file)) return [];
    const out: ShredEntry[] = [];
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        const o = JSON.parse(line) as { at: string; subject: string; scope: string; fields?: unknown };
        const fields = Array.isArray(o.fields) && o.fields.every((f) => typeof f === "string") ? (o.fields as string[]) : undefined;
        if (typeof o.subject !== "string" || Number.isNaN(Date.parse(o.at))) throw new Error();
        if (o.scope === "fields" && fields) out.push({ at: new Date(o.at), subjectId: asSubjectId(o.subject), scope: "fields", fields });
        else if (o.scope === "subject" || o.scope === "sealed") out.push({ at: new Date(o.at), subjectId: asSubjectId(o.subject), scope: o.scope });
        else throw new Error();
      } catch {
        // A torn last line (a crash mid-append) is the only tolerated damage; anything else is not.
        if (i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === "")) return;
        throw new HaechiError("INTERNAL", `shred journal ${file}: line ${i + 1} is damaged`);
      }
    });
    return out;
  },
});
