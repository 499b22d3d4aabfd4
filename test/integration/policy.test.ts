/**
 * The privacy policy end to end (PIPA Art. 30; Decree Art. 31; LAW §15 J1), on SQLite and
 * PostgreSQL: `haechi policy render` renders the catalog's policy (files in both languages),
 * `--publish` records numbered versions with a machine-made change log, audited, and refuses an
 * identical or backdated one; `GET /policy` serves the version in force publicly (Korean by
 * default, `?lang=en`, earlier and upcoming versions with their change logs) and `GET /v1/policy`
 * the same as JSON for services; a catalog that lacks a required item is refused by name.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { fixedClock } from "../../src/core/clock.js";
import { parseCatalog } from "../../src/core/catalog/catalog-fns.js";
import { kstDay } from "../../src/services/policy-service.js";
import { STORE_KINDS, startApp, withoutDetection, type TestApp } from "../helpers/app.js";
import { runCli, type Env } from "../helpers/cli.js";

const DAY = 86_400_000;
const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

for (const kind of STORE_KINDS) {
  describe(`the privacy policy on ${kind}`, () => {
    let t: TestApp;
    let work: string;
    // The server's clock starts now (the CLI publishes on the system clock) and is moved forward later.
    const clock = fixedClock(new Date());
    before(async () => {
      t = await startApp(kind, { clock });
      work = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-policy-"));
    });
    after(async () => {
      await t?.close();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    const cli = async (...args: string[]) => {
      const env: Env = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      return runCli(env, ...args);
    };
    const page = async (q = "") => {
      const res = await fetch(`${t.url}/policy${q}`);
      return { status: res.status, type: res.headers.get("content-type"), headers: res.headers, text: await res.text() };
    };
    /** The demo catalog changed by `mutate`, written to a file for the CLI. */
    const catalogFile = (name: string, mutate: (raw: Record<string, any>) => void) => {
      const raw = parse(fs.readFileSync(DEMO_CATALOG, "utf8")) as Record<string, any>;
      mutate(raw);
      const text = stringify(raw);
      const r = parseCatalog(text);
      assert.ok(r.ok, "the variant catalog is valid");
      const file = path.join(work, name);
      fs.writeFileSync(file, text);
      return { file, catalog: r.catalog };
    };

    test("before anything is published: the page and the JSON show the catalog's draft, and say so", async () => {
      const p = await page();
      assert.equal(p.status, 200);
      assert.equal(p.type, "text/html; charset=utf-8");
      assert.match(p.text, /^<!doctype html>\n<html lang="ko">/);
      assert.match(p.text, /이 처리방침은 아직 공표되지 않은 초안입니다/);
      assert.equal(p.headers.get("content-language"), "ko");
      assert.match(p.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.doesNotMatch(p.text, /<style|style="|<script/, "no inline style or script: the CSP allows neither");
      assert.match(p.text, /<link rel="stylesheet" href="\/policy\/policy.css">/);
      const css = await fetch(`${t.url}/policy/policy.css`);
      assert.equal(css.status, 200);
      assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
      assert.match(await css.text(), /@media \(max-width:40rem\)/);
      const english = await fetch(`${t.url}/policy`, { headers: { "accept-language": "en-US,en;q=0.9" } });
      assert.match(await english.text(), /^<!doctype html>\n<html lang="en">[\s\S]*This policy is a draft/, "the browser's English is honoured without ?lang");
      const j = await t.call("talk-app", "GET", "/v1/policy?lang=en");
      assert.equal(j.status, 200, JSON.stringify(j.body));
      assert.equal(j.body.draft, true);
      assert.equal(j.body.version, null);
      assert.equal(j.body.title, "HaechiTalk Corp. Privacy Policy");
      assert.equal(sha256(j.body.markdown), j.body.sha256.markdown);
      assert.deepEqual(j.body.history, []);
    });

    test("routes: /policy needs no key (Art. 30(2)); /v1/policy needs one; bad language and unknown versions are refused", async () => {
      assert.equal((await t.call(null, "GET", "/v1/policy")).status, 401);
      assert.equal((await t.call("hk_wrong_key", "GET", "/v1/policy")).status, 401);
      const bad = await t.call(null, "GET", "/policy?lang=fr");
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, "VALIDATION_FAILED");
      const missing = await t.call(null, "GET", "/policy?version=99");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, "NOT_FOUND");
      const spec = (await t.call(null, "GET", "/openapi.json")).body;
      assert.ok(spec.paths["/policy"]?.get, "GET /policy is in the OpenAPI document");
      assert.deepEqual(spec.paths["/policy"].get.security, [], "and marked public");
      assert.ok(spec.paths["/policy"].get.responses["200"].content["text/html"]);
      assert.ok(spec.paths["/v1/policy"]?.get, "GET /v1/policy is in the OpenAPI document");
    });

    test("PIPA Art. 30(1)6: a catalog lacking a required item is refused by name, on the page and in the CLI, never printed with a placeholder", async () => {
      const { file, catalog } = catalogFile("no-phone.yaml", (raw) => {
        delete raw.controller.privacy_officer.phone;
        delete raw.controller.privacy_officer.department;
      });
      const r = await cli("policy", "render", "--catalog", file);
      assert.equal(r.code, 1);
      assert.equal((r.error as { code?: string }).code, "CATALOG_INVALID");
      assert.match((r.error as Error).message, /controller\.privacy_officer\.phone: .*\(PIPA Art\. 30\(1\)6\)/);
      assert.equal(r.out, "", "nothing is printed");
      t.c.setCatalog(withoutDetection(catalog));
      try {
        const p = await t.call(null, "GET", "/policy");
        assert.equal(p.status, 500);
        assert.equal(p.body.error.code, "CATALOG_INVALID");
        assert.match(p.body.error.message, /controller\.privacy_officer\.phone/);
      } finally {
        t.c.setCatalog(withoutDetection(loadCatalog(DEMO_CATALOG)));
      }
    });

    test("haechi policy render writes Markdown and HTML in both languages; --publish records version 1, audited, and refuses an identical one", async () => {
      const out = path.join(work, "draft");
      const r = await cli("policy", "render", "--out", out);
      assert.equal(r.error, undefined, String(r.error));
      assert.match(r.out, /no version published yet/);
      for (const f of ["privacy-policy.ko.md", "privacy-policy.ko.html", "privacy-policy.en.md", "privacy-policy.en.html"]) assert.ok(fs.existsSync(path.join(out, f)), f);
      assert.match(fs.readFileSync(path.join(out, "privacy-policy.en.html"), "utf8"), /^<!doctype html>\n<html lang="en">/);
      const stdout = await cli("policy", "render", "--lang", "en");
      assert.match(stdout.out, /^# HaechiTalk Corp\. Privacy Policy\n/);

      const published = await cli("policy", "render", "--publish", "--by", "cpo-kim", "--out", path.join(work, "v1"));
      assert.equal(published.error, undefined, String(published.error));
      const today = kstDay(new Date());
      assert.match(published.out, new RegExp(`published privacy policy version 1, effective ${today}`));
      assert.ok(fs.existsSync(path.join(work, "v1", "privacy-policy-v1.ko.md")));
      const row = await t.c.stores.data.policies.get(1);
      assert.ok(row);
      assert.equal(row.publishedBy, "cpo-kim");
      assert.deepEqual(row.changes, []);
      for (const [name, text] of Object.entries(row.texts)) assert.equal(sha256(text), row.textSha256[name], name);
      assert.equal(fs.readFileSync(path.join(work, "v1", "privacy-policy-v1.ko.md"), "utf8"), row.texts["ko.md"], "the file is the text published");
      // Audited like any operator act, before the row (its seq is recorded with it).
      const entries = await t.c.stores.audit.byPrincipal("cpo-kim", new Date(Date.now() - DAY), new Date(Date.now() + DAY), null, 10);
      const entry = entries.find((e) => e.action === "policy.publish");
      assert.ok(entry, "a policy.publish audit entry");
      assert.equal(entry.seq, row.auditSeq);
      const meta = (JSON.parse(entry.body) as { meta: Record<string, unknown> }).meta;
      assert.equal(meta.version, 1);
      assert.equal(meta.contentSha256, row.contentSha256);

      const again = await cli("policy", "render", "--publish", "--by", "cpo-kim");
      assert.equal((again.error as { code?: string }).code, "CONFLICT");
      assert.match((again.error as Error).message, /identical to version 1/);
      const same = await cli("policy", "render", "--out", path.join(work, "same"));
      assert.match(same.out, /identical to published version 1/);
    });

    test("a changed catalog: the draft shows the change log; version 2 takes effect later; the page shows version 1 in force and announces version 2", async () => {
      const { file } = catalogFile("v2.yaml", (raw) => {
        raw.recipients["card-network-eu"].fields = ["user_id", "name"];
        raw.controller.privacy_officer.phone = "02-0000-9999";
      });
      const diff = await cli("policy", "render", "--catalog", file, "--out", path.join(work, "diff"));
      assert.equal(diff.code, 2, "a drift from the published version exits 2");
      assert.match(diff.out, /differs from published version 1 .* in 3 change\(s\)/);
      assert.match(diff.out, /Overseas transfer changed: EuroCard Switch Ltd\. \(items\)/);
      const past = await cli("policy", "render", "--catalog", file, "--publish", "--effective", "2020-01-01");
      assert.equal((past.error as { code?: string }).code, "VALIDATION_FAILED");
      const effective = kstDay(new Date(Date.now() + 10 * DAY));
      const v2 = await cli("policy", "render", "--catalog", file, "--publish", "--effective", effective, "--by", "cpo-kim");
      assert.equal(v2.error, undefined, String(v2.error));
      assert.match(v2.out, /published privacy policy version 2/);
      const list = await cli("policy", "list");
      assert.match(list.out, /^v2 {2}effective .*\n {4}Trustee changed: EuroCard Switch Ltd\. \(items\)\n/);

      const ko = await page();
      assert.match(ko.text, /<p class="meta">버전 1 · 시행일/);
      assert.match(ko.text, new RegExp(`개정된 처리방침\\(제2판\\)이 ${effective}부터 시행됩니다`));
      assert.match(ko.text, /<li>국외 이전 변경: 유로카드 스위치 \(EuroCard Switch Ltd\.\) \(항목\)<\/li>/);
      assert.match(ko.text, /<li>처리방침 항목 변경: 개인정보 보호책임자<\/li>/);
      const en = await page("?lang=en&version=2");
      assert.match(en.text, /^<!doctype html>\n<html lang="en">/);
      assert.match(en.text, new RegExp(`You are reading version 2, which takes effect on ${effective}`));
      assert.match(en.text, /Contact: 02-0000-9999, cpo@haechitalk\.example/);

      const j = await t.call("pay-app", "GET", "/v1/policy");
      assert.equal(j.body.version, 1);
      assert.equal(j.body.inForce, 1);
      assert.deepEqual(j.body.upcoming, { version: 2, effective });
      assert.deepEqual(j.body.history.map((h: { version: number }) => h.version), [2, 1]);
      assert.equal(sha256(j.body.html), j.body.sha256.html, "the HTML served is the HTML published");

      clock.advance(11 * DAY);
      const later = await t.call("pay-app", "GET", "/v1/policy?lang=en");
      assert.equal(later.body.version, 2);
      assert.equal(later.body.upcoming, null);
      assert.ok(later.body.history[0].changes.some((c: { subject: string; name: string; text: string }) => c.subject === "transfer" && c.name === "card-network-eu" && /Overseas transfer changed/.test(c.text)));
    });
  });
}
