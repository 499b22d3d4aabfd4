/**
 * PolicyStore on PostgreSQL (schema `haechi`: `policy_versions`, migration 0008), on the data
 * store's pool. Every method is one named statement; publishing checks the number and inserts in
 * that one statement, so two publications at once never share a number.
 */
import type pg from "pg";
import type { PolicyStore, PolicyVersionRow, PolicyVersionSummary } from "../../core/ports.js";
import { guard } from "../storage-errors.js";
import { nextVersionConflict } from "../sqlite/sqlite-policy-store.js";
import { named, runNamed } from "./pg-query.js";

export interface PgPolicyDeps {
  pool: pg.Pool;
  /** The data store's rule: no store writes inside a data transaction body (as on SQLite). */
  outsideTransaction: <T>(fn: () => Promise<T>) => Promise<T>;
}

const SUMMARY_COLUMNS = "version, effective, published_at, published_by, catalog_sha256, content_sha256, text_sha256, changes, audit_seq";
const ALL_COLUMNS = `${SUMMARY_COLUMNS}, content, texts`;

// Inserts only when $1 is the latest version plus one; returns the latest seen otherwise.
const PUBLISH = named(
  "haechi_policy_publish",
  `WITH latest AS (SELECT coalesce(max(version), 0) AS v FROM haechi.policy_versions),
        ins AS (
          INSERT INTO haechi.policy_versions (version, effective, published_at, published_by, catalog_sha256, content_sha256, content, texts, text_sha256, changes, audit_seq)
          SELECT $1::int, $2::text, $3::timestamptz, $4::text, $5::text, $6::text, $7::jsonb, $8::jsonb, $9::jsonb, $10::jsonb, $11::bigint
          FROM latest WHERE latest.v = $1::int - 1
          RETURNING version)
   SELECT (SELECT v FROM latest) AS latest, (SELECT count(*) FROM ins) AS inserted`,
);
const LATEST = named("haechi_policy_latest", `SELECT ${ALL_COLUMNS} FROM haechi.policy_versions ORDER BY version DESC LIMIT 1`);
const GET = named("haechi_policy_get", `SELECT ${ALL_COLUMNS} FROM haechi.policy_versions WHERE version = $1`);
const HISTORY = named("haechi_policy_history", `SELECT ${SUMMARY_COLUMNS} FROM haechi.policy_versions ORDER BY version DESC`);

interface PolicyDbRow {
  version: number;
  effective: string;
  published_at: Date;
  published_by: string;
  catalog_sha256: string;
  content_sha256: string;
  content: PolicyVersionRow["content"];
  texts: PolicyVersionRow["texts"];
  text_sha256: PolicyVersionRow["textSha256"];
  changes: PolicyVersionRow["changes"];
  audit_seq: string | number;
}
type SummaryDbRow = Omit<PolicyDbRow, "content" | "texts">;

const toSummary = (r: SummaryDbRow): PolicyVersionSummary => ({
  version: r.version,
  effective: r.effective,
  publishedAt: r.published_at,
  publishedBy: r.published_by,
  catalogSha256: r.catalog_sha256,
  contentSha256: r.content_sha256,
  textSha256: r.text_sha256,
  changes: r.changes,
  auditSeq: Number(r.audit_seq),
});
const toRow = (r: PolicyDbRow): PolicyVersionRow => ({ ...toSummary(r), content: r.content, texts: r.texts });

/** The policy store on the data store's pool. */
export const pgPolicyStore = (deps: PgPolicyDeps): PolicyStore => {
  const { pool, outsideTransaction } = deps;
  return {
    publish: (row) =>
      outsideTransaction(() =>
        guard(
          async () => {
            const res = await runNamed<{ latest: number; inserted: string }>(pool, PUBLISH, [
              row.version,
              row.effective,
              row.publishedAt,
              row.publishedBy,
              row.catalogSha256,
              row.contentSha256,
              JSON.stringify(row.content),
              JSON.stringify(row.texts),
              JSON.stringify(row.textSha256),
              JSON.stringify(row.changes),
              row.auditSeq,
            ]);
            const r = res.rows[0];
            if (r === undefined || Number(r.inserted) !== 1) throw nextVersionConflict(Number(r?.latest ?? 0), row.version);
          },
          { unique: `policy version ${row.version} is already published` },
        ),
      ),
    latest: () => guard(async () => {
      const row = (await runNamed<PolicyDbRow>(pool, LATEST, [])).rows[0];
      return row === undefined ? undefined : toRow(row);
    }),
    get: (version) => guard(async () => {
      const row = (await runNamed<PolicyDbRow>(pool, GET, [version])).rows[0];
      return row === undefined ? undefined : toRow(row);
    }),
    history: () => guard(async () => (await runNamed<SummaryDbRow>(pool, HISTORY, [])).rows.map(toSummary)),
  };
};
