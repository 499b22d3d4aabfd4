/**
 * Configuration: parsed once from the environment (the only reader of process.env), frozen,
 * injected. Secrets have no defaults; the PostgreSQL URL is never logged.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { isoPeriod } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";
import { Secret } from "../core/secret.js";

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
  /** Client-side bound on every PostgreSQL query, commits waiting for a synchronous standby included (ms). */
  HAECHI_PG_COMMIT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  HAECHI_SHRED_JOURNAL: z.string().optional(),
  HAECHI_PROVISION_PAGE: z.coerce.number().int().min(1).max(100_000).default(4000),
  HAECHI_PROVISION_THREADS: z.coerce.number().int().min(0).max(64).optional(),
  HAECHI_EXPORT_KEEP: isoPeriod.default("P30D"),
  // Notices to people (ADR 0011): which transport delivers the outbox, and its settings.
  HAECHI_NOTIFY_TRANSPORT: z.enum(["pickup", "webhook", "smtp", "smtp+webhook"]).default("pickup"),
  HAECHI_NOTIFY_INCIDENTS: z.enum(["pickup", "transport"]).default("pickup"),
  HAECHI_NOTIFY_WEBHOOK_URL: z.string().optional(),
  HAECHI_NOTIFY_WEBHOOK_SECRET: z.string().optional(),
  HAECHI_NOTIFY_WEBHOOK_SECRET_FILE: z.string().optional(),
  HAECHI_NOTIFY_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  HAECHI_NOTIFY_WEBHOOK_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  HAECHI_SMTP_HOST: z.string().optional(),
  HAECHI_SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587),
  HAECHI_SMTP_SECURITY: z.enum(["starttls", "tls", "none"]).default("starttls"),
  HAECHI_SMTP_USER: z.string().optional(),
  HAECHI_SMTP_PASSWORD: z.string().optional(),
  HAECHI_SMTP_PASSWORD_FILE: z.string().optional(),
  HAECHI_SMTP_FROM: z.string().optional(),
  HAECHI_SMTP_FROM_NAME: z.string().optional(),
  HAECHI_SMTP_HELO: z.string().optional(),
  HAECHI_SMTP_CA_FILE: z.string().optional(),
  HAECHI_SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(30_000),
  HAECHI_OUTBOX_INTERVAL_S: z.coerce.number().int().min(0).max(86_400).default(60),
  HAECHI_OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  // The console (ADR 0013): idle timeout and longest session, as PT<n>M or PT<n>H.
  HAECHI_CONSOLE_IDLE: z.string().regex(/^PT\d+[MH]$/, "must be PT<n>M or PT<n>H").default("PT15M"),
  HAECHI_CONSOLE_SESSION_MAX: z.string().regex(/^PT\d+[MH]$/, "must be PT<n>M or PT<n>H").default("PT12H"),
  // Behind a TLS-terminating proxy: mark the session cookie Secure although this server sees http.
  HAECHI_CONSOLE_SECURE_COOKIE: z.enum(["0", "1"]).default("0"),
  /** The origin people reach the portal at (portal links are made absolute with it). */
  HAECHI_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^/?#\s]+$/, "must be an origin such as https://privacy.example.com (no path)")
    .optional(),
});

/** How notices leave (ADR 0011). Secrets are `Secret`s: they print as [redacted]. */
export interface NotifyConfig {
  transport: "pickup" | "webhook" | "smtp" | "smtp+webhook";
  /** Incident notices: the operator's pickup box (default), or the same transport. */
  incidents: "pickup" | "transport";
  webhook: { url: string; secret: Secret; timeoutMs: number; retries: number } | null;
  smtp: {
    host: string;
    port: number;
    security: "starttls" | "tls" | "none";
    user?: string;
    password?: Secret;
    from: string;
    fromName?: string;
    helo?: string;
    caFile?: string;
    timeoutMs: number;
  } | null;
  /** Seconds between the server's delivery runs (0: the server does not deliver). */
  deliverEverySeconds: number;
  maxAttempts: number;
}

export interface Config {
  home: string;
  port: number;
  host: string;
  store: { kind: "sqlite"; dir: string; synchronous: "FULL" | "EXTRA" | "NORMAL" } | { kind: "postgres"; url: string; poolSize: number; commitTimeoutMs: number };
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
  notify: NotifyConfig;
  /** The console's session limits (ms): idle timeout (Safety Standard Art. 6(4)) and longest session. */
  console: { idleMs: number; maxSessionMs: number; secureCookie: boolean };
  /** The portal's public origin (HAECHI_PUBLIC_URL); unset: the origin the request came to. */
  publicUrl: string | undefined;
}

/** A secret from the environment or from a file (the file wins; it must not be empty). */
const secretFrom = (value: string | undefined, file: string | undefined, name: string): Secret | undefined => {
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(file), "utf8").trim();
    } catch {
      throw new HaechiError("CONFIG_INVALID", `configuration: ${name}_FILE cannot be read`);
    }
    if (text === "") throw new HaechiError("CONFIG_INVALID", `configuration: ${name}_FILE is empty`);
    return new Secret(text);
  }
  return value === undefined || value === "" ? undefined : new Secret(value);
};

const notifyConfig = (e: z.infer<typeof schema>): NotifyConfig => {
  const wantsWebhook = e.HAECHI_NOTIFY_TRANSPORT === "webhook" || e.HAECHI_NOTIFY_TRANSPORT === "smtp+webhook";
  const wantsSmtp = e.HAECHI_NOTIFY_TRANSPORT === "smtp" || e.HAECHI_NOTIFY_TRANSPORT === "smtp+webhook";
  let webhook: NotifyConfig["webhook"] = null;
  if (wantsWebhook) {
    const secret = secretFrom(e.HAECHI_NOTIFY_WEBHOOK_SECRET, e.HAECHI_NOTIFY_WEBHOOK_SECRET_FILE, "HAECHI_NOTIFY_WEBHOOK_SECRET");
    if (!e.HAECHI_NOTIFY_WEBHOOK_URL) throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_NOTIFY_WEBHOOK_URL is required for the webhook transport");
    if (secret === undefined || secret.reveal().length < 16) {
      throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_NOTIFY_WEBHOOK_SECRET (or _FILE) of at least 16 characters is required: the gateway checks the signature");
    }
    webhook = { url: e.HAECHI_NOTIFY_WEBHOOK_URL, secret, timeoutMs: e.HAECHI_NOTIFY_WEBHOOK_TIMEOUT_MS, retries: e.HAECHI_NOTIFY_WEBHOOK_RETRIES };
  }
  let smtp: NotifyConfig["smtp"] = null;
  if (wantsSmtp) {
    if (!e.HAECHI_SMTP_HOST || !e.HAECHI_SMTP_FROM) throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_SMTP_HOST and HAECHI_SMTP_FROM are required for the smtp transport");
    const password = secretFrom(e.HAECHI_SMTP_PASSWORD, e.HAECHI_SMTP_PASSWORD_FILE, "HAECHI_SMTP_PASSWORD");
    smtp = {
      host: e.HAECHI_SMTP_HOST,
      port: e.HAECHI_SMTP_PORT,
      security: e.HAECHI_SMTP_SECURITY,
      ...(e.HAECHI_SMTP_USER ? { user: e.HAECHI_SMTP_USER } : {}),
      ...(password ? { password } : {}),
      from: e.HAECHI_SMTP_FROM,
      ...(e.HAECHI_SMTP_FROM_NAME ? { fromName: e.HAECHI_SMTP_FROM_NAME } : {}),
      ...(e.HAECHI_SMTP_HELO ? { helo: e.HAECHI_SMTP_HELO } : {}),
      ...(e.HAECHI_SMTP_CA_FILE ? { caFile: path.resolve(e.HAECHI_SMTP_CA_FILE) } : {}),
      timeoutMs: e.HAECHI_SMTP_TIMEOUT_MS,
    };
  }
  return {
    transport: e.HAECHI_NOTIFY_TRANSPORT,
    incidents: e.HAECHI_NOTIFY_INCIDENTS,
    webhook,
    smtp,
    deliverEverySeconds: e.HAECHI_OUTBOX_INTERVAL_S,
    maxAttempts: e.HAECHI_OUTBOX_MAX_ATTEMPTS,
  };
};

const ptMs = (v: string): number => {
  const m = /^PT(\d+)([MH])$/.exec(v)!;
  return Number(m[1]) * (m[2] === "H" ? 3_600_000 : 60_000);
};

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
        ? { kind: "postgres" as const, url: e.HAECHI_PG_URL!, poolSize: e.HAECHI_PG_POOL, commitTimeoutMs: e.HAECHI_PG_COMMIT_TIMEOUT_MS }
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
    notify: notifyConfig(e),
    console: Object.freeze({ idleMs: ptMs(e.HAECHI_CONSOLE_IDLE), maxSessionMs: ptMs(e.HAECHI_CONSOLE_SESSION_MAX), secureCookie: e.HAECHI_CONSOLE_SECURE_COOKIE === "1" }),
    publicUrl: e.HAECHI_PUBLIC_URL,
  });
};
