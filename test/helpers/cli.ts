/** Running `haechi` commands inside the test process. */
import { buildCli } from "../../src/cli/cli.js";

export type Env = Record<string, string>;

/** Runs a command in this process: its stdout, the exit code it set, and what it threw. */
export const runCli = async (env: Env, ...args: string[]): Promise<{ out: string; code: number; error?: unknown }> => {
  const chunks: string[] = [];
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildCli(env, (s) => chunks.push(s))
      .exitOverride()
      .parseAsync(["node", "haechi", ...args]);
    return { out: chunks.join(""), code: Number(process.exitCode ?? 0) };
  } catch (error) {
    return { out: chunks.join(""), code: 1, error };
  } finally {
    process.exitCode = saved;
  }
};
