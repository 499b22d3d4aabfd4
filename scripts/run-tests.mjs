#!/usr/bin/env node
/**
 * `npm test`: runs test/**\/*.test.ts (or the files / directories given) with node:test, one file
 * at a time, against a temporary PostgreSQL unless HAECHI_TEST_PG_URL is already set.
 *
 * The file list is collected here and passed explicitly: a glob or a directory handed to
 * `node --test` silently matches nothing on some Node versions. Zero tests is a failure too.
 *
 *   node scripts/run-tests.mjs [--test-name-pattern=…] [file-or-dir …]
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Every *.test.ts under `dir`, recursively, sorted. */
const collect = (dir) => {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith(".test.ts")) out.push(full);
    }
  };
  walk(dir);
  return out.sort();
};

const args = process.argv.slice(2);
const passThrough = args.filter((a) => a.startsWith("--"));
const targets = args.filter((a) => !a.startsWith("--"));
let files = [];
for (const target of targets.length > 0 ? targets : [path.join(root, "test")]) {
  const full = path.resolve(target);
  if (!fs.existsSync(full)) {
    console.error(`run-tests: no such file or directory: ${target}`);
    process.exit(2);
  }
  files.push(...(fs.statSync(full).isDirectory() ? collect(full) : [full]));
}
files = [...new Set(files)].map((f) => path.relative(process.cwd(), f) || f);
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}

const env = { ...process.env };
let postgres;
let postgresError;
if (!env.HAECHI_TEST_PG_URL) {
  try {
    const { tsImport } = await import("tsx/esm/api");
    const { startPostgres } = await tsImport("../test/helpers/pg.ts", import.meta.url);
    postgres = await startPostgres();
    env.HAECHI_TEST_PG_URL = postgres.url;
  } catch (e) {
    // The PostgreSQL halves will fail on their own; the run as a whole fails below.
    postgresError = e;
    console.error(`run-tests: could not start PostgreSQL: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const reporter = env.CI ? "tap" : "spec";
const nodeArgs = ["--import", "tsx", "--test", "--test-concurrency=1", `--test-reporter=${reporter}`, ...passThrough, ...files];
const child = spawn(process.execPath, nodeArgs, { cwd: process.cwd(), env, stdio: ["inherit", "pipe", "inherit"] });

// Stream the output through and watch for a run that reports zero tests.
const ANSI = /\u001b\[[0-9;]*m/g;
const ZERO = /^\s*(?:#|ℹ) tests 0\s*$/;
let zeroTests = false;
let sawSummary = false;
let partial = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const lines = (partial + chunk.toString("utf8")).split("\n");
  partial = lines.pop() ?? "";
  for (const raw of lines) {
    const line = raw.replace(ANSI, "");
    if (/^\s*(?:#|ℹ) tests \d+\s*$/.test(line)) sawSummary = true;
    if (ZERO.test(line)) zeroTests = true;
  }
});

const forward = (signal) => () => {
  if (child.exitCode === null) child.kill(signal);
};
process.on("SIGINT", forward("SIGINT"));
process.on("SIGTERM", forward("SIGTERM"));

const code = await new Promise((resolve) => child.on("close", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
const last = partial.replace(ANSI, "");
if (/^\s*(?:#|ℹ) tests \d+\s*$/.test(last)) sawSummary = true;
if (ZERO.test(last)) zeroTests = true;

if (postgres) {
  try {
    await postgres.stop();
  } catch (e) {
    console.error(`run-tests: stopping PostgreSQL failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

let exitCode = code;
if (zeroTests) {
  console.error("run-tests: the run reported 0 tests");
  exitCode ||= 1;
} else if (!sawSummary) {
  console.error("run-tests: no test summary seen");
  exitCode ||= 1;
}
if (postgresError !== undefined) exitCode ||= 1;
process.exit(exitCode);
