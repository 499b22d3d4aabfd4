/**
 * PolicyStore on SQLite (`data.db`: `policy_versions`, migration 0008). Like the detection store
 * it has no connections of its own: writes go through the data store's writer under its mutex,
 * reads through its `query_only` reader.
 */
import type Database from "better-sqlite3";
import { HaechiError } from "../../core/errors.js";
import type { PolicyStore, PolicyVersionRow, PolicyVersionSummary } from "../../core/ports.js";
import { guard } from "../storage-errors.js";

export interface SqlitePolicyDeps {
  writer: Database.Database;
  reader: Database.Database;
  /** The data store's writer mutex (refusing use inside a data transaction body). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

interface PolicyDbRow {
  version: number;
  effective: string;
  published_at: number;
  published_by: string;
  catalog_sha256: string;
  content_sha256: string;
  content: string;
  texts: string;
  text_sha256: string;
  changes: string;
  audit_seq: number;
}
type SummaryDbRow = Omit<PolicyDbRow, "content" | "texts">;

const SUMMARY_COLUMNS = "version, effective, published_at, published_by, catalog_sha256, content_sha256, text_sha256, changes, audit_seq";
const ALL_COLUMNS = `${SUMMARY_COLUMNS}, content, texts`;

const toSummary = (r: SummaryDbRow): PolicyVersionSummary => ({
  version: r.version,
  effective: r.effective,
  publishedAt: new Date(r.published_at),
  publishedBy: r.published_by,
  catalogSha256: r.catalog_sha256,
  contentSha256: r.content_sha256,
  textSha256: JSON.parse(r.text_sha256) as PolicyVersionRow["textSha256"],
  changes: JSON.parse(r.changes) as PolicyVersionRow["changes"],
  auditSeq: r.audit_seq,
});
const toRow = (r: PolicyDbRow): PolicyVersionRow => ({
  ...toSummary(r),
  content: JSON.parse(r.content) as PolicyVersionRow["content"],
  texts: JSON.parse(r.texts) as PolicyVersionRow["texts"],
});

export const nextVersionConflict = (latest: number, asked: number) =>
  new HaechiError("CONFLICT", `policy version ${asked} cannot be published: the latest published version is ${latest} (another publication may have just happened)`);

/** The policy store over the data store's connections. */
export const sqlitePolicyStore = (deps: SqlitePolicyDeps): PolicyStore => {
  const { writer, reader, exclusive } = deps;
  const r = {
    latest: reader.prepare<[], PolicyDbRow>(`SELECT ${ALL_COLUMNS} FROM policy_versions ORDER BY version DESC LIMIT 1`),
    get: reader.prepare<[number], PolicyDbRow>(`SELECT ${ALL_COLUMNS} FROM policy_versions WHERE version = ?`),
    history: reader.prepare<[], SummaryDbRow>(`SELECT ${SUMMARY_COLUMNS} FROM policy_versions ORDER BY version DESC`),
  };
  const w = {
    max: writer.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM policy_versions"),
    insert: writer.prepare<[number, string, number, string, string, string, string, string, string, string, number]>(
      `INSERT INTO policy_versions (version, effective, published_at, published_by, catalog_sha256, content_sha256, content, texts, text_sha256, changes, audit_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
  // Check and insert in one write transaction: the number is always the latest plus one.
  const publishNow = writer.transaction((row: PolicyVersionRow) => {
    const latest = w.max.get()?.v ?? 0;
    if (row.version !== latest + 1) throw nextVersionConflict(latest, row.version);
    w.insert.run(
      row.version,
      row.effective,
      row.publishedAt.getTime(),
      row.publishedBy,
      row.catalogSha256,
      row.contentSha256,
      JSON.stringify(row.content),
      JSON.stringify(row.texts),
      JSON.stringify(row.textSha256),
      JSON.stringify(row.changes),
      row.auditSeq,
    );
  });
  return {
    publish: (row) => exclusive(() => guard(() => publishNow.immediate(row), { unique: `policy version ${row.version} is already published` })),
    latest: () => guard(() => {
      const row = r.latest.get();
      return row === undefined ? undefined : toRow(row);
    }),
    get: (version) => guard(() => {
      const row = r.get.get(version);
      return row === undefined ? undefined : toRow(row);
    }),
    history: () => guard(() => r.history.all().map(toSummary)),
  };
};
