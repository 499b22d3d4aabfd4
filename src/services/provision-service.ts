/**
 * The provision gate: the only door through which personal data leaves Haechi for another
 * organisation (PIPA Art. 17, 26, 28-8; LAW §15 C-D; docs/adr/0005-provision-gate.md).
 *
 * A provision is planned (a dry run that counts who would be sent and who is left out, and why)
 * or run. A run streams the population in id order, page by page; worker threads decrypt, format
 * and encrypt each page into a part file for the recipient; parts are then committed in order:
 *
 *   part file written and fsynced → audit entry (part, file hash, ledger digest) durable →
 *   one transaction: the part's export record + a ledger entry per person + the resume cursor
 *
 * so there is never a ledger entry without its export record, a crash loses at most the parts
 * in flight, and a rerun resumes after the cursor without duplicates. Every part re-checks the
 * kill switch. The export is released (manifest signed) only when the run completes.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { addPeriod, idContextOf, subtractPeriod } from "../core/catalog/catalog-fns.js";
import { isOperatorPrincipal } from "../core/console/console-roles.js";
import { HaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { ExternalSubjectId, SubjectId } from "../core/ids.js";
import type {
  DataStore,
  KeyStore,
  ProvisionCounts,
  ProvisionRow,
  ScheduleRow,
  SuspensionRow,
} from "../core/ports.js";
import {
  checkProvision,
  formatGateReasons,
  subjectExclusion,
  type GateReason,
  type ProvisionPlan,
  type ProvisionRequest,
} from "../core/provision/gate-fns.js";
import { dekAad } from "../crypto/envelope.js";
import { deriveKey, type KekProvider, type RootSecrets } from "../crypto/keyring.js";
import type { Pseudonyms } from "../crypto/pseudonym.js";
import { randomBytes } from "../crypto/random.js";
import { openExportWriter, type PartResult } from "../provision/export-writer.js";
import { writeFileDurably } from "../util/durable-file.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type ProvisionServiceDeps = BaseDeps & {
  data: Pick<DataStore, "provisions" | "getSubject">;
  keys: Pick<KeyStore, "getMany" | "get">;
  kek: KekProvider;
  pseudonyms: Pseudonyms;
  /** Root of the pseudonym contexts: each recipient gets the context `recipient:<name>`. */
  pseudonymRoot: Buffer;
  signer: RootSecrets["signer"];
  exportDir: string;
  /** How long a finished provision's export files stay for the recipient to fetch (ISO period, default P30D). */
  exportKeep?: string;
  /** Worker threads for decrypting and encrypting (default: min(2, cores); 0 = inline). */
  threads?: number;
  /** Subjects per page and part (default 4,000). */
  pageSize?: number;
  /**
   * The canary (decoy) subjects (ADR 0009): never provided (they are not people, and a decoy in
   * a recipient's file would trip the detector on a lawful flow). Not counted: the counts show
   * no one how many decoys there are. Absent: none.
   */
  canaries?: () => Promise<ReadonlySet<SubjectId>>;
};

export interface ProvisionProgress {
  id: string;
  scanned: number;
  included: number;
  parts: number;
}

export interface ProvisionView {
  id: string;
  status: ProvisionRow["status"];
  mode: "plan" | "run";
  principal: string;
  recipient: string;
  country: string;
  purpose: string;
  label: ProvisionRow["label"];
  classification: ProvisionRow["classification"];
  basis: string;
  transferBasis: string | null;
  fields: string[];
  format: ProvisionRow["format"];
  counts: ProvisionCounts;
  parts: number;
  diff: ProvisionRow["diff"];
  reasons: string[];
  scheduleId: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface LedgerView {
  provision: string;
  recipient: string;
  recipientName: unknown;
  country: string;
  purpose: string;
  fields: string[];
  basis: string;
  transferBasis: string | null;
  status: ProvisionRow["status"];
  at: string;
}

export interface Manifest {
  format: "haechi-provision-manifest/1";
  provision: string;
  controller: string;
  recipient: { name: string; legalName: unknown; country: string; publicKey: string };
  classification: ProvisionRow["classification"];
  purpose: string;
  basis: string;
  transferBasis: string | null;
  fields: string[];
  transform: ProvisionRequest["transform"];
  exportFormat: ProvisionRow["format"];
  ids: "recipient-specific pseudonyms";
  encryption: "age X25519";
  subjects: number;
  parts: { part: number; file: string; subjects: number; bytes: number; sha256: string; ledgerDigest: string }[];
  createdAt: string;
  completedAt: string;
  signature?: { alg: "Ed25519"; keyId: string; value: string };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("base64url")}`;

/** JSON with object keys sorted at every level: what the manifest signature covers. */
export const stableJson = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
};

/** The digest of one part's ledger entries, as the audit entry and the manifest carry it. */
export const ledgerDigest = (provisionId: string, part: number, subjects: readonly string[]): string => {
  const h = crypto.createHash("sha256").update(`haechi-ledger/v1\n${provisionId}\n${part}\n`);
  for (const s of subjects) h.update(s).update("\n");
  return h.digest("hex");
};

const viewOf = (r: ProvisionRow): ProvisionView => ({
  id: r.id,
  status: r.status,
  mode: r.status === "planned" ? "plan" : "run",
  principal: r.principal,
  recipient: r.recipient,
  country: r.country,
  purpose: r.purpose,
  label: r.label,
  classification: r.classification,
  basis: r.basis,
  transferBasis: r.transferBasis,
  fields: r.fields,
  format: r.format,
  counts: r.counts,
  parts: r.parts,
  diff: r.diff,
  reasons: r.reasons,
  scheduleId: r.scheduleId,
  createdAt: r.createdAt.toISOString(),
  finishedAt: r.finishedAt?.toISOString() ?? null,
});

const emptyCounts = (): ProvisionCounts => ({ scanned: 0, included: 0, excluded: {} });

/** Thrown for a refused provision: the closed codes travel in `details.reasons`. */
export const provisionDenied = (id: string | null, reasons: readonly GateReason[], notes: readonly string[]) =>
  new HaechiError("PROVISION_DENIED", `provision refused:\n${formatGateReasons(reasons)}`, {
    provision: id,
    reasons: reasons.map(({ code, message, article, field }) => ({ code, message, article, ...(field ? { field } : {}) })),
    notes,
  });

export const provisionService = (deps: ProvisionServiceDeps) => {
  const store = deps.data.provisions;
  const pageSize = deps.pageSize ?? 4000;
  /** Runs executing in this process, so a suspension stops them at once and a run is never doubled. */
  const running = new Map<string, { recipient: string; country: string; abort: AbortController; done: Promise<ProvisionRow> }>();

  const principalOf = (catalog: Catalog, name: string) => catalog.principals[name];
  const requireService = (catalog: Catalog, ctx: RequestContext) => {
    const p = principalOf(catalog, ctx.principal);
    if (!p || p.role !== "service") throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" may not request provisions`);
  };
  const requireOperator = (catalog: Catalog, ctx: RequestContext) => {
    if (!isOperatorPrincipal(catalog, ctx.principal)) {
      throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" is not an operator`);
    }
  };
  /** The owner of a provision, or an operator, may see it. */
  const requireVisible = (catalog: Catalog, ctx: RequestContext, row: ProvisionRow) => {
    if (row.principal !== ctx.principal && !isOperatorPrincipal(catalog, ctx.principal)) {
      throw new HaechiError("NOT_FOUND", `provision ${row.id} not found`);
    }
  };

  const audit = (ctx: RequestContext, at: Date, e: {
    action: string;
    effect: "allow" | "deny" | "info" | "error";
    purpose: string | null;
    fields: string[];
    reasons: string[];
    count?: number;
    meta: Record<string, string | number | boolean | null>;
  }) => deps.audit.record({ ...entryBase(ctx, at), subjectRef: null, ...e });

  const gate = async (catalog: Catalog, principal: string, req: ProvisionRequest, now: Date) => {
    // A transform for a field that is not sent is a typo that would send the field untransformed.
    const stray = Object.keys(req.transform).filter((f) => !req.fields.includes(f));
    if (stray.length > 0) throw new HaechiError("VALIDATION_FAILED", `transform: ${stray.join(", ")} ${stray.length > 1 ? "are" : "is"} not among the requested fields`);
    return checkProvision(catalog, principal, req, await store.activeSuspensions(), now);
  };

  const baseRow = (ctx: RequestContext, req: ProvisionRequest, catalog: Catalog, now: Date, scheduleId: string | null): ProvisionRow => ({
    id: newId("prv"),
    scheduleId,
    principal: ctx.principal,
    recipient: req.recipient,
    country: catalog.recipients[req.recipient]?.country ?? "",
    purpose: req.purpose,
    label: req.label,
    classification: req.label,
    basis: "",
    transferBasis: null,
    fields: [...new Set(req.fields)],
    format: req.format,
    request: JSON.stringify(req),
    status: "running",
    reasons: [],
    counts: emptyCounts(),
    diff: null,
    manifest: null,
    cursor: null,
    parts: 0,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
  });

  /**
   * Records and audits a refusal, then throws it. The refused provision is a record of its own, so
   * an idempotency key answers a retry with the same refusal (not a second refused provision).
   */
  const refuse = async (
    ctx: RequestContext,
    row: ProvisionRow,
    mode: "plan" | "run",
    reasons: GateReason[],
    notes: string[],
    now: Date,
    idem?: Idempotency<never>,
  ): Promise<never> => {
    const codes = [...new Set(reasons.map((r) => r.code))];
    await audit(ctx, now, {
      action: `provision.${mode}`,
      effect: "deny",
      purpose: row.purpose,
      fields: row.fields,
      reasons: codes,
      meta: { provision: row.id, recipient: row.recipient, country: row.country || null, label: row.label },
    });
    const refusal = provisionDenied(row.id, reasons, notes);
    await store.insertProvision({ ...row, status: "refused", reasons: codes, finishedAt: now }, idem && (() => idem.refusal(refusal)));
    throw refusal;
  };

  /** Counts who is in and who is out, page by page, and calls `onPage` with the included ones. */
  const scan = async function* (catalog: Catalog, row: ProvisionRow, plan: ProvisionPlan, counts: ProvisionCounts, now: Date) {
    let after = row.cursor as SubjectId | null;
    const decoys = (await deps.canaries?.()) ?? new Set<SubjectId>();
    for (;;) {
      const page = await store.scanSubjects(after, pageSize, plan.fields);
      if (page.length === 0) return;
      const included = [];
      for (const s of page) {
        if (decoys.has(s.id)) continue;
        counts.scanned++;
        const why = subjectExclusion(catalog, row.principal, row.purpose, plan, s.consents, s.fields.length, now);
        if (why) counts.excluded[why] = (counts.excluded[why] ?? 0) + 1;
        else included.push(s);
      }
      after = page[page.length - 1]!.id;
      yield { included, last: after };
    }
  };

  const signManifest = (m: Manifest): Manifest => {
    const value = crypto.sign(null, Buffer.from(stableJson({ ...m, signature: undefined })), deps.signer.privateKey).toString("base64");
    return { ...m, signature: { alg: "Ed25519", keyId: deps.signer.keyId, value } };
  };

  const keep = deps.exportKeep ?? "P30D";
  const removeExport = (id: string) => fs.rmSync(path.join(deps.exportDir, id), { recursive: true, force: true });

  /** Runs (or resumes) a provision until it completes, stops or fails. */
  const execute = async (ctx: RequestContext, rowIn: ProvisionRow, abort: AbortController, onProgress?: (p: ProvisionProgress) => void): Promise<ProvisionRow> => {
    const catalog = deps.catalog.current();
    const req = JSON.parse(rowIn.request) as ProvisionRequest;
    const started = deps.clock.now();
    const decision = await gate(catalog, rowIn.principal, req, started);
    const finish = async (patch: Partial<ProvisionRow>) => {
      const now = deps.clock.now();
      const next = { ...rowIn, ...patch, updatedAt: now, finishedAt: now };
      await store.updateProvision(rowIn.id, {
        status: next.status,
        reasons: next.reasons,
        counts: next.counts,
        diff: next.diff,
        manifest: next.manifest,
        updatedAt: now,
        finishedAt: now,
      });
      return { ...(await store.getProvision(rowIn.id))!, ...patch };
    };
    if (decision.effect === "deny") {
      // Conditions changed since the run started (a suspension, a new catalog): stop it.
      const codes = [...new Set(decision.reasons.map((r) => r.code))];
      await audit(ctx, started, {
        action: "provision.run",
        effect: "deny",
        purpose: rowIn.purpose,
        fields: rowIn.fields,
        reasons: codes,
        meta: { provision: rowIn.id, recipient: rowIn.recipient, country: rowIn.country, resumed: rowIn.parts > 0 },
      });
      removeExport(rowIn.id);
      return finish({ status: "stopped", reasons: codes });
    }
    const { plan } = decision;
    const recipient = catalog.recipients[req.recipient]!;
    const dir = path.join(deps.exportDir, rowIn.id);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const writer = await openExportWriter({
      recipientKey: recipient.public_key,
      pseudonymKey: deriveKey(deps.pseudonymRoot, `pseudonym:recipient:${req.recipient}`),
      hashKey: deriveKey(deps.pseudonymRoot, `provision-hash:${req.recipient}`),
      format: req.format,
      fields: plan.fields,
      transforms: req.transform,
      ...(deps.threads !== undefined ? { threads: deps.threads } : {}),
    });
    const counts: ProvisionCounts = rowIn.parts > 0 ? structuredClone(rowIn.counts) : emptyCounts();
    let part = rowIn.parts;
    const inflight: { part: number; ids: SubjectId[]; last: SubjectId; result: Promise<PartResult> }[] = [];
    const maxInFlight = Math.max(2, (deps.threads ?? 2) + 1);
    let stopReason: string | null = null;

    const commitNext = async () => {
      const job = inflight.shift()!;
      const res = await job.result;
      if (abort.signal.aborted) throw new StopRun("RECIPIENT_SUSPENDED");
      const suspended = (await store.activeSuspensions()).some(
        (s) => (s.scope === "recipient" && s.target === rowIn.recipient) || (s.scope === "country" && s.target === rowIn.country),
      );
      if (suspended) throw new StopRun("RECIPIENT_SUSPENDED");
      const now = deps.clock.now();
      const digest = ledgerDigest(rowIn.id, job.part, job.ids);
      // Audit first (fail closed): if it cannot be written the part is never committed.
      await audit(ctx, now, {
        action: "provision.part",
        effect: "allow",
        purpose: rowIn.purpose,
        fields: plan.fields,
        reasons: [],
        count: job.ids.length,
        meta: {
          provision: rowIn.id,
          recipient: rowIn.recipient,
          country: rowIn.country,
          part: job.part,
          sha256: res.sha256,
          ledgerDigest: digest,
          basis: plan.basis,
          transferBasis: plan.transferBasis,
        },
      });
      await store.commitPart(
        {
          provisionId: rowIn.id,
          part: job.part,
          file: path.basename(res.file),
          subjects: res.subjects,
          bytes: res.bytes,
          sha256: res.sha256,
          ledgerDigest: digest,
          lastSubject: job.last,
          at: now,
        },
        job.ids,
      );
      await store.updateProvision(rowIn.id, { counts, updatedAt: now });
      onProgress?.({ id: rowIn.id, scanned: counts.scanned, included: counts.included, parts: job.part });
    };

    try {
      for await (const page of scan(catalog, rowIn, plan, counts, started)) {
        if (abort.signal.aborted) throw new StopRun("RECIPIENT_SUSPENDED");
        if (page.included.length === 0) continue;
        const keyRows = new Map((await deps.keys.getMany(page.included.map((s) => s.id))).map((k) => [k.subjectId, k]));
        const ids: SubjectId[] = [];
        const deks: Buffer[] = [];
        const values: (Buffer | null)[][] = [];
        const unwraps: Promise<Buffer>[] = [];
        for (const s of page.included) {
          const k = keyRows.get(s.id);
          if (!k) {
            // A destroyed key is destroyed data: nobody's data goes out without its key.
            counts.excluded.NO_DATA = (counts.excluded.NO_DATA ?? 0) + 1;
            continue;
          }
          ids.push(s.id);
          unwraps.push(deps.kek.unwrap(k.kekVersion, k.wrapped, dekAad(s.id, k.dekVersion)));
          const byField = new Map(s.fields.map((f) => [f.field, f.ciphertext]));
          values.push(plan.fields.map((f) => byField.get(f) ?? null));
        }
        if (ids.length === 0) continue;
        deks.push(...(await Promise.all(unwraps)));
        counts.included += ids.length;
        part++;
        const file = path.join(dir, `part-${String(part).padStart(6, "0")}.${req.format}.age`);
        const result = writer.write({ part, file, ids, deks, values });
        result.catch(() => undefined);
        inflight.push({ part, ids, last: page.last, result });
        while (inflight.length >= maxInFlight) await commitNext();
      }
      while (inflight.length > 0) await commitNext();
    } catch (e) {
      for (const j of inflight) j.result.catch(() => undefined);
      if (e instanceof StopRun) stopReason = e.code;
      else {
        await writer.close().catch(() => undefined);
        const msg = e instanceof HaechiError ? e.code : "INTERNAL";
        await audit(ctx, deps.clock.now(), {
          action: "provision.run",
          effect: "error",
          purpose: rowIn.purpose,
          fields: plan.fields,
          reasons: [msg],
          meta: { provision: rowIn.id, recipient: rowIn.recipient, country: rowIn.country },
        }).catch(() => undefined);
        // Committed parts stay (the run can be resumed); nothing is released.
        await finish({ status: "failed", reasons: [msg], counts }).catch(() => undefined);
        throw e;
      }
    }
    await writer.close();
    if (stopReason) {
      await audit(ctx, deps.clock.now(), {
        action: "provision.run",
        effect: "deny",
        purpose: rowIn.purpose,
        fields: plan.fields,
        reasons: [stopReason],
        meta: { provision: rowIn.id, recipient: rowIn.recipient, country: rowIn.country, stoppedAfterPart: part },
      });
      // Withheld: the parts made so far are destroyed, never delivered.
      removeExport(rowIn.id);
      return finish({ status: "stopped", reasons: [stopReason], counts });
    }

    const parts = await store.partsOf(rowIn.id);
    const completedAt = deps.clock.now();
    const manifest = signManifest({
      format: "haechi-provision-manifest/1",
      provision: rowIn.id,
      controller: typeof catalog.controller.name === "string" ? catalog.controller.name : catalog.controller.name.en,
      recipient: { name: req.recipient, legalName: recipient.legal_name, country: recipient.country, publicKey: recipient.public_key },
      classification: plan.classification,
      purpose: rowIn.purpose,
      basis: plan.basis,
      transferBasis: plan.transferBasis,
      fields: plan.fields,
      transform: req.transform,
      exportFormat: req.format,
      ids: "recipient-specific pseudonyms",
      encryption: "age X25519",
      subjects: parts.reduce((n, p) => n + p.subjects, 0),
      parts: parts.map((p) => ({ part: p.part, file: p.file, subjects: p.subjects, bytes: p.bytes, sha256: p.sha256, ledgerDigest: p.ledgerDigest })),
      createdAt: rowIn.createdAt.toISOString(),
      completedAt: completedAt.toISOString(),
    });
    const manifestJson = JSON.stringify(manifest, null, 2);
    // Files left by a crashed attempt that never committed are not part of the export.
    const keep = new Set(parts.map((p) => p.file));
    for (const f of fs.readdirSync(dir)) if (!keep.has(f)) fs.rmSync(path.join(dir, f), { force: true });
    writeFileDurably(path.join(dir, "manifest.json"), manifestJson);
    counts.included = manifest.subjects;
    let diff: ProvisionRow["diff"] = null;
    if (rowIn.scheduleId) {
      const sched = await store.getSchedule(rowIn.scheduleId);
      if (sched?.lastProvisionId) diff = await store.populationDiff(sched.lastProvisionId, rowIn.id);
    }
    await audit(ctx, completedAt, {
      action: "provision.complete",
      effect: "allow",
      purpose: rowIn.purpose,
      fields: plan.fields,
      reasons: [],
      count: manifest.subjects,
      meta: {
        provision: rowIn.id,
        recipient: rowIn.recipient,
        country: rowIn.country,
        parts: parts.length,
        manifestSha256: crypto.createHash("sha256").update(manifestJson).digest("hex"),
        added: diff?.added ?? null,
        removed: diff?.removed ?? null,
      },
    });
    return finish({ status: "completed", counts, manifest: manifestJson, diff });
  };

  /** Starts `execute` in the background, once per provision in this process. */
  const launch = (ctx: RequestContext, row: ProvisionRow, onProgress?: (p: ProvisionProgress) => void) => {
    const existing = running.get(row.id);
    if (existing) return existing.done;
    const abort = new AbortController();
    const done = execute(ctx, row, abort, onProgress).finally(() => running.delete(row.id));
    running.set(row.id, { recipient: row.recipient, country: row.country, abort, done });
    return done;
  };

  const plannedRow = (ctx: RequestContext, req: ProvisionRequest, plan: ProvisionPlan, catalog: Catalog, now: Date, scheduleId: string | null): ProvisionRow => ({
    ...baseRow(ctx, req, catalog, now, scheduleId),
    classification: plan.classification,
    basis: plan.basis,
    transferBasis: plan.transferBasis,
    fields: plan.fields,
  });

  const service = {
    /** Dry run: who would be sent and who is left out, by reason. Nothing leaves. */
    async plan(ctx: RequestContext, req: ProvisionRequest, idem?: Idempotency<ProvisionView & { notes: string[] }>): Promise<ProvisionView & { notes: string[] }> {
      const catalog = deps.catalog.current();
      requireService(catalog, ctx);
      const now = deps.clock.now();
      const d = await gate(catalog, ctx.principal, req, now);
      if (d.effect === "deny") {
        return refuse(ctx, { ...baseRow(ctx, req, catalog, now, null), classification: d.classification }, "plan", d.reasons, d.notes, now, idem as Idempotency<never> | undefined);
      }
      const row = { ...plannedRow(ctx, req, d.plan, catalog, now, null), status: "planned" as const };
      const counts = emptyCounts();
      for await (const page of scan(catalog, row, d.plan, counts, now)) counts.included += page.included.length;
      await audit(ctx, now, {
        action: "provision.plan",
        effect: "allow",
        purpose: req.purpose,
        fields: d.plan.fields,
        reasons: [],
        count: counts.included,
        meta: { provision: row.id, recipient: req.recipient, country: d.plan.country, classification: d.plan.classification },
      });
      const done = { ...row, counts, finishedAt: deps.clock.now() };
      const result = { ...viewOf(done), notes: d.plan.notes };
      await store.insertProvision(done, idem && (() => idem.answer(result)));
      return result;
    },

    /**
     * Checks every condition and starts the run; resolves once it is recorded and running.
     * `done` settles when the run ends.
     */
    async start(
      ctx: RequestContext,
      req: ProvisionRequest,
      opts: { scheduleId?: string; onProgress?: (p: ProvisionProgress) => void; idem?: Idempotency<ProvisionView & { notes: string[] }> } = {},
    ): Promise<{ view: ProvisionView & { notes: string[] }; done: Promise<ProvisionRow> }> {
      const catalog = deps.catalog.current();
      requireService(catalog, ctx);
      const now = deps.clock.now();
      const { idem } = opts;
      const d = await gate(catalog, ctx.principal, req, now);
      if (d.effect === "deny") {
        const row = { ...baseRow(ctx, req, catalog, now, opts.scheduleId ?? null), classification: d.classification };
        return refuse(ctx, row, "run", d.reasons, d.notes, now, idem as Idempotency<never> | undefined);
      }
      const row = plannedRow(ctx, req, d.plan, catalog, now, opts.scheduleId ?? null);
      await audit(ctx, now, {
        action: "provision.run",
        effect: "allow",
        purpose: req.purpose,
        fields: d.plan.fields,
        reasons: [],
        meta: {
          provision: row.id,
          recipient: req.recipient,
          country: d.plan.country,
          classification: d.plan.classification,
          basis: d.plan.basis,
          transferBasis: d.plan.transferBasis,
        },
      });
      const view = { ...viewOf(row), notes: d.plan.notes };
      // The run starts only once it is recorded, with the key's answer (a retry never starts a second one).
      await store.insertProvision(row, idem && (() => idem.answer(view)));
      const done = launch(ctx, row, opts.onProgress);
      done.catch(() => undefined);
      return { view, done };
    },

    /** Resumes a run that a crash or a failure interrupted (every condition is checked again). */
    async resume(
      ctx: RequestContext,
      id: string,
      onProgress?: (p: ProvisionProgress) => void,
      idem?: Idempotency<ProvisionView>,
    ): Promise<{ view: ProvisionView; done: Promise<ProvisionRow> }> {
      const catalog = deps.catalog.current();
      const row = await store.getProvision(id);
      if (!row) throw new HaechiError("NOT_FOUND", `provision ${id} not found`);
      requireVisible(catalog, ctx, row);
      if (row.status !== "running" && row.status !== "failed") {
        throw new HaechiError("CONFLICT", `provision ${id} is ${row.status}; only a running or failed run can be resumed`);
      }
      const owner: RequestContext = { ...ctx, principal: row.principal };
      const view = viewOf({ ...row, status: "running" });
      await store.updateProvision(id, { status: "running", reasons: [], updatedAt: deps.clock.now() }, idem && (() => idem.answer(view)));
      const done = launch(owner, { ...row, status: "running" }, onProgress);
      done.catch(() => undefined);
      return { view, done };
    },

    /**
     * A provision once its run in this process has ended (at once if it is not running here: a run
     * of another process, or one a crash interrupted, is shown as it stands).
     */
    async settled(ctx: RequestContext, id: string): Promise<ProvisionView & { manifest: Manifest | null }> {
      await running.get(id)?.done.catch(() => undefined);
      return service.get(ctx, id);
    },

    async get(ctx: RequestContext, id: string): Promise<ProvisionView & { manifest: Manifest | null }> {
      const row = await store.getProvision(id);
      if (!row) throw new HaechiError("NOT_FOUND", `provision ${id} not found`);
      requireVisible(deps.catalog.current(), ctx, row);
      return { ...viewOf(row), manifest: row.manifest ? (JSON.parse(row.manifest) as Manifest) : null };
    },

    async list(ctx: RequestContext, filter: { recipient?: string; limit?: number }): Promise<ProvisionView[]> {
      const catalog = deps.catalog.current();
      const operator = isOperatorPrincipal(catalog, ctx.principal);
      const rows = await store.listProvisions({
        ...(filter.recipient ? { recipient: filter.recipient } : {}),
        ...(operator ? {} : { principal: ctx.principal }),
        limit: Math.min(filter.limit ?? 100, 1000),
      });
      return rows.map(viewOf);
    },

    /** The path of a completed export's part file (only the principal that ran it may fetch it). */
    async exportFile(ctx: RequestContext, id: string, file: string): Promise<{ path: string; bytes: number }> {
      const row = await store.getProvision(id);
      if (!row || row.principal !== ctx.principal) throw new HaechiError("NOT_FOUND", `provision ${id} not found`);
      if (row.status !== "completed") throw new HaechiError("CONFLICT", `provision ${id} is ${row.status}; its export is not released`);
      const manifest = JSON.parse(row.manifest!) as Manifest;
      if (!fs.existsSync(path.join(deps.exportDir, id))) {
        throw new HaechiError("NOT_FOUND", `the export of provision ${id} was destroyed once its ${keep} for fetching had passed; the ledger and the manifest remain`);
      }
      if (file === "manifest.json") {
        const p = path.join(deps.exportDir, id, "manifest.json");
        return { path: p, bytes: fs.statSync(p).size };
      }
      const entry = manifest.parts.find((p) => p.file === file);
      if (!entry) throw new HaechiError("NOT_FOUND", `provision ${id} has no file ${file}`);
      return { path: path.join(deps.exportDir, id, entry.file), bytes: entry.bytes };
    },

    /**
     * Destroys the export files of finished provisions once `exportKeep` has passed since they
     * finished (PIPA Art. 21(1): the copy kept for the recipient to fetch has served its purpose).
     * A destruction certificate per provision comes first (fail closed); the ledger, the manifest
     * and the audit entries stay as evidence, and `verify` still checks the ledger.
     */
    async expireExports(opts: { by: string }): Promise<{ provisions: number; files: number }> {
      const now = deps.clock.now();
      const cutoff = subtractPeriod(now, keep);
      const ctx = { principal: opts.by, source: null, requestId: `exports-${randomBytes(8).toString("hex")}` };
      const res = { provisions: 0, files: 0 };
      for (const row of await store.listProvisions({ limit: 1_000_000 })) {
        if (!row.finishedAt || row.finishedAt >= cutoff) continue;
        const dir = path.join(deps.exportDir, row.id);
        if (!fs.existsSync(dir)) continue;
        const files = fs.readdirSync(dir);
        await deps.audit.record({
          ...entryBase(ctx, now),
          action: "destruction.certificate",
          effect: "info",
          purpose: row.purpose,
          subjectRef: null,
          fields: [...row.fields].sort(),
          reasons: ["EXPORT_RETENTION_ENDED"],
          count: row.counts.included,
          meta: { method: "deletion of the encrypted export files", provision: row.id, recipient: row.recipient, files: files.length, finishedAt: row.finishedAt.toISOString(), keep, by: opts.by },
        });
        removeExport(row.id);
        res.provisions++;
        res.files += files.length;
      }
      return res;
    },

    /**
     * Checks a completed provision's evidence: the manifest signature, each part file's hash,
     * and each part's ledger entries against the digest the manifest (and the audit log) carry.
     */
    async verify(ctx: RequestContext, id: string): Promise<{ ok: boolean; problems: string[] }> {
      const row = await store.getProvision(id);
      if (!row) throw new HaechiError("NOT_FOUND", `provision ${id} not found`);
      requireVisible(deps.catalog.current(), ctx, row);
      if (!row.manifest) return { ok: false, problems: [`provision ${id} is ${row.status}: no manifest`] };
      const m = JSON.parse(row.manifest) as Manifest;
      const problems: string[] = [];
      const sig = m.signature;
      if (!sig || !crypto.verify(null, Buffer.from(stableJson({ ...m, signature: undefined })), deps.signer.publicKey, Buffer.from(sig.value, "base64"))) {
        problems.push("manifest signature does not verify");
      }
      for (const p of m.parts) {
        const ids = await store.subjectsOfPart(id, p.part);
        if (ledgerDigest(id, p.part, ids) !== p.ledgerDigest) problems.push(`part ${p.part}: ledger entries differ from the signed digest`);
        const file = path.join(deps.exportDir, id, p.file);
        if (fs.existsSync(file)) {
          const h = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
          if (h !== p.sha256) problems.push(`part ${p.part}: file ${p.file} differs from its recorded hash`);
        }
      }
      return { ok: problems.length === 0, problems };
    },

    /** Every provision of one person's data (their view; feeds the transparency report). */
    async ledgerForSubject(ctx: RequestContext, external: string): Promise<{ id: ExternalSubjectId; provisions: LedgerView[] }> {
      const catalog = deps.catalog.current();
      const id = deps.pseudonyms.resolve(idContextOf(catalog, ctx.principal), external);
      const key = id ? await deps.keys.get(id) : undefined;
      // A dormant account is refused like every other ordinary read until it is reactivated.
      const dormant = key !== undefined && (await deps.data.getSubject(id!))?.status === "dormant";
      const now = deps.clock.now();
      await deps.audit.record({
        ...entryBase(ctx, now),
        action: "provision.ledger",
        effect: key && !dormant ? "allow" : "deny",
        purpose: null,
        subjectRef: key?.auditRef ?? null,
        fields: [],
        reasons: !key ? ["NOT_FOUND"] : dormant ? ["SUBJECT_DORMANT"] : [],
      });
      if (!id || !key) throw new HaechiError("NOT_FOUND", "subject not found");
      if (dormant) throw new HaechiError("SUBJECT_DORMANT", "the account is dormant (separated after inactivity): reactivate it before reading its provision ledger");
      const entries = await store.ledgerBySubject(id);
      return {
        id: external as ExternalSubjectId,
        provisions: entries.map((e) => ({
          provision: e.provisionId,
          recipient: e.recipient,
          recipientName: catalog.recipients[e.recipient]?.legal_name ?? e.recipient,
          country: e.country,
          purpose: e.purpose,
          fields: e.fields,
          basis: e.basis,
          transferBasis: e.transferBasis,
          status: e.status,
          at: e.at.toISOString(),
        })),
      };
    },

    /**
     * A recipient's ledger (operators): who was sent, as the recipient knows them (its
     * pseudonyms), so an incident at the recipient can be traced back.
     */
    async ledgerForRecipient(
      ctx: RequestContext,
      recipient: string,
      after: string | null,
      limit: number,
    ): Promise<{ entries: { provision: string; subject: string; part: number; fields: string[]; status: string; at: string }[]; next: string | null }> {
      const catalog = deps.catalog.current();
      requireOperator(catalog, ctx);
      if (!catalog.recipients[recipient]) throw new HaechiError("NOT_FOUND", `recipient ${recipient} is not in the catalog`);
      const context = `recipient:${recipient}`;
      let cursor: { provisionId: string; subjectId: SubjectId } | null = null;
      if (after) {
        const [p, s] = after.split("~");
        const sid = p && s ? deps.pseudonyms.resolve(context, s) : undefined;
        if (!sid) throw new HaechiError("BAD_REQUEST", "after: not a cursor this endpoint returned");
        cursor = { provisionId: p!, subjectId: sid };
      }
      const rows = await store.ledgerByRecipient(recipient, cursor, Math.min(Math.max(limit, 1), 10_000));
      const entries = rows.map((e) => ({
        provision: e.provisionId,
        subject: deps.pseudonyms.externalId(context, e.subjectId),
        part: e.part,
        fields: e.fields,
        status: e.status,
        at: e.at.toISOString(),
      }));
      await audit(ctx, deps.clock.now(), {
        action: "provision.ledger",
        effect: "allow",
        purpose: null,
        fields: [],
        reasons: [],
        count: entries.length,
        meta: { recipient },
      });
      const lastE = entries[entries.length - 1];
      return { entries, next: rows.length === limit && lastE ? `${lastE.provision}~${lastE.subject}` : null };
    },

    /** The kill switch (PIPA Art. 28-9): stops running provisions at once, refuses new ones. */
    async suspend(
      ctx: RequestContext,
      input: { scope: "recipient" | "country"; target: string; order: string; reason: string },
      idem?: Idempotency<SuspensionRow & { stopped: string[] }>,
    ): Promise<SuspensionRow & { stopped: string[] }> {
      const catalog = deps.catalog.current();
      requireOperator(catalog, ctx);
      if (input.scope === "recipient" && !catalog.recipients[input.target]) {
        throw new HaechiError("NOT_FOUND", `recipient ${input.target} is not in the catalog`);
      }
      if (input.scope === "country" && !/^[A-Z]{2}$/.test(input.target)) {
        throw new HaechiError("VALIDATION_FAILED", "country: must be an ISO-3166 alpha-2 code such as SG");
      }
      const now = deps.clock.now();
      const row: SuspensionRow = { id: newId("sus"), ...input, at: now, by: ctx.principal, liftedAt: null, liftedBy: null };
      await audit(ctx, now, {
        action: "provision.suspend",
        effect: "info",
        purpose: null,
        fields: [],
        reasons: [],
        meta: { suspension: row.id, scope: row.scope, target: row.target, order: row.order },
      });
      const hit = (r: { recipient: string; country: string }) =>
        (input.scope === "recipient" && r.recipient === input.target) || (input.scope === "country" && r.country === input.target);
      // The runs it stops: those running as it is recorded (the answer names them, and is stored
      // with the suspension under an idempotency key).
      const result = { ...row, stopped: [...running].filter(([, r]) => hit(r)).map(([id]) => id) };
      await store.putSuspension(row, idem && (() => idem.answer(result)));
      // Every matching run is stopped, one that started meanwhile included (the gate refuses later ones).
      const stopping = [...running].filter(([, r]) => hit(r));
      for (const [, r] of stopping) r.abort.abort();
      await Promise.allSettled(stopping.map(([, r]) => r.done));
      return result;
    },

    async lift(ctx: RequestContext, id: string, idem?: Idempotency<void>): Promise<void> {
      requireOperator(deps.catalog.current(), ctx);
      const now = deps.clock.now();
      await audit(ctx, now, { action: "provision.resume_transfers", effect: "info", purpose: null, fields: [], reasons: [], meta: { suspension: id } });
      if (!(await store.liftSuspension(id, now, ctx.principal, idem && (() => idem.answer(undefined))))) throw new HaechiError("NOT_FOUND", `no active suspension ${id}`);
    },

    async suspensions(ctx: RequestContext): Promise<SuspensionRow[]> {
      requireOperator(deps.catalog.current(), ctx);
      return store.listSuspensions();
    },

    /** A recurring provision: every run re-checks every condition and records its population diff. */
    async schedule(ctx: RequestContext, req: ProvisionRequest, every: string, firstAt?: Date, idem?: Idempotency<ScheduleRow>): Promise<ScheduleRow> {
      const catalog = deps.catalog.current();
      requireService(catalog, ctx);
      const now = deps.clock.now();
      addPeriod(now, every); // validates the period
      const d = await gate(catalog, ctx.principal, req, now);
      if (d.effect === "deny") {
        await audit(ctx, now, {
          action: "provision.schedule",
          effect: "deny",
          purpose: req.purpose,
          fields: req.fields,
          reasons: [...new Set(d.reasons.map((r) => r.code))],
          meta: { recipient: req.recipient, every },
        });
        throw provisionDenied(null, d.reasons, d.notes);
      }
      const row: ScheduleRow = {
        id: newId("sch"),
        principal: ctx.principal,
        request: JSON.stringify(req),
        every,
        nextAt: firstAt ?? now,
        lastProvisionId: null,
        active: true,
        createdAt: now,
      };
      await audit(ctx, now, {
        action: "provision.schedule",
        effect: "allow",
        purpose: req.purpose,
        fields: d.plan.fields,
        reasons: [],
        meta: { schedule: row.id, recipient: req.recipient, every },
      });
      await store.putSchedule(row, idem && (() => idem.answer(row)));
      return row;
    },

    async schedules(): Promise<ScheduleRow[]> {
      return store.listSchedules();
    },

    /** Runs every due schedule once (the server calls this on a timer; `haechi provide --due` too). */
    async runDue(source: string | null = null): Promise<ProvisionView[]> {
      const out: ProvisionView[] = [];
      for (const s of await store.dueSchedules(deps.clock.now())) {
        // Advance first, so a crash never makes the same run twice.
        await store.updateSchedule(s.id, { nextAt: addPeriod(s.nextAt, s.every) });
        const ctx: RequestContext = { principal: s.principal, source, requestId: newId("sched") };
        try {
          const { done } = await service.start(ctx, JSON.parse(s.request) as ProvisionRequest, { scheduleId: s.id });
          const row = await done;
          if (row.status === "completed") await store.updateSchedule(s.id, { lastProvisionId: row.id });
          out.push(viewOf(row));
        } catch (e) {
          if (!(e instanceof HaechiError && e.code === "PROVISION_DENIED")) throw e;
          const id = (e.details as { provision: string | null }).provision;
          const row = id ? await store.getProvision(id) : undefined;
          if (row) out.push(viewOf(row));
        }
      }
      return out;
    },

    /** Waits for runs in this process (shutdown, tests). */
    async drain(): Promise<void> {
      await Promise.allSettled([...running.values()].map((r) => r.done));
    },
  };
  return service;
};

class StopRun extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}


export type ProvisionService = ReturnType<typeof provisionService>;
