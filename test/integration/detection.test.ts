/**
 * Detection over the live access stream, end to end over HTTP on a real server (issue 5,
 * ADR 0009; PIPA Art. 29; Safety Standard Art. 6(1) and 8; seed 000), with the demo catalog's
 * rules and an injected clock:
 *
 *  - the open-chat drill, detection half, on SQLite and PostgreSQL: a compromised principal
 *    walks member ids reading names and phones; it is throttled, then suspended within a stated
 *    number of requests, nothing is served after the suspension, the suspension survives a
 *    restart, and an operator's lift (audited) lets the principal in again;
 *  - one test per rule type (volume, enumeration by probing, canary, off-hours, deny storm,
 *    exports, new network);
 *  - false positives: the demo services' ordinary workload for a whole business day raises no alert.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import fs from "node:fs";
import { buildCli } from "../../src/cli/cli.js";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { parseCatalog, formatIssues } from "../../src/core/catalog/catalog-fns.js";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import { fixedClock } from "../../src/core/clock.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";

/** Tuesday 2026-03-03, 14:00 in Seoul (05:00 UTC): office hours. */
const TUESDAY_1400_KST = "2026-03-03T05:00:00.000Z";
const MIN = 60_000;

// The demo catalog's numbers this file relies on (checked below, so a change shows here first).
const demo = loadCatalog(DEMO_CATALOG);
const rule = (name: string) => demo.detection!.rules[name]!;
const BURST = (rule("scrape_burst") as { distinct: number }).distinct; // 30 distinct people a minute → throttle
const ALLOWANCE = demo.detection!.throttle.requests; // 5 a minute while throttled
const STORM = (rule("denial_storm") as { threshold: number }).threshold; // 15 denials a minute → suspend
/** The stated bound: by this request the scraper is suspended. */
const BOUND = 50;

/** The demo catalog with its YAML changed (then validated like any catalog). */
const demoWith = (mutate: (raw: any) => void): Catalog => {
  const raw = parseYaml(fs.readFileSync(DEMO_CATALOG, "utf8"));
  mutate(raw);
  const { stringify } = { stringify: (v: unknown) => JSON.stringify(v) };
  const r = parseCatalog(stringify(raw));
  if (!r.ok) throw new Error(formatIssues(r.errors));
  return r.catalog;
};

const member = (n: number) => ({ user_id: `member-${n}`, phone: `010-5${String(100 + (n % 900)).padStart(3, "0")}-${String(1000 + n).slice(-4)}`, name: "박오픈", nickname: `open${n}` });

/** One request from a given local address (loopback is a /8: 127.0.1.x is another network than 127.0.0.1). */
const callFrom = (t: TestApp, localAddress: string, principal: string, method: string, path: string, body?: unknown) =>
  new Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const u = new URL(t.url);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        localAddress,
        headers: { authorization: `Bearer ${t.keys[principal]}`, ...(data ? { "content-type": "application/json" } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });

/** Runs a CLI command in this process on the app's stores. */
const cli = async (t: TestApp, ...args: string[]) => {
  const chunks: string[] = [];
  await buildCli(t.env, (s) => chunks.push(s)).exitOverride().parseAsync(["node", "haechi", ...args]);
  return chunks.join("");
};

const auditBodies = async (t: TestApp) => {
  await t.c.services.detection.settle();
  await t.c.audit.flush();
  const out: any[] = [];
  for await (const page of t.c.stores.audit.iterate(0, 5000)) for (const row of page) out.push(JSON.parse(row.body));
  return out;
};

const alertsOf = async (t: TestApp, query = "") => {
  await t.c.services.detection.settle();
  const r = await t.call("privacy-office", "GET", `/v1/alerts${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.alerts as any[];
};

const until = async (what: string, fn: () => Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

test("the demo catalog's drill numbers: 30 people a minute throttles, 5 a minute while throttled, 15 denials suspend", () => {
  assert.deepEqual([BURST, ALLOWANCE, STORM], [30, 5, 15]);
  assert.ok(BURST + ALLOWANCE + STORM <= BOUND);
});

for (const kind of STORE_KINDS) {
  describe(`open-chat drill (seed 000), detection half, on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock(TUESDAY_1400_KST);
    const members: string[] = [];
    before(async () => {
      t = await startApp(kind, { clock, detection: true, detectionRefreshMs: 100 });
      // The messenger signs members up as usual (writes; from its usual network).
      for (let i = 0; i < 60; i++) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        members.push(r.body.id);
      }
    });
    after(async () => {
      await t?.close();
    });

    test(`Safety Standard Art. 8, PIPA Art. 29: a compromised principal walking member ids for names and phones is throttled after ${BURST} people and suspended by request ${BOUND}; nothing is served after`, async () => {
      const statuses: number[] = [];
      const codes: (string | undefined)[] = [];
      const served: string[] = [];
      for (const id of members) {
        const r = await callFrom(t, "127.0.1.66", "talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=name,phone`);
        statuses.push(r.status);
        codes.push(r.body?.error?.code);
        if (r.status === 200) served.push(r.body.fields.phone);
        if (r.status === 429) assert.ok(Number(r.headers["retry-after"]) >= 1, "429 says when to retry");
      }
      const firstThrottled = statuses.indexOf(429);
      const firstSuspended = statuses.indexOf(403);
      // Served: the burst (the 30th read tips the rule and is itself answered), then the throttle's allowance.
      assert.equal(served.length, BURST + ALLOWANCE, statuses.join(","));
      assert.equal(firstThrottled, BURST + ALLOWANCE);
      assert.ok(statuses.slice(0, firstThrottled).every((s) => s === 200));
      assert.ok(statuses.slice(firstThrottled, firstSuspended).every((s, i) => s === 429 && codes[firstThrottled + i] === "PRINCIPAL_THROTTLED"));
      // The 15th refusal while throttled is a denial storm: suspended by request 50 at the latest.
      assert.ok(firstSuspended > 0 && firstSuspended <= BOUND, `first suspended refusal at request ${firstSuspended + 1}`);
      assert.equal(firstSuspended, BURST + ALLOWANCE + STORM);
      assert.ok(statuses.slice(firstSuspended).every((s, i) => s === 403 && codes[firstSuspended + i] === "PRINCIPAL_SUSPENDED"));
      assert.ok(!statuses.slice(firstThrottled).includes(200), "nothing served after the throttle's allowance");

      // Nothing else is served either: another read, a lookup, a write; a fresh key of the same
      // principal (the principal is held, not its key); and from its usual network.
      const fresh = (await t.c.services.auth.issue("talk-app")).token;
      const after = [
        await callFrom(t, "127.0.1.66", "talk-app", "GET", `/v1/subjects/${members[0]}?purpose=talk_service`),
        await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-1" }),
        await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(999) }),
        await t.call(fresh, "GET", `/v1/subjects/${members[1]}?purpose=talk_service`),
      ];
      for (const r of after) assert.deepEqual([r.status, r.body.error.code], [403, "PRINCIPAL_SUSPENDED"]);
      // Other principals are not affected.
      const pay = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: { user_id: "p-1", name: "이결제", phone: "010-4444-5555" } });
      assert.equal(pay.status, 201);
    });

    test("the alerts name their rules and hold no personal data; only operators read them; every step is audited", async () => {
      const alerts = await alertsOf(t);
      const byRule = new Map(alerts.map((a) => [a.rule, a]));
      assert.deepEqual([...byRule.keys()].sort(), ["denial_storm", "new_network", "scrape_burst"]);
      assert.ok(alerts.every((a) => a.principal === "talk-app"));
      assert.deepEqual(
        [byRule.get("scrape_burst").reaction, byRule.get("scrape_burst").count, byRule.get("scrape_burst").detail.pattern],
        ["throttle", BURST, "scattered"],
      );
      assert.deepEqual([byRule.get("denial_storm").reaction, byRule.get("denial_storm").count], ["suspend", STORM]);
      assert.deepEqual(byRule.get("new_network").detail, { network: "127.0.1.0/24", declared: false, known: 1 });
      const text = JSON.stringify(alerts);
      for (let i = 0; i < 60; i++) {
        assert.ok(!text.includes(member(i).phone) && !text.includes(member(i).user_id), "no personal data in alerts");
        assert.ok(!text.includes(members[i]!), "no subject ids in alerts");
      }
      assert.equal((await alertsOf(t, "?rule=denial_storm")).length, 1);
      const denied = await t.call("talk-app", "GET", "/v1/alerts");
      assert.equal(denied.status, 403);
      const support = await t.call("support-console", "GET", "/v1/alerts");
      assert.deepEqual([support.status, support.body.error.code], [403, "ACCESS_DENIED"]);

      const bodies = await auditBodies(t);
      const actions = (a: string) => bodies.filter((b) => b.action === a);
      assert.deepEqual(actions("detection.alert").map((b) => b.meta.rule).sort(), ["denial_storm", "new_network", "scrape_burst"]);
      assert.equal(actions("principal.throttle").length, 1);
      assert.equal(actions("principal.suspend").length, 1);
      const refused = actions("principal.refused");
      assert.equal(refused.filter((b) => b.reasons[0] === "PRINCIPAL_THROTTLED").length, STORM);
      assert.ok(refused.filter((b) => b.reasons[0] === "PRINCIPAL_SUSPENDED").length >= 60 - BURST - ALLOWANCE - STORM + 4);
      assert.ok(refused.every((b) => b.principal === "talk-app" && b.effect === "deny"));
      const detectionText = JSON.stringify([...actions("detection.alert"), ...actions("principal.throttle"), ...actions("principal.suspend")]);
      for (let i = 0; i < 60; i++) assert.ok(!detectionText.includes(member(i).phone));
      assert.ok(actions("detection.alerts").some((b) => b.principal === "privacy-office" && b.effect === "allow"));
      assert.ok(actions("detection.alerts").some((b) => b.principal === "support-console" && b.effect === "deny"));
      assert.ok(!actions("detection.alerts").some((b) => b.principal === "talk-app"), "a suspended principal never reaches the route");
      // The scope an incident starts from: the alert's principal and window hold exactly the reads served.
      const burst = byRule.get("scrape_burst");
      const reads = bodies.filter((b) => b.action === "subject.read" && b.principal === "talk-app" && b.effect === "allow" && b.at >= burst.windowStart);
      assert.equal(new Set(reads.map((b) => b.subjectRef)).size, BURST + ALLOWANCE);
    });

    test("the suspension survives a restart; an operator's lift (haechi principal lift, with a reason) lets the principal in again, audited", async () => {
      await t.close({ keep: true });
      t = await startApp(kind, { clock, detection: true, detectionRefreshMs: 100, reuse: t.reuse });
      const again = await t.call("talk-app", "GET", `/v1/subjects/${members[2]}?purpose=talk_service`);
      assert.deepEqual([again.status, again.body.error.code], [403, "PRINCIPAL_SUSPENDED"]);
      assert.match(await cli(t, "principal", "holds", "talk-app"), /SUSPEND .*ACTIVE until lifted/);
      assert.match(await cli(t, "alerts", "list", "--principal", "talk-app"), /denial_storm \(deny_storm\) SUSPEND/);

      // Lifted from another process (the CLI) while the server runs: seen within the refresh interval.
      const out = await cli(t, "principal", "lift", "talk-app", "--reason", "key rotated; the scraper's address blocked at the edge");
      assert.match(out, /talk-app: 2 holds lifted/);
      await until("the lift to reach the server", async () => (await t.call("talk-app", "GET", `/v1/subjects/${members[2]}?purpose=talk_service`)).status === 200);
      assert.deepEqual(t.c.services.detection.heldNow("talk-app"), { suspend: null, throttle: null });
      const holds = await t.c.services.detection.holdsOf({ principal: "talk-app" });
      assert.equal(holds.length, 2);
      for (const h of holds) assert.deepEqual([h.liftedBy, h.liftReason], ["privacy-office", "key rotated; the scraper's address blocked at the edge"]);
      const lift = (await auditBodies(t)).filter((b) => b.action === "principal.lift");
      assert.equal(lift.length, 1);
      assert.deepEqual([lift[0].principal, lift[0].count, lift[0].meta.principal, lift[0].meta.reason], ["privacy-office", 2, "talk-app", "key rotated; the scraper's address blocked at the edge"]);
      await assert.rejects(cli(t, "principal", "lift", "talk-app", "--reason", "again"), /no suspension or throttle to lift/);
    });
  });
}

// ─── one rule type at a time (SQLite: the rules run above the store) ─────────

describe("each rule type, over HTTP", () => {
  let t: TestApp | undefined;
  after(async () => {
    await t?.close();
  });
  const start = async (catalog: Catalog = demo, at = TUESDAY_1400_KST) => {
    await t?.close();
    const clock = fixedClock(at);
    t = await startApp("sqlite", { clock, catalog, detection: true, detectionRefreshMs: 100 });
    return { t, clock };
  };
  const signUp = async (app: TestApp, n: number, from = 0) => {
    const ids: string[] = [];
    for (let i = from; i < from + n; i++) {
      const r = await app.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ids.push(r.body.id);
    }
    return ids;
  };

  test("volume: reads for a purpose beyond baseline × factor in the window raise an alert (reaction alert: still served)", async () => {
    const { t } = await start(demoWith((c) => (c.detection.rules.read_volume.baselines["support-console"] = { customer_support: 5 })));
    await signUp(t, 1);
    const found = await t.call("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "user_id", value: "member-0" });
    const id = found.body.matches[0];
    // The lookup and 14 reads: 15 reads for customer_support in the window, exactly 5 × 3.
    for (let i = 0; i < 14; i++) assert.equal((await t.call("support-console", "GET", `/v1/subjects/${id}?purpose=customer_support`)).status, 200);
    assert.deepEqual(await alertsOf(t), []);
    assert.equal((await t.call("support-console", "GET", `/v1/subjects/${id}?purpose=customer_support`)).status, 200, "alert only: still served");
    const [a] = await alertsOf(t);
    assert.deepEqual([a.rule, a.type, a.reaction, a.count, a.threshold, a.detail], ["read_volume", "volume", "alert", 16, 16, { purpose: "customer_support", baseline: 5, factor: 3 }]);
  });

  test("enumeration (probing): a sequential walk of phone numbers by lookup (misses) is throttled; the throttle refuses with 429 and Retry-After, and ends by itself", async () => {
    const { t, clock } = await start();
    await signUp(t, 3);
    for (let i = 0; i < 20; i++) {
      const r = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: `010-9999-${String(i).padStart(4, "0")}` });
      assert.deepEqual([r.status, r.body.matches], [200, []]);
    }
    const [a] = await alertsOf(t);
    assert.deepEqual([a.rule, a.reaction, a.count, a.detail.pattern], ["scrape_burst", "throttle", 20, "probing"]);
    for (let i = 0; i < ALLOWANCE; i++) assert.equal((await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-1" })).status, 200);
    const r = await callFrom(t, "127.0.0.1", "talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-1" });
    assert.deepEqual([r.status, r.body.error.code, r.headers["retry-after"]], [429, "PRINCIPAL_THROTTLED", "60"]);
    assert.match(r.body.error.message, /throttled until .* at most 5 requests per PT1M/);
    clock.advance(15 * MIN);
    assert.equal((await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-1" })).status, 200, "the throttle ran out");
  });

  test("canary: haechi canary create plants real-looking decoys; the first read of one suspends the principal", async () => {
    const { t } = await start();
    await signUp(t, 5);
    const out = await cli(t, "canary", "create", "--as", "talk-app", "--count", "3");
    const ids = [...out.matchAll(/^\s+(sub_\S+)$/gm)].map((m) => m[1]!);
    assert.equal(ids.length, 3, out);
    assert.doesNotMatch(out, /warning/);
    await until("the canaries to reach the server", async () => {
      await t.c.services.detection.refresh();
      return true;
    });
    const read = await t.call("talk-app", "GET", `/v1/subjects/${ids[1]}?purpose=talk_service`);
    assert.equal(read.status, 200, "a decoy reads like anyone");
    assert.match(read.body.fields.phone, /^010-\d{4}-\d{4}$/);
    assert.match(read.body.fields.name, /^\p{Script=Hangul}{3}$/u);
    const next = await t.call("talk-app", "GET", `/v1/subjects/${ids[0]}?purpose=talk_service`);
    assert.deepEqual([next.status, next.body.error.code], [403, "PRINCIPAL_SUSPENDED"]);
    const [a] = await alertsOf(t, "?rule=canary_read");
    assert.deepEqual([a.type, a.reaction, a.principal, a.detail.action], ["canary", "suspend", "talk-app", "subject.read"]);
    // Only references are stored; the creation is audited by count, never by which.
    const rows = await t.c.stores.data.detection.canaries();
    assert.equal(rows.length, 3);
    const created = (await auditBodies(t)).filter((b) => b.action === "detection.canary.create");
    assert.deepEqual([created.length, created[0].count, created[0].meta.for, created[0].subjectRef], [1, 3, "talk-app", null]);
  });

  test("canaries are not people: an incident's scope counts them apart, provisions leave them out, the dormancy sweep leaves them alone", async () => {
    const { t, clock } = await start();
    const members = await signUp(t, 3);
    const out = await cli(t, "canary", "create", "--as", "talk-app", "--count", "2");
    const decoys = [...out.matchAll(/^\s+(sub_\S+)$/gm)].map((m) => m[1]!);
    await t.c.services.detection.refresh();
    // The scraper reads one member, then a decoy: suspended.
    assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${members[0]}?purpose=talk_service`)).status, 200);
    assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${decoys[0]}?purpose=talk_service`)).status, 200);
    const [alert] = await alertsOf(t, "?rule=canary_read");
    clock.advance(MIN);
    const inc = await t.call("privacy-office", "POST", "/v1/incidents", { kind: "leak", summary: "talk-app key read a decoy", source: { type: "alert", alertId: alert.id } });
    assert.equal(inc.status, 201, JSON.stringify(inc.body));
    assert.deepEqual(inc.body.scope.people, { total: 1, linked: 1, unlinkable: 0, credit: 0, decoys: 1 }, "the member is a person to tell; the decoy is evidence");
    const subjects = await t.c.stores.data.incidents.subjects(inc.body.id, null, 10);
    assert.deepEqual(subjects.map((s) => s.subjectId), [internalOf(t, "talk-app", members[0]!)]);

    // A provision of talk-app's people to its consignee never carries a decoy.
    const run = await t.call("pay-app", "POST", "/v1/provisions", { recipient: "cloud-kr", purpose: "pay_service", label: "consignment", fields: ["user_id", "name"], mode: "plan" });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.counts.scanned, members.length, "decoys are neither scanned nor counted");

    // A year and a day later everyone is inactive: the members are destroyed, the decoys stay planted.
    clock.advance(366 * 24 * 60 * MIN);
    const swept = await t.c.services.erase.sweepDormant({ by: "test" });
    assert.equal(swept.erased + swept.sealed, members.length);
    for (const id of members) assert.equal((await t.c.stores.data.getSubject(internalOf(t, "talk-app", id)))?.status, "erased");
    for (const id of decoys) assert.equal((await t.c.stores.data.getSubject(internalOf(t, "talk-app", id)))?.status, "active", "a decoy is never swept");
  });

  test("off hours: a console used at 03:00 on a Saturday in Seoul raises an alert; an app backend with no declared hours does not", async () => {
    const { t } = await start(demo, "2026-03-06T18:00:00.000Z"); // Saturday 2026-03-07 03:00 KST
    await signUp(t, 1);
    const found = await t.call("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "user_id", value: "member-0" });
    assert.equal(found.status, 200);
    const alerts = await alertsOf(t);
    assert.equal(alerts.length, 1);
    assert.deepEqual([alerts[0].rule, alerts[0].principal, alerts[0].detail.local, alerts[0].detail.time_zone], ["after_hours", "support-console", "sat 03:00", "Asia/Seoul"]);
  });

  test("deny storm: a principal collecting denials is suspended at the threshold; the next request is refused; an operator lifts the hold over HTTP with a reason", async () => {
    const { t } = await start();
    await signUp(t, STORM + 1);
    const statuses: number[] = [];
    for (let i = 0; i < STORM + 1; i++) {
      // marketing-svc has no consent for these people: each lookup decision is a denial.
      const r = await t.call("marketing-svc", "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: member(i).phone });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [...Array(STORM).fill(200), 403]);
    const [a] = await alertsOf(t);
    assert.deepEqual([a.rule, a.type, a.reaction, a.principal, a.count], ["denial_storm", "deny_storm", "suspend", "marketing-svc", STORM]);

    // Over HTTP: the operator sees the hold and lifts it with a reason; no one else may.
    const holds = await t.call("privacy-office", "GET", "/v1/holds?principal=marketing-svc");
    assert.equal(holds.status, 200, JSON.stringify(holds.body));
    assert.deepEqual(holds.body.holds.map((h: any) => [h.kind, h.rule, h.alertId, h.liftedAt]), [["suspend", "denial_storm", a.id, null]]);
    assert.equal((await t.call("talk-app", "GET", "/v1/holds")).status, 403, "holds are for operators");
    assert.equal((await t.call("talk-app", "POST", "/v1/principals/marketing-svc/lift", { reason: "mine" })).status, 403, "a service cannot lift a hold");
    const noReason = await t.call("privacy-office", "POST", "/v1/principals/marketing-svc/lift", { reason: "" });
    assert.deepEqual([noReason.status, noReason.body.error.code], [400, "VALIDATION_FAILED"]);
    const lifted = await t.call("privacy-office", "POST", "/v1/principals/marketing-svc/lift", { reason: "consent sync bug fixed" });
    assert.equal(lifted.status, 200, JSON.stringify(lifted.body));
    assert.deepEqual(lifted.body.lifted.map((h: any) => [h.kind, h.liftedBy, h.liftReason]), [["suspend", "privacy-office", "consent sync bug fixed"]]);
    assert.equal((await t.call("marketing-svc", "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: member(0).phone })).status, 200, "let in again");
    const again = await t.call("privacy-office", "POST", "/v1/principals/marketing-svc/lift", { reason: "again" });
    assert.deepEqual([again.status, again.body.error.code], [404, "NOT_FOUND"]);
    const audited = (await auditBodies(t)).filter((b) => b.action === "detection.lift");
    assert.deepEqual(audited.map((b) => [b.principal, b.effect]), [["talk-app", "deny"], ["privacy-office", "allow"], ["privacy-office", "allow"]], "the empty reason never reached the route");
  });

  test("exports beyond baseline: a provision run sending more subjects than the recipient's baseline × factor raises an alert", async () => {
    const { t } = await start(demoWith((c) => (c.detection.rules.export_spike.baselines["cloud-kr"] = 4)));
    for (let i = 0; i < 10; i++) {
      const r = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: { user_id: `payer-${i}`, name: "정하늘", phone: `010-8${100 + i}-4000` } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const run = await t.call("pay-app", "POST", "/v1/provisions", { recipient: "cloud-kr", purpose: "pay_service", label: "consignment", fields: ["user_id", "name"], mode: "run", wait: true });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual([run.body.status, run.body.counts.included], ["completed", 10]);
    const [a] = await alertsOf(t);
    assert.deepEqual([a.rule, a.type, a.principal, a.count, a.threshold, a.detail.recipient, a.detail.baseline], ["export_spike", "export_volume", "pay-app", 10, 7, "cloud-kr", 4]);
  });

  test("Safety Standard Art. 6(1): a principal calling from outside its declared networks raises an alert, once per network", async () => {
    const { t } = await start(demoWith((c) => (c.detection.rules.new_network.networks = { "talk-app": ["127.0.0.1/32"] })));
    await signUp(t, 1);
    assert.equal((await callFrom(t, "127.0.3.3", "talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-0" })).status, 200);
    assert.equal((await callFrom(t, "127.0.3.4", "talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "member-0" })).status, 200);
    const alerts = await alertsOf(t);
    assert.equal(alerts.length, 1);
    assert.deepEqual([alerts[0].rule, alerts[0].principal, alerts[0].detail], ["new_network", "talk-app", { network: "127.0.3.0/24", declared: false }]);
  });
});

// ─── false positives: a normal business day ──────────────────────────────────

/**
 * The demo services' ordinary day (Tuesday 09:00–18:00 KST), requests arriving at random
 * (exponential gaps, seeded) at these mean intervals — the rates the demo catalog's baselines
 * describe:
 *
 * | principal       | what                                                   | every (mean) |
 * |-----------------|--------------------------------------------------------|--------------|
 * | talk-app        | read a member's profile (60 % among 30 regulars)       | 10 s         |
 * | talk-app        | find a friend by phone (1 in 5 numbers unknown)        | 60 s         |
 * | talk-app        | sign a member up; change a nickname                    | 3 min; 5 min |
 * | openchat-app    | read a participant's open-chat profile                 | 20 s         |
 * | pay-app         | read a customer; sign one up                           | 30 s; 10 min |
 * | marketing-svc   | find a member by phone for a campaign, read if allowed | 60 s         |
 * | support-console | find a caller by phone, read the record                | 3 min        |
 * | security-ops    | find an account by user id, read its security facts    | 2 min        |
 * | privacy-office  | read the alerts; verify the audit chain                | 1 h; 3 h     |
 *
 * Everything comes from the services' usual address. 300 members, 100 open-chat profiles and
 * 80 payment customers are signed up before 09:00, two thirds of the members with marketing consent.
 */
describe("false positives: the demo services' normal day raises no alert", () => {
  let t: TestApp;
  const clock = fixedClock("2026-03-02T22:00:00.000Z"); // Tuesday 07:00 KST
  after(async () => {
    await t?.close();
  });

  test("Safety Standard Art. 8: a business day of ordinary reads, writes and lookups (thousands of requests) with every rule on: no alert, no hold", async (ctx) => {
    t = await startApp("sqlite", { clock, detection: true, detectionRefreshMs: 0 });
    let seed = 20260303;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    const expo = (meanMs: number) => Math.max(200, -Math.log(1 - rand()) * meanMs);
    const statuses = new Map<string, number>();
    const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    const ok = async (p: string, m: string, path: string, body?: unknown, want = [200, 201]) => {
      const r = await t.call(p, m, path, body);
      assert.ok(want.includes(r.status), `${p} ${m} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
      count(`${p} ${r.status}`);
      return r;
    };

    // Before opening: sign-ups (07:00–09:00, one every ~10 s).
    const talk: { id: string; n: number }[] = [];
    const open: string[] = [];
    const pay: string[] = [];
    let n = 0;
    const signUp = async () => {
      const i = n++;
      const consents = i % 3 === 2 ? [] : [{ notice: "marketing", action: "grant", channel: "app" }];
      const r = await ok("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i), consents });
      talk.push({ id: r.body.id, n: i });
    };
    for (let i = 0; i < 300; i++) {
      clock.advance(expo(10_000) / 2);
      await signUp();
      if (i % 3 === 0) open.push((await ok("openchat-app", "POST", "/v1/subjects", { purpose: "openchat_service", fields: { user_id: `oc-${i}`, openchat_nickname: `room${i}` } })).body.id);
      if (i % 4 === 0) pay.push((await ok("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: { user_id: `pay-${i}`, name: "정하늘", phone: `010-7${String(100 + (i % 900))}-${String(1000 + i).slice(-4)}` } })).body.id);
    }
    clock.set("2026-03-03T00:00:00.000Z"); // 09:00 KST

    type Stream = { mean: number; run: () => Promise<unknown> };
    const regulars = () => talk.slice(0, 30);
    const streams: Stream[] = [
      { mean: 10_000, run: () => ok("talk-app", "GET", `/v1/subjects/${pick(rand() < 0.6 ? regulars() : talk).id}?purpose=talk_service`) },
      {
        mean: 60_000,
        run: () => ok("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: rand() < 0.2 ? `010-3${String(Math.floor(rand() * 900) + 100)}-0000` : member(pick(talk).n).phone }),
      },
      { mean: 3 * MIN, run: signUp },
      { mean: 5 * MIN, run: () => ok("talk-app", "PATCH", `/v1/subjects/${pick(talk).id}`, { purpose: "talk_service", fields: { nickname: `nick${Math.floor(rand() * 1e6)}` } }) },
      { mean: 20_000, run: () => ok("openchat-app", "GET", `/v1/subjects/${pick(open)}?purpose=openchat_service`) },
      { mean: 30_000, run: () => ok("pay-app", "GET", `/v1/subjects/${pick(pay)}?purpose=pay_service`) },
      {
        mean: 10 * MIN,
        run: async () => pay.push((await ok("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: { user_id: `pay-x${n}`, name: "정하늘", phone: `010-6${String(100 + (n % 900))}-${String(2000 + n).slice(-4)}` } })).body.id),
      },
      {
        mean: 60_000,
        run: async () => {
          const r = await ok("marketing-svc", "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: member(pick(talk).n).phone });
          if (r.body.matches.length > 0) await ok("marketing-svc", "GET", `/v1/subjects/${r.body.matches[0]}?purpose=marketing`);
        },
      },
      {
        mean: 3 * MIN,
        run: async () => {
          const r = await ok("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "phone", value: member(pick(talk).n).phone });
          if (r.body.matches.length > 0) await ok("support-console", "GET", `/v1/subjects/${r.body.matches[0]}?purpose=customer_support`);
        },
      },
      {
        mean: 2 * MIN,
        run: async () => {
          const r = await ok("security-ops", "POST", "/v1/lookup", { purpose: "security_monitoring", field: "user_id", value: member(pick(talk).n).user_id });
          if (r.body.matches.length > 0) await ok("security-ops", "GET", `/v1/subjects/${r.body.matches[0]}?purpose=security_monitoring`);
        },
      },
      { mean: 60 * MIN, run: () => ok("privacy-office", "GET", "/v1/alerts") },
      { mean: 180 * MIN, run: () => ok("privacy-office", "GET", "/v1/audit/verify") },
    ];
    const end = Date.parse("2026-03-03T09:00:00.000Z"); // 18:00 KST
    const events: { at: number; s: Stream }[] = [];
    for (const s of streams) for (let at = clock.now().getTime() + expo(s.mean); at < end; at += expo(s.mean)) events.push({ at, s });
    events.sort((a, b) => a.at - b.at);
    for (const e of events) {
      clock.set(new Date(e.at));
      await e.s.run();
    }

    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= 4000, `${total} requests`);
    ctx.diagnostic(`${total} requests: ${[...statuses].map(([k, v]) => `${k} ×${v}`).join(", ")}`);
    assert.deepEqual(await alertsOf(t), [], JSON.stringify([...statuses]));
    for (const p of Object.keys(demo.principals)) assert.deepEqual(t.c.services.detection.heldNow(p), { suspend: null, throttle: null }, p);
    assert.deepEqual(await t.c.services.detection.holdsOf(), []);
    const bodies = await auditBodies(t);
    const flagged = bodies.filter((b) => b.action === "detection.alert" || b.action.startsWith("principal."));
    assert.deepEqual(flagged, []);
    // The day did exercise what the rules count: reads, lookups (hits and misses) and denials.
    assert.ok(bodies.filter((b) => b.action === "subject.read" && b.effect === "allow").length > 3000);
    assert.ok(bodies.some((b) => b.action === "subject.lookup" && b.count === 0));
    assert.ok(bodies.some((b) => b.effect === "deny"), "marketing lookups of people without consent are denials");
  });
});
