/**
 * Configuration: parsed once from the environment (the only reader of process.env), frozen,
 * injected. Secrets have no defaults; the PostgreSQL URL is never logged.
 */
import path from "node:path";
import { z } from "zod";
import { isoPeriod } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";

const schema = z.object({
  HAECHI_HOME: z.string().min(1).default("./.haechi"),
  HAECHI_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HAECHI_HOST: z.string().min(1).default("127.0.0.1"),
  HAECHI_STORE: z.enum(["sqlite", "postgres"]).default("sqlite"),
  HAECHI_PG_URL: z.string().optional(),
  HAECHI_CATALOG: z.string().optional(),
  HAECHI_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  HAECHI_SQLITE_SYNC: z.enum(["FULL", "EXTRA", "NORMAL"]).default("FULL"),
  HAECHI_BODY_LIMIT: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  HAECHI_PG_POOL: z.coerce.number().int().min(2).max(500).default(20),
  HAECHI_SHRED_JOURNAL: z.string().optional(),
  HAECHI_PROVISION_PAGE: z.coerce.number().int().min(1).max(100_000).default(4000),
  HAECHI_PROVISION_THREADS: z.coerce.number().int().min(0).max(64).optional(),
  HAECHI_EXPORT_KEEP: isoPeriod.default("P30D"),
  /** The origin people reach the portal at (portal links are made absolute with it). */
  HAECHI_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^/?#\s]+$/, "must be an origin such as https://privacy.example.com (no path)")
    .optional(),
});

export interface Config {
  home: string;
  port: number;
  host: string;
  store: { kind: "sqlite"; dir: string; synchronous: "FULL" | "EXTRA" | "NORMAL" } | { kind: "postgres"; url: string; poolSize: number };
  keyringFile: string;
  /**
   * The shred journal: every destroyed subject, kept apart from the stores and their backups so
   * a restore destroys them again. Default `$HAECHI_HOME/shred-journal.ndjson`.
   */
  shredJournalFile: string;
  /** Where provision exports (encrypted part files and manifests) are written. */
  exportDir: string;
  /** How long a finished provision's export files stay for the recipient to fetch (ISO period). */
  exportKeep: string;
  /** Where generated reports (the monthly access-log review) are written. */
  reportsDir: string;
  /** Where evidence packs for the regulator are written. */
  evidenceDir: string;
  /** Subjects per provision page and part file. */
  provisionPageSize: number;
  /** Worker threads for provision exports (undefined: min(2, cores); 0: inline). */
  provisionThreads: number | undefined;
  catalogFile: string;
  logLevel: z.infer<typeof schema>["HAECHI_LOG_LEVEL"];
  bodyLimit: number;
  /** The portal's public origin (HAECHI_PUBLIC_URL); unset: the origin the request came to. */
  publicUrl: string | undefined;
}

/** The catalog used when none is configured: the demo catalog shipped in examples/. */
export const DEMO_CATALOG = path.resolve(import.meta.dirname, "../../examples/haechi.yaml");

export const loadConfig = (env: Record<string, string | undefined>, overrides: Partial<Record<keyof z.infer<typeof schema>, string>> = {}): Readonly<Config> => {
  const parsed = schema.safeParse({ ...env, ...overrides });
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new HaechiError("CONFIG_INVALID", `configuration: ${msg}`);
  }
  const e = parsed.data;
  const home = path.resolve(e.HAECHI_HOME);
  if (e.HAECHI_STORE === "postgres" && !e.HAECHI_PG_URL) {
    throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_PG_URL is required when HAECHI_STORE=postgres");
  }
  return Object.freeze({
    home,
    port: e.HAECHI_PORT,
    host: e.HAECHI_HOST,
    store:
      e.HAECHI_STORE === "postgres"
        ? { kind: "postgres" as const, url: e.HAECHI_PG_URL!, poolSize: e.HAECHI_PG_POOL }
        : { kind: "sqlite" as const, dir: path.join(home, "db"), synchronous: e.HAECHI_SQLITE_SYNC },
    keyringFile: path.join(home, "keyring.json"),
    exportDir: path.join(home, "exports"),
    exportKeep: e.HAECHI_EXPORT_KEEP,
    reportsDir: path.join(home, "reports"),
    evidenceDir: path.join(home, "evidence"),
    shredJournalFile: e.HAECHI_SHRED_JOURNAL ? path.resolve(e.HAECHI_SHRED_JOURNAL) : path.join(home, "shred-journal.ndjson"),
    provisionPageSize: e.HAECHI_PROVISION_PAGE,
    provisionThreads: e.HAECHI_PROVISION_THREADS,
    catalogFile: e.HAECHI_CATALOG ? path.resolve(e.HAECHI_CATALOG) : DEMO_CATALOG,
    logLevel: e.HAECHI_LOG_LEVEL,
    bodyLimit: e.HAECHI_BODY_LIMIT,
    publicUrl: e.HAECHI_PUBLIC_URL,
  });
};
