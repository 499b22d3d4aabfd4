/** Runs one store's migration list with Kysely's Migrator (versioned, in-code, in order). */
import { Migrator, type Kysely, type Migration } from "kysely";
import { storageFailure } from "../storage-errors.js";

export type MigrationList = Readonly<Record<string, Migration>>;

export interface MigrateOptions {
  /** PostgreSQL: the schema that holds this list's migration table. */
  schema?: string;
}

/**
 * Two processes opening a fresh SQLite directory at once can collide (PostgreSQL has Kysely's
 * advisory lock); the loser retries and then finds the migrations applied.
 */
export const migrate = async (db: Kysely<any>, migrations: MigrationList, opts: MigrateOptions = {}) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, migrations, opts);
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
};

const migrateOnce = async (db: Kysely<any>, migrations: MigrationList, opts: MigrateOptions) => {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: "haechi_migration",
    migrationLockTableName: "haechi_migration_lock",
    ...(opts.schema === undefined ? {} : { migrationTableSchema: opts.schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw storageFailure(error, failed === undefined ? "storage migration failed" : `storage migration ${failed} failed`);
  }
};
