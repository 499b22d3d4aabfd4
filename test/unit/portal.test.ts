/**
 * The portal's pure parts (ADR 0012): signed links and session cookies, the anti-CSRF token, the
 * CSV download (PIPA Art. 35-2: machine-readable), the pages' escaping, and the stylesheet's
 * contrast (WCAG AA).
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { csrfToken, csrfValid, portalKeys, signLink, signSession, verifyLink, verifySession } from "../../src/crypto/portal-token.js";
import { PORTAL_CSS } from "../../src/http/ui/portal-assets.js";
import { messagePage } from "../../src/http/ui/portal-pages.js";
import { portalText } from "../../src/http/ui/portal-text.js";
import { csvCell, exportToCsv, CSV_COLUMNS } from "../../src/services/portal-fns.js";
import type { PortalExport } from "../../src/services/portal-service.js";

const keys = portalKeys(crypto.randomBytes(32));
const now = new Date("2026-11-21T03:00:00Z");
const T = now.getTime();
const link = { j: "link-1", s: "sub_AAAAAAAAAAAAAAAAAAAAAA", p: "talk-app", e: T + 5 * 60_000 };

describe("portal links and sessions", () => {
  test("a link verifies until it expires, and not a millisecond after", () => {
    const token = signLink(keys, link);
    assert.deepEqual(verifyLink(keys, token, now), { ok: true, claims: link });
    assert.deepEqual(verifyLink(keys, token, new Date(link.e)), { ok: false, problem: "EXPIRED" });
  });

  test("any change to a link is refused: payload, MAC, prefix, another key", () => {
    const token = signLink(keys, link);
    // Decoded parts: a base64url character can change without changing the bytes (the last
    // character's unused bits); such a token is the same token. Any other change is refused.
    const decoded = (tok: string) => tok.split(".").map((p, i) => (i === 0 ? p : Buffer.from(p, "base64url").toString("hex")));
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(..."ABCabc012-_.=+/ "), (i, ch) => {
        fc.pre(token[i] !== ch);
        const bad = token.slice(0, i) + ch + token.slice(i + 1);
        if (verifyLink(keys, bad, now).ok) assert.deepEqual(decoded(bad), decoded(token));
      }),
      { numRuns: 500 },
    );
    assert.equal(verifyLink(portalKeys(crypto.randomBytes(32)), token, now).ok, false);
    assert.deepEqual(verifyLink(keys, token.replace(/^pl1/, "ps1"), now), { ok: false, problem: "MALFORMED" });
    for (const junk of [undefined, null, 42, "", "pl1", "pl1..", "pl1.a.b.c", "x".repeat(2000)]) assert.equal(verifyLink(keys, junk, now).ok, false);
  });

  test("a link cannot pass as a session, nor a session as a link (separate keys and prefixes)", () => {
    const session = { j: "link-1", s: link.s, a: T, x: T + 30 * 60_000, t: T };
    const asSession = signLink(keys, link).replace(/^pl1/, "ps1");
    assert.equal(verifySession(keys, asSession, now, 600_000).ok, false);
    assert.equal(verifyLink(keys, signSession(keys, session).replace(/^ps1/, "pl1"), now).ok, false);
  });

  test("a session ends after the idle time since its last activity, and at its absolute end", () => {
    const s = { j: "link-1", s: link.s, a: T, x: T + 30 * 60_000, t: T };
    const token = signSession(keys, s);
    assert.equal(verifySession(keys, token, new Date(T + 600_000), 600_000).ok, true);
    assert.deepEqual(verifySession(keys, token, new Date(T + 600_001), 600_000), { ok: false, problem: "EXPIRED" });
    const active = signSession(keys, { ...s, t: T + 29 * 60_000 });
    assert.equal(verifySession(keys, active, new Date(T + 29.5 * 60_000), 600_000).ok, true);
    assert.deepEqual(verifySession(keys, active, new Date(T + 30 * 60_000), 600_000), { ok: false, problem: "EXPIRED" });
  });

  test("the anti-CSRF token belongs to one session", () => {
    const t1 = csrfToken(keys, "session-1");
    assert.equal(csrfValid(keys, "session-1", t1), true);
    assert.equal(csrfValid(keys, "session-2", t1), false);
    for (const bad of [undefined, "", "short", `${t1}x`, 7]) assert.equal(csrfValid(keys, "session-1", bad), false);
  });
});

describe("the download as CSV (PIPA Art. 35-2)", () => {
  test("cells: quoted when needed, formulas defused", () => {
    assert.equal(csvCell("plain"), "plain");
    assert.equal(csvCell('a,"b"'), '"a,""b"""');
    assert.equal(csvCell("line\nbreak"), '"line\nbreak"');
    assert.equal(csvCell("=HYPERLINK(\"x\")"), `"'=HYPERLINK(""x"")"`);
    for (const f of ["+1", "-1", "@SUM(A1)", "\tx"]) assert.ok(csvCell(f).replace(/^"/, "").startsWith("'"), f);
    assert.equal(csvCell(-5), "-5", "numbers are numbers");
    assert.equal(csvCell(null), "");
  });

  test("every section becomes rows under one header; a value round-trips", () => {
    const e: PortalExport = {
      format: "haechi-portal-export/1",
      generatedAt: "2026-11-21T03:00:00.000Z",
      controller: { name: { ko: "해치톡", en: "HaechiTalk" }, contact: "privacy@example", officer: null },
      data: { phone: "010-1234-5678", transaction_history: [{ amount: 1 }] },
      purposes: [{ purpose: "talk_service", description: { ko: "", en: "" }, basis: "contract", statute: null, fields: ["phone"], consent: null }],
      consents: { current: [], history: [{ notice: "marketing", version: 2, action: "withdraw", channel: "web", at: "2026-11-21T03:00:00.000Z" }] },
      recipients: [],
      provisions: [{ provision: "prv_1", recipient: "nsf-scoring", country: "SG", purpose: "pay_service", fields: ["user_id"], basis: "consent", transferBasis: "consent", status: "completed", at: "2026-11-21T03:00:00.000Z" }],
      retention: [{ field: "phone", heldUntil: null, onDeletion: null }],
      accessHistory: [{ at: "2026-11-21T03:00:00.000Z", actor: "marketing-svc", actorLabel: null, action: "subject.read", purpose: "marketing", fields: ["phone"], effect: "deny", reasons: ["CONSENT_WITHDRAWN"] }],
      incidents: [],
    };
    const lines = exportToCsv(e).split("\r\n");
    assert.equal(lines[0], CSV_COLUMNS.join(","));
    assert.ok(lines.includes("data,phone,010-1234-5678,,,,,,"));
    assert.ok(lines.includes('data,transaction_history,"[{""amount"":1}]",,,,,,'));
    assert.ok(lines.some((l) => l.startsWith("provision,prv_1,user_id,pay_service,nsf-scoring,SG,")));
    assert.ok(lines.some((l) => l.startsWith("access,subject.read,phone,marketing,marketing-svc,") && l.endsWith(",deny,CONSENT_WITHDRAWN")));
    assert.ok(lines.some((l) => l.startsWith("consent_history,marketing,2,")));
    assert.equal(lines.at(-1), "", "ends with CRLF");
  });
});

describe("portal pages", () => {
  test("messages are escaped and the page is in the person's language", () => {
    const doc = messagePage("en", "T", `<img src=x onerror=alert(1)>`);
    assert.match(doc, /<html lang="en">/);
    assert.ok(!doc.includes("<img"));
    assert.ok(doc.includes("&lt;img"));
  });

  test("both languages have the same texts", () => {
    const shape = (o: unknown): unknown =>
      o && typeof o === "object" ? Object.fromEntries(Object.keys(o).sort().map((k) => [k, shape((o as Record<string, unknown>)[k])])) : typeof o;
    assert.deepEqual(shape(portalText("en")), shape(portalText("ko")));
  });

  test("the stylesheet's text colours meet WCAG AA contrast (4.5:1) on their backgrounds", () => {
    const vars = Object.fromEntries([...PORTAL_CSS.matchAll(/--([a-z-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1]!, m[2]!]));
    const lum = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const ratio = (a: string, b: string) => {
      const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
      return (x! + 0.05) / (y! + 0.05);
    };
    const pairs: [string, string][] = [
      ["fg", "bg"],
      ["muted", "bg"],
      ["muted", "panel"],
      ["accent", "bg"],
      ["accent-fg", "accent"],
      ["ok-fg", "ok-bg"],
      ["warn-fg", "warn-bg"],
      ["fg", "panel"],
    ];
    for (const [f, b] of pairs) assert.ok(ratio(vars[f]!, vars[b]!) >= 4.5, `${f} on ${b}: ${ratio(vars[f]!, vars[b]!).toFixed(2)}`);
    assert.ok(ratio("#ffffff", vars.danger!) >= 4.5, "white on the danger button");
  });
});
