/**
 * `haechi backup` and `haechi restore` (docs/operations.md, "Backups and restore").
 *
 * A backup is two directories, never one: the data store and the audit log go to `dataDir`,
 * the key store to `keysDir` (keys apart from data, like the live stores). Each directory gets a
 * `manifest.json` naming its files with their sizes and SHA-256. The key file (`keyring.json`)
 * is never copied: it is the master secret and is backed up separately, offline.
 *
 *  - SQLite: each database is copied online by SQLite's backup API over a read-only connection
 *    (WAL: the server keeps reading and writing meanwhile), data → keys → audit, so a subject
 *    created during the backup may have a key without data (harmless) but never data without a
 *    key.
 *  - PostgreSQL: one `pg_dump --format=custom` per schema, all three under one exported snapshot,
 *    so the three dumps are consistent with each other.
 *
 * Restoring an old backup would bring back whatever was destroyed since it was taken. The shred
 * journal (retention/shred-journal.ts) is kept outside every store and every backup, and every
 * destruction is journalled before it happens; a restore replays it:
 *   1. `check` (stores open): manifests read, every file hashed, the store kind, the keyring and
 *      the journal compared with what the backup was taken with. Nothing is touched yet.
 *   2. the stores are closed and the backup is put in place (`restoreBackup` below): SQLite
 *      files are staged beside the live ones, hashed again, the live -wal/-shm/-journal removed and
 *      the staged files renamed over the live ones; PostgreSQL schemas are restored by
 *      `pg_restore --clean --if-exists`, one transaction per schema.
 *   3. `replayJournal` (stores reopened over the restored state): every journal entry is destroyed
 *      again (idempotent), the key store is purged, and one `backup.restore` audit entry is
 *      written (fail closed).
 *
 * Restore requires Haechi to be stopped: a running server would keep serving (and writing) the
 * state being replaced. SQLite refuses when another connection has a database open; PostgreSQL
 * refuses while another `haechi` session is connected to the database.
 *
 * This module is the one service that touches database drivers and tools directly (a read-only
 * better-sqlite3 connection for the online copy, `pg` for the exported snapshot and the session
 * check, pg_dump / pg_restore): they are kept together at the bottom of the file.
 */
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import Database from "better-sqlite3";
import pg from "pg";
import type { Clock } from "../core/clock.js";
import { HaechiError, isHaechiError } from "../core/errors.js";
import type { SubjectId } from "../core/ids.js";
import type { DataStore, KeyStore, ShredEntry, ShredJournal, StoredField } from "../core/ports.js";
import { writeFileDurably } from "../util/durable-file.js";
import type { AuditRecorder, CatalogSource } from "./service-types.js";

// ---------------------------------------------------------------- types

/** Where the live stores are (storage/index.ts `Stores.location`). */
export type BackupLocation =
  | { kind: "sqlite"; files: { data: string; keys: string; audit: string } }
  | { kind: "postgres"; url: string; schemas: { data: string; keys: string; audit: string } };

type StorePart = "data" | "keys" | "audit";

export interface BackupDirs {
  /** Receives the data store and the audit log. */
  dataDir: string;
  /** Receives the key store; must be neither `dataDir` nor inside it (nor contain it). */
  keysDir: string;
}

export interface BackupFileEntry {
  /** File name inside its directory. */
  name: string;
  /** Which store it holds. */
  contents: StorePart;
  bytes: number;
  /** SHA-256 (hex) of the file. */
  sha256: string;
}

export const BACKUP_FORMAT = "haechi-backup/1";
export const MANIFEST_FILE = "manifest.json";
export const KEYRING_NOT_INCLUDED =
  "The key file (keyring.json) is not in this backup. Back it up separately and offline: it is the master secret, and without it nothing here can be decrypted.";

/** `manifest.json` of one backup directory. */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  /** Which half of the backup this directory is. */
  part: "data" | "keys";
  /** Shared by the two halves: a restore refuses halves of different backups. */
  backupId: string;
  createdAt: string;
  store: "sqlite" | "postgres";
  files: BackupFileEntry[];
  /** The shred journal when the backup started: its length and a digest of those entries. */
  journal: { entries: number; sha256: string };
  /** Names the keyring (a derived value, not a key): a backup is never restored under another. */
  keyringId: string;
  keyring: typeof KEYRING_NOT_INCLUDED;
}

export type BackupProgress =
  /** Copying a store: SQLite backup in pages, SQLite restore in bytes, PostgreSQL per dump. */
  | { step: "copy"; file: string; done: number; total: number; unit: "pages" | "bytes" | "dumps" }
  /** Hashing a file (backup: after writing it; restore: before and after staging it). */
  | { step: "hash"; file: string }
  /** Replaying the shred journal. */
  | { step: "replay"; done: number; total: number };

export interface BackupResult {
  backupId: string;
  createdAt: string;
  store: "sqlite" | "postgres";
  dataDir: string;
  keysDir: string;
  data: BackupManifest;
  keys: BackupManifest;
  /** Journal entries at backup time. */
  journalEntries: number;
  keyring: typeof KEYRING_NOT_INCLUDED;
}

/** A backup whose manifests and files were checked against each other and against this install. */
export interface CheckedBackup {
  dataDir: string;
  keysDir: string;
  data: BackupManifest;
  keys: BackupManifest;
  location: BackupLocation;
}

export interface ReplayResult {
  /** Journal entries read (all of them: replaying is idempotent). */
  journalEntries: number;
  /** Entries of this server's journal written after the backup was taken. */
  newSinceBackup: number;
  /** Entries from the other servers' journals (`--other-journal`), all replayed too. */
  otherJournalEntries: number;
  /** Subjects that were live in the restored state and were erased again. */
  subjectsRedestroyed: number;
  /** Subjects whose sealed values or sealed key were destroyed again. */
  sealedRedestroyed: number;
  /** Field sets destroyed again (a withdrawn consent, PIPA Art. 37). */
  fieldSetsRedestroyed: number;
  auditSeq: number;
}

export interface RestoreResult extends ReplayResult {
  backupId: string;
  backupCreatedAt: string;
  store: "sqlite" | "postgres";
  files: { dir: string; name: string; bytes: number }[];
}

export interface BackupServiceDeps {
  location: BackupLocation;
  journal: Pick<ShredJournal, "entries">;
  data: Pick<DataStore, "getSubject" | "getFields" | "getDormantFields" | "transaction" | "sealed">;
  keys: Pick<KeyStore, "destroy" | "destroySealed" | "purge">;
  catalog: CatalogSource;
  audit: AuditRecorder;
  clock: Clock;
  /** A value derived from the root secrets that names the keyring without revealing it. */
  keyringId: string;
  /**
   * Erases a subject again as it was erased at `at` (erase-service `reerase`): what a law keeps is
   * sealed again with its original deadline, then the live data is destroyed. Without it, the
   * replay destroys the live data only.
   */
  reerase?: (id: SubjectId, at: Date) => Promise<boolean>;
}

// ---------------------------------------------------------------- pure helpers

/** Digest of journal entries in order: the prefix a restore expects the journal to still start with. */
export const journalDigest = (entries: readonly ShredEntry[]): string => {
  const h = crypto.createHash("sha256");
  for (const e of entries) {
    h.update(JSON.stringify([e.at.toISOString(), e.subjectId, e.scope, e.fields ?? null]));
    h.update("\n");
  }
  return h.digest("hex");
};

const isInside = (parent: string, child: string) => {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
};

/** The real path of `p`, or of its deepest existing ancestor joined with the rest. */
const realish = (p: string): string => {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realish(parent), path.basename(abs));
  }
};

/** Refuses one directory for both halves, or one inside the other: keys stay apart from data. */
export const checkSeparate = (dirs: BackupDirs): { dataDir: string; keysDir: string } => {
  if (!dirs.dataDir || !dirs.keysDir) throw new HaechiError("VALIDATION_FAILED", "give both a data directory and a keys directory");
  const dataDir = realish(dirs.dataDir);
  const keysDir = realish(dirs.keysDir);
  if (isInside(dataDir, keysDir) || isInside(keysDir, dataDir)) {
    throw new HaechiError(
      "VALIDATION_FAILED",
      `the keys directory (${keysDir}) and the data directory (${dataDir}) must be two separate directories, neither inside the other: keys are kept apart from data`,
    );
  }
  return { dataDir, keysDir };
};

const backupFileNames = (location: BackupLocation): Record<StorePart, string> =>
  location.kind === "sqlite"
    ? { data: "data.db", keys: "keys.db", audit: "audit.db" }
    : { data: `${location.schemas.data}.dump`, keys: `${location.schemas.keys}.dump`, audit: `${location.schemas.audit}.dump` };

const dirOf = (part: StorePart): "data" | "keys" => (part === "keys" ? "keys" : "data");

const sha256File = async (file: string): Promise<string> => {
  const h = crypto.createHash("sha256");
  await pipeline(fs.createReadStream(file), h);
  return h.digest("hex");
};

const fsyncPath = (p: string) => {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};


const parseManifest = (dir: string, expectedPart: "data" | "keys"): BackupManifest => {
  const file = path.join(dir, MANIFEST_FILE);
  let m: BackupManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, "utf8")) as BackupManifest;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new HaechiError("VALIDATION_FAILED", missing ? `${file} does not exist: not a Haechi backup directory` : `${file} is not valid JSON`);
  }
  const ok =
    m !== null &&
    typeof m === "object" &&
    m.format === BACKUP_FORMAT &&
    (m.part === "data" || m.part === "keys") &&
    typeof m.backupId === "string" &&
    typeof m.createdAt === "string" &&
    (m.store === "sqlite" || m.store === "postgres") &&
    Array.isArray(m.files) &&
    m.files.every(
      (f) =>
        typeof f?.name === "string" &&
        path.basename(f.name) === f.name &&
        f.name !== MANIFEST_FILE &&
        (f.contents === "data" || f.contents === "keys" || f.contents === "audit") &&
        Number.isSafeInteger(f.bytes) &&
        typeof f.sha256 === "string" &&
        /^[0-9a-f]{64}$/.test(f.sha256),
    ) &&
    typeof m.journal?.entries === "number" &&
    typeof m.journal.sha256 === "string" &&
    typeof m.keyringId === "string";
  if (!ok) throw new HaechiError("VALIDATION_FAILED", `${file} is not a ${BACKUP_FORMAT} manifest`);
  if (m.part !== expectedPart) {
    throw new HaechiError("VALIDATION_FAILED", `${dir} holds the ${m.part} half of a backup, not the ${expectedPart} half (directories swapped?)`);
  }
  return m;
};

/** Size first (cheap), then SHA-256; the error names the file and says nothing was restored. */
const verifyFile = async (dir: string, f: BackupFileEntry, onProgress?: (p: BackupProgress) => void) => {
  const file = path.join(dir, f.name);
  let bytes: number;
  try {
    bytes = fs.statSync(file).size;
  } catch {
    throw new HaechiError("VALIDATION_FAILED", `backup file ${file} is missing; nothing was restored`);
  }
  if (bytes !== f.bytes) {
    throw new HaechiError("VALIDATION_FAILED", `backup file ${file} is ${bytes} bytes, its manifest says ${f.bytes}: the backup is damaged or was altered; nothing was restored`);
  }
  onProgress?.({ step: "hash", file: f.name });
  const sha256 = await sha256File(file);
  if (sha256 !== f.sha256) {
    throw new HaechiError(
      "VALIDATION_FAILED",
      `backup file ${file} does not match its manifest (SHA-256 ${sha256.slice(0, 16)}… instead of ${f.sha256.slice(0, 16)}…): the backup is damaged or was altered; nothing was restored`,
    );
  }
};

// ---------------------------------------------------------------- the service

export const backupService = (deps: BackupServiceDeps) => {
  const names = backupFileNames(deps.location);

  return {
    /**
     * An online, consistent backup into two new (or empty) directories. Audited first (fail
     * closed: no entry, no backup). Files are 0600, directories 0700. On failure, what was
     * written is removed.
     */
    async backup(input: BackupDirs & { by?: string; onProgress?: (p: BackupProgress) => void }): Promise<BackupResult> {
      const dirs = checkSeparate(input);
      for (const dir of [dirs.dataDir, dirs.keysDir]) {
        if (!fs.existsSync(dir)) continue;
        if (!fs.statSync(dir).isDirectory()) throw new HaechiError("VALIDATION_FAILED", `${dir} is not a directory`);
        if (fs.readdirSync(dir).length > 0) throw new HaechiError("CONFLICT", `backup directory ${dir} is not empty: a backup never overwrites anything`);
      }
      const created: string[] = [];
      for (const dir of [dirs.dataDir, dirs.keysDir]) {
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
          created.push(dir);
        }
        fs.chmodSync(dir, 0o700);
      }
      const now = deps.clock.now();
      const backupId = `bkp_${crypto.randomBytes(10).toString("hex")}`;
      const journal = await deps.journal.entries();
      const written: string[] = [];
      try {
        await deps.audit.record({
          at: now.toISOString(),
          requestId: backupId,
          principal: input.by ?? "haechi backup",
          source: null,
          action: "backup.create",
          effect: "info",
          purpose: null,
          subjectRef: null,
          fields: [],
          reasons: [],
          meta: { backupId, store: deps.location.kind, journalEntries: journal.length, keyring: "not included" },
        });
        const target = (part: StorePart) => path.join(dirOf(part) === "keys" ? dirs.keysDir : dirs.dataDir, names[part]);
        // Data before keys: a subject created meanwhile may have a key without data, never the reverse.
        const order: StorePart[] = ["data", "keys", "audit"];
        if (deps.location.kind === "sqlite") {
          for (const part of order) {
            const dest = target(part);
            written.push(dest);
            await sqliteOnlineCopy(deps.location.files[part], dest, (done, total) =>
              input.onProgress?.({ step: "copy", file: names[part], done, total, unit: "pages" }),
            );
          }
        } else {
          const loc = deps.location;
          await withExportedSnapshot(loc.url, async (snapshot) => {
            for (const part of order) {
              const dest = target(part);
              written.push(dest);
              input.onProgress?.({ step: "copy", file: names[part], done: 0, total: 1, unit: "dumps" });
              await pgDump(loc.url, loc.schemas[part], snapshot, dest);
              input.onProgress?.({ step: "copy", file: names[part], done: 1, total: 1, unit: "dumps" });
            }
          });
        }
        const entries: Record<StorePart, BackupFileEntry> = {} as Record<StorePart, BackupFileEntry>;
        for (const part of order) {
          const file = target(part);
          fs.chmodSync(file, 0o600);
          fsyncPath(file);
          input.onProgress?.({ step: "hash", file: names[part] });
          entries[part] = { name: names[part], contents: part, bytes: fs.statSync(file).size, sha256: await sha256File(file) };
        }
        const manifest = (part: "data" | "keys", files: BackupFileEntry[]): BackupManifest => ({
          format: BACKUP_FORMAT,
          part,
          backupId,
          createdAt: now.toISOString(),
          store: deps.location.kind,
          files,
          journal: { entries: journal.length, sha256: journalDigest(journal) },
          keyringId: deps.keyringId,
          keyring: KEYRING_NOT_INCLUDED,
        });
        const data = manifest("data", [entries.data, entries.audit]);
        const keys = manifest("keys", [entries.keys]);
        // The manifests last: a directory without one is an unfinished backup.
        for (const [dir, m] of [
          [dirs.keysDir, keys],
          [dirs.dataDir, data],
        ] as const) {
          const file = path.join(dir, MANIFEST_FILE);
          written.push(file);
          writeFileDurably(file, `${JSON.stringify(m, null, 2)}\n`, "wx");
          fsyncPath(dir);
        }
        return {
          backupId,
          createdAt: now.toISOString(),
          store: deps.location.kind,
          dataDir: dirs.dataDir,
          keysDir: dirs.keysDir,
          data,
          keys,
          journalEntries: journal.length,
          keyring: KEYRING_NOT_INCLUDED,
        };
      } catch (e) {
        for (const f of written) fs.rmSync(f, { force: true });
        for (const d of created) fs.rmSync(d, { recursive: true, force: true });
        throw e;
      }
    },

    /**
     * Step 1 of a restore, on the stores as they are (nothing is changed): both manifests read,
     * every file's size and SHA-256 compared with them, the halves matched to each other, the
     * store kind and keyring to this install, and the shred journal to the one the backup was
     * taken with (it must still start with the same entries: a lost or replaced journal would
     * let the restore bring erased subjects back).
     */
    async check(input: BackupDirs & { onProgress?: (p: BackupProgress) => void }): Promise<CheckedBackup> {
      const dirs = checkSeparate(input);
      const data = parseManifest(dirs.dataDir, "data");
      const keys = parseManifest(dirs.keysDir, "keys");
      if (data.backupId !== keys.backupId) {
        throw new HaechiError("VALIDATION_FAILED", `the data directory holds backup ${data.backupId} but the keys directory holds ${keys.backupId}: both halves must come from one backup`);
      }
      if (data.store !== deps.location.kind) {
        throw new HaechiError("VALIDATION_FAILED", `backup ${data.backupId} is of a ${data.store} store; this installation uses ${deps.location.kind}`);
      }
      if (data.keyringId !== deps.keyringId || keys.keyringId !== deps.keyringId) {
        throw new HaechiError("KEY_UNAVAILABLE", `backup ${data.backupId} was taken under another keyring: restore the key file it belongs with first`);
      }
      const want = backupFileNames(deps.location);
      for (const [m, parts] of [
        [data, ["data", "audit"]],
        [keys, ["keys"]],
      ] as const) {
        for (const part of parts) {
          if (!m.files.some((f) => f.contents === part && f.name === want[part])) {
            throw new HaechiError("VALIDATION_FAILED", `backup ${m.backupId}: the ${m.part} manifest does not list ${want[part]}`);
          }
        }
        if (m.files.length !== parts.length) throw new HaechiError("VALIDATION_FAILED", `backup ${m.backupId}: the ${m.part} manifest lists unexpected files`);
      }
      for (const f of data.files) await verifyFile(dirs.dataDir, f, input.onProgress);
      for (const f of keys.files) await verifyFile(dirs.keysDir, f, input.onProgress);
      const journal = await deps.journal.entries();
      if (journal.length < data.journal.entries || journalDigest(journal.slice(0, data.journal.entries)) !== data.journal.sha256) {
        throw new HaechiError(
          "VALIDATION_FAILED",
          `the shred journal has ${journal.length} entries and does not start with the ${data.journal.entries} it had when backup ${data.backupId} was taken: it is not the journal this backup belongs with. Restore the journal from its replica first; restoring without it could bring erased subjects back`,
        );
      }
      return { dataDir: dirs.dataDir, keysDir: dirs.keysDir, data, keys, location: deps.location };
    },

    /**
     * Step 3 of a restore, on the restored stores: everything the journal records is destroyed
     * again, whether the backup predates it or not (each act is idempotent), then the key store is
     * purged and one `backup.restore` entry is audited. Destruction comes before the entry here:
     * the restored state must not keep an erased subject readable while waiting for the audit log;
     * a failed entry fails the restore, and running it again repeats nothing harmful.
     *  - "subject": the data key is destroyed; an active or dormant subject loses every field value
     *    (live and separated) and blind index and is marked erased (one transaction); a subject the
     *    backup does not hold is skipped.
     *  - "sealed": the sealed key and every sealed value are destroyed.
     *  - "fields": the named values, live or separated, are destroyed if they are no newer than the
     *    entry (a value collected again after the withdrawal, with a new consent, stays).
     * Separation (dormancy) is not destruction and is not journalled: a restored subject is in the
     * state the backup holds, and the next dormancy sweep separates it again if it is still idle.
     */
    async replayJournal(
      checked: CheckedBackup,
      opts: { by?: string; onProgress?: (p: BackupProgress) => void; otherJournals?: readonly ShredEntry[][] } = {},
    ): Promise<ReplayResult> {
      const now = deps.clock.now();
      // Every server journals its own destructions: those of the others, replicated beside this
      // one's, are replayed too (in time order), or an erasure made through them comes back.
      const own = await deps.journal.entries();
      const others = (opts.otherJournals ?? []).flat();
      const entries = others.length === 0 ? own : [...own, ...others].sort((a, b) => a.at.getTime() - b.at.getTime());
      const all = Object.keys(deps.catalog.current().fields);
      const res = { subjectsRedestroyed: 0, sealedRedestroyed: 0, fieldSetsRedestroyed: 0 };
      const seen = new Set<string>();
      let done = 0;
      for (const e of entries) {
        const once = `${e.scope}\0${e.subjectId}`;
        if (e.scope === "subject" && !seen.has(once)) {
          seen.add(once);
          // Records a law keeps were sealed at the erasure, after this backup was taken: seal them
          // again (with their original deadline) before destroying the rest.
          if (deps.reerase && (await deps.reerase(e.subjectId, e.at))) res.subjectsRedestroyed++;
          else {
            const keyGone = await deps.keys.destroy(e.subjectId);
            const subject = await deps.data.getSubject(e.subjectId);
            const held = subject?.status === "active" || subject?.status === "dormant";
            if (held) {
              await deps.data.transaction(async (tx) => {
                await tx.deleteFields(e.subjectId, all);
                await tx.deleteDormantFields(e.subjectId, all);
                await tx.deleteLookups(e.subjectId, all);
                await tx.setSubjectStatus(e.subjectId, "erased", now);
              });
            }
            if (keyGone || held) res.subjectsRedestroyed++;
          }
        } else if (e.scope === "sealed" && !seen.has(once)) {
          seen.add(once);
          const keyGone = await deps.keys.destroySealed(e.subjectId);
          const values = await deps.data.sealed.destroy(e.subjectId, null);
          if (keyGone || values > 0) res.sealedRedestroyed++;
        } else if (e.scope === "fields" && e.fields && e.fields.length > 0) {
          if (await replayFields(e.subjectId, e.fields, e.at)) res.fieldSetsRedestroyed++;
        }
        opts.onProgress?.({ step: "replay", done: ++done, total: entries.length });
      }
      await deps.keys.purge();
      const auditSeq = await deps.audit.record({
        at: now.toISOString(),
        requestId: `restore-${crypto.randomBytes(8).toString("hex")}`,
        principal: opts.by ?? "haechi restore",
        source: null,
        action: "backup.restore",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        count: res.subjectsRedestroyed,
        meta: {
          backupId: checked.data.backupId,
          backupCreatedAt: checked.data.createdAt,
          store: checked.data.store,
          journalEntries: entries.length,
          otherJournalEntries: others.length,
          journalEntriesAtBackup: checked.data.journal.entries,
          subjectsRedestroyed: res.subjectsRedestroyed,
          sealedRedestroyed: res.sealedRedestroyed,
          fieldSetsRedestroyed: res.fieldSetsRedestroyed,
        },
      });
      return { journalEntries: entries.length, newSinceBackup: Math.max(0, own.length - checked.data.journal.entries), otherJournalEntries: others.length, ...res, auditSeq };
    },
  };

  async function replayFields(id: SubjectId, fields: string[], at: Date): Promise<boolean> {
    const staleOf = (rows: readonly StoredField[]) => rows.filter((f) => f.updatedAt.getTime() <= at.getTime()).map((f) => f.field);
    const stale = staleOf(await deps.data.getFields(id, fields));
    // The backup may hold the subject dormant, its values in the dormant store.
    const staleApart = staleOf(await deps.data.getDormantFields(id, fields));
    if (stale.length + staleApart.length === 0) return false;
    await deps.data.transaction(async (tx) => {
      await tx.deleteFields(id, stale);
      await tx.deleteLookups(id, stale);
      await tx.deleteDormantFields(id, staleApart);
    });
    return true;
  }
};

export type BackupService = ReturnType<typeof backupService>;

/** What `restoreBackup` needs of a container: the backup service, and a way to close it. */
export interface RestoreHost {
  services: { backup: Pick<BackupService, "check" | "replayJournal"> };
  close(): Promise<void>;
}

/**
 * `haechi restore`: checks the backup with the stores open (`check`), closes them, puts the backup
 * in place, opens them again over the restored state and replays the shred journal
 * (`replayJournal`). `open` builds the stores and services (the container); nothing else may
 * have the stores open meanwhile (a running server is refused, see `placeBackup`).
 */
export const restoreBackup = async (
  open: () => Promise<RestoreHost>,
  input: BackupDirs & { by?: string; onProgress?: (p: BackupProgress) => void; otherJournals?: readonly ShredEntry[][] },
): Promise<RestoreResult> => {
  const before = await open();
  let checked: CheckedBackup;
  try {
    checked = await before.services.backup.check(input);
  } finally {
    await before.close();
  }
  await placeBackup(checked, input.onProgress);
  const after = await open();
  try {
    const replay = await after.services.backup.replayJournal(checked, {
      ...(input.by ? { by: input.by } : {}),
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      ...(input.otherJournals ? { otherJournals: input.otherJournals } : {}),
    });
    return {
      backupId: checked.data.backupId,
      backupCreatedAt: checked.data.createdAt,
      store: checked.data.store,
      files: [
        ...checked.data.files.map((f) => ({ dir: checked.dataDir, name: f.name, bytes: f.bytes })),
        ...checked.keys.files.map((f) => ({ dir: checked.keysDir, name: f.name, bytes: f.bytes })),
      ],
      ...replay,
    };
  } finally {
    await after.close();
  }
};

/** Step 2 of a restore, with every store closed: the checked backup replaces the live stores. */
const placeBackup = async (checked: CheckedBackup, onProgress?: (p: BackupProgress) => void) => {
  const loc = checked.location;
  const source = (part: StorePart) => {
    const m = part === "keys" ? checked.keys : checked.data;
    const f = m.files.find((x) => x.contents === part)!;
    return { file: path.join(part === "keys" ? checked.keysDir : checked.dataDir, f.name), entry: f };
  };
  const order: StorePart[] = ["data", "keys", "audit"];
  if (loc.kind === "sqlite") {
    for (const part of order) sqliteRefuseIfOpen(loc.files[part]);
    // Stage every file beside its live one and check it again, so a failure leaves the stores as they were.
    const staged: { from: string; to: string }[] = [];
    try {
      for (const part of order) {
        const { file, entry } = source(part);
        const live = loc.files[part];
        const tmp = `${live}.restoring`;
        staged.push({ from: tmp, to: live });
        onProgress?.({ step: "copy", file: entry.name, done: 0, total: entry.bytes, unit: "bytes" });
        fs.copyFileSync(file, tmp);
        fs.chmodSync(tmp, 0o600);
        fsyncPath(tmp);
        onProgress?.({ step: "copy", file: entry.name, done: entry.bytes, total: entry.bytes, unit: "bytes" });
        onProgress?.({ step: "hash", file: entry.name });
        if ((await sha256File(tmp)) !== entry.sha256) {
          throw new HaechiError("VALIDATION_FAILED", `the copy of ${file} does not match its manifest: nothing was restored`);
        }
      }
    } catch (e) {
      for (const s of staged) fs.rmSync(s.from, { force: true });
      throw e;
    }
    // A leftover write-ahead log or rollback journal would be applied to the restored file.
    for (const s of staged) {
      for (const suffix of ["-wal", "-shm", "-journal"]) fs.rmSync(`${s.to}${suffix}`, { force: true });
      fs.renameSync(s.from, s.to);
    }
    for (const dir of new Set(staged.map((s) => path.dirname(s.to)))) fsyncPath(dir);
    return;
  }
  await pgRefuseIfConnected(loc.url);
  for (const part of order) {
    const { file, entry } = source(part);
    onProgress?.({ step: "copy", file: entry.name, done: 0, total: 1, unit: "dumps" });
    await pgRestore(loc.url, file);
    onProgress?.({ step: "copy", file: entry.name, done: 1, total: 1, unit: "dumps" });
  }
};

// ---------------------------------------------------------------- drivers and tools

/**
 * SQLite's online backup API from a read-only connection: the first step copies a few pages,
 * the second all the rest, so a write by the server between steps restarts the copy at most once
 * (WAL: the copy holds a read snapshot, never blocking writers).
 */
const sqliteOnlineCopy = async (source: string, dest: string, progress: (done: number, total: number) => void) => {
  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
  } catch {
    throw new HaechiError("INTERNAL", `cannot open ${path.basename(source)} for the backup`);
  }
  try {
    await db.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        progress(totalPages - remainingPages, totalPages);
        return Math.max(remainingPages, 1);
      },
    });
    const pages = Number(db.pragma("page_count", { simple: true }));
    progress(pages, pages);
  } catch (e) {
    if (isHaechiError(e)) throw e;
    throw new HaechiError("INTERNAL", `the online copy of ${path.basename(source)} failed: ${(e as Error).message}`);
  } finally {
    db.close();
  }
};

/**
 * Refuses when another connection has the database open: leaving WAL mode needs the database to
 * itself (the stores switch WAL on again when they open). The live file is replaced right after.
 */
const sqliteRefuseIfOpen = (file: string) => {
  if (!fs.existsSync(file)) return;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    db.pragma("journal_mode = DELETE");
  } catch (e) {
    // Busy means in use; anything else (a damaged file) is about to be replaced anyway.
    if (/^SQLITE_(BUSY|LOCKED)/.test(String((e as { code?: unknown }).code))) {
      throw new HaechiError("CONFLICT", `${file} is open in another process (a running \`haechi serve\`?): stop Haechi before restoring`);
    }
  } finally {
    db?.close();
  }
};

/** Client tools: PostgreSQL 15's own first, then whatever is on PATH. */
const pgTool = (name: "pg_dump" | "pg_restore") => {
  const own = `/usr/lib/postgresql/15/bin/${name}`;
  return fs.existsSync(own) ? own : name;
};

/** The URL without its password (for the command line) and the password (for the environment). */
const pgConnection = (url: string): { dbname: string; env: Record<string, string> } => {
  try {
    const u = new URL(url);
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") return { dbname: url, env: {} };
    const password = decodeURIComponent(u.password);
    u.password = "";
    return { dbname: u.toString(), env: password ? { PGPASSWORD: password } : {} };
  } catch {
    return { dbname: url, env: {} };
  }
};

const runTool = (tool: "pg_dump" | "pg_restore", args: string[], url: string) =>
  new Promise<void>((resolve, reject) => {
    const conn = pgConnection(url);
    const child = spawn(pgTool(tool), [...args, "--no-password", `--dbname=${conn.dbname}`], {
      env: { ...process.env, ...conn.env, PGAPPNAME: `haechi-${tool}` },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-2000);
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ENOENT"
          ? new HaechiError("CONFIG_INVALID", `${tool} was not found (install the PostgreSQL 15 client tools)`)
          : new HaechiError("INTERNAL", `${tool} could not be started: ${e.message}`),
      );
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new HaechiError("INTERNAL", `${tool} failed (${code ?? signal}): ${stderr.trim() || "no message"}`));
    });
  });

/** Runs `fn` while a REPEATABLE READ transaction holds an exported snapshot the dumps share. */
const withExportedSnapshot = async (url: string, fn: (snapshot: string) => Promise<void>) => {
  const client = new pg.Client({ connectionString: url, application_name: "haechi-backup" });
  try {
    await client.connect();
  } catch {
    throw new HaechiError("INTERNAL", "cannot connect to PostgreSQL for the backup");
  }
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const r = await client.query<{ s: string }>("SELECT pg_export_snapshot() AS s");
    await fn(r.rows[0]!.s);
    await client.query("COMMIT");
  } finally {
    await client.end().catch(() => undefined);
  }
};

const pgDump = (url: string, schema: string, snapshot: string, dest: string) =>
  runTool("pg_dump", ["--format=custom", `--schema=${schema}`, `--snapshot=${snapshot}`, `--file=${dest}`], url);

/** One transaction per schema: a failed restore of a schema leaves it as it was. */
const pgRestore = (url: string, file: string) => runTool("pg_restore", ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", file], url);

/**
 * Refuses while another Haechi process (application_name `haechi`, the stores' pool) is connected
 * to the database. A pool that was just closed may take a moment to leave pg_stat_activity.
 */
const pgRefuseIfConnected = async (url: string) => {
  const client = new pg.Client({ connectionString: url, application_name: "haechi-restore" });
  try {
    await client.connect();
  } catch {
    throw new HaechiError("INTERNAL", "cannot connect to PostgreSQL for the restore");
  }
  try {
    let others = 0;
    for (let attempt = 0; attempt < 50; attempt++) {
      const r = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'haechi'",
      );
      others = r.rows[0]!.n;
      if (others === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new HaechiError("CONFLICT", `${others} Haechi connections are open on the database (a running \`haechi serve\`?): stop Haechi before restoring`);
  } finally {
    await client.end().catch(() => undefined);
  }
};
