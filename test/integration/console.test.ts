/**
 * The console's own authentication and roles over HTTP on a real server, on SQLite and PostgreSQL
 * (issue 6; ADR 0013; Safety Standard Arts. 5–8; LAW §15 G1–G2): password and TOTP, wrong and
 * reused codes, the catalog's lockout, the idle timeout, a revocation by the CLI, role denials,
 * CSRF — every one of them audited, and nothing secret in the audit log. Staff accounts are made
 * with the real CLI; the server's clock is injected so the 30-second steps and the timeouts move
 * when the test says.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";
import { runCli } from "../helpers/cli.js";
import { addStaff, codeOf, consoleClient, type Staff } from "../helpers/console.js";

const MIN = 60_000;
const STEP = 30_000;

const member = (n: number) => ({ user_id: `member-${n}`, phone: `010-5${String(100 + n).padStart(3, "0")}-${String(1000 + n).slice(-4)}`, name: "박오픈", nickname: `open${n}` });

for (const kind of STORE_KINDS) {
  describe(`console: sign-in, lockout, idle timeout, roles [${kind}]`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-03-03T05:00:00.000Z"); // a Tuesday, 14:00 in Seoul
    let cpo: Staff;
    let security: Staff;
    let auditor: Staff;

    before(async () => {
      t = await startApp(kind, { clock, detection: true, detectionRefreshMs: 100 });
      cpo = await addStaff(t, "kim-cpo", "cpo");
      security = await addStaff(t, "lee-sec", "security");
      auditor = await addStaff(t, "park-audit", "auditor");
    });
    after(async () => {
      await t?.close();
    });

    /** Every audit entry so far, parsed. */
    const audit = async () => {
      await t.c.services.detection.settle();
      await t.c.audit.flush();
      const out: any[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 5000)) for (const r of page) out.push(JSON.parse(r.body));
      return out;
    };
    const consoleEntries = async (staff: string) => (await audit()).filter((e) => String(e.action).startsWith("console.") && (e.meta?.staff === staff || e.principal === `staff:${staff}`));

    /** A signed-in client (each sign-in takes the next 30-second step: a step is never accepted twice). */
    const signedIn = async (s: Staff) => {
      clock.advance(STEP);
      const b = consoleClient(t);
      const r = await b.login(s.id, s.password, codeOf(t, s));
      assert.equal(r.status, 303, r.text.slice(0, 500));
      return b;
    };

    test("password and TOTP sign in: the cookie is HttpOnly, SameSite=Strict and scoped to /console; pages carry the CSP; the login is audited", async () => {
      const b = consoleClient(t);
      const anonymous = await b.get("/console/overview");
      assert.deepEqual([anonymous.status, anonymous.location], [303, "/console/login?lang=ko"]);
      clock.advance(STEP);
      const r = await b.login(cpo.id, cpo.password, codeOf(t, cpo));
      assert.deepEqual([r.status, r.location], [303, "/console/overview?lang=en"]);
      const set = r.headers.getSetCookie().find((c) => c.startsWith("haechi_console="))!;
      assert.match(set, /^haechi_console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict$/);
      const page = await b.get("/console/overview?lang=en");
      assert.equal(page.status, 200);
      assert.match(page.text, /kim-cpo · Role: cpo/);
      assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      assert.equal(page.headers.get("cache-control"), "no-store");
      const entries = await consoleEntries("kim-cpo");
      const login = entries.find((e) => e.action === "console.login" && e.effect === "allow");
      assert.ok(login, "the login is audited");
      assert.deepEqual([login.principal, login.source, login.meta.role], ["staff:kim-cpo", "127.0.0.1", "cpo"]);
      assert.ok(entries.some((e) => e.action === "console.view.overview" && e.effect === "allow"), "the page view is audited");
      // Nothing secret reaches the log: no password, no code, no token, no TOTP secret.
      const all = JSON.stringify(await audit());
      assert.ok(!all.includes(cpo.password));
      assert.ok(!all.includes(set.split(";")[0]!.split("=")[1]!));
      assert.ok(!all.includes(cpo.secret.toString("hex")));
    });

    test("a wrong password, a wrong code, a reused code and an unknown id are refused alike, each audited with its reason", async () => {
      clock.advance(STEP);
      const b = consoleClient(t);
      const wrongPassword = await b.login(security.id, "not the password at all", codeOf(t, security));
      const wrongCode = await b.login(security.id, security.password, codeOf(t, security, 5));
      const unknown = await b.login("nobody-here", "whatever-password", "123456");
      for (const r of [wrongPassword, wrongCode, unknown]) {
        assert.equal(r.status, 401);
        assert.match(r.text, /The staff id, password or one-time code is wrong/);
      }
      const ok = await b.login(security.id, security.password, codeOf(t, security));
      assert.equal(ok.status, 303);
      const again = await consoleClient(t).login(security.id, security.password, codeOf(t, security));
      assert.equal(again.status, 401, "the same code twice");
      const previous = await consoleClient(t).login(security.id, security.password, codeOf(t, security, -1));
      assert.equal(previous.status, 401, "an earlier step after a later one was used");
      const reasons = (await consoleEntries("lee-sec")).filter((e) => e.action === "console.login" && e.effect === "deny").map((e) => e.reasons[0]);
      assert.deepEqual(reasons, ["WRONG_PASSWORD", "WRONG_TOTP", "TOTP_REUSED", "TOTP_REUSED"]);
      const unknownEntry = (await audit()).find((e) => e.action === "console.login" && e.reasons[0] === "UNKNOWN_STAFF");
      assert.ok(unknownEntry);
      assert.equal(unknownEntry.meta, undefined, "an id nobody has is not written down");
      assert.equal((await t.c.stores.data.operators.get(security.id))?.failedCount, 2, "the success cleared the two failures before it; the two reuses after it count");
    });

    test("the catalog's lockout: after max_failures in a row even the right password and code are refused until lock_for has passed", async () => {
      const { max_failures, lock_for } = t.c.catalog.current().security.lockout;
      assert.deepEqual([max_failures, lock_for], [5, "PT30M"]);
      const s = await addStaff(t, "choi-locked", "auditor");
      clock.advance(STEP);
      for (let i = 0; i < max_failures; i++) assert.equal((await consoleClient(t).login(s.id, "a wrong password!!", codeOf(t, s))).status, 401);
      clock.advance(STEP);
      const locked = await consoleClient(t).login(s.id, s.password, codeOf(t, s));
      assert.equal(locked.status, 429);
      assert.match(locked.text, /locked/);
      const entries = await consoleEntries("choi-locked");
      const lockout = entries.filter((e) => e.action === "console.lockout");
      assert.equal(lockout.length, 1);
      assert.deepEqual([lockout[0].reasons, lockout[0].meta.failures], [["TOO_MANY_FAILURES"], 5]);
      assert.equal(entries.at(-1).reasons[0], "LOCKED");
      const row = await t.c.stores.data.operators.get(s.id);
      assert.deepEqual([row?.failedCount, row?.lockedUntil?.toISOString()], [5, lockout[0].meta.lockedUntil]);
      // (The CLI runs on the real clock, so it shows this test clock's lock as over; it lists the account all the same.)
      assert.match((await runCli(t.env, "console", "user", "list")).out, /choi-locked\s+auditor\s+created .* by privacy-office\s+last login never/);
      clock.advance(30 * MIN);
      assert.equal((await consoleClient(t).login(s.id, s.password, codeOf(t, s))).status, 303, "the lock ran out");
    });

    test("the idle timeout ends a session (audited); a session used in time lives on; a revocation by the CLI ends one at its next request", async () => {
      const b = await signedIn(auditor);
      clock.advance(14 * MIN);
      assert.equal((await b.get("/console/overview")).status, 200, "used within the idle timeout");
      clock.advance(14 * MIN);
      assert.equal((await b.get("/console/overview")).status, 200, "the timeout counts from the last use");
      clock.advance(15 * MIN + 1000);
      const idle = await b.get("/console/overview");
      assert.deepEqual([idle.status, idle.location], [303, "/console/login?lang=ko&reason=IDLE_TIMEOUT"]);
      assert.equal((await b.get("/console/overview")).status, 303, "the session is gone");
      const ended = (await consoleEntries("park-audit")).filter((e) => e.action === "console.logout");
      assert.deepEqual(ended.map((e) => e.reasons[0]), ["IDLE_TIMEOUT"]);

      const s = await addStaff(t, "jung-leaver", "security");
      const c = await signedIn(s);
      assert.equal((await c.get("/console/alerts")).status, 200);
      const disabled = await runCli(t.env, "console", "user", "disable", "--id", s.id, "--reason", "left the company");
      assert.equal(disabled.code, 0, disabled.out);
      const next = await c.get("/console/alerts");
      assert.deepEqual([next.status, next.location], [303, "/console/login?lang=ko&reason=ACCOUNT_DISABLED"]);
      clock.advance(STEP);
      assert.equal((await consoleClient(t).login(s.id, s.password, codeOf(t, s))).status, 401, "a disabled account cannot sign in");
      const trail = await consoleEntries("jung-leaver");
      assert.deepEqual(
        trail.filter((e) => e.action === "console.staff.add" || e.action === "console.staff.disable").map((e) => [e.action, e.meta.role, e.principal]),
        [
          ["console.staff.add", "security", "privacy-office"],
          ["console.staff.disable", "security", "privacy-office"],
        ],
        "grants and revocations are kept in the audit log (Safety Standard Art. 5(3))",
      );
      assert.equal(trail.at(-1).reasons[0], "ACCOUNT_DISABLED");
    });

    test("roles: what a role is not granted is refused and audited; forms need the session's CSRF token and this site", async () => {
      const sec = await signedIn(security);
      for (const p of ["/console/datamap", "/console/provisions", "/console/destruction", "/console/review"]) {
        const r = await sec.get(`${p}?lang=en`);
        assert.equal(r.status, 403, p);
        assert.match(r.text, /ACCESS_DENIED/);
      }
      const nav = await sec.get("/console/overview?lang=en");
      assert.doesNotMatch(nav.text, /href="\/console\/datamap/, "the navigation shows only what the role may see");
      const aud = await signedIn(auditor);
      const page = await aud.get("/console/audit?lang=en");
      const csrf = aud.csrfOf(page.text);
      assert.equal((await aud.post("/console/alerts/alt_x/incident", { _csrf: csrf, kind: "leak" })).status, 403);
      assert.equal((await aud.post("/console/holds/talk-app/lift", { _csrf: csrf, reason: "fine" })).status, 403);
      assert.equal((await aud.post("/console/review/signoff", { _csrf: csrf, month: "2026-02" })).status, 403);
      assert.equal((await aud.post("/console/audit/verify", { _csrf: csrf })).status, 303, "auditors may verify the log");
      const denied = (await audit()).filter((e) => e.effect === "deny" && e.reasons[0] === "ROLE_NOT_PERMITTED" && String(e.action).startsWith("console."));
      assert.deepEqual(
        denied.map((e) => [e.principal, e.action]),
        [
          ["staff:lee-sec", "console.view.datamap"],
          ["staff:lee-sec", "console.view.provisions"],
          ["staff:lee-sec", "console.view.destruction"],
          ["staff:lee-sec", "console.view.review"],
          ["staff:park-audit", "console.act.incident.open"],
          ["staff:park-audit", "console.act.hold.lift"],
          ["staff:park-audit", "console.act.review.signoff"],
        ],
      );
      // CSRF: no token, a wrong token, another site.
      assert.equal((await aud.post("/console/audit/verify", {})).status, 403);
      assert.equal((await aud.post("/console/audit/verify", { _csrf: "x".repeat(43) })).status, 403);
      assert.equal((await aud.post("/console/audit/verify", { _csrf: csrf }, { origin: "https://evil.example", "sec-fetch-site": "cross-site" })).status, 403);
      const csrfDenied = (await audit()).filter((e) => e.reasons[0] === "CSRF_CHECK_FAILED");
      assert.equal(csrfDenied.length, 3);
      // An API key opens nothing here, not even the operator principal's.
      const withKey = await consoleClient(t).get("/console/overview", { authorization: `Bearer ${t.keys["privacy-office"]}` });
      assert.equal(withKey.status, 303);
    });

    test("an officer opens an incident from the real detector's alert; the incident service records the staff member; security may lift the hold", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 32; i++) ids.push((await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) })).body.id);
      for (const id of ids) await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`);
      await t.c.services.detection.settle();
      const alert = (await t.c.services.detection.alerts({ rule: "scrape_burst" }))[0];
      assert.ok(alert, "the scrape raised an alert");
      const b = await signedIn(cpo);
      const page = await b.get("/console/alerts?lang=en");
      assert.match(page.text, new RegExp(`/console/alerts/${alert.id}/incident`));
      const opened = await b.post(`/console/alerts/${alert.id}/incident?lang=en`, { _csrf: b.csrfOf(page.text), kind: "leak" });
      assert.equal(opened.status, 303);
      const incidentId = /\/console\/incidents\/(inc_[A-Za-z0-9_-]+)/.exec(opened.location ?? "")?.[1];
      assert.ok(incidentId, opened.location ?? "");
      const v = await t.c.services.incidents.get({ principal: "privacy-office", source: null, requestId: "test" }, incidentId);
      assert.deepEqual([v.openedBy, v.source.type, (v.source as { alertId: string }).alertId, v.awareAt], ["staff:kim-cpo", "alert", alert.id, alert.at.toISOString()]);
      assert.equal(v.scope?.people.total, 32, "scoped from the alert's principal and window");
      const detail = await b.get(`/console/incidents/${incidentId}?lang=en`);
      assert.match(detail.text, /class="countdown big" data-deadline="[^"]+" role="timer"/);
      assert.match(detail.text, /NOTIFY_SUBJECTS/);
      // The security team lifts the throttle from the alerts page.
      const sec = await signedIn(security);
      const alerts = await sec.get("/console/alerts?lang=en");
      assert.match(alerts.text, /action="\/console\/holds\/talk-app\/lift/);
      const lift = await sec.post("/console/holds/talk-app/lift?lang=en", { _csrf: sec.csrfOf(alerts.text), reason: "scrape contained; key rotated" });
      assert.equal(lift.status, 303);
      const lifted = (await audit()).find((e) => e.action === "principal.lift");
      assert.deepEqual([lifted.principal, lifted.meta.principal], ["staff:lee-sec", "talk-app"]);
    });

    test("the monthly review: generated by the CLI's service, signed off from the console by the privacy officer against the report's digest", async () => {
      const generated = await t.c.services.review.generate({ month: "2026-02", by: "privacy-office" });
      const b = await signedIn(cpo);
      const page = await b.get("/console/review?lang=en");
      assert.match(page.text, /Monthly review 2026-02/);
      assert.match(page.text, /Signed off: <span class="warn">not yet/);
      const signed = await b.post("/console/review/signoff?lang=en", { _csrf: b.csrfOf(page.text), month: "2026-02", note: "reviewed; nothing to escalate" });
      assert.deepEqual([signed.status, signed.location], [303, "/console/review?month=2026-02&lang=en"]);
      const st = await t.c.services.review.status("2026-02");
      assert.deepEqual([st.signedOff?.by, st.signedOff?.sha256, st.signedOff?.note], ["staff:kim-cpo", generated.sha256, "reviewed; nothing to escalate"]);
      assert.match((await b.get("/console/review?month=2026-02&lang=en")).text, /Signed off: <span class="ok">.*\(staff:kim-cpo\)/);
      assert.match((await b.get("/console/overview?lang=en")).text, /2026-02<\/p><p>signed off/);
    });

    test("Decree Arts. 41(4), 43(3): the privacy officer sees data-subject requests with their 10-day clocks, overdue ones counted; the security team is not shown them", async () => {
      const person = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(90) });
      assert.equal(person.status, 201, JSON.stringify(person.body));
      const filed = await t.call("talk-app", "POST", `/v1/subjects/${person.body.id}/requests`, { kind: "access", channel: "operator", fulfil: false, note: "identity being checked" });
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      const id = filed.body.request.id as string;
      const b = await signedIn(cpo);
      const open = await b.get("/console/requests?lang=en");
      assert.equal(open.status, 200);
      assert.match(open.text, new RegExp(`<code>${id}</code>`));
      assert.match(open.text, /0 overdue/);
      assert.match(open.text, /10d \d+h left/);
      clock.advance(11 * 24 * 60 * MIN); // past the tenth day
      const late = await (await signedIn(cpo)).get("/console/requests?lang=en");
      assert.match(late.text, /[1-9]\d* overdue/);
      assert.match(late.text, /overdue<\/td>/);
      assert.match((await (await signedIn(cpo)).get("/console/overview?lang=en")).text, /past their 10-day deadline/);
      const sec = await signedIn(security);
      assert.equal((await sec.get("/console/requests?lang=en")).status, 403, "not the security team's task");
      const listed = (await audit()).filter((e) => e.action === "request.list");
      assert.ok(listed.some((e) => e.principal === "staff:kim-cpo" && e.effect === "allow"), "each view of the ledger is audited as the staff member");
    });

    test("staff accounts refuse bad ids, roles and weak passwords, and never reuse an id", async () => {
      const t2 = { ...t, home: t.home };
      await assert.rejects(addStaff(t2, "Bad Id", "cpo"), /lower kebab-case/);
      // (The CLI offers only the three roles; the service refuses any other too.)
      await assert.rejects(t.c.services.operators.add({ id: "han-x", role: "admin", password: "long enough password", by: "test" }), /role must be one of cpo, security, auditor/);
      await assert.rejects(addStaff(t2, "han-y", "cpo", "short"), /at least 12 characters/);
      await assert.rejects(addStaff(t2, "kim-cpo", "auditor"), /exists \(ids are never reused/);
      const list = await runCli(t.env, "console", "user", "list");
      assert.doesNotMatch(list.out, /han-|scrypt|otpauth/);
    });
  });
}

describe("console behind TLS", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp("sqlite", { env: { HAECHI_CONSOLE_SECURE_COOKIE: "1", HAECHI_CONSOLE_IDLE: "PT5M" } });
  });
  after(async () => {
    await t?.close();
  });
  test("HAECHI_CONSOLE_SECURE_COOKIE=1 marks the session cookie Secure; HAECHI_CONSOLE_IDLE sets the idle timeout", async () => {
    const s = await addStaff(t, "kim-cpo", "cpo");
    assert.equal(t.c.config.console.idleMs, 5 * MIN);
    const r = await consoleClient(t).login(s.id, s.password, codeOf(t, s));
    assert.equal(r.status, 303);
    assert.match(r.headers.getSetCookie().find((c) => c.startsWith("haechi_console="))!, /; Secure$/);
  });
});
