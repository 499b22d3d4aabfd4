/**
 * The one place where the layers are wired: config → catalog → keyring → stores → audit →
 * services. Each module exposes a factory taking narrow deps; this file only composes them.
 */
import fs from "node:fs";
import type { SubjectId } from "./core/ids.js";
import { auditLog, type AuditLog } from "./audit/audit-log.js";
import type { Config } from "./config/config.js";
import type { Catalog } from "./core/catalog/catalog-schema.js";
import { formatIssues, idContextOf, loadCatalogFile } from "./core/catalog/catalog-fns.js";
import { systemClock, type Clock } from "./core/clock.js";
import { HaechiError, isHaechiError } from "./core/errors.js";
import type { MessageTransport, NoticeTransport } from "./core/ports.js";
import { blindIndex } from "./crypto/blind-index.js";
import { deriveKey, keyringIdOf, openLocalKeyring, type LocalKeyring } from "./crypto/keyring.js";
import { pseudonyms } from "./crypto/pseudonym.js";
import { subjectKeys } from "./crypto/subject-keys.js";
import { auditService } from "./services/audit-service.js";
import { authService } from "./services/auth-service.js";
import { backupService } from "./services/backup-service.js";
import { canaryService } from "./services/canary-service.js";
import { consoleService } from "./services/console-service.js";
import { detectionService } from "./services/detection-service.js";
import { importService } from "./services/import-service.js";
import { idempotencyService } from "./services/idempotency-service.js";
import { incidentService } from "./services/incident-service.js";
import { buildTransport } from "./notify/index.js";
import { pickupTransport } from "./notify/pickup-transport.js";
import { asNoticeTransport } from "./notify/transports.js";
import { noticeService } from "./services/notice-service.js";
import { outboxService } from "./services/outbox-service.js";
import { fileShredJournal } from "./retention/shred-journal.js";
import { onceAMinute } from "./util/once-a-minute.js";
import { eraseService } from "./services/erase-service.js";
import { evidenceService } from "./services/evidence-service.js";
import { keysService } from "./services/keys-service.js";
import { policyService } from "./services/policy-service.js";
import { operatorService } from "./services/operator-service.js";
import { portalService } from "./services/portal-service.js";
import { provisionService } from "./services/provision-service.js";
import { requestService } from "./services/request-service.js";
import { reviewService } from "./services/review-service.js";
import type { CatalogSource } from "./services/service-types.js";
import { subjectService } from "./services/subject-service.js";
import { openPostgresStores, openSqliteStores, type Stores } from "./storage/index.js";

export interface ContainerOptions {
  clock?: Clock;
  /** Create the keyring if missing (init, serve --demo). */
  createKeyring?: boolean;
  /** Use this catalog instead of reading the configured file (tests). */
  catalog?: Catalog;
  /** Wrap the audit store (tests inject failures here: fail-closed checks). */
  wrapAuditStore?: (s: Stores["audit"]) => Stores["audit"];
  /**
   * Wrap the data store the services use (tests inject failures here: a commit that lands and then
   * answers STORE_UNAVAILABLE, as after a failover). `stores.data` stays the store itself.
   */
  wrapDataStore?: (s: Stores["data"]) => Stores["data"];
  /** How incident notices and reports are delivered (default: the configured HAECHI_NOTIFY_INCIDENTS). */
  transport?: NoticeTransport;
  /** How the outbox delivers (default: the configured HAECHI_NOTIFY_TRANSPORT). */
  messageTransport?: MessageTransport;
  /** How often detection re-reads holds and canaries written by other processes (default 5000 ms). */
  detectionRefreshMs?: number;
}

export const loadCatalog = (file: string): Catalog => {
  const r = loadCatalogFile(file);
  if (!r.ok) throw new HaechiError("CATALOG_INVALID", `catalog ${file} is invalid:\n${formatIssues(r.errors)}`, { issues: r.errors });
  return r.catalog;
};

/** Where the data store records which key file its data was written under (an id, never a key). */
const KEYRING_META = "keyring_id";

/**
 * Opens the key file the stores were written under, and only that one (ADR 0001). A key file is
 * created only for stores that never had one: a new key file over existing stores reads none of
 * their data and breaks the audit chain at its first entry, so a missing or foreign one is refused
 * with what to do instead. The stores record the key file's id (derived from its chain key, as
 * backups do) the first time they are opened.
 */
const openKeyringFor = async (stores: Stores, file: string, create: boolean, now: Date): Promise<LocalKeyring> => {
  const recorded = await stores.data.getMeta(KEYRING_META);
  if (recorded !== undefined && !fs.existsSync(file)) {
    throw new HaechiError(
      "KEY_UNAVAILABLE",
      `the key file ${file} is missing, and these stores hold data written under key file ${recorded}: restore that file from its offline copy (docs/crisis-manual.md §4.7). A new key file would read none of the data and break the audit chain, so none is created`,
    );
  }
  const keyring = openLocalKeyring(file, { create, now });
  const id = keyringIdOf(keyring);
  if (recorded === undefined) await stores.data.setMeta(KEYRING_META, id);
  else if (recorded !== id) {
    throw new HaechiError(
      "KEY_UNAVAILABLE",
      `the key file ${file} (id ${id}) is not the one these stores were written under (id ${recorded}): restore that file from its offline copy (docs/crisis-manual.md §4.7)`,
    );
  }
  return keyring;
};

export const buildContainer = async (config: Readonly<Config>, opts: ContainerOptions = {}) => {
  const clock = opts.clock ?? systemClock;
  let catalog = opts.catalog ?? loadCatalog(config.catalogFile);
  const catalogSource: CatalogSource = { current: () => catalog };
  // Without a key file and without leave to create one, stop before the stores are touched.
  if (!(opts.createKeyring ?? false) && !fs.existsSync(config.keyringFile)) openLocalKeyring(config.keyringFile, { create: false });
  const stores =
    config.store.kind === "sqlite"
      ? await openSqliteStores({ dir: config.store.dir, synchronous: config.store.synchronous })
      : await openPostgresStores({ url: config.store.url, poolSize: config.store.poolSize, commitTimeoutMs: config.store.commitTimeoutMs });
  let keyring: LocalKeyring;
  try {
    keyring = await openKeyringFor(stores, config.keyringFile, opts.createKeyring ?? false, clock.now());
  } catch (e) {
    await stores.close().catch(() => undefined);
    throw e;
  }
  const auditStore = opts.wrapAuditStore ? opts.wrapAuditStore(stores.audit) : stores.audit;
  const data = opts.wrapDataStore ? opts.wrapDataStore(stores.data) : stores.data;
  // Appends are durable commits that take a while (a PostgreSQL round trip, an fsync on SQLite's
  // writer thread): keep more than one in flight, each chained to the head the previous one
  // will leave, so requests never wait in lock-step behind a commit.
  const audit: AuditLog = auditLog({
    store: auditStore,
    chainKey: keyring.secrets.chainKey,
    clock,
    maxInFlight: stores.kind === "postgres" ? 4 : 2,
  });
  const keys = subjectKeys({ keys: stores.keys, kek: keyring.kek });
  const base = { catalog: catalogSource, audit, clock };
  const ids = {
    subjectKeys: keys,
    pseudonyms: pseudonyms(keyring.secrets.pseudonymKey),
    blindIndex: blindIndex(keyring.secrets.blindIndexKey),
  };
  const journal = fileShredJournal(config.shredJournalFile);
  /** The canary subjects (ADR 0009), resolved from their audit references in one key-store pass. */
  const canaries = async (): Promise<ReadonlySet<SubjectId>> => {
    const refs = (await data.detection.canaries()).map((c) => c.auditRef);
    return refs.length === 0 ? new Set() : new Set((await stores.keys.findByAuditRefs(refs)).values());
  };
  // Notices to people (ADR 0011): one transport for the outbox, and optionally for incidents too.
  const messageTransport = opts.messageTransport ?? buildTransport(config.notify);
  const outbox = outboxService({
    ...base,
    outbox: data.outbox,
    data,
    keys: stores.keys,
    subjectKeys: keys,
    transport: messageTransport,
    maxAttempts: config.notify.maxAttempts,
  });
  const notices = noticeService({
    ...base,
    data,
    provisions: data.provisions,
    preferences: data.outbox,
    outbox,
    pseudonyms: ids.pseudonyms,
    subjectKeys: keys,
    canaries,
  });
  const erase = eraseService({
    ...base,
    data,
    keys: stores.keys,
    kek: keyring.kek,
    subjectKeys: keys,
    pseudonyms: ids.pseudonyms,
    journal,
    dormancyNotices: (ctx, due) => notices.dormancyDue(ctx, due),
    canaries,
  });
  // Idempotency keys on every write (issue 7; ADR 0017).
  const idempotency = idempotencyService({ data, clock });
  const subjects = subjectService({ ...base, ...ids, data, keys: stores.keys, readSealed: erase.readSealed, journal });
  // Detection reads the live access stream: every entry as it is recorded (ADR 0009).
  const detection = detectionService({
    ...base,
    store: data.detection,
    meta: data,
    ...(opts.detectionRefreshMs === undefined ? {} : { refreshMs: opts.detectionRefreshMs }),
    onError: onceAMinute((e, more) =>
      process.stderr.write(
        `haechi: detection could not reach its store (reading holds and canaries, or recording an alert or hold): ${isHaechiError(e) ? e.code : "STORE_ERROR"}${more > 0 ? ` (${more} more failures since the last report)` : ""}\n`,
      ),
    ),
  });
  const stopObserving = audit.observe((entry) => detection.observe(entry));
  await detection.start();
  const auditSvc = auditService({
    store: auditStore,
    flush: () => audit.flush(),
    chainKey: keyring.secrets.chainKey,
    signer: keyring.secrets.signer,
    clock,
  });
  const incidents = incidentService({
    ...base,
    incidents: data.incidents,
    auditStore,
    flushAudit: () => audit.flush(),
    keys: stores.keys,
    data,
    provisions: data.provisions,
    subjectKeys: keys,
    transport: opts.transport ?? (config.notify.incidents === "transport" ? asNoticeTransport(messageTransport) : pickupTransport()),
    canaryRefs: async () => (await data.detection.canaries()).map((c) => c.auditRef),
  });
  const requests = requestService({
    ...base,
    requests: data.requests,
    data,
    keys: stores.keys,
    pseudonyms: ids.pseudonyms,
    idempotency,
    fulfil: {
      accessExport: (ctx, external, meta) => subjects.accessExport(ctx, external, meta),
      erase: (ctx, external, idem) => erase.erase(ctx, external, idem),
      update: (ctx, external, input, idem) => subjects.update(ctx, external, input, idem),
      recordConsents: (ctx, external, inputs, idem) => subjects.recordConsents(ctx, external, inputs, idem),
    },
  });
  const services = {
    idempotency,
    subjects,
    erase,
    outbox,
    notices,
    detection,
    canaries: canaryService({
      ...base,
      subjects,
      store: data.detection,
      auditRefOf: async (principal, external) => {
        const id = ids.pseudonyms.resolve(idContextOf(catalog, principal), external);
        const row = id === undefined ? undefined : await stores.keys.get(id);
        if (row === undefined) throw new HaechiError("INTERNAL", "a canary just created has no key");
        return row.auditRef;
      },
      onCreated: () => detection.refresh(),
    }),
    auth: authService({ ...base, data }),
    backup: backupService({
      ...base,
      location: stores.location,
      journal,
      data,
      keys: stores.keys,
      keyringId: keyringIdOf(keyring),
      reerase: erase.reerase,
    }),
    audit: auditSvc,
    keys: keysService({ keys: stores.keys, kek: keyring.kek, audit, clock }),
    provisions: provisionService({
      ...base,
      data,
      keys: stores.keys,
      kek: keyring.kek,
      pseudonyms: ids.pseudonyms,
      pseudonymRoot: keyring.secrets.pseudonymKey,
      signer: keyring.secrets.signer,
      exportDir: config.exportDir,
      exportKeep: config.exportKeep,
      pageSize: config.provisionPageSize,
      canaries,
      ...(config.provisionThreads !== undefined ? { threads: config.provisionThreads } : {}),
    }),
    incidents,
    // The console (ADR 0013): staff accounts and sessions, and what its pages read from the log.
    operators: operatorService({
      ...base,
      store: data.operators,
      totpKey: deriveKey(keyring.secrets.pseudonymKey, "console/totp-secret"),
      idleMs: config.console.idleMs,
      maxSessionMs: config.console.maxSessionMs,
    }),
    console: consoleService({ clock, store: auditStore, flush: () => audit.flush(), verify: () => auditSvc.verify() }),
    // The portal for people (ADR 0012): the person acts through the same services.
    portal: portalService({
      ...base,
      data,
      auditStore,
      flushAudit: () => audit.flush(),
      subjectKeys: keys,
      pseudonyms: ids.pseudonyms,
      macRoot: keyring.secrets.chainKey,
      subjects,
      erase,
      incidentsFor: (id) => incidents.forSubject(id),
      requests,
    }),
    import: importService({
      ...base,
      ...ids,
      data,
      keys: stores.keys,
      importKey: deriveKey(keyring.secrets.pseudonymKey, "import-ids"),
    }),
    policy: policyService({ ...base, store: data.policies }),
    requests,
    review: reviewService({ ...base, store: auditStore, flush: () => audit.flush(), reportsDir: config.reportsDir }),
    evidence: evidenceService({
      ...base,
      store: auditStore,
      data,
      keys: stores.keys,
      verify: () => auditSvc.verify(),
      checkpoint: () => auditSvc.checkpoint(),
      incidents: (from, to) => incidents.inWindow(from, to),
      signer: keyring.secrets.signer,
      catalogFile: config.catalogFile,
      reportsDir: config.reportsDir,
      evidenceDir: config.evidenceDir,
    }),
  };
  return {
    config,
    clock,
    catalog: catalogSource,
    /** Replace the catalog (a validated one) without restarting. */
    setCatalog(next: Catalog) {
      catalog = next;
    },
    keyring,
    stores,
    journal,
    audit,
    services,
    async close() {
      await services.provisions.drain();
      stopObserving();
      await detection.close();
      await messageTransport.close?.();
      await audit.close();
      keys.clear();
      await stores.close();
    },
  };
};

export type Container = Awaited<ReturnType<typeof buildContainer>>;
