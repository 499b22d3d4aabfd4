/**
 * The README's first command works: `npm start` serves the demo on HAECHI_PORT with its home in
 * HAECHI_HOME, prints the URLs and the demo API keys, writes them to `$HAECHI_HOME/demo-keys.json`,
 * and answers real requests. Stopped with SIGTERM and started again on the same home, it reuses
 * the keys and still holds the data. Nothing it prints carries the personal values it was sent.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A port nobody listens on right now: bind port 0, read it, close. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

interface Running {
  child: ChildProcess;
  url: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/** `npm start` as a user runs it, in its own process group so the whole tree can be stopped. */
const npmStart = async (home: string, port: number): Promise<Running> => {
  const env: NodeJS.ProcessEnv = { ...process.env, HAECHI_HOME: home, HAECHI_PORT: String(port) };
  // The defaults are what is under test: no store, catalog or log level from the caller.
  for (const k of ["HAECHI_STORE", "HAECHI_PG_URL", "HAECHI_CATALOG", "HAECHI_LOG_LEVEL", "HAECHI_HOST"]) delete env[k];
  const child = spawn("npm", ["start"], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* already gone */
      }
    };
    group("SIGTERM");
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5_000).unref());
    if ((await Promise.race([exited, timer])) === "timeout") {
      group("SIGKILL");
      await exited;
    }
  };

  const deadline = Date.now() + 60_000;
  // Ready when the serving line and the whole key list (it ends with the curl example) are out.
  for (;;) {
    const m = /Haechi is serving on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
    if (m && /\nTry:\n[\s\S]*-d '/.test(out)) {
      assert.equal(Number(m[2]), port, "serves on HAECHI_PORT");
      return { child, url: m[1]!, output: () => out, stop };
    }
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`npm start did not print its serving line and keys within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
};

const json = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, type: res.headers.get("content-type") ?? "" };
};

describe("npm start (the README's first command)", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-e2e-"));
  const principals = Object.keys((parseYaml(fs.readFileSync(path.join(root, "examples/haechi.yaml"), "utf8")) as { principals: Record<string, unknown> }).principals);
  const person = { user_id: "e2e-user", phone: "010-4321-8765", name: "김철수", nickname: "cheolsu" };
  const running: Running[] = [];
  let keys: Record<string, string> = {};
  let subjectId = "";

  after(async () => {
    for (const r of running) await r.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const auth = (k: string) => ({ authorization: `Bearer ${k}` });
  const readBack = (url: string, key: string) => json(`${url}/v1/subjects/${subjectId}?purpose=talk_service&fields=phone,name,nickname`, { headers: auth(key) });
  const assertNoPersonalData = (out: string) => {
    for (const v of [person.phone, person.name, person.nickname, "01043218765"]) assert.equal(out.includes(v), false, `the output holds the personal value ${v}:\n${out}`);
  };

  test("first start: serves, prints and writes the demo keys, answers every documented endpoint", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const r = await npmStart(home, port);
    running.push(r);

    const file = path.join(home, "demo-keys.json");
    assert.ok(fs.existsSync(file), "demo-keys.json is written");
    keys = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
    assert.deepEqual(Object.keys(keys).sort(), [...principals].sort(), "one key per catalog principal");
    for (const p of principals) {
      assert.match(keys[p]!, /^hk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/, p);
      assert.match(r.output(), new RegExp(`${p}\\s+${keys[p]}`), `the key of ${p} is printed`);
    }
    for (const u of ["/docs", "/openapi.json", "/healthz", "/metrics", "/policy"]) assert.ok(r.output().includes(`${r.url}${u}`), `prints ${u}`);
    // The demo publishes the catalog's privacy policy as version 1; the page is public (PIPA Art. 30(2)).
    assert.match(r.output(), /privacy policy: published version 1 of the demo catalog's policy/);
    const policy = await fetch(`${r.url}/policy`);
    assert.equal(policy.status, 200);
    assert.match(await policy.text(), /^<!doctype html>\n<html lang="ko">[\s\S]*<p class="meta">버전 1 · 시행일/);
    if (process.platform !== "win32") assert.equal(fs.statSync(file).mode & 0o077, 0, "demo-keys.json is private to its owner");

    const created = await json(`${r.url}/v1/subjects`, {
      method: "POST",
      headers: { ...auth(keys["talk-app"]!), "content-type": "application/json" },
      body: JSON.stringify({ purpose: "talk_service", fields: person }),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.id, /^sub_/);
    subjectId = created.body.id;
    const read = await readBack(r.url, keys["talk-app"]!);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.deepEqual(read.body.fields, { phone: person.phone, name: person.name, nickname: person.nickname });

    const health = await json(`${r.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.body.store, "sqlite", "the embedded default store");
    assert.ok(fs.existsSync(path.join(home, "keyring.json")), "the local key file lives in HAECHI_HOME");

    const openapi = await json(`${r.url}/openapi.json`);
    assert.equal(openapi.status, 200);
    for (const p of ["/v1/subjects", "/v1/subjects/{id}", "/v1/subjects/{id}/consents", "/v1/lookup"]) assert.ok(openapi.body.paths[p], `openapi lists ${p}`);

    const docs = await fetch(`${r.url}/docs`);
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await docs.text(), /<html/i);

    const metrics = await fetch(`${r.url}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^haechi_http_requests_total\{.*route="\/v1\/subjects".*\} \d+$/m);
    assert.equal(text.includes(subjectId), false, "no subject id in the metrics");

    await r.stop();
    assert.ok(r.child.exitCode !== null || r.child.signalCode !== null, "stopped");
    assertNoPersonalData(r.output());
  });

  test("second start on the same home: the same keys work and the data is still there", { timeout: 120_000 }, async () => {
    assert.ok(subjectId, "the first start created a subject");
    const before = fs.readFileSync(path.join(home, "demo-keys.json"), "utf8");
    const port = await freePort();
    const r = await npmStart(home, port);
    running.push(r);

    assert.equal(fs.readFileSync(path.join(home, "demo-keys.json"), "utf8"), before, "the keys are reused, not reissued");
    for (const p of principals) assert.ok(r.output().includes(keys[p]!), `prints the same key for ${p}`);
    const read = await readBack(r.url, keys["talk-app"]!);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.deepEqual(read.body.fields, { phone: person.phone, name: person.name, nickname: person.nickname });
    const verify = await json(`${r.url}/v1/audit/verify`, { headers: auth(keys["privacy-office"]!) });
    assert.equal(verify.status, 200, JSON.stringify(verify.body));
    assert.equal(verify.body.ok, true, "the audit chain survived the restart");
    assert.doesNotMatch(r.output(), /privacy policy: published/, "the policy is published once, not on every start");

    await r.stop();
    assertNoPersonalData(r.output());
  });
});
