/**
 * The detection core, pure and deterministic (Safety Standard Art. 6(1) and 8: analyse access to
 * detect and respond to leak attempts): sliding windows with bounded memory, networks, local
 * hours, the detector's rules over a stream of observations, and canary values.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DetectionDef } from "../../src/core/catalog/catalog-schema.js";
import { loadCatalog } from "../../src/container.js";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { canaryValues, decoyValue } from "../../src/core/detection/canary-fns.js";
import {
  cidrContains,
  durationMs,
  formatLocal,
  localTimeIn,
  networkOf,
  parseCidr,
  parseIp,
  slidingDistinct,
  slidingSum,
  withinHours,
} from "../../src/core/detection/detection-fns.js";
import { detector, isMiss, type Observation } from "../../src/core/detection/detector-fns.js";
import { fieldValueProblem } from "../../src/core/collect-fns.js";

const S = 1000;
const MIN = 60 * S;
/** Tuesday 2026-03-03 14:00 KST = 05:00 UTC. */
const T = Date.parse("2026-03-03T05:00:00.000Z");

describe("durations", () => {
  const table: [string, number | null][] = [
    ["PT30S", 30 * S],
    ["PT10M", 10 * MIN],
    ["PT1H", 60 * MIN],
    ["P1D", 24 * 60 * MIN],
    ["P1DT2H3M4S", ((24 + 2) * 60 + 3) * MIN + 4 * S],
    ["PT0S", 0],
    ["P1M", null],
    ["PT", null],
    ["P", null],
    ["10m", null],
  ];
  for (const [iso, ms] of table) it(`${iso} → ${ms}`, () => assert.equal(durationMs(iso), ms));
});

describe("slidingSum: an exact sum over (t − window, t], bounded memory", () => {
  it("counts what is inside the window and expires what leaves it, edge excluded", () => {
    const w = slidingSum(10 * S);
    assert.equal(w.add(0, 1), 1);
    assert.equal(w.add(5 * S, 2), 3);
    assert.equal(w.add(9_999, 1), 4);
    assert.equal(w.sum(10 * S), 3, "the event at 0 is out at exactly 0 + window");
    assert.equal(w.sum(15 * S), 1);
    assert.equal(w.nextExpiry(15 * S), 9_999 + 10 * S);
    assert.equal(w.sum(20 * S), 0);
    assert.equal(w.nextExpiry(20 * S), null);
  });
  it("a time that goes backwards counts as the latest seen (never under-counts)", () => {
    const w = slidingSum(10 * S);
    w.add(20 * S, 1);
    assert.equal(w.add(5 * S, 1), 2);
    assert.equal(w.sum(29 * S), 2);
    assert.equal(w.sum(30 * S), 0);
  });
  it("memory stays at maxSlots: folded slots keep the sum and may only over-state it", () => {
    const w = slidingSum(1000 * S, 4);
    for (let i = 0; i < 100; i++) w.add(i * S, 1);
    assert.equal(w.sum(100 * S), 100);
    // Exact sum at t = 1050 s would be 49 (events 51..99 s); folded slots keep more, never fewer.
    const s = w.sum(1050 * S);
    assert.ok(s >= 49 && s <= 100, String(s));
  });
  it("clear empties it", () => {
    const w = slidingSum(S);
    w.add(1, 5);
    w.clear();
    assert.equal(w.sum(2), 0);
  });
});

describe("slidingDistinct", () => {
  it("counts distinct keys seen within the window; a key seen again is renewed", () => {
    const d = slidingDistinct(10 * S);
    assert.equal(d.add(0, "a"), 1);
    assert.equal(d.add(1 * S, "b"), 2);
    assert.equal(d.add(2 * S, "a"), 2);
    assert.equal(d.oldest(), 1 * S);
    d.add(11 * S, "c");
    assert.equal(d.exact(11 * S), 2, "b (at 1 s) left; a renewed at 2 s stays");
    d.add(12 * S, "d");
    assert.equal(d.exact(12 * S), 2, "a left at 12 s");
    assert.equal(d.exact(30 * S), 0);
    d.clear();
    assert.equal(d.size, 0);
  });
  it("add is an upper bound until exact sweeps; exact only sweeps once a key can have left", () => {
    const d = slidingDistinct(10 * S);
    for (let i = 0; i < 5; i++) d.add(i * S, `k${i}`);
    assert.equal(d.add(20 * S, "late"), 6, "the five early keys are still held");
    assert.equal(d.exact(20 * S), 1);
    assert.equal(d.size, 1);
  });
  it("stays fast when keys are read again and again (no walk over deleted entries)", () => {
    const d = slidingDistinct(60 * S);
    const t0 = performance.now();
    for (let i = 0; i < 400_000; i++) d.add(i / 5, `k${i % 20_000}`);
    assert.equal(d.exact(400_000 / 5), 20_000);
    assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
  });
});

describe("networks", () => {
  it("parses IPv4, IPv6, IPv4-mapped IPv6; refuses the malformed", () => {
    assert.deepEqual(parseIp("10.1.2.3"), { version: 4, bytes: Uint8Array.from([10, 1, 2, 3]) });
    assert.deepEqual(parseIp("::ffff:10.1.2.3"), { version: 4, bytes: Uint8Array.from([10, 1, 2, 3]) });
    assert.equal(parseIp("2001:db8::1")?.version, 6);
    assert.equal(parseIp("::1")?.version, 6);
    for (const bad of ["10.1.2", "10.1.2.256", "010.1.2.3", "1::2::3", "cli", "", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9"]) assert.equal(parseIp(bad), null, bad);
  });
  it("CIDR containment, byte and bit boundaries", () => {
    const ip = (s: string) => parseIp(s)!;
    const c = (s: string) => parseCidr(s)!;
    assert.ok(cidrContains(c("10.0.0.0/8"), ip("10.200.1.1")));
    assert.ok(!cidrContains(c("10.0.0.0/8"), ip("11.0.0.1")));
    assert.ok(cidrContains(c("192.168.4.0/22"), ip("192.168.7.255")));
    assert.ok(!cidrContains(c("192.168.4.0/22"), ip("192.168.8.0")));
    assert.ok(cidrContains(c("127.0.0.1"), ip("127.0.0.1")));
    assert.ok(!cidrContains(c("127.0.0.1"), ip("127.0.0.2")));
    assert.ok(cidrContains(c("2001:db8::/32"), ip("2001:db8:ffff::1")));
    assert.ok(!cidrContains(c("2001:db8::/32"), ip("10.0.0.1")));
    assert.ok(cidrContains(c("0.0.0.0/0"), ip("8.8.8.8")));
    for (const bad of ["10.0.0.0/33", "10.0.0.0/x", "10.0.0/8", "2001:db8::/129", "1.2.3.4/8/9"]) assert.equal(parseCidr(bad), null, bad);
  });
  it("learning networks are the /24 or /48 (the minimiser's truncation)", () => {
    assert.equal(networkOf(parseIp("203.0.113.77")!), "203.0.113.0/24");
    assert.equal(networkOf(parseIp("2001:db8:aa:bb::1")!), "2001:db8:aa::/48");
  });
});

describe("local hours (Asia/Seoul by default; no daylight saving there)", () => {
  const seoul = localTimeIn("Asia/Seoul");
  it("UTC 05:00 on a Tuesday is Tuesday 14:00 in Seoul; UTC 15:30 Sunday is Monday 00:30", () => {
    assert.deepEqual(seoul(T), { day: 1, minute: 14 * 60 });
    assert.equal(formatLocal(seoul(Date.parse("2026-03-01T15:30:00Z"))), "mon 00:30");
  });
  it("weekday office hours, and a span past midnight belonging to the day it starts", () => {
    const office = { days: ["mon", "tue", "wed", "thu", "fri"] as const, from: "09:00", to: "19:00" };
    assert.ok(withinHours({ ...office, days: [...office.days] }, { day: 1, minute: 9 * 60 }));
    assert.ok(!withinHours({ ...office, days: [...office.days] }, { day: 1, minute: 19 * 60 }), "to is exclusive");
    assert.ok(!withinHours({ ...office, days: [...office.days] }, { day: 5, minute: 12 * 60 }), "Saturday");
    const night = { days: ["mon" as const], from: "22:00", to: "06:00" };
    assert.ok(withinHours(night, { day: 0, minute: 23 * 60 }));
    assert.ok(withinHours(night, { day: 1, minute: 3 * 60 }), "Tuesday 03:00 is Monday's night");
    assert.ok(!withinHours(night, { day: 0, minute: 3 * 60 }), "Monday 03:00 is Sunday's night, not declared");
    assert.ok(withinHours({ days: ["sun"], from: "00:00", to: "24:00" }, { day: 6, minute: 1439 }));
  });
  it("a zone with daylight saving follows it", () => {
    const ny = localTimeIn("America/New_York");
    assert.equal(formatLocal(ny(Date.parse("2026-01-15T17:00:00Z"))), "thu 12:00");
    assert.equal(formatLocal(ny(Date.parse("2026-07-15T17:00:00Z"))), "wed 13:00");
  });
});

// ─── the detector ───────────────────────────────────────────────────────────

const PRINCIPALS = ["talk-app", "pay-app", "support-console", "openchat-app"];
let seq = 0;
const obs = (over: Partial<Observation> & { at: number }): Observation => ({
  requestId: `r${++seq}`,
  principal: "talk-app",
  source: "10.0.0.5",
  action: "subject.read",
  effect: "allow",
  purpose: "talk_service",
  subjectRef: `ref${seq}`,
  reasons: [],
  ...over,
});
const rules = (r: DetectionDef["rules"], extra: Partial<DetectionDef> = {}): DetectionDef => ({
  time_zone: "Asia/Seoul",
  throttle: { requests: 5, per: "PT1M", for: "PT15M" },
  rules: r,
  ...extra,
});

describe("detector: one rule type at a time", () => {
  it("enumeration (scattered): fires at the n-th distinct subject within the window, once, then counts afresh after the cooldown", () => {
    const d = detector(rules({ burst: { type: "enumeration", window: "PT1M", distinct: 5, reaction: "throttle" } }), { principals: PRINCIPALS });
    const fired: number[] = [];
    for (let i = 0; i < 12; i++) {
      const f = d.observe(obs({ at: T + i * S, subjectRef: `s${i}` }));
      if (f.length > 0) fired.push(i);
      if (i === 4) assert.deepEqual({ ...f[0], requestId: "-" }, {
        rule: "burst",
        type: "enumeration",
        reaction: "throttle",
        principal: "talk-app",
        count: 5,
        threshold: 5,
        windowMs: MIN,
        windowStart: T,
        at: T + 4 * S,
        requestId: "-",
        detail: { pattern: "scattered" },
      });
    }
    assert.deepEqual(fired, [4], "quiet for the cooldown (the window) after firing");
    assert.equal(d.observe(obs({ at: T + 4 * S + MIN, subjectRef: "late-1" })).length, 0, "counting restarts after the cooldown");
  });
  it("enumeration: the same subject read again and again is one subject", () => {
    const d = detector(rules({ burst: { type: "enumeration", window: "PT1M", distinct: 3, reaction: "alert" } }), { principals: PRINCIPALS });
    for (let i = 0; i < 100; i++) assert.equal(d.observe(obs({ at: T + i * 100, subjectRef: i % 2 ? "a" : "b" })).length, 0);
  });
  it("enumeration: slow reads spread beyond the window never add up", () => {
    const d = detector(rules({ burst: { type: "enumeration", window: "PT1M", distinct: 5, reaction: "alert" } }), { principals: PRINCIPALS });
    for (let i = 0; i < 50; i++) assert.equal(d.observe(obs({ at: T + i * 16 * S, subjectRef: `s${i}` })).length, 0);
  });
  it("enumeration (probing): ids that resolve to nobody and empty lookups count as misses", () => {
    const d = detector(rules({ walk: { type: "enumeration", window: "PT1M", distinct: 100, probes: 4, reaction: "alert" } }), { principals: PRINCIPALS });
    const miss = (i: number): Observation =>
      i % 2 === 0
        ? obs({ at: T + i, subjectRef: null, effect: "deny", reasons: ["NOT_FOUND"] })
        : obs({ at: T + i, subjectRef: null, action: "subject.lookup", count: 0 });
    assert.ok(isMiss(miss(0)) && isMiss(miss(1)));
    assert.ok(!isMiss(obs({ at: T, subjectRef: null, purpose: "legal_retention" })), "a sealed read (no reference) that found its subject is no miss");
    const out = [0, 1, 2, 3].map((i) => d.observe(miss(i)));
    assert.deepEqual(out.map((f) => f.length), [0, 0, 0, 1]);
    assert.equal(out[3]![0]!.detail.pattern, "probing");
  });
  it("volume: reads for a purpose beyond baseline × factor in the window; other purposes and writes are not counted", () => {
    const d = detector(
      rules({ vol: { type: "volume", window: "PT10M", factor: 2, baselines: { "talk-app": { talk_service: 3 } }, reaction: "alert" } }),
      { principals: PRINCIPALS },
    );
    const fires: number[] = [];
    for (let i = 0; i < 8; i++) {
      d.observe(obs({ at: T + i, action: "subject.create", subjectRef: "w" }));
      d.observe(obs({ at: T + i, purpose: "security_monitoring" }));
      if (d.observe(obs({ at: T + i, subjectRef: "same" })).length > 0) fires.push(i);
    }
    assert.deepEqual(fires, [6], "the 7th read exceeds 3 × 2");
  });
  it("deny storm: denials by one principal, refusals while throttled included", () => {
    const d = detector(rules({ storm: { type: "deny_storm", window: "PT1M", threshold: 3, reaction: "suspend" } }), { principals: PRINCIPALS });
    assert.equal(d.observe(obs({ at: T, effect: "deny", reasons: ["CONSENT_WITHDRAWN"] })).length, 0);
    assert.equal(d.observe(obs({ at: T + 1, effect: "deny", action: "principal.refused", purpose: null, subjectRef: null, reasons: ["PRINCIPAL_THROTTLED"] })).length, 0);
    assert.equal(d.observe(obs({ at: T + 2, principal: "pay-app", effect: "deny" })).length, 0, "another principal's denial");
    const f = d.observe(obs({ at: T + 3, effect: "deny" }));
    assert.equal(f[0]?.reaction, "suspend");
    assert.equal(f[0]?.count, 3);
  });
  it("canary: any access to a decoy trips, whatever the action or decision", () => {
    const d = detector(rules({ decoy: { type: "canary", reaction: "suspend" } }), { principals: PRINCIPALS, canaries: new Set(["c1"]) });
    assert.equal(d.observe(obs({ at: T, subjectRef: "x" })).length, 0);
    const f = d.observe(obs({ at: T + 1, subjectRef: "c1", action: "subject.lookup", effect: "allow" }));
    assert.deepEqual([f[0]?.rule, f[0]?.detail.action], ["decoy", "subject.lookup"]);
    d.setCanaries(new Set(["c2"]));
    assert.equal(d.observe(obs({ at: T + 2 * 3_600_000, subjectRef: "c2", effect: "deny" })).length, 1);
  });
  it("off hours: outside the declared hours in the zone; principals without hours are not watched", () => {
    const d = detector(
      rules({ night: { type: "off_hours", hours: { "support-console": { days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "19:00" } }, reaction: "alert" } }),
      { principals: PRINCIPALS },
    );
    assert.equal(d.observe(obs({ at: T, principal: "support-console" })).length, 0, "Tuesday 14:00 KST");
    assert.equal(d.observe(obs({ at: T + 12 * 3_600_000, principal: "talk-app" })).length, 0);
    const f = d.observe(obs({ at: T + 12 * 3_600_000, principal: "support-console" }));
    assert.deepEqual(f[0]?.detail, { local: "wed 02:00", time_zone: "Asia/Seoul", hours: "mon,tue,wed,thu,fri 09:00-19:00" });
  });
  it("export volume: exported subjects per recipient beyond baseline × factor; a recipient without a baseline fires at its first export", () => {
    const d = detector(
      rules({ exp: { type: "export_volume", window: "P1D", per: "recipient", factor: 1.5, baselines: { "cloud-kr": 1000 }, reaction: "alert" } }),
      { principals: PRINCIPALS, recipients: ["cloud-kr", "nsf-scoring"] },
    );
    const part = (at: number, count: number, recipient: string) =>
      obs({ at, principal: "pay-app", action: "provision.part", subjectRef: null, count, meta: { recipient } });
    assert.equal(d.observe(part(T, 1000, "cloud-kr")).length, 0);
    assert.equal(d.observe(part(T + 1, 500, "cloud-kr")).length, 0, "1500 = 1000 × 1.5 is not beyond");
    const f = d.observe(part(T + 2, 1, "cloud-kr"));
    assert.deepEqual([f[0]?.count, f[0]?.threshold, f[0]?.principal, f[0]?.detail.recipient], [1501, 1501, "pay-app", "cloud-kr"]);
    assert.equal(d.observe(part(T + 3, 1, "nsf-scoring")).length, 1, "no baseline: any export is beyond it");
  });
  it("new network, declared: a source outside the principal's networks fires once per network", () => {
    const d = detector(rules({ net: { type: "new_network", networks: { "talk-app": ["10.0.0.0/8"] }, reaction: "alert" } }), { principals: PRINCIPALS });
    assert.equal(d.observe(obs({ at: T, source: "10.9.9.9" })).length, 0);
    const f = d.observe(obs({ at: T + 1, source: "203.0.113.5" }));
    assert.deepEqual(f[0]?.detail, { network: "203.0.113.0/24", declared: false });
    assert.equal(d.observe(obs({ at: T + 2, source: "203.0.113.6" })).length, 0, "the same /24 again");
    assert.equal(d.observe(obs({ at: T + 3, source: "cli" })).length, 0, "not an address");
  });
  it("new network, learned: the first network is learned silently, a later new one fires and is learned (and reported for keeping)", () => {
    const learned: [string, readonly string[]][] = [];
    const d = detector(rules({ net: { type: "new_network", networks: {}, reaction: "alert" } }), {
      principals: PRINCIPALS,
      learned: new Map([["pay-app", ["10.1.1.0/24"]]]),
      onLearn: (p, nets) => learned.push([p, [...nets]]),
    });
    assert.equal(d.observe(obs({ at: T, source: "127.0.0.1" })).length, 0);
    assert.equal(d.observe(obs({ at: T + 1, source: "127.0.0.9" })).length, 0);
    assert.equal(d.observe(obs({ at: T + 2, source: "127.0.1.9" })).length, 1);
    assert.equal(d.observe(obs({ at: T + 3, source: "127.0.1.10" })).length, 0);
    assert.equal(d.observe(obs({ at: T + 4, principal: "pay-app", source: "10.1.1.7" })).length, 0, "known from before a restart");
    assert.equal(d.observe(obs({ at: T + 5, principal: "pay-app", source: "10.1.2.7" })).length, 1);
    assert.deepEqual(learned, [
      ["talk-app", ["127.0.0.0/24"]],
      ["talk-app", ["127.0.0.0/24", "127.0.1.0/24"]],
      ["pay-app", ["10.1.1.0/24", "10.1.2.0/24"]],
    ]);
  });
});

describe("detector: scope, reset and memory", () => {
  it("a rule's principals filter; unknown principals and system entries (no principal) are ignored", () => {
    const d = detector(rules({ burst: { type: "enumeration", window: "PT1M", distinct: 2, principals: ["pay-app"], reaction: "alert" } }), { principals: PRINCIPALS });
    for (let i = 0; i < 10; i++) {
      assert.equal(d.observe(obs({ at: T + i, subjectRef: `a${i}` })).length, 0);
      assert.equal(d.observe(obs({ at: T + i, principal: "intruder", subjectRef: `b${i}` })).length, 0);
      assert.equal(d.observe(obs({ at: T + i, principal: null, subjectRef: `c${i}` })).length, 0);
    }
    assert.equal(d.slots(), 0, "nothing kept for them");
  });
  it("reset forgets a principal's counters (an operator lifted it) but not its networks", () => {
    const d = detector(
      rules({
        storm: { type: "deny_storm", window: "PT1M", threshold: 3, reaction: "suspend" },
        net: { type: "new_network", networks: {}, reaction: "alert" },
      }),
      { principals: PRINCIPALS },
    );
    d.observe(obs({ at: T, effect: "deny", source: "10.0.0.1" }));
    d.observe(obs({ at: T + 1, effect: "deny", source: "10.0.0.1" }));
    d.reset("talk-app");
    assert.equal(d.observe(obs({ at: T + 2, effect: "deny", source: "10.0.0.1" })).length, 0, "counting restarted");
    assert.equal(d.observe(obs({ at: T + 3, source: "10.0.1.1" })).length, 1, "the learned network survived the reset");
  });
  it("memory per principal is bounded by the thresholds, however many subjects it reads", () => {
    const d = detector(rules({ burst: { type: "enumeration", window: "P1D", distinct: 1000, reaction: "alert" } }), { principals: PRINCIPALS });
    let fired = 0;
    for (let i = 0; i < 100_000; i++) fired += d.observe(obs({ at: T + i, subjectRef: `s${i}` })).length;
    assert.equal(fired, 1, "fires once, then stays quiet for the cooldown (a day) without keeping what it no longer counts");
    assert.equal(d.slots(), 1);
  });
  it("deterministic: the same stream gives the same firings", () => {
    const stream = Array.from({ length: 500 }, (_, i) =>
      obs({ at: T + i * 700, subjectRef: `s${(i * 7919) % 97}`, effect: i % 9 === 0 ? "deny" : "allow", source: `10.0.${i % 3}.1` }),
    );
    const run = () => {
      const d = detector(loadCatalog(DEMO_CATALOG).detection!, { principals: PRINCIPALS, recipients: [] });
      return stream.flatMap((o) => d.observe(o).map((f) => `${f.rule}@${f.at}`));
    };
    assert.deepEqual(run(), run());
    assert.ok(run().length > 0);
  });
});

describe("canary values", () => {
  const catalog = loadCatalog(DEMO_CATALOG);
  let state = 42;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  it("a decoy for talk_service has every required field and the lookup fields, each valid for its field", () => {
    const v = canaryValues(catalog, "talk_service", rand);
    assert.deepEqual(Object.keys(v).sort(), ["email", "name", "nickname", "phone", "user_id"]);
    for (const [f, value] of Object.entries(v)) assert.equal(fieldValueProblem(f, catalog.fields[f]!, value), null, f);
    assert.match(String(v.phone), /^010-\d{4}-\d{4}$/);
  });
  it("never invents sensitive, unique-id, RRN, card, account or credit values", () => {
    const v = canaryValues(catalog, "pay_service", rand);
    assert.deepEqual(Object.keys(v).sort(), ["name", "phone", "user_id"]);
    assert.equal(decoyValue("x", { ...catalog.fields.user_id!, type: "json" }, rand) instanceof Array, true);
  });
  it("an unknown purpose is refused", () => {
    assert.throws(() => canaryValues(catalog, "nope", rand), /not registered/);
  });
});
