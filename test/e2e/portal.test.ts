/**
 * The portal end to end, in a real browser (Debian's Chromium through playwright-core) against a
 * real server on a real store: a person opens the link their app hands them, sees their data and
 * who received it, withdraws marketing consent (after which the marketing service's read is
 * denied), downloads their data, and deletes the account. Every page is saved as a screenshot,
 * desktop and phone, under test-artifacts/screenshots/ (not committed).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { payFields } from "../fixtures/people.js";
import { internalOf, startApp, type TestApp } from "../helpers/app.js";
import { openBrowser, type TestBrowser } from "../helpers/browser.js";

// Page scripts (page.evaluate) run in the browser; the test project has no DOM types.
declare const document: any;

describe("the portal in a real browser", () => {
  let t: TestApp;
  let b: TestBrowser;
  let id: string;
  let mkId: string;
  before(async () => {
    t = await startApp("sqlite");
    b = await openBrowser();
    const fields = payFields(1);
    const created = await t.call("pay-app", "POST", "/v1/subjects", {
      purpose: "pay_service",
      fields,
      consents: [
        { notice: "marketing", action: "grant", channel: "app" },
        { notice: "pay_overseas", action: "grant", channel: "app" },
        { notice: "nsf_provision", action: "grant", channel: "app" },
        { notice: "nsf_overseas_transfer", action: "grant", channel: "app" },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = created.body.id;
    mkId = pseudonyms(t.c.keyring.secrets.pseudonymKey).externalId("marketing-svc", internalOf(t, "pay-app", id));
    // Some history to show: a support agent's read, a marketing read, two provisions (a
    // consignee at home, a third party abroad).
    assert.equal((await t.call("marketing-svc", "GET", `/v1/subjects/${mkId}?purpose=marketing`)).status, 200);
    for (const body of [
      { recipient: "cloud-kr", purpose: "pay_service", label: "consignment", fields: ["user_id", "name"], mode: "run", wait: true },
      { recipient: "nsf-scoring", purpose: "pay_service", label: "provision", fields: ["user_id", "transaction_history"], population: { purposes: ["pay_overseas"] }, mode: "run", wait: true },
    ]) {
      const run = await t.call("pay-app", "POST", "/v1/provisions", body);
      assert.ok(run.status === 200 || run.status === 201, JSON.stringify(run.body));
    }
  });
  after(async () => {
    await b?.close();
    await t?.close();
  });

  const link = async () => {
    const r = await t.call("pay-app", "POST", `/v1/subjects/${id}/portal-link`);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.url as string;
  };

  /** The page as it is now, on a desktop and on a phone-wide screen: <name>-desktop.png and <name>-phone.png. */
  const shots = async (page: Page, name: string) => {
    const size = page.viewportSize() ?? { width: 1280, height: 900 };
    const phone = size.width < 600;
    await b.shot(page, `${name}-${phone ? "phone" : "desktop"}`);
    await page.setViewportSize(phone ? { width: 1280, height: 900 } : { width: 390, height: 844 });
    await b.shot(page, `${name}-${phone ? "desktop" : "phone"}`);
    await page.setViewportSize(size);
  };

  /** Every visible control has an accessible name (a label, text, or aria-label). */
  const assertLabelled = async (page: Page) => {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll("button, a[href], input:not([type=hidden]), select, textarea, summary")]
        .filter((el: any) => {
          const e = el as any;
          const labelled = e.getAttribute("aria-label") || (e.id && document.querySelector(`label[for="${e.id}"]`)) || (e.textContent ?? "").trim();
          return !labelled;
        })
        .map((el: any) => el.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, []);
  };

  test("PIPA Art. 35: the person opens the link and sees their data, purposes, consents and who received it (desktop and phone)", async () => {
    const page = await b.page();
    await page.goto(await link());
    assert.equal(new URL(page.url()).pathname, "/portal");
    assert.equal(new URL(page.url()).search, "", "the token is gone from the address bar");
    await page.getByRole("heading", { level: 1, name: "내 개인정보" }).waitFor();
    const text = await page.locator("main").innerText();
    for (const s of ["보유 중인 개인정보", "결제·송금 내역", "이용 목적과 법적 근거", "동의 관리", "스코어브릿지", "싱가포르", "한빛클라우드", "열람·이용 기록", "마케팅·분석 서비스", "회원님의 정보가 포함된 사고는 없습니다"]) {
      assert.ok(text.includes(s), `the page shows ${s}`);
    }
    assert.ok(!text.includes(payFields(1).phone), "values hidden by default");
    await assertLabelled(page);
    await shots(page, "portal-01-overview");

    // Values after the fresh confirmation the link gave.
    await page.getByRole("button", { name: "값 보기" }).click();
    await page.getByText("값을 표시했습니다").waitFor();
    assert.ok((await page.locator("#data").innerText()).includes(payFields(1).phone));
    await shots(page, "portal-02-values");

    // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    await page.goto(`${t.url}/portal`);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "본문으로 건너뛰기");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
    await page.context().close();

    const phone = await b.page({ mobile: true });
    await phone.goto(await link());
    await phone.getByRole("heading", { level: 1 }).waitFor();
    // One column: nothing wider than the screen except the tables' own scrolling boxes.
    assert.ok((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 390, "no sideways scrolling on a phone");
    await b.shot(phone, "portal-01-overview-phone-touch");
    await phone.getByRole("link", { name: "Switch to English" }).click();
    await phone.getByRole("heading", { level: 1, name: "My personal data" }).waitFor();
    assert.equal(await phone.getAttribute("html", "lang"), "en");
    await shots(phone, "portal-01-overview-en");
    await phone.context().close();
  });

  test("PIPA Art. 37: the person withdraws marketing consent after reading that version's notice; the marketing service's read is then denied", async () => {
    const page = await b.page();
    await page.goto(await link());
    const card = page.locator("#consent-marketing");
    await card.locator("summary").click();
    assert.ok((await card.innerText()).includes("광고성 정보를 문자 메시지와 앱 푸시로 보내 드립니다"));
    await shots(page, "portal-03-consent-notice");
    await card.getByRole("button", { name: "동의 철회" }).click();
    await page.getByText("동의를 철회했습니다").waitFor();
    assert.ok((await page.locator("#consent-marketing").innerText()).includes("철회함"));
    await shots(page, "portal-04-consent-withdrawn");
    const denied = await t.call("marketing-svc", "GET", `/v1/subjects/${mkId}?purpose=marketing`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.details.reasons[0].code, "CONSENT_WITHDRAWN");
    // The refused read is in the person's access history.
    await page.reload();
    assert.ok((await page.locator("#access").innerText()).includes("거부"));
    await page.context().close();
  });

  test("PIPA Arts. 35, 35-2: the person downloads everything as JSON and as CSV", async () => {
    const page = await b.page({ mobile: true });
    await page.goto(await link());
    await page.locator("#download").scrollIntoViewIfNeeded();
    await shots(page, "portal-05-download");
    const [json] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "JSON으로 내려받기" }).click()]);
    const data = JSON.parse(fs.readFileSync((await json.path())!, "utf8"));
    assert.equal(data.data.phone, payFields(1).phone);
    assert.deepEqual(data.data.transaction_history, payFields(1).transaction_history);
    assert.ok(data.provisions.some((p: { recipient: string; country: string }) => p.recipient === "nsf-scoring" && p.country === "SG"));
    assert.ok(data.consents.history.some((h: { notice: string; action: string }) => h.notice === "marketing" && h.action === "withdraw"));
    assert.ok(data.accessHistory.some((a: { actor: string }) => a.actor === "marketing-svc"));
    const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "CSV로 내려받기" }).click()]);
    assert.match(csv.suggestedFilename(), /^my-data-\d{8}\.csv$/);
    const text = fs.readFileSync((await csv.path())!, "utf8");
    assert.ok(text.includes("provision,"), "the provision ledger is in the CSV");
    await page.context().close();
  });

  test("PIPA Art. 36: the person deletes the account after seeing what a law keeps, under which law, until when", async () => {
    const phone = await b.page({ mobile: true });
    await phone.goto(await link());
    await phone.getByRole("link", { name: "탈퇴 절차 보기" }).click();
    await phone.getByRole("heading", { level: 1, name: "탈퇴하기 전에 확인해 주세요" }).waitFor();
    assert.ok((await phone.locator("main").innerText()).includes("Electronic Financial Transactions Act"));
    await b.shot(phone, "portal-06-delete-confirm-phone-touch");
    await phone.context().close();

    const page = await b.page();
    await page.goto(await link());
    await page.getByRole("link", { name: "탈퇴 절차 보기" }).click();
    await shots(page, "portal-06-delete-confirm");
    await assertLabelled(page);
    await page.getByLabel("위 내용을 확인했으며 탈퇴합니다").check();
    await page.getByRole("button", { name: "탈퇴하고 정보 삭제" }).click();
    await page.getByRole("heading", { level: 1, name: "탈퇴가 완료되었습니다" }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("결제·송금 내역"), "what is kept is named");
    await shots(page, "portal-07-deleted");
    assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=pay_service`)).status, 404);
    // The session ended with the account; a link cannot be had any more.
    await page.goto(`${t.url}/portal`);
    await shots(page, "portal-08-after-deletion");
    assert.equal((await t.call("pay-app", "POST", `/v1/subjects/${id}/portal-link`)).status, 404);
    await page.context().close();
  });

  test("a used link shows why it cannot be opened", async () => {
    const other = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(2) });
    const r = await t.call("pay-app", "POST", `/v1/subjects/${other.body.id}/portal-link`);
    const page = await b.page({ mobile: true });
    await page.goto(r.body.url);
    await page.goto(r.body.url);
    await page.getByText("이미 사용한 링크입니다").waitFor();
    await shots(page, "portal-09-link-used");
    await page.context().close();
  });
});
