/**
 * `haechi incident open|list|show|scope|facts|notify|report|outbox` on SQLite and PostgreSQL,
 * beside a running server (as an operator would during an incident), and its input errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runCli, type Env } from "../helpers/cli.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const cli = runCli;

for (const kind of STORE_KINDS) {
  describe(`haechi incident on ${kind}`, () => {
    let t: TestApp;
    let env: Env;
    const start = new Date(Date.now() - 60_000).toISOString();
    before(async () => {
      t = await startApp(kind);
      env = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      for (let i = 0; i < 3; i++) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", {
          purpose: "talk_service",
          fields: { user_id: `cli-${i}`, phone: `010-6100-${String(1000 + i)}`, name: "최", nickname: `c${i}`, ...(i < 2 ? { email: `cli${i}@mail.example` } : {}) },
        });
        assert.equal(r.status, 201);
        assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${r.body.id}?purpose=talk_service&fields=name`)).status, 200);
      }
      await t.c.audit.flush();
    });
    after(async () => {
      await t?.close();
    });

    test("open from a bug-bounty report with a scope, then list, facts, notify, report, outbox and show", async () => {
      const opened = await cli(env, "incident", "open", "--kind", "leak", "--summary", "bug bounty: names readable", "--source", "external", "--channel", "bug_bounty", "--reporter", "researcher", "--principal", "talk-app", "--from", start);
      assert.equal(opened.error, undefined, String(opened.error));
      const id = /^opened (inc_\S+)$/m.exec(opened.out)?.[1];
      assert.ok(id, opened.out);
      assert.match(opened.out, /source: {3}external \(bug_bounty, researcher\)/);
      assert.match(opened.out, /scope: {4}3 people \(3 identified, 0 erased since, unlinkable\)/);
      assert.match(opened.out, /deadline: .* \(7[12]h \d\dm left\)/);
      assert.match(opened.out, /NOTIFY_SUBJECTS +PENDING, due /);

      const list = await cli(env, "incident", "list", "--status", "open");
      assert.match(list.out, new RegExp(`^${id}  leak .* 3 people  bug bounty: names readable$`, "m"));

      const facts = await cli(env, "incident", "facts", id, "--circumstances-ko", "권한 검사 누락", "--circumstances-en", "a missing authorisation check", "--containment", "fixed_vulnerability:the check was added");
      assert.equal(facts.error, undefined, String(facts.error));

      const notify = await cli(env, "incident", "notify", id);
      assert.equal(notify.error, undefined, String(notify.error));
      assert.match(notify.out, /^full notice to 3 people: 2 by email, 1 by phone; 0 without contact details; 3 handed over, 0 failed$/m);
      assert.match(notify.out, /NOTIFY_SUBJECTS +done /);

      const report = await cli(env, "incident", "report", id, "--authority", "pipc_kisa");
      assert.equal(report.error, undefined, String(report.error));
      assert.match(report.out, /notices: {2}report\/pipc_kisa\/regulator sent 1/);

      const outbox = await cli(env, "incident", "outbox", id, "--limit", "10");
      const messages = outbox.out.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(messages.length, 4);
      assert.deepEqual(messages.filter((m) => m.channel === "phone").map((m) => m.to), ["010-6100-1002"]);

      const show = await cli(env, "incident", "show", id);
      assert.match(show.out, /timeline:\n {4}#\d+ .* opened by privacy-office \(audit #\d+\)/);
      assert.match(show.out, / report_filed by privacy-office /);
      const json = JSON.parse((await cli(env, "incident", "show", id, "--json")).out);
      assert.equal(json.id, id);
    });

    test("input errors name the problem", async () => {
      for (const [args, message] of [
        [["incident", "open", "--kind", "breach", "--summary", "x"], /--kind must be one of leak, loss/],
        [["incident", "open", "--kind", "leak", "--summary", "x", "--source", "external"], /--channel is required for --source external/],
        [["incident", "open", "--kind", "leak", "--summary", "x", "--source", "alert", "--alert-seq", "x1"], /--alert-seq must be a positive whole number/],
        [["incident", "open", "--kind", "leak", "--summary", "x", "--principal", "talk-app", "--from", "last week"], /--from must be an ISO 8601 date-time/],
        [["incident", "show", "inc_none"], /incident inc_none not found/],
        [["incident", "facts", "inc_none", "--circumstances-ko", "한국어"], /both languages/],
        [["incident", "facts", "inc_none", "--containment", "deleted"], /--containment deleted: write measure:description/],
        [["incident", "outbox", "inc_none", "--limit", "0"], /--limit must be a whole number from 1 to 1000/],
      ] as const) {
        const r = await cli(env, ...args);
        assert.ok(r.error, `${args.join(" ")} should fail`);
        assert.match((r.error as Error).message, message, args.join(" "));
      }
    });
  });
}
