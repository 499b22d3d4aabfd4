/**
 * PolicyStore (published privacy-policy versions; migration 0008_policy_versions): every store
 * kind must pass all of it. A published version is evidence of what the policy said publicly and
 * from when (PIPA Art. 30(2); LAW §15 J1): kept exactly, numbered without gaps, never rewritten.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { loadCatalog } from "../../src/container.js";
import { buildPolicyContent, contentDigest, sha256Hex } from "../../src/core/policy-doc/policy-doc-fns.js";
import type { PolicyVersionRow } from "../../src/core/ports.js";
import { at, forEachStore, rejectsWith } from "./store-fixture.js";

const content = buildPolicyContent(loadCatalog("examples/haechi.yaml"));
const DAY = 86_400_000;

const texts = (version: number) => ({
  "ko.md": `# 개인정보 처리방침 (제${version}판)\n\n| 항목 | 근거 \\| 비고 |\n`,
  "ko.html": `<article><h1>개인정보 처리방침</h1><p>&lt;script&gt; ‘따옴표’ "quotes" ${version}</p></article>`,
  "en.md": `# Privacy Policy (version ${version})\n`,
  "en.html": `<article><h1>Privacy Policy</h1></article>`,
});

const versionRow = (version: number, over: Partial<PolicyVersionRow> = {}): PolicyVersionRow => {
  const t = texts(version);
  return {
    version,
    effective: `2026-0${version}-01`,
    publishedAt: at(version * DAY),
    publishedBy: "cpo-kim",
    catalogSha256: sha256Hex(`catalog ${version}`),
    contentSha256: contentDigest(content),
    content,
    texts: t,
    textSha256: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, sha256Hex(v)])),
    changes:
      version === 1
        ? []
        : [
            { subject: "purpose", change: "added", name: "marketing", label: { ko: "광고성 정보 전송", en: "Advertising" }, fields: [] },
            { subject: "transfer", change: "changed", name: "nsf-scoring", label: { ko: "스코어브릿지", en: "ScoreBridge" }, fields: ["items", "timing"] },
          ],
    auditSeq: 40 + version,
    ...over,
  };
};

forEachStore("PolicyStore", (fx) => {
  it("keeps a published version exactly: content, texts byte for byte, digests, change log, times to the millisecond", async () => {
    const { policies } = fx().stores.data;
    assert.equal(await policies.latest(), undefined);
    assert.deepEqual(await policies.history(), []);
    const v1 = versionRow(1);
    await policies.publish(v1);
    assert.deepEqual(await policies.get(1), v1);
    assert.deepEqual(await policies.latest(), v1);
    const back = await policies.get(1);
    for (const [name, text] of Object.entries(back!.texts)) assert.equal(sha256Hex(text), v1.textSha256[name], `${name} digest`);
    assert.equal(contentDigest(back!.content), v1.contentSha256, "the content digest survives the round trip");
    assert.equal(await policies.get(2), undefined);
  });

  it("numbers versions without gaps: only the latest plus one is accepted, the same number twice is a CONFLICT", async () => {
    const { policies } = fx().stores.data;
    await rejectsWith(() => policies.publish(versionRow(1)), "CONFLICT");
    await rejectsWith(() => policies.publish(versionRow(3)), "CONFLICT");
    const v2 = versionRow(2);
    await policies.publish(v2);
    assert.deepEqual(await policies.latest(), v2);
    const history = await policies.history();
    assert.deepEqual(history.map((h) => h.version), [2, 1]);
    const { content: _c, texts: _t, ...summary } = v2;
    assert.deepEqual(history[0], summary, "the history holds everything but content and texts");
  });

  it("two publications of the same number at once: exactly one wins, the other is a CONFLICT", async () => {
    const f = fx();
    const other = await f.openAnother();
    const results = await Promise.allSettled([f.stores.data.policies.publish(versionRow(3)), other.data.policies.publish(versionRow(3, { publishedBy: "someone-else" }))]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal((lost?.reason as { code?: string }).code, "CONFLICT");
    assert.equal((await f.stores.data.policies.history()).length, 3);
  });

  it("keeps published versions append-only at the database", async () => {
    const f = fx();
    if (f.kind === "sqlite") {
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(`${f.dir}/data.db`);
      try {
        assert.throws(() => db.prepare("UPDATE policy_versions SET published_by = 'x' WHERE version = 1").run(), /append-only/);
        assert.throws(() => db.prepare("DELETE FROM policy_versions WHERE version = 1").run(), /append-only/);
      } finally {
        db.close();
      }
    } else {
      const pg = (await import("pg")).default;
      const client = new pg.Client({ connectionString: f.url });
      await client.connect();
      try {
        await assert.rejects(() => client.query("UPDATE haechi.policy_versions SET published_by = 'x' WHERE version = 1"), /append-only/);
        await assert.rejects(() => client.query("DELETE FROM haechi.policy_versions WHERE version = 1"), /append-only/);
      } finally {
        await client.end();
      }
    }
    assert.equal((await f.stores.data.policies.get(1))?.publishedBy, "cpo-kim");
  });
});
