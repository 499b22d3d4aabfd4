/**
 * The `haechi` command line. Commands call services; this file only parses and formats.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { parseCheckpointExport } from "../audit/checkpoint.js";
import { loadConfig, type Config } from "../config/config.js";
import { buildContainer, type Container } from "../container.js";
import { catalogJsonSchema, formatIssues, loadCatalogFile } from "../core/catalog/catalog-fns.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import { TRANSFORMS, objectionDeadline, type ProvisionRequest } from "../core/provision/gate-fns.js";
import { CONTAINMENT_MEASURES, EXTERNAL_CHANNELS, INCIDENT_KINDS, type IncidentSource } from "../core/incident/incident-types.js";
import { MESSAGE_KINDS, MESSAGE_STATUSES } from "../core/outbox/outbox-types.js";
import type { IncidentView, SourceInput } from "../services/incident-service.js";
import { ALL_REFUSAL_GROUNDS, NOTICE_CHANNELS, REQUEST_KINDS, REQUEST_STATUSES } from "../core/requests/request-fns.js";
import type { RequestView } from "../services/request-service.js";
import { buildServer } from "../http/server.js";
import { changeText, policyTitle } from "../core/policy-doc/policy-doc-fns.js";
import type { PolicyLang } from "../core/policy-doc/policy-doc-types.js";
import { policyPageHtml } from "../core/policy-doc/policy-render-fns.js";
import { kstDay } from "../services/policy-service.js";
import { ensureDemoKeys } from "./demo.js";
import { progressBar } from "./progress.js";

type Env = Record<string, string | undefined>;


const withContainer = async <T>(cfg: Readonly<Config>, fn: (c: Container) => Promise<T>, create = false): Promise<T> => {
  const c = await buildContainer(cfg, { createKeyring: create });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
};

/**
 * What `serve` says about the privacy policy: published or not, and whether the catalog has moved
 * on from the version published (the policy must not drift from what is enforced). The demo
 * publishes its first version itself so /policy shows a published policy.
 */
const policyAtStart = async (c: Container, demo: boolean): Promise<string> => {
  try {
    const d = await c.services.policy.draft();
    if (d.latest === undefined) {
      if (demo) {
        const row = await c.services.policy.publish({ by: "haechi-demo" });
        return `privacy policy: published version ${row.version} of the demo catalog's policy, effective ${row.effective}\n`;
      }
      return "privacy policy: no version published yet; /policy shows the catalog's draft (publish: haechi policy render --publish)\n";
    }
    if (!d.identicalToLatest)
      return `privacy policy: the catalog differs from published version ${d.latest.version} in ${d.changes.length} change(s); publish it: haechi policy render --publish\n`;
    return "";
  } catch (e) {
    return `privacy policy: cannot be rendered from the catalog: ${isHaechiError(e) ? e.message : "unexpected error"}\n`;
  }
};

export const buildCli = (env: Env, out: (s: string) => void = (s) => process.stdout.write(s)) => {
  const program = new Command();
  const config = (o: { home?: string; catalog?: string; store?: string; pgUrl?: string; port?: string; host?: string }) =>
    loadConfig(env, {
      ...(o.home ? { HAECHI_HOME: o.home } : {}),
      ...(o.catalog ? { HAECHI_CATALOG: o.catalog } : {}),
      ...(o.store ? { HAECHI_STORE: o.store } : {}),
      ...(o.pgUrl ? { HAECHI_PG_URL: o.pgUrl } : {}),
      ...(o.port ? { HAECHI_PORT: o.port } : {}),
      ...(o.host ? { HAECHI_HOST: o.host } : {}),
    });
  const common = (cmd: Command) =>
    cmd
      .option("--home <dir>", "Haechi home directory (env HAECHI_HOME, default ./.haechi)")
      .option("--catalog <file>", "catalog file (env HAECHI_CATALOG, default: the example catalog)")
      .addOption(new Option("--store <kind>", "sqlite or postgres (env HAECHI_STORE)").choices(["sqlite", "postgres"]))
      .option("--pg-url <url>", "PostgreSQL connection string (env HAECHI_PG_URL)");

  program.name("haechi").description("Haechi (해치): a personal-data vault that opens only for a purpose").showHelpAfterError();

  common(program.command("init").description("create the home directory, the local key file and the stores")).action(async (o) => {
    const cfg = config(o);
    await withContainer(
      cfg,
      async (c) => {
        out(`initialised ${cfg.home}\n  key file: ${c.keyring.file} (keep it apart from the data and back it up separately)\n  store: ${c.stores.kind}\n`);
      },
      true,
    );
  });

  common(program.command("serve").description("serve the HTTP API, portal and console"))
    .option("--port <port>", "port (env HAECHI_PORT, default 8080)")
    .option("--host <addr>", "listen address (env HAECHI_HOST, default 127.0.0.1)")
    .option("--demo", "create keys if missing and print demo API keys for every catalog principal")
    .action(async (o) => {
      const cfg = config(o);
      const c = await buildContainer(cfg, { createKeyring: Boolean(o.demo) });
      const app = await buildServer(c);
      const address = await app.listen({ port: cfg.port, host: cfg.host });
      // The console's charts: read the audit log's window now, so the first page view finds it counted.
      c.services.console.warm().catch((e: unknown) => app.log.error({ errName: (e as Error).name, code: isHaechiError(e) ? e.code : undefined }, "console: reading the audit window failed"));
      out(`Haechi is serving on ${address} (store: ${c.stores.kind}, catalog: ${path.relative(process.cwd(), cfg.catalogFile) || cfg.catalogFile})\n`);
      const checked = loadCatalogFile(cfg.catalogFile);
      if (checked.ok && checked.warnings.length > 0) out(`catalog warnings:\n${formatIssues(checked.warnings)}\n`);
      out(`  API docs     ${address}/docs\n  OpenAPI      ${address}/openapi.json\n  console      ${address}/console (staff: haechi console user add --id <staff> --role cpo)\n  health       ${address}/healthz (ready to serve: ${address}/readyz)\n  metrics      ${address}/metrics\n  portal       ${address}/portal (people arrive through POST /v1/subjects/{id}/portal-link)\n  privacy      ${address}/policy\n`);
      out(await policyAtStart(c, Boolean(o.demo)));
      if (o.demo) {
        const keys = await ensureDemoKeys(c);
        out(`\nDemo API keys (also in ${path.join(cfg.home, "demo-keys.json")}):\n`);
        for (const [p, k] of Object.entries(keys)) out(`  ${p.padEnd(18)} ${k}\n`);
        const talk = keys["talk-app"];
        if (talk) {
          out(`\nTry:\n  curl -s -X POST ${address}/v1/subjects -H 'Authorization: Bearer ${talk}' -H 'Content-Type: application/json' \\\n`);
          out(`    -d '{"purpose":"talk_service","fields":{"user_id":"u-1","phone":"010-1234-5678","name":"홍길동","nickname":"gildong"}}'\n`);
        }
      }
      // Scheduled provisions: every minute, run what is due (each run re-checks every condition).
      const scheduler = setInterval(() => {
        c.services.provisions.runDue("scheduler").catch((e: unknown) => app.log.error({ errName: (e as Error).name, code: isHaechiError(e) ? e.code : undefined }, "scheduled provisions failed"));
      }, 60_000);
      scheduler.unref();
      // The destruction sweep (dormancy and sealed-store deadlines) runs daily (LAW §15 E4).
      const sweeper = setInterval(() => {
        (async () => {
          await c.services.erase.sweepDormant({ by: "scheduler" });
          await c.services.erase.sweepRetention({ by: "scheduler" });
          await c.services.erase.sweep({ by: "scheduler" });
          await c.services.provisions.expireExports({ by: "scheduler" });
        })().catch((e: unknown) => app.log.error({ errName: (e as Error).name, code: isHaechiError(e) ? e.code : undefined }, "destruction sweep failed"));
      }, 24 * 3600 * 1000);
      sweeper.unref();
      // The outbox: deliver what is due (notices to people; ADR 0011), one run at a time.
      let delivering = false;
      const deliverer =
        cfg.notify.deliverEverySeconds > 0
          ? setInterval(() => {
              if (delivering) return;
              delivering = true;
              c.services.outbox
                .deliver({ principal: "scheduler", source: null, requestId: `outbox-${crypto.randomUUID()}` })
                .catch((e: unknown) => app.log.error({ errName: (e as Error).name, code: isHaechiError(e) ? e.code : undefined }, "outbox delivery failed"))
                .finally(() => (delivering = false));
            }, cfg.notify.deliverEverySeconds * 1000)
          : undefined;
      deliverer?.unref();
      const stop = async () => {
        clearInterval(scheduler);
        clearInterval(sweeper);
        if (deliverer) clearInterval(deliverer);
        await app.close();
        await c.close();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });

  const catalog = program.command("catalog").description("the catalog (haechi.yaml)");
  catalog
    .command("check [file]")
    .description("validate a catalog; every error is reported with its YAML path")
    .action(async (file: string | undefined) => {
      const f = file ?? loadConfig(env).catalogFile;
      const r = loadCatalogFile(f);
      if (r.ok) {
        const cat = r.catalog;
        out(
          `${f}: ok — ${Object.keys(cat.fields).length} fields, ${Object.keys(cat.purposes).length} purposes, ${Object.keys(cat.notices).length} notices, ${Object.keys(cat.principals).length} principals, ${Object.keys(cat.recipients).length} recipients${r.warnings.length > 0 ? `, ${r.warnings.length} warning${r.warnings.length > 1 ? "s" : ""}` : ""}\n`,
        );
        if (r.warnings.length > 0) out(`${formatIssues(r.warnings)}\n`);
        return;
      }
      out(`${f}: ${r.errors.length} error${r.errors.length > 1 ? "s" : ""}\n${formatIssues([...r.errors, ...r.warnings])}\n`);
      process.exitCode = 1;
    });
  catalog
    .command("schema")
    .description("print (or write) the catalog's JSON Schema for editors")
    .option("--out <file>", "write to this file")
    .action(async (o) => {
      const text = `${JSON.stringify(catalogJsonSchema(), null, 2)}\n`;
      if (o.out) fs.writeFileSync(o.out, text);
      else out(text);
    });

  common(program.command("import <file>").description("import subjects from NDJSON or CSV (resumable: run again after an interruption)"))
    .requiredOption("--as <principal>", "principal the rows are collected by (ids are issued in its context)")
    .requiredOption("--purpose <purpose>", "collecting purpose")
    .addOption(new Option("--format <format>", "input format (default: by extension)").choices(["ndjson", "csv"]))
    .option("--ids <file>", "write {line, ref, id} for every imported row (NDJSON)")
    .option("--rejects <file>", "write {line, ref, code, message} for every rejected row (NDJSON)", "import-rejects.ndjson")
    .option("--batch <n>", "rows per transaction", "2000")
    .action(async (file: string, o) => {
      const cfg = config(o);
      await withContainer(cfg, async (c) => {
        const ids = o.ids ? fs.openSync(o.ids, "a") : null;
        const rejects = fs.openSync(o.rejects, "w");
        const bar = progressBar("import", { unit: "rows" });
        const r = await c.services.import.run({
          file,
          format: o.format,
          principal: o.as,
          purpose: o.purpose,
          batchSize: Number(o.batch),
          onImported: (row) => ids !== null && fs.writeSync(ids, `${JSON.stringify(row)}\n`),
          onRejected: (row) => fs.writeSync(rejects, `${JSON.stringify(row)}\n`),
          onProgress: (p) => bar.update(p.bytes, p.totalBytes, `${p.imported} imported, ${p.rejected} rejected`),
        });
        bar.done(r.bytes, r.totalBytes, `${r.imported} imported, ${r.skipped} already imported, ${r.rejected} rejected`);
        if (ids !== null) fs.closeSync(ids);
        fs.closeSync(rejects);
        out(`import ${r.importId}: ${r.imported} imported, ${r.skipped} skipped (already imported), ${r.rejected} rejected${r.rejected ? ` (see ${o.rejects})` : ""}\n`);
        if (r.rejected > 0) process.exitCode = 2;
      });
    });

  const cliCtx = (principal: string) => ({ principal, source: "cli", requestId: `cli-${crypto.randomUUID()}` });
  /** The principal an operator's CLI acts as: the catalog's first operator, else "cli". */
  const operatorOf = (c: Container) => Object.entries(c.catalog.current().principals).find(([, p]) => p.role === "operator")?.[0] ?? "cli";
  const printProvision = (v: { id: string; status: string; classification: string; basis: string; transferBasis: string | null; country: string; fields: string[]; counts: { scanned: number; included: number; excluded: Record<string, number> }; parts: number; diff?: { added: number; removed: number; kept: number } | null; reasons: string[] }) => {
    out(`${v.id}: ${v.status} — ${v.classification} (${v.basis})${v.transferBasis ? `, overseas to ${v.country} on ${v.transferBasis}` : ""}\n`);
    out(`  fields: ${v.fields.join(", ")}\n  scanned ${v.counts.scanned}, included ${v.counts.included}, parts ${v.parts}\n`);
    for (const [code, n] of Object.entries(v.counts.excluded).sort()) out(`  excluded ${code}: ${n}\n`);
    if (v.diff) out(`  since the previous run: +${v.diff.added} added, -${v.diff.removed} removed, ${v.diff.kept} kept\n`);
    if (v.reasons.length > 0) out(`  reasons: ${v.reasons.join(", ")}\n`);
  };
  common(program.command("provide").description("the provision gate: plan or run a provision, resume one, or run due schedules"))
    .option("--as <principal>", "principal that provides (it must be allowed the recipient and the purpose)")
    .option("--recipient <name>", "recipient in the catalog")
    .option("--purpose <purpose>", "the controller's purpose the data was collected for")
    .addOption(new Option("--label <label>", "what you call it (the gate decides what it is)").choices(["consignment", "provision"]))
    .option("--fields <list>", "comma-separated fields")
    .option("--population <purposes>", "only subjects for whom these purposes stand (comma-separated)")
    .addOption(new Option("--format <format>", "export format").choices(["ndjson", "csv"]).default("ndjson"))
    .option("--transform <list>", "field=hash|<mask>, comma-separated (never exempts a transfer)")
    .option("--plan", "dry run: counts of who would be sent and who is left out, by reason")
    .option("--every <period>", "schedule: repeat on this ISO period (P1D)")
    .option("--resume <id>", "resume an interrupted run")
    .option("--due", "run every due scheduled provision once")
    .option("--status <id>", "show a provision")
    .option("--verify <id>", "check a completed provision's manifest, files and ledger")
    .action(async (o) => {
      const cfg = config(o);
      const c = await buildContainer(cfg);
      try {
        const svc = c.services.provisions;
        const operator = operatorOf(c);
        if (o.status || o.verify) {
          const ctx = cliCtx(o.as ?? operator);
          if (o.status) printProvision(await svc.get(ctx, o.status));
          if (o.verify) {
            const r = await svc.verify(ctx, o.verify);
            out(`${r.ok ? "OK" : "FAILED"}: provision ${o.verify}\n`);
            for (const p of r.problems) out(`  ${p}\n`);
            if (!r.ok) process.exitCode = 1;
          }
          return;
        }
        if (o.due) {
          for (const v of await svc.runDue("cli")) printProvision(v);
          return;
        }
        const bar = progressBar("provide", { unit: "subjects" });
        const onProgress = (p: { scanned: number; included: number; parts: number }) => bar.update(p.scanned, undefined, `${p.included} sent in ${p.parts} parts`);
        if (o.resume) {
          const { done } = await svc.resume(cliCtx(o.as ?? operator), o.resume, onProgress);
          const row = await done;
          bar.done(row.counts.scanned);
          printProvision(await svc.get(cliCtx(row.principal), row.id));
          return;
        }
        for (const k of ["as", "recipient", "purpose", "label", "fields"] as const) {
          if (!o[k]) throw new HaechiError("VALIDATION_FAILED", `--${k} is required to plan or run a provision`);
        }
        const list = (s: string | undefined) => (s ? s.split(",").map((x) => x.trim()).filter(Boolean) : []);
        const transform: Record<string, string> = {};
        for (const t of list(o.transform)) {
          const [f, how] = t.split("=");
          if (!f || !how || !(TRANSFORMS as readonly string[]).includes(how)) {
            throw new HaechiError("VALIDATION_FAILED", `--transform ${t}: use field=${TRANSFORMS.join("|")}`);
          }
          transform[f] = how;
        }
        const request: ProvisionRequest = {
          recipient: o.recipient,
          purpose: o.purpose,
          label: o.label,
          fields: list(o.fields),
          population: { purposes: list(o.population) },
          format: o.format,
          transform: transform as ProvisionRequest["transform"],
        };
        const ctx = cliCtx(o.as);
        if (o.plan) {
          const v = await svc.plan(ctx, request);
          printProvision(v);
          for (const n of v.notes) out(`  note: ${n}\n`);
          return;
        }
        if (o.every) {
          const s = await svc.schedule(ctx, request, o.every);
          out(`schedule ${s.id}: every ${s.every}, next run ${s.nextAt.toISOString()} (run due schedules with: haechi provide --due)\n`);
          return;
        }
        const { view, done } = await svc.start(ctx, request, { onProgress });
        out(`provision ${view.id} started (resume after an interruption with: haechi provide --resume ${view.id})\n`);
        const row = await done;
        bar.done(row.counts.scanned);
        printProvision(await svc.get(ctx, row.id));
        if (row.status !== "completed") process.exitCode = 1;
        else out(`  export: ${path.join(cfg.exportDir, row.id)}\n`);
      } catch (e) {
        if (isHaechiError(e) && e.code === "PROVISION_DENIED") {
          out(`REFUSED\n${e.message.replace(/^provision refused:\n/, "").split("\n").map((l) => `  ${l}`).join("\n")}\n`);
          process.exitCode = 3;
          return;
        }
        throw e;
      } finally {
        await c.close();
      }
    });

  common(program.command("erase <ids...>").description("delete accounts: destroy what no law keeps (crypto-shredding); seal what one does"))
    .requiredOption("--as <principal>", "the service principal whose ids these are")
    .action(async (ids: string[], o) => {
      await withContainer(config(o), async (c) => {
        for (const id of ids) {
          const r = await c.services.erase.erase(cliCtx(o.as), id);
          out(`${id}: erased; destroyed ${r.destroyed.join(", ") || "nothing else"}\n`);
          for (const k of r.retained) out(`  ${k.field}: ${k.code} until ${k.until.slice(0, 10)} (${k.citation})\n`);
          if (r.retentionIds) for (const [p, ref] of Object.entries(r.retentionIds)) out(`  sealed; ${p} reads it as ${ref}\n`);
        }
      });
    });

  common(program.command("reactivate <ids...>").description("reactivate dormant accounts (separated after inactivity) when the person returns, as POST /v1/subjects/{id}/reactivate"))
    .requiredOption("--as <principal>", "the service principal whose ids these are")
    .requiredOption("--purpose <purpose>", "a collecting purpose the principal is allowed (decided as an update)")
    .action(async (ids: string[], o) => {
      await withContainer(config(o), async (c) => {
        for (const id of ids) {
          const r = await c.services.subjects.reactivate(cliCtx(o.as), id, { purpose: o.purpose });
          out(r.reactivated ? `${id}: reactivated; restored ${r.restored.join(", ") || "no values"}\n` : `${id}: already active; nothing changed\n`);
        }
      });
    });

  common(program.command("sweep").description("destroy what is past its deadline: dormant accounts (catalog dormancy: erased, or separated and erased after destroy_after), values past their purpose period, sealed data whose statutory period has ended; a destruction certificate per act"))
    .option("--overdue-days <n>", "alert on values found more than n days past their deadline", "5")
    .option("--batch <n>", "dormant accounts erased or separated per transaction (larger is faster on SQLite)", "50000")
    .action(async (o) => {
      for (const [name, v] of [["--batch", o.batch], ["--overdue-days", o.overdueDays]] as const) {
        if (!/^\d+$/.test(String(v)) || (name === "--batch" && Number(v) < 1)) throw new HaechiError("VALIDATION_FAILED", `${name} must be a whole number${name === "--batch" ? " of at least 1" : ""}`);
      }
      await withContainer(config(o), async (c) => {
        const bar = progressBar("sweep", { unit: "subjects" });
        const d = await c.services.erase.sweepDormant({
          by: "haechi sweep",
          overdueDays: Number(o.overdueDays),
          batch: Number(o.batch),
          onProgress: (n) => bar.update(n),
        });
        const p = await c.services.erase.sweepRetention({ by: "haechi sweep" });
        const r = await c.services.erase.sweep({ by: "haechi sweep", overdueDays: Number(o.overdueDays) });
        const x = await c.services.provisions.expireExports({ by: "haechi sweep" });
        bar.done(d.erased + d.sealed + d.separated + r.subjects);
        if (d.action === "separate") {
          out(`dormancy (inactive since before ${d.cutoff}): ${d.separated} accounts separated; ${d.noticeDue} to be told in advance\n`);
          if (d.separatedCutoff)
            out(`separated accounts (separated before ${d.separatedCutoff}): ${d.erased} erased, ${d.sealed} erased with records sealed by law; ${d.destroyNoticeDue} to be told of their erasure in advance\n`);
        } else {
          out(`dormancy (inactive since before ${d.cutoff}): ${d.erased} accounts erased, ${d.sealed} erased with records sealed by law; ${d.noticeDue} to be told in advance\n`);
        }
        if (d.noticeDue + d.destroyNoticeDue > 0)
          out(`dormancy notices: ${d.notices.queued} queued in the outbox, ${d.notices.already} queued before, ${d.notices.withoutContact} without a contact field (deliver with: haechi outbox deliver)\n`);
        out(`compaction: the unreadable rows of ${d.compacted} erased accounts deleted\n`);
        out(`purpose periods: ${p.destroyed} values of ${p.subjects} subjects destroyed, ${p.sealed} moved to the sealed store (kept by law)\n`);
        out(`sealed store at ${r.at}: ${r.values} values of ${r.subjects} subjects destroyed, ${r.keys} sealed keys destroyed\n`);
        out(`provision exports: the files of ${x.provisions} finished provisions destroyed (${x.files} files, kept ${c.config.exportKeep} for fetching)\n`);
        const late = d.overdue + r.overdue;
        if (late > 0) {
          out(`ALERT: ${late} subjects were more than ${o.overdueDays} days past their deadline (PIPA Art. 21(1): without delay)\n`);
          process.exitCode = 2;
        }
      });
    });

  /** Progress of `backup` / `restore` on stderr: a bar per file copied, then one for the journal replay. */
  const backupProgress = () => {
    let bar: ReturnType<typeof progressBar> | undefined;
    let label = "";
    let last = { done: 0, total: 0 };
    const finish = () => {
      bar?.done(last.done, last.total);
      bar = undefined;
    };
    const on = (p: import("../services/backup-service.js").BackupProgress) => {
      if (p.step === "hash") return;
      const name = p.step === "copy" ? `copy ${p.file}` : "replay shred journal";
      if (name !== label) {
        finish();
        label = name;
        bar = progressBar(name, { unit: p.step === "copy" ? p.unit : "entries" });
      }
      last = { done: p.done, total: p.total };
      bar?.update(p.done, p.total);
    };
    return { on, finish };
  };

  common(program.command("backup").description("back up the stores online: data store and audit log into --data, the key store into --keys (never the key file)"))
    .requiredOption("--data <dir>", "new or empty directory for the data store and the audit log")
    .requiredOption("--keys <dir>", "new or empty directory for the key store: not --data, not inside it, ideally on other storage")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const progress = backupProgress();
        const r = await c.services.backup.backup({ dataDir: o.data, keysDir: o.keys, by: "haechi backup", onProgress: progress.on });
        progress.finish();
        out(`backup ${r.backupId} of the ${r.store} stores, taken ${r.createdAt}\n`);
        for (const [dir, m] of [
          [r.dataDir, r.data],
          [r.keysDir, r.keys],
        ] as const) {
          out(`  ${m.part} → ${dir}\n`);
          for (const f of m.files) out(`    ${f.name}  ${f.bytes} bytes  sha256 ${f.sha256}\n`);
        }
        if (fs.statSync(r.dataDir).dev === fs.statSync(r.keysDir).dev) out("  note: both halves are on the same filesystem; move the keys half to other storage\n");
        out(`  shred journal: ${r.journalEntries} entries at backup time; not in the backup (${c.config.shredJournalFile}: replicate it with the key file)\n`);
        out(`NOT BACKED UP: the key file ${c.keyring.file}. Back it up separately and offline: it is the master secret, and without it this backup cannot be read.\n`);
      });
    });

  common(program.command("restore").description("restore a backup of `haechi backup` (stop Haechi first), then destroy again everything the shred journal records"))
    .requiredOption("--data <dir>", "the backup's data directory")
    .requiredOption("--keys <dir>", "the backup's keys directory")
    .option("--other-journal <file...>", "the shred journals of the other servers (their replicas): every destruction made through them is replayed too")
    .action(async (o) => {
      const cfg = config(o);
      const { restoreBackup } = await import("../services/backup-service.js");
      const { fileShredJournal } = await import("../retention/shred-journal.js");
      const otherJournals = [];
      for (const f of (o.otherJournal as string[] | undefined) ?? []) {
        if (!fs.existsSync(f)) throw new HaechiError("VALIDATION_FAILED", `--other-journal ${f}: no such file`);
        otherJournals.push(await fileShredJournal(f).entries());
      }
      const progress = backupProgress();
      const r = await restoreBackup(() => buildContainer(cfg), { dataDir: o.data, keysDir: o.keys, by: "haechi restore", onProgress: progress.on, otherJournals });
      progress.finish();
      out(`restored backup ${r.backupId} of the ${r.store} stores, taken ${r.backupCreatedAt}; every file matched its manifest\n`);
      for (const f of r.files) out(`  ${path.join(f.dir, f.name)}  ${f.bytes} bytes\n`);
      out(
        `shred journal replayed: ${r.journalEntries} entries (${r.newSinceBackup} since the backup${r.otherJournalEntries > 0 ? `, ${r.otherJournalEntries} from the other servers' journals` : ""}): ${r.subjectsRedestroyed} subjects erased again, ${r.sealedRedestroyed} sealed copies and ${r.fieldSetsRedestroyed} withdrawn field sets destroyed again\n`,
      );
      out(`audit: #${r.auditSeq} backup.restore. Entries written after the backup was taken are not in the restored log; checkpoints taken after it will no longer verify.\n`);
    });

  const suspend = program.command("suspend").description("kill switch: suspend transfers to a recipient or country (PIPA Art. 28-9)");
  common(suspend.command("add").description("suspend at once; running provisions stop"))
    .option("--recipient <name>")
    .option("--country <code>")
    .requiredOption("--order <ref>", "the suspension order's reference")
    .option("--reason <text>", "why", "suspension order")
    .action(async (o) => {
      if (Boolean(o.recipient) === Boolean(o.country)) throw new HaechiError("VALIDATION_FAILED", "give exactly one of --recipient or --country");
      await withContainer(config(o), async (c) => {
        const operator = operatorOf(c);
        const s = await c.services.provisions.suspend(cliCtx(operator), {
          scope: o.recipient ? "recipient" : "country",
          target: o.recipient ?? o.country,
          order: o.order,
          reason: o.reason,
        });
        out(`suspension ${s.id}: transfers to ${s.scope} ${s.target} suspended (order ${s.order})\n`);
      });
    });
  common(suspend.command("lift <id>").description("lift a suspension")).action(async (id: string, o) => {
    await withContainer(config(o), async (c) => {
      const operator = operatorOf(c);
      await c.services.provisions.lift(cliCtx(operator), id);
      out(`suspension ${id} lifted\n`);
    });
  });
  common(suspend.command("list").description("suspensions, active and lifted")).action(async (o) => {
    await withContainer(config(o), async (c) => {
      const operator = operatorOf(c);
      for (const s of await c.services.provisions.suspensions(cliCtx(operator))) {
        out(`${s.id}  ${s.scope} ${s.target}  order ${s.order}  since ${s.at.toISOString()}${s.liftedAt ? `  lifted ${s.liftedAt.toISOString()}` : `  ACTIVE (objection until ${objectionDeadline(s.at).toISOString()})`}\n`);
      }
    });
  });

  const review = program.command("review").description("the monthly access-log review (Safety Standard Art. 8(2))");
  const officer = (by: string) => {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(by)) throw new HaechiError("VALIDATION_FAILED", "--by must be the reviewer's staff id (letters, digits, . _ @ -; at most 64)");
    return by;
  };
  common(review.command("generate").description("review one finished month (KST): unusual access, every bulk release with its recorded justification; writes JSON, Markdown and an SVG chart"))
    .requiredOption("--month <YYYY-MM>", "the month to review")
    .option("--by <staff-id>", "who generated it", "haechi-review")
    .option("--bulk-at <n>", "an entry releasing at least this many records is a bulk release", "100")
    .action(async (o) => {
      if (!/^\d+$/.test(String(o.bulkAt)) || Number(o.bulkAt) < 1) throw new HaechiError("VALIDATION_FAILED", "--bulk-at must be a whole number of at least 1");
      await withContainer(config(o), async (c) => {
        const bar = progressBar("review", { unit: "entries" });
        const r = await c.services.review.generate({ month: o.month, by: officer(o.by), bulkAt: Number(o.bulkAt), onProgress: (n) => bar.update(n) });
        bar.done(r.review.entries);
        out(`access-log review ${r.review.month}: ${r.review.entries} entries, ${r.review.principals.length} principals, ${r.review.bulk.length} bulk releases (${r.review.bulk.filter((b) => b.escalate).length} to escalate), ${r.review.findings.length} findings\n`);
        for (const f of r.review.findings) out(`  ${f}\n`);
        out(`written: ${r.files.markdown} (SHA-256 of the JSON ${r.sha256})\n`);
        if (r.review.findings.length > 0) process.exitCode = 2;
      });
    });
  common(review.command("sign").description("record the privacy officer's sign-off on the generated review"))
    .requiredOption("--month <YYYY-MM>", "the month reviewed")
    .requiredOption("--by <staff-id>", "the privacy officer signing off")
    .option("--note <text>", "what was checked or followed up (no personal data)")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const st = await c.services.review.signOff({ month: o.month, by: officer(o.by), ...(o.note ? { note: String(o.note) } : {}) });
        out(`access-log review ${st.month} signed off by ${st.signedOff!.by} at ${st.signedOff!.at} (SHA-256 ${st.signedOff!.sha256})\n`);
      });
    });
  common(review.command("status").description("whether a month's review was generated and signed off"))
    .requiredOption("--month <YYYY-MM>", "the month")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const st = await c.services.review.status(o.month);
        out(`${st.month}: ${st.generated ? `generated ${st.generated.at} by ${st.generated.by}` : "not generated"}; ${st.signedOff ? `signed off ${st.signedOff.at} by ${st.signedOff.by}` : "not signed off"}\n`);
        if (!st.signedOff) process.exitCode = 2;
      });
    });

  common(program.command("evidence").description("the evidence pack for the regulator: catalog and data map, access records of a window as chained, audit verification and a signed checkpoint, provisions, protective measures, monthly reviews; one signed .tar.gz"))
    .requiredOption("--from <date>", "window start (YYYY-MM-DD is midnight KST, or ISO 8601)")
    .requiredOption("--to <date>", "window end, exclusive (YYYY-MM-DD is midnight KST, or ISO 8601)")
    .option("--by <staff-id>", "who is packing it", "haechi-evidence")
    .action(async (o) => {
      const when = (v: string) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00+09:00` : v);
      await withContainer(config(o), async (c) => {
        const bar = progressBar("evidence", { unit: "records" });
        const p = await c.services.evidence.pack({ from: when(o.from), to: when(o.to), by: officer(o.by), onProgress: (n) => bar.update(n) });
        bar.done(p.accessRecords);
        out(`evidence pack ${p.file}\n  window ${p.window.from} – ${p.window.to}: ${p.accessRecords} access records; audit chain ${p.verified ? "verified" : "FAILED verification"}\n  ${p.members.length} members, SHA-256 ${p.sha256}\n`);
        if (!p.verified) process.exitCode = 2;
      });
    });

  // ── privacy policy (PIPA Art. 30; Decree 31) ────────────────────────────
  const policy = program.command("policy").description("the privacy policy generated from the catalog (PIPA Art. 30; Decree Art. 31), ko/en, in published versions");
  common(policy.command("render").description("render the catalog's privacy policy (Markdown to stdout, or Markdown and HTML files with --out); --publish records it as the next version with a change log"))
    .addOption(new Option("--lang <lang>", "only this language (default: ko on stdout, both with --out)").choices(["ko", "en"]))
    .option("--out <dir>", "write privacy-policy[-vN].<lang>.md and .html here")
    .option("--publish", "publish as the next version (audited); refused when identical to the latest")
    .option("--effective <YYYY-MM-DD>", "with --publish: the day it takes effect (KST; default today)")
    .option("--by <staff-id>", "with --publish: who publishes it", "haechi-policy")
    .action(async (o) => {
      if (o.effective !== undefined && !o.publish) throw new HaechiError("VALIDATION_FAILED", "--effective is for --publish");
      await withContainer(config(o), async (c) => {
        const langs: PolicyLang[] = o.lang ? [o.lang as PolicyLang] : o.out ? ["ko", "en"] : ["ko"];
        let texts: Record<string, string>;
        let titles: Record<PolicyLang, string>;
        let shown: number | null;
        let status: string;
        if (o.publish) {
          const row = await c.services.policy.publish({ by: officer(o.by), ...(o.effective ? { effective: String(o.effective) } : {}) });
          texts = row.texts;
          shown = row.version;
          titles = policyTitle(row.content);
          status =
            `published privacy policy version ${row.version}, effective ${row.effective} (content SHA-256 ${row.contentSha256}, audit seq ${row.auditSeq})\n` +
            (row.changes.length === 0 ? "  first publication\n" : row.changes.map((ch) => `  ${changeText(ch).en}\n`).join(""));
        } else {
          const d = await c.services.policy.draft();
          texts = d.texts;
          shown = null;
          titles = { ko: d.document.title.ko, en: d.document.title.en };
          status =
            d.latest === undefined
              ? "no version published yet: publish with haechi policy render --publish\n"
              : d.identicalToLatest
                ? `identical to published version ${d.latest.version} (effective ${d.latest.effective})\n`
                : `differs from published version ${d.latest.version} (effective ${d.latest.effective}) in ${d.changes.length} change(s); publish with --publish:\n${d.changes.map((ch) => `  ${changeText(ch).en}\n`).join("")}`;
          // With --out the status is printed: a drift from the published version exits 2 (a CI check).
          if (o.out && !d.identicalToLatest && d.latest !== undefined) process.exitCode = 2;
        }
        if (!o.out) {
          // Publishing says what it did; rendering prints the Markdown (write files with --out).
          out(o.publish ? status : (texts[`${langs[0]}.md`] ?? ""));
          return;
        }
        const dir = path.resolve(String(o.out));
        fs.mkdirSync(dir, { recursive: true });
        const history = (await c.services.policy.history()).map((h) => ({ version: h.version, effective: h.effective, publishedAt: h.publishedAt.toISOString(), changes: h.changes }));
        const inForce = history.find((h) => h.effective <= kstDay(c.clock.now()))?.version ?? null;
        const written: string[] = [];
        for (const lang of langs) {
          const base = path.join(dir, `privacy-policy${shown === null ? "" : `-v${shown}`}.${lang}`);
          fs.writeFileSync(`${base}.md`, texts[`${lang}.md`] ?? "");
          fs.writeFileSync(
            `${base}.html`,
            policyPageHtml({ lang, article: texts[`${lang}.html`] ?? "", title: titles[lang], history, shown, inForce, path: "/policy" }),
          );
          written.push(`${base}.md`, `${base}.html`);
        }
        out(status);
        for (const f of written) out(`written: ${f}\n`);
      });
    });
  common(policy.command("list").description("published versions, newest first, with their change logs")).action(async (o) => {
    await withContainer(config(o), async (c) => {
      const history = await c.services.policy.history();
      if (history.length === 0) out("no privacy-policy version published yet\n");
      for (const h of history) {
        out(`v${h.version}  effective ${h.effective}  published ${h.publishedAt.toISOString()} by ${h.publishedBy}  content ${h.contentSha256.slice(0, 16)}…\n`);
        for (const ch of h.changes.length === 0 ? ["first publication"] : h.changes.map((x) => changeText(x).en)) out(`    ${ch}\n`);
      }
    });
  });

  // ── detection (ADR 0009) ────────────────────────────────────────────────
  const alerts = program.command("alerts").description("what detection flagged (volume, enumeration, canaries, off-hours, deny storms, exports, new networks)");
  common(alerts.command("list").description("alerts, newest first"))
    .option("--principal <name>", "only alerts about this principal")
    .option("--rule <name>", "only alerts of this catalog rule")
    .option("--since <time>", "only alerts at or after this ISO time")
    .option("--limit <n>", "at most this many (1 to 1000)", "100")
    .option("--json", "print JSON")
    .action(async (o) => {
      if (!/^\d+$/.test(String(o.limit)) || Number(o.limit) < 1 || Number(o.limit) > 1000) throw new HaechiError("VALIDATION_FAILED", "--limit must be a whole number from 1 to 1000");
      const since = o.since === undefined ? undefined : new Date(o.since);
      if (since !== undefined && Number.isNaN(since.getTime())) throw new HaechiError("VALIDATION_FAILED", "--since must be an ISO time such as 2026-03-01T09:00:00+09:00");
      await withContainer(config(o), async (c) => {
        const rows = await c.services.detection.alerts({
          ...(o.principal ? { principal: o.principal } : {}),
          ...(o.rule ? { rule: o.rule } : {}),
          ...(since ? { since } : {}),
          limit: Number(o.limit),
        });
        if (o.json) {
          out(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) out("no alerts\n");
        for (const a of rows) {
          const detail = Object.entries(a.detail).map(([k, v]) => `${k}=${String(v)}`).join(" ");
          out(`${a.at.toISOString()}  ${a.id}  ${a.principal.padEnd(16)} ${a.rule} (${a.type}) ${a.reaction.toUpperCase()}  count ${a.count}/${a.threshold} since ${a.windowStart.toISOString()}${detail ? `  ${detail}` : ""}\n`);
        }
      });
    });

  const principal = program.command("principal").description("principals held by detection: suspensions and throttles");
  common(principal.command("holds [name]").description("holds on principals (active and lifted), newest first")).action(async (name: string | undefined, o) => {
    await withContainer(config(o), async (c) => {
      const rows = await c.services.detection.holdsOf(name ? { principal: name } : {});
      if (rows.length === 0) out("no holds\n");
      const now = c.clock.now().getTime();
      for (const h of rows) {
        const state = h.liftedAt
          ? `lifted ${h.liftedAt.toISOString()} by ${h.liftedBy ?? "?"}: ${h.liftReason ?? ""}`
          : h.until && h.until.getTime() <= now
            ? `ended ${h.until.toISOString()}`
            : h.until
              ? `ACTIVE until ${h.until.toISOString()}`
              : "ACTIVE until lifted";
        out(`${h.at.toISOString()}  ${h.id}  ${h.principal.padEnd(16)} ${h.kind.toUpperCase()}  ${h.reason}  ${state}\n`);
      }
    });
  });
  common(principal.command("lift <name>").description("lift a principal's suspension and throttle (audited; a running server sees it within seconds)"))
    .requiredOption("--reason <text>", "why it is safe to let the principal in again (kept with the hold and in the audit log; no personal data)")
    .action(async (name: string, o) => {
      await withContainer(config(o), async (c) => {
        const lifted = await c.services.detection.lift({ by: operatorOf(c), source: "cli", requestId: `cli-${crypto.randomUUID()}` }, name, String(o.reason));
        out(`${name}: ${lifted.length} hold${lifted.length === 1 ? "" : "s"} lifted (${lifted.map((h) => `${h.kind} ${h.id}`).join(", ") || "none stored"})\n`);
      });
    });

  const canary = program.command("canary").description("canary (decoy) subjects no legitimate flow reads");
  common(canary.command("create").description("create decoy subjects with real-looking values in a principal's context; any access to one trips the catalog's canary rule"))
    .requiredOption("--as <principal>", "the service principal whose context (and collecting purpose) the canaries live in")
    .option("--count <n>", "how many (1 to 1000)", "1")
    .option("--purpose <purpose>", "collecting purpose (default: the principal's first)")
    .action(async (o) => {
      if (!/^\d+$/.test(String(o.count))) throw new HaechiError("VALIDATION_FAILED", "--count must be a whole number from 1 to 1000");
      await withContainer(config(o), async (c) => {
        const r = await c.services.canaries.create({ source: "cli", requestId: `cli-canary-${crypto.randomUUID()}` }, o.as, {
          count: Number(o.count),
          ...(o.purpose ? { purpose: o.purpose } : {}),
        });
        out(`${r.ids.length} canar${r.ids.length === 1 ? "y" : "ies"} created for ${r.principal} under ${r.purpose}; plant these ids among ${r.principal}'s own records, where only a dump or a walk finds them:\n`);
        for (const id of r.ids) out(`  ${id}\n`);
        if (!r.watched) out(`warning: the catalog has no canary rule watching ${r.principal}: reads of these are not flagged\n`);
      });
    });

  // ---------------------------------------------------------------- incidents (PIPA Art. 34)
  const incident = program.command("incident").description("breach response: open, scope, notify and report within 72 hours (PIPA Art. 34)");
  /** The principal an incident command acts as: --as, else the catalog's first operator. */
  const incidentActor = (c: Container, as: string | undefined) => as ?? operatorOf(c);
  const many = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((x) => x.trim()).filter(Boolean)];
  const printIncident = (v: IncidentView, opts: { timeline?: boolean } = {}) => {
    out(`${v.id}  ${v.kind}  ${v.status}  law ${v.law}\n`);
    out(`  summary:  ${v.summary}\n`);
    const src = v.source as IncidentSource;
    out(`  source:   ${src.type}${src.type === "external" ? ` (${src.channel}${src.reporter ? `, ${src.reporter}` : ""}${src.reference ? `, ${src.reference}` : ""})` : src.type === "alert" ? ` (audit #${src.auditSeq}${src.alertId ? `, ${src.alertId}` : ""}${src.rule ? `, rule ${src.rule}` : ""})` : ""}\n`);
    out(`  aware:    ${v.awareAt}\n  deadline: ${v.deadline} (${v.timeLeft.text})\n`);
    if (v.scope) {
      const s = v.scope;
      out(`  scope:    ${s.people.total} people (${s.people.linked} identified, ${s.people.unlinkable} erased since, unlinkable${s.people.credit > 0 ? `; ${s.people.credit} with credit information` : ""}) in ${s.window.from} .. ${s.window.to}\n`);
      out(`            fields ${s.fields.map((f) => `${f.field} (${f.people}${f.sensitivity !== "general" ? `, ${f.sensitivity}` : ""})`).join(", ") || "none"}\n`);
      for (const t of s.through) out(`            through ${t.kind} ${t.name}: ${t.entries} entries, ${t.people} people, ${t.first ?? "-"} .. ${t.last ?? "-"}\n`);
    } else out("  scope:    not computed yet (haechi incident scope)\n");
    out("  duties:\n");
    for (const d of v.duties) {
      const state = d.status === "done" ? `done ${d.doneAt}${d.onTime === false ? " LATE" : ""}` : d.status === "pending" ? `PENDING, due ${d.due}` : "not required";
      out(`    ${d.code.padEnd(22)} ${state}  [${d.article}]\n      ${d.reason}\n`);
    }
    for (const n of v.notices.counts) out(`  notices:  ${n.kind}/${n.audience}/${n.channel} ${n.status} ${n.count}\n`);
    if (opts.timeline) {
      out("  timeline:\n");
      for (const e of v.timeline) out(`    #${e.seq} ${e.at} ${e.act} by ${e.actor} (audit #${e.auditSeq}) ${JSON.stringify(e.detail)}\n`);
    }
  };
  const isoOpt = (v: string | undefined, flag: string) => {
    if (v !== undefined && (Number.isNaN(Date.parse(v)) || !/^\d{4}-\d{2}-\d{2}T/.test(v))) throw new HaechiError("VALIDATION_FAILED", `${flag} must be an ISO 8601 date-time such as 2026-11-20T09:00:00Z`);
    return v;
  };
  const oneOf = <T extends string>(v: string | undefined, allowed: readonly T[], flag: string): T | undefined => {
    if (v !== undefined && !allowed.includes(v as T)) throw new HaechiError("VALIDATION_FAILED", `${flag} must be one of ${allowed.join(", ")} (got "${v}")`);
    return v as T | undefined;
  };

  common(incident.command("open").description("open an incident: awareness starts the 72-hour clock (an alert, by hand, or an outside report: LAW §15 H1)"))
    .requiredOption("--kind <kind>", `${INCIDENT_KINDS.join(" | ")}`)
    .requiredOption("--summary <text>", "what happened, in a line (no personal data)")
    .option("--source <type>", "alert | manual | external", "manual")
    .option("--channel <channel>", `external source: ${EXTERNAL_CHANNELS.join(" | ")}`)
    .option("--reporter <who>", "external source: who reported it")
    .option("--reference <ref>", "external source: article, ticket or report reference")
    .option("--alert-seq <n>", "alert source: the seq of the detection.alert audit entry")
    .option("--alert-id <id>", "alert source: the alert's id")
    .option("--aware-at <time>", "when the company became aware (ISO 8601; default now, or the alert's time)")
    .option("--principal <names>", "trace these principals at once (comma-separated, repeatable)", many)
    .option("--recipient <names>", "trace provisions to these recipients at once", many)
    .option("--from <time>", "start of the window to trace")
    .option("--to <time>", "end of the window (default now)")
    .option("--intrusion", "unlawful external access (Decree 40(1)3)")
    .option("--as <principal>", "operator principal (default: the catalog's first operator)")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const kind = oneOf(o.kind, INCIDENT_KINDS, "--kind")!;
        const type = oneOf(o.source, ["alert", "manual", "external"] as const, "--source")!;
        let source: SourceInput;
        if (type === "external") {
          const channel = oneOf(o.channel, EXTERNAL_CHANNELS, "--channel");
          if (channel === undefined) throw new HaechiError("VALIDATION_FAILED", "--channel is required for --source external (press, bug_bounty, …)");
          source = { type, channel, ...(o.reporter ? { reporter: o.reporter } : {}), ...(o.reference ? { reference: o.reference } : {}) };
        } else if (type === "alert") {
          if (o.alertSeq !== undefined && !/^[1-9]\d*$/.test(o.alertSeq)) throw new HaechiError("VALIDATION_FAILED", "--alert-seq must be a positive whole number");
          source = { type, ...(o.alertSeq ? { auditSeq: Number(o.alertSeq) } : {}), ...(o.alertId ? { alertId: o.alertId } : {}) };
        } else source = { type };
        const traced = (o.principal?.length ?? 0) + (o.recipient?.length ?? 0) > 0 || o.from !== undefined;
        const v = await c.services.incidents.open(cliCtx(incidentActor(c, o.as)), {
          kind,
          summary: o.summary,
          source,
          ...(isoOpt(o.awareAt, "--aware-at") ? { awareAt: o.awareAt } : {}),
          ...(o.intrusion ? { facts: { intrusion: true } } : {}),
          ...(traced
            ? { scope: { ...(o.principal ? { principals: o.principal } : {}), ...(o.recipient ? { recipients: o.recipient } : {}), ...(isoOpt(o.from, "--from") ? { from: o.from } : {}), ...(isoOpt(o.to, "--to") ? { to: o.to } : {}) } }
            : {}),
        });
        out(`opened ${v.id}\n`);
        printIncident(v);
      });
    });

  common(incident.command("list").description("incidents, newest awareness first, with deadline and time left"))
    .option("--status <status>", "open | closed")
    .option("--as <principal>", "operator principal")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const status = oneOf(o.status, ["open", "closed"] as const, "--status");
        for (const v of await c.services.incidents.list(cliCtx(incidentActor(c, o.as)), status ? { status } : {})) {
          out(`${v.id}  ${v.kind.padEnd(10)} ${v.status.padEnd(6)} aware ${v.awareAt}  deadline ${v.deadline} (${v.timeLeft.text})  ${v.people ? `${v.people.total} people` : "no scope"}  ${v.summary}\n`);
        }
      });
    });

  common(incident.command("show <id>").description("an incident: scope, duties with their articles, notices, timeline"))
    .option("--json", "print the whole view as JSON")
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const v = await c.services.incidents.get(cliCtx(incidentActor(c, o.as)), id);
        if (o.json) out(`${JSON.stringify(v, null, 2)}\n`);
        else printIncident(v, { timeline: true });
      });
    });

  common(incident.command("scope <id>").description("trace who was affected from the audit log (and the provision ledger): people, fields, principals, recipients, window"))
    .option("--principal <names>", "principals whose access to trace (comma-separated, repeatable)", many)
    .option("--recipient <names>", "recipients whose provisions to trace", many)
    .requiredOption("--from <time>", "start of the window (ISO 8601)")
    .option("--to <time>", "end of the window (default now)")
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const v = await c.services.incidents.scope(cliCtx(incidentActor(c, o.as)), id, {
          ...(o.principal ? { principals: o.principal } : {}),
          ...(o.recipient ? { recipients: o.recipient } : {}),
          from: isoOpt(o.from, "--from"),
          ...(isoOpt(o.to, "--to") ? { to: o.to } : {}),
        });
        printIncident(v);
      });
    });

  common(incident.command("facts <id>").description("record facts and containment, the risk-reduced finding, a possible breach confirmed or dismissed, or close"))
    .option("--circumstances-ko <text>", "how it happened, in Korean (item 2)")
    .option("--circumstances-en <text>", "how it happened, in English (item 2)")
    .option("--occurred-from <time>", "when it began")
    .option("--occurred-to <time>", "when it ended")
    .option("--intrusion", "unlawful external access (Decree 40(1)3)")
    .option("--containment <measure:description>", `a measure taken: ${CONTAINMENT_MEASURES.join(" | ")}, then ':' and what was done (repeatable)`, (v: string, prev: string[] = []) => [...prev, v])
    .option("--risk-reduced <reason>", "Decree 40(1) proviso: how retrieval or deletion made the risk substantially lower")
    .option("--confirm <kind>", "a possible breach confirmed as this kind")
    .option("--no-breach", "a possible breach found not to be one")
    .option("--close", "close the incident")
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        if (Boolean(o.circumstancesKo) !== Boolean(o.circumstancesEn)) throw new HaechiError("VALIDATION_FAILED", "give the circumstances in both languages: --circumstances-ko and --circumstances-en");
        const containment = ((o.containment as string[] | undefined) ?? []).map((x) => {
          const i = x.indexOf(":");
          const measure = oneOf(i > 0 ? x.slice(0, i) : x, CONTAINMENT_MEASURES, "--containment");
          if (i < 0 || x.slice(i + 1).trim() === "") throw new HaechiError("VALIDATION_FAILED", `--containment ${x}: write measure:description`);
          return { measure: measure!, description: x.slice(i + 1).trim() };
        });
        const facts = {
          ...(o.circumstancesKo ? { circumstances: { ko: o.circumstancesKo, en: o.circumstancesEn } } : {}),
          ...(isoOpt(o.occurredFrom, "--occurred-from") ? { occurredFrom: o.occurredFrom } : {}),
          ...(isoOpt(o.occurredTo, "--occurred-to") ? { occurredTo: o.occurredTo } : {}),
          ...(o.intrusion ? { intrusion: true } : {}),
        };
        const confirm = oneOf(o.confirm, INCIDENT_KINDS.filter((k) => k !== "possible"), "--confirm");
        const v = await c.services.incidents.record(cliCtx(incidentActor(c, o.as)), id, {
          ...(Object.keys(facts).length > 0 ? { facts } : {}),
          ...(containment.length > 0 ? { containment } : {}),
          ...(o.riskReduced ? { riskReduced: { reason: o.riskReduced } } : {}),
          ...(confirm ? { confirm: { kind: confirm as Exclude<(typeof INCIDENT_KINDS)[number], "possible"> } } : {}),
          ...(o.breach === false ? { noBreach: true } : {}),
          ...(o.close ? { close: true } : {}),
        });
        printIncident(v);
      });
    });

  common(incident.command("notify <id>").description("prepare and hand over the notices the facts call for; website posting for people without contact details"))
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const v = await c.services.incidents.notify(cliCtx(incidentActor(c, o.as)), id);
        const r = v.round;
        out(`${r.kind} notice to ${r.people} people: ${Object.entries(r.byChannel).sort(([a], [b]) => (a < b ? -1 : 1)).map(([ch, n]) => `${n} by ${ch}`).join(", ") || "none directly"}; ${r.withoutContact} without contact details${r.posting ? "; website posting for at least 30 days" : ""}; ${r.sent} handed over, ${r.failed} failed\n`);
        printIncident(v);
      });
    });

  common(incident.command("report <id>").description("file the reports the duties require (PIPC/KISA, FSC/FSS), or the one named"))
    .option("--authority <who>", "pipc_kisa | fsc_fss")
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const authority = oneOf(o.authority, ["pipc_kisa", "fsc_fss"] as const, "--authority");
        const v = await c.services.incidents.report(cliCtx(incidentActor(c, o.as)), id, authority ? { authority } : {});
        printIncident(v);
      });
    });

  common(incident.command("outbox <id>").description("the operator's pickup: messages as NDJSON with their text and addresses (each address read is audited)"))
    .option("--status <status>", "queued | sent | failed")
    .option("--limit <n>", "at most this many", "100")
    .option("--after <messageId>", "continue after this message")
    .option("--as <principal>", "operator principal")
    .action(async (id: string, o) => {
      if (!/^[1-9]\d*$/.test(String(o.limit)) || Number(o.limit) > 1000) throw new HaechiError("VALIDATION_FAILED", "--limit must be a whole number from 1 to 1000");
      await withContainer(config(o), async (c) => {
        const status = oneOf(o.status, ["queued", "sent", "failed"] as const, "--status");
        const r = await c.services.incidents.outbox(cliCtx(incidentActor(c, o.as)), id, { ...(status ? { status } : {}), limit: Number(o.limit), ...(o.after ? { after: o.after } : {}) });
        for (const m of r.messages) out(`${JSON.stringify(m)}\n`);
        if (r.next) process.stderr.write(`more: --after ${r.next}\n`);
      });
    });

  // ---------------------------------------------------------------- notices and the outbox (ADR 0011)

  const notices = program.command("notices").description("notices to people through the outbox: the annual usage-and-provision notice (PIPA Art. 20-2)");
  common(notices.command("annual").description("queue the annual usage-and-provision notice for every eligible person (PIPA Art. 20-2; Decree 15-3); idempotent per person and year"))
    .requiredOption("--year <yyyy>", "the year the notice reports (1 January to 31 December, Korean time)")
    .option("--dry-run", "count who would get it and who is left out, queue nothing")
    .option("--as <principal>", "operator principal (default: the catalog's first operator)")
    .action(async (o) => {
      if (!/^\d{4}$/.test(String(o.year))) throw new HaechiError("VALIDATION_FAILED", "--year must be a four-digit year, e.g. 2026");
      await withContainer(config(o), async (c) => {
        const bar = progressBar(o.dryRun ? "annual notice (dry run)" : "annual notice", { unit: "people" });
        const r = await c.services.notices.annual(cliCtx(o.as ?? operatorOf(c)), {
          year: Number(o.year),
          dryRun: Boolean(o.dryRun),
          onProgress: (p) => bar.update(p.scanned, null, `${p.eligible} eligible, ${p.queued} queued`),
        });
        bar.done(r.scanned, null, `${r.eligible} eligible, ${r.queued} queued`);
        out(`annual notice ${r.year} (${r.duty.required ? "required" : "voluntary"}: ${r.duty.reason})\n`);
        out(`  ${r.scanned} people scanned, ${r.eligible} eligible${r.dryRun ? " (dry run: nothing queued)" : `, ${r.queued} queued, ${r.already} already queued`}\n`);
        if (r.decoys > 0) out(`  ${r.decoys} canary subjects passed over (decoys, not people)\n`);
        const channels = Object.entries(r.byChannel).sort(([a], [b]) => (a < b ? -1 : 1)).map(([ch, n]) => `${n} by ${ch}`).join(", ");
        if (channels) out(`  channels: ${channels}\n`);
        for (const [reason, n] of Object.entries(r.skipped)) if (n > 0) out(`  left out ${reason}: ${n}\n`);
        if (!r.dryRun && r.queued > 0) out(`deliver with: haechi outbox deliver (the server also delivers every ${c.config.notify.deliverEverySeconds || "—"} s)\n`);
      });
    });
  common(notices.command("opt-out <id>").description("record that a person does not want the annual notice (or, with --undo, wants it again)"))
    .requiredOption("--as <principal>", "the service principal whose id this is")
    .option("--undo", "withdraw the opt-out")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const r = await c.services.notices.setAnnualOptOut(cliCtx(o.as), id, !o.undo);
        out(`${id}: ${r.optedOut ? "opted out of" : "receives"} the annual notice (recorded ${r.at})\n`);
      });
    });

  const outboxCmd = program.command("outbox").description("the outbox of notices to people: deliver, list, status");
  common(outboxCmd.command("deliver").description("deliver due messages through the configured transport (retries with backoff; proof kept per message)"))
    .option("--kind <kind>", MESSAGE_KINDS.join(" | "))
    .option("--limit <n>", "at most this many messages")
    .option("--as <principal>", "operator principal")
    .action(async (o) => {
      if (o.limit !== undefined && !/^[1-9]\d*$/.test(String(o.limit))) throw new HaechiError("VALIDATION_FAILED", "--limit must be a positive whole number");
      await withContainer(config(o), async (c) => {
        const kind = oneOf(o.kind, MESSAGE_KINDS, "--kind");
        const bar = progressBar("deliver", { unit: "messages" });
        const r = await c.services.outbox.deliver(cliCtx(o.as ?? operatorOf(c)), {
          ...(kind ? { kind } : {}),
          ...(o.limit ? { limit: Number(o.limit) } : {}),
          onProgress: (p) => bar.update(p.claimed, null, `${p.sent} sent, ${p.failed} to retry, ${p.givenUp} given up`),
        });
        bar.done(r.claimed, null, `${r.sent} sent, ${r.failed} to retry, ${r.givenUp} given up`);
        out(`delivered through ${r.transport}: ${r.claimed} messages, ${r.sent} sent, ${r.failed} failed (retried later), ${r.givenUp} given up\n`);
        if (r.givenUp > 0) process.exitCode = 2;
      });
    });
  common(outboxCmd.command("list").description("messages as NDJSON (text and proof; --addresses reads each address from the vault, audited: the operator's pickup)"))
    .option("--kind <kind>", MESSAGE_KINDS.join(" | "))
    .option("--period <period>", "e.g. 2026")
    .option("--status <status>", MESSAGE_STATUSES.join(" | "))
    .option("--limit <n>", "at most this many", "100")
    .option("--after <messageId>", "continue after this message")
    .option("--bodies", "include the text")
    .option("--addresses", "include each address (read from the vault now; one audit entry per address)")
    .option("--as <principal>", "operator principal")
    .action(async (o) => {
      if (!/^[1-9]\d*$/.test(String(o.limit)) || Number(o.limit) > 1000) throw new HaechiError("VALIDATION_FAILED", "--limit must be a whole number from 1 to 1000");
      await withContainer(config(o), async (c) => {
        const kind = oneOf(o.kind, MESSAGE_KINDS, "--kind");
        const status = oneOf(o.status, MESSAGE_STATUSES, "--status");
        const r = await c.services.outbox.list(
          cliCtx(o.as ?? operatorOf(c)),
          { ...(kind ? { kind } : {}), ...(status ? { status } : {}), ...(o.period ? { period: o.period } : {}), ...(o.after ? { after: o.after } : {}), limit: Number(o.limit) },
          { bodies: Boolean(o.bodies), addresses: Boolean(o.addresses) },
        );
        for (const m of r.messages) out(`${JSON.stringify(m)}\n`);
        if (r.next) process.stderr.write(`more: --after ${r.next}\n`);
      });
    });
  common(outboxCmd.command("status").description("messages per kind, period and status"))
    .option("--kind <kind>", MESSAGE_KINDS.join(" | "))
    .option("--period <period>", "e.g. 2026")
    .option("--json", "print as JSON")
    .option("--as <principal>", "operator principal")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const kind = oneOf(o.kind, MESSAGE_KINDS, "--kind");
        const rows = await c.services.outbox.status(cliCtx(o.as ?? operatorOf(c)), { ...(kind ? { kind } : {}), ...(o.period ? { period: o.period } : {}) });
        if (o.json) return out(`${JSON.stringify(rows, null, 2)}\n`);
        if (rows.length === 0) out("the outbox is empty\n");
        for (const r of rows) out(`${r.kind.padEnd(16)} ${r.period.padEnd(20)} ${r.status.padEnd(9)} ${r.count}\n`);
      });
    });

  const requests = program.command("requests").description("data-subject requests with their 10-day clocks (PIPA Arts. 35-37; Decree Arts. 41-44)");
  const printRequest = (v: RequestView, opts: { history?: boolean } = {}) => {
    out(`${v.id}  ${v.kind}  ${v.status}${v.overdue ? "  OVERDUE" : ""}\n`);
    out(`  subject:  ${v.subject.id} (as ${v.subject.principal}), via ${v.channel}\n`);
    out(`  received: ${v.receivedAt}\n  due by:   ${v.dueBy}${v.deadline !== v.dueBy ? `  postponed to ${v.deadline}` : ""}${v.timeLeft ? ` (${v.timeLeft.text})` : ""}\n`);
    out(`  rule:     ${v.rule.deadline}\n`);
    if (v.extension) out(`  postponed: ${v.extension.reason} (told ${v.extension.noticeAt} by ${v.extension.noticeChannel})\n`);
    if (v.outcome) out(`  outcome:  ${JSON.stringify(v.outcome)}${v.onTime === false ? "  LATE" : ""}\n`);
    if (opts.history) for (const e of v.history) out(`    #${e.seq} ${e.at} ${e.act} by ${e.actor} (audit #${e.auditSeq}) ${JSON.stringify(e.detail)}\n`);
  };

  common(requests.command("list").description("requests, earliest deadline first, with the time left"))
    .option("--overdue", "only open requests past their deadline")
    .option("--status <statuses>", `comma-separated: ${REQUEST_STATUSES.join(", ")}`)
    .option("--kind <kind>", REQUEST_KINDS.join(" | "))
    .option("--json", "print the list as JSON")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const status = o.status === undefined ? undefined : String(o.status).split(",").map((x: string) => oneOf(x.trim(), REQUEST_STATUSES, "--status")!);
        const kind = oneOf(o.kind, REQUEST_KINDS, "--kind");
        const r = await c.services.requests.list(cliCtx(operatorOf(c)), { ...(status ? { status } : {}), ...(kind ? { kind } : {}), ...(o.overdue ? { overdue: true } : {}) });
        if (o.json) return out(`${JSON.stringify(r, null, 2)}\n`);
        for (const v of r.requests) {
          out(`${v.id}  ${v.kind.padEnd(11)} ${v.status.padEnd(11)} received ${v.receivedAt}  deadline ${v.deadline}${v.timeLeft ? ` (${v.timeLeft.text})` : ""}  ${v.subject.principal}\n`);
        }
        out(`${r.requests.length} shown; ${r.counts.open} open, ${r.counts.overdue} overdue\n`);
      });
    });

  common(requests.command("show <id>").description("a request: its clock, the rule, the outcome and its history"))
    .option("--json", "print the whole view as JSON")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const v = await c.services.requests.get(cliCtx(operatorOf(c)), id);
        if (o.json) out(`${JSON.stringify(v, null, 2)}\n`);
        else printRequest(v, { history: true });
      });
    });

  common(requests.command("complete <id>").description("record a request handled outside Haechi as completed"))
    .requiredOption("--result <text>", "what was done and how the person was told (no personal data)")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => printRequest(await c.services.requests.complete(cliCtx(operatorOf(c)), id, { result: o.result })));
    });

  common(requests.command("extend <id>").description("postpone an access or portability request, with the reason told to the person (PIPA Art. 35(3); Decree Art. 42(2))"))
    .requiredOption("--until <time>", "the new deadline (ISO 8601)")
    .requiredOption("--reason <text>", "the justifiable reason (no personal data)")
    .requiredOption("--notice-channel <channel>", NOTICE_CHANNELS.join(" | "))
    .option("--notice-at <time>", "when the person was told (default now)")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) => {
        const channel = oneOf(o.noticeChannel, NOTICE_CHANNELS, "--notice-channel")!;
        const v = await c.services.requests.extend(cliCtx(operatorOf(c)), id, {
          until: isoOpt(o.until, "--until")!,
          reason: o.reason,
          notice: { channel, ...(isoOpt(o.noticeAt, "--notice-at") ? { at: o.noticeAt } : {}) },
        });
        printRequest(v);
      });
    });

  common(requests.command("refuse <id>").description("refuse a request on a lawful ground, with the reason and how to object (Decree Arts. 42(2), 43(3), 44(2))"))
    .requiredOption("--ground <ground>", ALL_REFUSAL_GROUNDS.join(" | "))
    .requiredOption("--reason <text>", "the reason told to the person (no personal data)")
    .requiredOption("--objection <text>", "how the person can object")
    .action(async (id: string, o) => {
      await withContainer(config(o), async (c) =>
        printRequest(await c.services.requests.refuse(cliCtx(operatorOf(c)), id, { ground: o.ground, reason: o.reason, objection: o.objection })),
      );
    });

  const drill = program.command("drill").description("rehearse disasters against real processes (Safety Standard Art. 11)");
  drill
    .command("fire")
    .description(
      "the data-centre fire: three PostgreSQL sites under Patroni + etcd on loopback, Haechi's HTTP API under a mixed load, the primary's site SIGKILLed, failover on its own; proves no acknowledged write lost, the audit chain intact, deletions kept; exits 1 if any run fails",
    )
    .option("--runs <n>", "fires in one run, the burnt site rejoining between them", "3")
    .option("--clients <n>", "concurrent HTTP clients", "4")
    .option("--warmup <ms>", "load before each fire", "3000")
    .option("--catalog <file>", "catalog file (default: the example catalog)")
    .option("--out <file>", "write the full report as JSON (e.g. bench/results/fire-drill.json)")
    .action(async (o) => {
      const { fireDrill } = await import("../ha/fire-drill.js");
      const { missingPrerequisites } = await import("../ha/ha-env.js");
      const missing = missingPrerequisites("patroni");
      if (missing !== undefined) throw new HaechiError("VALIDATION_FAILED", `the fire drill cannot run here: ${missing} (apt-get install patroni etcd-server postgresql-15)`);
      const positive = (name: string, v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new HaechiError("VALIDATION_FAILED", `${name} must be a positive whole number, got "${v}"`);
        return n;
      };
      const report = await fireDrill({
        runs: positive("--runs", o.runs as string),
        clients: positive("--clients", o.clients as string),
        warmupMs: positive("--warmup", o.warmup as string),
        ...(o.catalog ? { catalogFile: path.resolve(o.catalog as string) } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      if (o.out) {
        fs.mkdirSync(path.dirname(path.resolve(o.out as string)), { recursive: true });
        fs.writeFileSync(o.out as string, `${JSON.stringify({ name: "fire-drill", date: report.finishedAt, ...report }, null, 2)}\n`);
      }
      const s = report.summary;
      out(`fire drill: ${report.pass ? "PASS" : "FAIL"}, ${s.passed} of ${s.runs} runs passed\n`);
      out("run  burnt → new primary  unavailable  acknowledged (create/consent/erase/read)  unknown→retried  lost  resurrected  twice  audit      nodes\n");
      for (const c of report.cycles) {
        const a = c.acknowledged;
        out(
          `${String(c.run).padStart(3)}  ${`${c.killedSite} → ${c.newPrimary}`.padEnd(19)}  ${`${(c.unavailableMs / 1000).toFixed(1)} s`.padStart(11)}  ${`${a.create}/${a.consent}/${a.erase}/${a.read}`.padEnd(41)}  ${String(c.unknownOutcomes).padStart(15)}  ${String(c.lost.length).padStart(4)}  ${String(c.resurrected.length).padStart(11)}  ${String(c.appliedTwice.length).padStart(5)}  ${(c.audit.ok ? "verifies" : "FAILS").padEnd(9)}  ${c.nodes.every((n) => n.same) ? "identical" : "DIFFER"}\n`,
        );
        for (const p of [...c.lost, ...c.resurrected, ...c.wrongConsent, ...c.appliedTwice, ...c.unexpected, ...c.audit.missing].slice(0, 10)) out(`     ${p}\n`);
      }
      out(`unavailable min / median / max: ${[s.unavailableMs.min, s.unavailableMs.median, s.unavailableMs.max].map((x) => (x / 1000).toFixed(1)).join(" / ")} s (target ≤ ${s.targetMs / 1000} s); ${s.acknowledgedWrites} acknowledged writes, ${s.lost} lost\n`);
      if (!report.pass) process.exitCode = 1;
    });

  const audit = program.command("audit").description("the tamper-evident audit log");
  common(audit.command("verify").description("verify the audit chain; exits 1 on any problem"))
    .option("--checkpoint <file...>", "checkpoint export(s) kept outside: detects truncation of the tail")
    .option("--json", "print the result as JSON")
    .action(async (o) => {
      const cfg = config(o);
      await withContainer(cfg, async (c) => {
        const trusted = ((o.checkpoint as string[] | undefined) ?? []).map((f) => {
          const { checkpoint, publicKey } = parseCheckpointExport(JSON.parse(fs.readFileSync(f, "utf8")));
          if (!publicKey.equals(c.keyring.secrets.signer.publicKey)) throw new HaechiError("VALIDATION_FAILED", `${f}: signed by another key`);
          return checkpoint;
        });
        const bar = progressBar("verify", { unit: "entries" });
        const r = await c.services.audit.verify({ trusted, onProgress: (n) => bar.update(n) });
        bar.done(r.entries);
        if (o.json) out(`${JSON.stringify(r, null, 2)}\n`);
        else {
          out(`${r.ok ? "OK" : "FAILED"}: ${r.entries} entries, head ${r.head ? `#${r.head.seq} ${r.head.hash.slice(0, 16)}…` : "(empty)"}, ${r.checkpointsChecked} checkpoints checked\n`);
          for (const p of r.problems) out(`  #${p.seq} ${p.kind}: ${p.detail}\n`);
          if (r.problemCount > r.problems.length) out(`  … and ${r.problemCount - r.problems.length} more\n`);
        }
        if (!r.ok) process.exitCode = 1;
      });
    });
  common(audit.command("checkpoint").description("sign the current head; write the export to keep outside"))
    .option("--out <file>", "write the checkpoint export here")
    .action(async (o) => {
      const cfg = config(o);
      await withContainer(cfg, async (c) => {
        const doc = await c.services.audit.checkpoint();
        const text = `${JSON.stringify(doc, null, 2)}\n`;
        if (o.out) {
          fs.writeFileSync(o.out, text);
          out(`checkpoint #${doc.checkpoint.seq} written to ${o.out}\n`);
        } else out(text);
      });
    });

  const keys = program.command("keys").description("key-encryption keys and API keys");
  common(keys.command("rotate").description("add a KEK version and re-wrap every data key (online)"))
    .option("--resume", "only finish re-wrapping under the active version")
    .action(async (o) => {
      const cfg = config(o);
      await withContainer(cfg, async (c) => {
        const bar = progressBar("rewrap", { unit: "keys" });
        const r = await c.services.keys.rotate({ resumeOnly: Boolean(o.resume), onProgress: (d, t) => bar.update(d, t) });
        bar.done(r.rewrapped);
        out(`active KEK is v${r.kekVersion}; ${r.rewrapped} data keys and ${r.rewrappedSealed} sealed-store keys re-wrapped\n`);
      });
    });
  common(keys.command("status").description("data keys per KEK version")).action(async (o) => {
    await withContainer(config(o), async (c) => {
      out(`active KEK v${c.keyring.kek.activeVersion()}\n`);
      for (const s of await c.services.keys.status()) out(`  v${s.kekVersion}: ${s.count} data keys\n`);
    });
  });
  common(keys.command("issue <principal>").description("issue an API key for a principal (shown once)")).action(async (principal: string, o) => {
    await withContainer(config(o), async (c) => {
      const k = await c.services.auth.issue(principal);
      out(`${k.token}\n`);
    });
  });

  common(keys.command("revoke <keyId>").description("revoke an API key at once (the running server stops accepting it within seconds)")).action(
    async (keyId: string, o) => {
      await withContainer(config(o), async (c) => {
        await c.services.auth.revoke(keyId);
        out(`revoked ${keyId}\n`);
      });
    },
  );
  common(keys.command("list").description("API keys: id, principal, created, revoked, locked")).action(async (o) => {
    await withContainer(config(o), async (c) => {
      for (const k of await c.services.auth.list()) {
        out(`${k.keyId}  ${k.principal.padEnd(18)} created ${k.createdAt}${k.revokedAt ? `  revoked ${k.revokedAt}` : ""}${k.lockedUntil ? `  locked until ${k.lockedUntil}` : ""}\n`);
      }
    });
  });

  // ---------------------------------------------------------------- the console's staff accounts (ADR 0013)
  const consoleCmd = program.command("console").description("the operators' console (/console): staff accounts");
  const user = consoleCmd.command("user").description("staff accounts: one per person, each with a role (cpo, security, auditor)");
  /** The password: from a file (`-`: standard input), else asked twice on the terminal without echo. */
  const readPassword = async (file: string | undefined): Promise<string> => {
    if (file !== undefined) {
      const text = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
      return text.split(/\r?\n/)[0] ?? "";
    }
    if (!process.stdin.isTTY) throw new HaechiError("VALIDATION_FAILED", "no terminal to ask for the password on: give --password-file <file> (or - for standard input)");
    const ask = (prompt: string) =>
      new Promise<string>((resolve) => {
        process.stderr.write(prompt);
        const stdin = process.stdin;
        stdin.setRawMode(true);
        stdin.resume();
        let value = "";
        const onData = (buf: Buffer) => {
          for (const ch of buf.toString("utf8")) {
            if (ch === "\r" || ch === "\n") {
              stdin.setRawMode(false);
              stdin.pause();
              stdin.off("data", onData);
              process.stderr.write("\n");
              return resolve(value);
            }
            if (ch === "\u0003") process.exit(130);
            value = ch === "\u007f" ? value.slice(0, -1) : value + ch;
          }
        };
        stdin.on("data", onData);
      });
    const first = await ask("password (12 characters or more): ");
    if ((await ask("again: ")) !== first) throw new HaechiError("VALIDATION_FAILED", "the two passwords differ");
    return first;
  };
  common(user.command("add").description("add a staff account; prints the TOTP enrolment URI once (scan it into an authenticator app)"))
    .requiredOption("--id <staff>", "the staff id (lower kebab-case, e.g. kim-cpo): one per person, never shared or reused")
    .addOption(new Option("--role <role>", "cpo: everything; security: alerts, incidents, holds; auditor: read-only").choices(["cpo", "security", "auditor"]).makeOptionMandatory())
    .option("--password-file <file>", "read the password from this file's first line (- for standard input) instead of asking")
    .option("--by <name>", "who grants it (recorded in the audit log; default the catalog's operator principal)")
    .action(async (o) => {
      const password = await readPassword(o.passwordFile);
      await withContainer(config(o), async (c) => {
        const a = await c.services.operators.add({ id: o.id, role: o.role, password, by: o.by ?? operatorOf(c) });
        out(`staff ${a.id} added with role ${a.role} (audited)\n`);
        out(`Scan this into the person's authenticator app now; it is shown once and cannot be shown again:\n  ${a.otpauthUri}\n`);
      });
    });
  common(user.command("list").description("staff accounts: role, created, last login, locked, disabled (never a secret)")).action(async (o) => {
    await withContainer(config(o), async (c) => {
      const rows = await c.services.operators.list();
      if (rows.length === 0) out("no staff accounts: add one with haechi console user add --id <staff> --role cpo\n");
      for (const u of rows) {
        out(
          `${u.id.padEnd(20)} ${u.role.padEnd(9)} created ${u.createdAt} by ${u.createdBy}  last login ${u.lastLoginAt ?? "never"}${u.lockedUntil && u.lockedUntil > c.clock.now().toISOString() ? `  LOCKED until ${u.lockedUntil}` : ""}${u.disabledAt ? `  DISABLED ${u.disabledAt}` : ""}\n`,
        );
      }
    });
  });
  common(user.command("disable").description("disable a staff account at once (audited; its console sessions end at their next request)"))
    .requiredOption("--id <staff>", "the staff id")
    .option("--reason <text>", "why (kept in the audit log; no personal data)")
    .option("--by <name>", "who revokes it (default the catalog's operator principal)")
    .action(async (o) => {
      await withContainer(config(o), async (c) => {
        const u = await c.services.operators.disable({ id: o.id, by: o.by ?? operatorOf(c), ...(o.reason ? { reason: String(o.reason) } : {}) });
        out(`staff ${u.id} disabled ${u.disabledAt}\n`);
      });
    });

  return program;
};

/** Runs the CLI; errors print as `error CODE: message` and exit non-zero, never a stack trace. */
export const runCli = async (argv: string[], env: Env) => {
  try {
    await buildCli(env).parseAsync(argv);
  } catch (e) {
    if (isHaechiError(e)) {
      process.stderr.write(`error ${e.code}: ${e.message}\n`);
    } else {
      process.stderr.write(`error INTERNAL: ${(e as Error).message}\n`);
    }
    process.exitCode = 1;
  }
};
