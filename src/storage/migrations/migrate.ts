/** Runs one store's migration list with Kysely's Migrator (versioned, in-code, in order). */
import { Migrator, type Kysely, type Migration } from "kysely";
import { storageFailure } from "../storage-errors.js";

export type MigrationList = Readonly<Record<string, Migration>>;

export interface MigrateOptions {
  /** PostgreSQL: the schema that holds this list's migration table. */
  schema?: string;
}

export const migrate = async (db: Kysely<any>, migrations: MigrationList, opts: MigrateOptions = {}) => {
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
