/** Small helpers for running named (server-side prepared) statements and compiled Kysely queries. */
import type { CompiledQuery } from "kysely";
import type pg from "pg";

export type PgConn = pg.Pool | pg.PoolClient;

/** A named statement: prepared once per connection, then executed by name. */
export interface Named {
  name: string;
  text: string;
}

export const named = (name: string, text: string): Named => ({ name, text });

export const runNamed = <R extends pg.QueryResultRow>(conn: PgConn, stmt: Named, values: unknown[]) =>
  (conn as pg.Pool).query<R>({ name: stmt.name, text: stmt.text, values });

/** Runs a query Kysely compiled (inside a transaction, on its client). */
export const runCompiled = <R extends pg.QueryResultRow>(conn: PgConn, q: CompiledQuery) =>
  (conn as pg.Pool).query<R>(q.sql, q.parameters as unknown[]);

/** Dates go into array parameters as ISO strings, which timestamptz parses exactly. */
export const iso = (d: Date): string => d.toISOString();
