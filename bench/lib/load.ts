/**
 * Shared load-generation helpers for the HTTP benchmarks: start a server as a child process,
 * drive it with autocannon from this process (the same generator for every target), collect
 * req/s and latency percentiles.
 */
import { spawn, type ChildProcess } from "node:child_process";
import autocannon from "autocannon";

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** Spawns `node --import tsx <args>` and resolves with its address once it prints LISTENING / "serving on". */
export const startServer = (args: string[], env: Record<string, string> = {}): Promise<{ url: string; proc: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(?:LISTENING|serving on) (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, proc });
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });

export const stopServer = async (proc: ChildProcess) => {
  if (proc.exitCode !== null) return;
  const done = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
};

/** Runs autocannon for `seconds` at `connections`, rotating over `paths`. */
export const runLoad = async (opts: {
  url: string;
  seconds: number;
  connections: number;
  headers?: Record<string, string>;
  paths?: string[];
}): Promise<LoadResult> => {
  let i = 0;
  const paths = opts.paths ?? ["/"];
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    pipelining: 1,
    headers: opts.headers,
    requests: [{ setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length]! }) }],
  });
  return {
    requests: result.requests.total,
    seconds: opts.seconds,
    rps: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
};
