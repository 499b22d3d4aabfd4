/**
 * The `haechi` command line: catalog check, init, import, audit checkpoint/verify (and what
 * tampering does to them), keys issue/status/rotate, and the error format. Commands run in this
 * process where possible (fast); a few run as a real subprocess for real exit codes and stderr.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type Env } from "../helpers/cli.js";
import { STORE_KINDS, pgUrl, startApp, type TestApp } from "../helpers/app.js";
import { freshDatabase } from "../helpers/pg.js";
import { tamperAudit } from "../helpers/tamper.js";

const root = path.resolve(import.meta.dirname, "../..");
const EXAMPLE = path.join(root, "examples/haechi.yaml");

const cli = runCli;

/** Runs `node --import tsx src/main.ts …` as a subprocess. */
const bin = (env: Env, ...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });

const STACK = /^\s+at .+[:(]/m;

describe("haechi CLI: catalog, init, errors", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-cli-"));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The example catalog with three independent mistakes. */
  const brokenCatalog = () => {
    let text = fs.readFileSync(EXAMPLE, "utf8");
    const edit = (from: string, to: string) => {
      assert.ok(text.includes(from), `example catalog still has: ${from}`);
      text = text.replace(from, to);
    };
    edit("    basis: contract # PIPA Art. 15(1)4", "    basis: kontract");
    edit("    purposes: [talk_service, security_monitoring]", "    purposes: [talk_service, security_monitoring, no_such_purpose]");
    edit("    pattern: '^(\\+82-?|0)1[016789]-?\\d{3,4}-?\\d{4}$'", "    pattern: '^(unclosed'");
    const f = path.join(dir, "broken.yaml");
    fs.writeFileSync(f, text);
    return f;
  };

  test("catalog check: the example catalog is ok, exit 0", async () => {
    const r = await cli({}, "catalog", "check", EXAMPLE);
    assert.equal(r.error, undefined);
    assert.equal(r.code, 0);
    assert.match(r.out, /haechi\.yaml: ok — \d+ fields, \d+ purposes, \d+ notices, \d+ principals/);
  });

  test("catalog check: a broken catalog lists every error with its YAML path, exit 1", async () => {
    const r = await cli({}, "catalog", "check", brokenCatalog());
    assert.equal(r.code, 1);
    assert.match(r.out, /broken\.yaml: 3 errors/);
    assert.match(r.out, /^purposes\.talk_service\.basis: must be one of: .*contract.* \[INVALID_VALUE\]$/m);
    assert.match(r.out, /^principals\.talk-app\.purposes\[2\]: unknown purpose "no_such_purpose"/m);
    assert.match(r.out, /^fields\.phone\.pattern: .*not a valid regular expression/m);
  });

  test("catalog check as a subprocess: the exit code and output are real", async () => {
    const ok = await bin({}, "catalog", "check");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /: ok —/);
    const bad = await bin({}, "catalog", "check", brokenCatalog());
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /3 errors/);
    assert.doesNotMatch(bad.stdout + bad.stderr, STACK);
  });

  test("init creates the home and a key file only its owner can read (0600); a second init keeps the keys", async () => {
    const home = path.join(dir, "home-init");
    const r = await cli({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }, "init");
    assert.equal(r.error, undefined, String(r.error));
    assert.match(r.out, /initialised .*home-init/);
    const keyFile = path.join(home, "keyring.json");
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(home).mode & 0o077, 0, "the home is not readable by others");
    const before = fs.readFileSync(keyFile, "utf8");
    const again = await cli({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }, "init");
    assert.equal(again.error, undefined);
    assert.equal(fs.readFileSync(keyFile, "utf8"), before, "an existing key file is never replaced");
  });

  test("errors print as `error CODE: message` on stderr, exit 1, never a stack trace", async () => {
    const missing = await bin({ HAECHI_HOME: path.join(dir, "no-such-home"), HAECHI_LOG_LEVEL: "silent" }, "keys", "issue", "talk-app");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error KEY_UNAVAILABLE: keyring .* does not exist: if Haechi has run on these stores, restore it from its offline copy .*; for new, empty stores run `haechi init`$/m);
    assert.equal(fs.existsSync(path.join(dir, "no-such-home")), false, "nothing was created for a command that could not run");
    assert.doesNotMatch(missing.stderr, STACK);
    assert.equal(missing.stdout, "");

    const home = path.join(dir, "home-errors");
    assert.equal((await cli({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }, "init")).error, undefined);
    const nobody = await bin({ HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" }, "keys", "issue", "nobody");
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /^error VALIDATION_FAILED: principal "nobody" is not in the catalog$/m);
    assert.doesNotMatch(nobody.stderr, STACK);

    const badConfig = await bin({ HAECHI_HOME: home, HAECHI_STORE: "postgres" }, "keys", "status");
    assert.equal(badConfig.code, 1);
    assert.match(badConfig.stderr, /^error CONFIG_INVALID: .*HAECHI_PG_URL is required/m);
    assert.doesNotMatch(badConfig.stderr, STACK);
  });
});

for (const kind of STORE_KINDS) {
  describe(`haechi CLI on ${kind}`, () => {
    let t: TestApp;
    let env: Env;
    let dir: string;
    before(async () => {
      t = await startApp(kind);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-cli-"));
      env = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
    });
    after(async () => {
      await t?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test("keys issue prints a key that authenticates as that principal", async () => {
      const r = await cli(env, "keys", "issue", "support-console");
      assert.equal(r.error, undefined, String(r.error));
      const token = r.out.trim();
      assert.equal(token.split("\n").length, 1, "only the key is printed");
      const ok = await t.call(token, "POST", "/v1/lookup", { purpose: "customer_support", field: "phone", value: "010-0000-0000" });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const notItsPurpose = await t.call(token, "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: "010-0000-0000" });
      assert.equal(notItsPurpose.status, 403);
      const bad = await cli(env, "keys", "issue", "nobody");
      assert.equal((bad.error as { code?: string }).code, "VALIDATION_FAILED");
    });

    test("import: ids and rejects files, a summary line, exit 2 when rows were rejected", async () => {
      const file = path.join(dir, "people.csv");
      fs.writeFileSync(file, ["ref,user_id,phone,name,nickname", "a,cli-1,010-4444-0001,김,k1", "b,cli-2,bad,이,k2", "c,cli-3,010-4444-0003,박,k3", ""].join("\n"));
      const ids = path.join(dir, "ids.ndjson");
      const rejects = path.join(dir, "rejects.ndjson");
      const r = await cli(env, "import", file, "--as", "talk-app", "--purpose", "talk_service", "--ids", ids, "--rejects", rejects);
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(r.code, 2);
      assert.match(r.out, /^import \S+: 2 imported, 0 skipped \(already imported\), 1 rejected \(see .*rejects\.ndjson\)$/m);
      const rejected = fs.readFileSync(rejects, "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(rejected.map((x) => [x.line, x.ref, x.code]), [[3, "b", "VALIDATION_FAILED"]]);
      const imported = fs.readFileSync(ids, "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(imported.map((x) => [x.line, x.ref]), [[2, "a"], [4, "c"]]);
      const got = await t.call("talk-app", "GET", `/v1/subjects/${imported[1].id}?purpose=talk_service&fields=user_id,phone`);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.deepEqual(got.body.fields, { user_id: "cli-3", phone: "010-4444-0003" });

      const again = await cli(env, "import", file, "--as", "talk-app", "--purpose", "talk_service", "--rejects", rejects);
      assert.match(again.out, /: 0 imported, 2 skipped \(already imported\), 1 rejected/);
    });

    test("audit checkpoint --out, then audit verify --checkpoint: OK, exit 0", async () => {
      const cp = path.join(dir, "checkpoint.json");
      const c = await cli(env, "audit", "checkpoint", "--out", cp);
      assert.equal(c.error, undefined, String(c.error));
      assert.match(c.out, /^checkpoint #\d+ written to .*checkpoint\.json$/m);
      const doc = JSON.parse(fs.readFileSync(cp, "utf8"));
      assert.ok(doc.checkpoint.seq > 0 && doc.checkpoint.signature && doc.publicKeyPem, "a signed export with its public key");
      const v = await cli(env, "audit", "verify", "--checkpoint", cp);
      assert.equal(v.error, undefined, String(v.error));
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, /^OK: \d+ entries, head #\d+ [0-9a-f]{16}…, \d+ checkpoints checked$/m);
      const json = await cli(env, "audit", "verify", "--json");
      assert.equal(JSON.parse(json.out).ok, true);
    });

    test("an edited entry: audit verify exits 1 and names the problem (hash_mismatch)", async () => {
      await tamperAudit(t, { kind: "edit-body", seq: 3, from: '"requestId":"', to: '"requestId":"X' });
      try {
        const v = await cli(env, "audit", "verify");
        assert.equal(v.code, 1, v.out);
        assert.match(v.out, /^FAILED: /m);
        assert.match(v.out, /^ {2}#3 hash_mismatch: /m);
      } finally {
        await tamperAudit(t, { kind: "edit-body", seq: 3, from: '"requestId":"X', to: '"requestId":"' });
      }
      assert.equal((await cli(env, "audit", "verify")).code, 0, "restored");
    });

    test("a truncated tail: only the checkpoint kept outside catches it (exit 1, truncated)", async () => {
      const cp = path.join(dir, "checkpoint-before-truncation.json");
      assert.equal((await cli(env, "audit", "checkpoint", "--out", cp)).error, undefined);
      const seq = JSON.parse(fs.readFileSync(cp, "utf8")).checkpoint.seq as number;
      await tamperAudit(t, { kind: "truncate-after", seq: seq - 3 });
      const inside = await cli(env, "audit", "verify");
      assert.equal(inside.code, 0, "the stored checkpoints were removed too: the log alone looks whole");
      const outside = await cli(env, "audit", "verify", "--checkpoint", cp);
      assert.equal(outside.code, 1, outside.out);
      assert.match(outside.out, /^FAILED: /m);
      assert.match(outside.out, /truncated/);
    });

    test("keys status and keys rotate: every data key moves to the new KEK version", async () => {
      // A home of its own: rotating changes the key file, which the running server here holds.
      const home = path.join(dir, "rotate-home");
      const own: Env = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" };
      let db: { url: string; drop(): Promise<void> } | undefined;
      if (kind === "postgres") {
        db = await freshDatabase(pgUrl());
        Object.assign(own, { HAECHI_STORE: "postgres", HAECHI_PG_URL: db.url });
      }
      try {
        assert.equal((await cli(own, "init")).error, undefined);
        const file = path.join(dir, "rotate.ndjson");
        fs.writeFileSync(file, [1, 2, 3].map((n) => JSON.stringify({ fields: { user_id: `rot-${n}`, phone: `010-6666-000${n}`, name: "최", nickname: `r${n}` } })).join("\n"));
        assert.equal((await cli(own, "import", file, "--as", "talk-app", "--purpose", "talk_service", "--rejects", path.join(dir, "rot-rejects.ndjson"))).code, 0);
        const s1 = await cli(own, "keys", "status");
        assert.equal(s1.out, "active KEK v1\n  v1: 3 data keys\n");
        const r = await cli(own, "keys", "rotate");
        assert.equal(r.error, undefined, String(r.error));
        assert.equal(r.out, "active KEK is v2; 3 data keys and 0 sealed-store keys re-wrapped\n");
        const s2 = await cli(own, "keys", "status");
        assert.equal(s2.out, "active KEK v2\n  v2: 3 data keys\n");
        const resume = await cli(own, "keys", "rotate", "--resume");
        assert.equal(resume.out, "active KEK is v2; 0 data keys and 0 sealed-store keys re-wrapped\n");
      } finally {
        await db?.drop();
      }
    });
  });
}
