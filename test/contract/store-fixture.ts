/**
 * The contract suite runs every test against every store kind (as Kysely loops over its
 * dialects). Each suite gets a fresh SQLite directory or a fresh PostgreSQL database. If
 * PostgreSQL cannot be started the postgres half fails: it is never skipped.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe } from "node:test";
import { isHaechiError, type ErrorCode } from "../../src/core/errors.js";
import { asAuditRef, asSubjectId, type AuditRef, type SubjectId } from "../../src/core/ids.js";
import type { ConsentEvent, SubjectRow, WrappedKeyRow } from "../../src/core/ports.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";

export const STORE_KINDS = ["sqlite", "postgres"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface StoreFixture {
  kind: StoreKind;
  stores: Stores;
  /** Opens a second, independent set of stores on the same databases (another "process"). */
  openAnother(): Promise<Stores>;
  /** SQLite only: the directory holding the database files. */
  dir: string | undefined;
  /** PostgreSQL only: the suite's database URL. */
  url: string | undefined;
}

let server: Promise<RunningPostgres> | undefined;
const pgServer = () => (server ??= startPostgres());
after(async () => {
  if (server !== undefined) await (await server.catch(() => undefined))?.stop();
});

const openFixture = async (kind: StoreKind): Promise<StoreFixture & { teardown(): Promise<void> }> => {
  const extra: Stores[] = [];
  if (kind === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-contract-"));
    // The key scan on its threads whatever the table's size, so the suite runs that path (the
    // one-connection path is the default for small stores and runs in every other test).
    const keyScan = { threads: 2, minBytes: 0 };
    const stores = await openSqliteStores({ dir, keyScan });
    return {
      kind,
      stores,
      dir,
      url: undefined,
      openAnother: async () => {
        const s = await openSqliteStores({ dir, keyScan });
        extra.push(s);
        return s;
      },
      teardown: async () => {
        for (const s of [...extra, stores]) await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const { url } = await pgServer();
  const db = await freshDatabase(url);
  const stores = await openPostgresStores({ url: db.url, poolSize: 8 });
  return {
    kind,
    stores,
    dir: undefined,
    url: db.url,
    openAnother: async () => {
      const s = await openPostgresStores({ url: db.url, poolSize: 4 });
      extra.push(s);
      return s;
    },
    teardown: async () => {
      for (const s of [...extra, stores]) await s.close();
      await db.drop();
    },
  };
};

/** Declares `title` once per store kind; `fx()` is the fixture inside tests. */
export const forEachStore = (title: string, body: (fx: () => StoreFixture) => void): void => {
  for (const kind of STORE_KINDS) {
    describe(`${title} [${kind}]`, () => {
      let fixture: (StoreFixture & { teardown(): Promise<void> }) | undefined;
      before(async () => {
        fixture = await openFixture(kind);
      });
      after(async () => {
        await fixture?.teardown();
      });
      body(() => {
        if (fixture === undefined) throw new Error(`${kind} store fixture is not open`);
        return fixture;
      });
    });
  }
};

// ---------------------------------------------------------------- data builders

export const newId = (): SubjectId => asSubjectId(randomBytes(16).toString("base64url"));
export const newRef = (): AuditRef => asAuditRef(`ref_${randomBytes(12).toString("base64url")}`);
export const bytes = (n = 32) => randomBytes(n);

/** A fixed instant with milliseconds, so truncation to seconds or microseconds would show. */
export const T0 = new Date("2025-03-01T09:30:15.123Z");
export const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);

export const subjectRow = (id = newId(), createdAt = T0): SubjectRow => ({
  id,
  createdAt,
  updatedAt: createdAt,
  status: "active",
});

let eventCounter = 0;
export const consentEvent = (subjectId: SubjectId, over: Partial<ConsentEvent> = {}): ConsentEvent => ({
  id: `ev_${randomBytes(8).toString("hex")}_${++eventCounter}`,
  subjectId,
  notice: "signup",
  noticeVersion: 1,
  category: "collection_use",
  action: "grant",
  channel: "web",
  at: T0,
  principal: "shop",
  requestId: `req_${eventCounter}`,
  ...over,
});

/** Asserts `fn` rejects with a HaechiError of `code`, and returns it. */
export const rejectsWith = async (fn: () => Promise<unknown>, code: ErrorCode) => {
  try {
    await fn();
  } catch (e) {
    if (!isHaechiError(e)) throw new Error(`expected HaechiError ${code}, got ${String(e)}`, { cause: e });
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`, { cause: e });
    return e;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
};

/** A wrapped data-key row with a recognisable 60-byte `wrapped` value. */
export const wrappedKeyRow = (over: Partial<WrappedKeyRow> = {}): WrappedKeyRow => ({
  subjectId: newId(),
  kekVersion: 1,
  dekVersion: 1,
  wrapped: bytes(60),
  auditRef: newRef(),
  createdAt: T0,
  ...over,
});
