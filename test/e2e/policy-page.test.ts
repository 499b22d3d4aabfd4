/**
 * The public privacy-policy page in a real browser (Debian's Chromium through playwright-core), on
 * a phone and on a desktop: it must be readable by everyone it concerns (PIPA Art. 30(2)), so it
 * declares its language, has one h1 and a heading per section, loads its stylesheet under the
 * strict CSP, does not make the page itself scroll sideways on a 390-pixel screen (wide tables
 * scroll inside their own focusable region), and switches language. Screenshots go to
 * test-artifacts/screenshots/.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openBrowser, type TestBrowser } from "../helpers/browser.js";
import { startApp, type TestApp } from "../helpers/app.js";

describe("the privacy-policy page in a browser", () => {
  let t: TestApp;
  let b: TestBrowser;
  before(async () => {
    t = await startApp("sqlite");
    await t.c.services.policy.publish({ by: "cpo-kim" });
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    await t?.close();
  });

  for (const mobile of [true, false]) {
    test(`${mobile ? "phone" : "desktop"}: language, headings, stylesheet under the CSP, no sideways page scroll, language switch`, async () => {
      const page = await b.page({ mobile });
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
      });
      const res = await page.goto(`${t.url}/policy`);
      assert.equal(res?.status(), 200);
      assert.equal(await page.getAttribute("html", "lang"), "ko");
      assert.equal(await page.locator("h1").count(), 1);
      assert.ok((await page.locator("main section[id] > h2").count()) >= 15, "a heading per section");
      // The stylesheet applied (body text colour from it), and nothing refused by the CSP.
      assert.equal(await page.evaluate("getComputedStyle(document.body).color"), "rgb(26, 26, 26)");
      assert.deepEqual(violations, []);
      // (Expressions as strings: the tests are compiled without the DOM library.)
      const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
      assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
      // Wide tables scroll in their own region, reachable by keyboard and named for screen readers.
      const region = page.locator("div.scroll").first();
      assert.equal(await region.getAttribute("tabindex"), "0");
      assert.ok(await region.getAttribute("aria-label"));
      await b.shot(page, `policy-${mobile ? "phone" : "desktop"}-ko`);
      await page.getByRole("link", { name: "English" }).click();
      await page.waitForURL(/lang=en/);
      assert.equal(await page.getAttribute("html", "lang"), "en");
      assert.match((await page.locator("h1").textContent()) ?? "", /HaechiTalk Corp\. Privacy Policy/);
      await b.shot(page, `policy-${mobile ? "phone" : "desktop"}-en`);
      await page.context().close();
    });
  }
});
