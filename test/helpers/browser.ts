/**
 * A real browser for end-to-end tests: Debian's Chromium driven by playwright-core (`.ci/run`
 * installs the package `chromium`). Screenshots go to test-artifacts/screenshots/ (not committed).
 *
 *   const b = await openBrowser();
 *   const page = await b.page({ mobile: true });
 *   await page.goto(url); await b.shot(page, "portal-home");
 *   await b.close();
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOT_DIR = path.join(root, "test-artifacts", "screenshots");

/** Chromium's executable: HAECHI_CHROMIUM, else Debian's. */
export const chromiumPath = (): string => {
  const candidates = [process.env.HAECHI_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined) throw new Error(`no Chromium found (tried ${candidates.join(", ")}): apt-get install chromium, or set HAECHI_CHROMIUM`);
  return found;
};

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (no shared cookies); `mobile` emulates a phone (390×844, touch). */
  page(opts?: { mobile?: boolean; locale?: string }): Promise<Page>;
  /** A full-page screenshot saved as test-artifacts/screenshots/<name>.png. */
  shot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export const openBrowser = async (): Promise<TestBrowser> => {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Containers without user namespaces cannot run Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    browser,
    async page(opts = {}) {
      const context = await browser.newContext(
        opts.mobile
          ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: opts.locale ?? "ko-KR" }
          : { viewport: { width: 1280, height: 900 }, locale: opts.locale ?? "ko-KR" },
      );
      return context.newPage();
    },
    async shot(page, name) {
      const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9._-]+/gi, "-")}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => browser.close(),
  };
};
