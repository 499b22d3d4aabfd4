/**
 * The privacy policy (PIPA Art. 30; Decree Art. 31; LAW §15 J1): rendered from the catalog in
 * force, published in numbered versions with a machine-made change log, and served in force.
 *
 * Publishing is an operator act: audited first (`policy.publish`, ADR 0003), then stored with the
 * audit entry's seq. A version whose content equals the latest one's is refused (nothing changed),
 * as is an effective date before today (KST) or before the latest version's.
 */
import { randomBytes } from "node:crypto";
import { HaechiError } from "../core/errors.js";
import {
  buildPolicyContent,
  catalogDigest,
  composePolicy,
  contentDigest,
  diffPolicy,
  sha256Hex,
} from "../core/policy-doc/policy-doc-fns.js";
import { POLICY_LANGS, type PolicyContent, type PolicyDocument, type PolicyHistoryEntry, type PolicyLang, type RenderedPolicy } from "../core/policy-doc/policy-doc-types.js";
import { renderPolicy } from "../core/policy-doc/policy-render-fns.js";
import type { PolicyStore, PolicyVersionRow, PolicyVersionSummary } from "../core/ports.js";
import type { BaseDeps } from "./service-types.js";

export type PolicyDeps = BaseDeps & { store: PolicyStore };

const KST_MS = 9 * 3600 * 1000;
/** The calendar day in Korea (the policy's effective dates are Korean days). */
export const kstDay = (d: Date): string => new Date(d.getTime() + KST_MS).toISOString().slice(0, 10);
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The rendered texts of a document: `ko.md`, `ko.html`, `en.md`, `en.html`. */
export const textsOf = (doc: PolicyDocument): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const lang of POLICY_LANGS) {
    const r: RenderedPolicy = renderPolicy(doc, lang);
    out[`${lang}.md`] = r.markdown;
    out[`${lang}.html`] = r.html;
  }
  return out;
};
const digests = (texts: Record<string, string>) => Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, sha256Hex(v)]));

const historyEntry = (s: PolicyVersionSummary): PolicyHistoryEntry => ({
  version: s.version,
  effective: s.effective,
  publishedAt: s.publishedAt.toISOString(),
  changes: s.changes,
});

export interface PolicyDraft {
  content: PolicyContent;
  contentSha256: string;
  catalogSha256: string;
  document: PolicyDocument;
  texts: Record<string, string>;
  textSha256: Record<string, string>;
  /** The latest published version, if any, and whether the draft is identical to it. */
  latest: PolicyVersionSummary | undefined;
  identicalToLatest: boolean;
  /** What would change against the latest published version. */
  changes: PolicyVersionRow["changes"];
}

export interface PolicyInForce {
  /** The version in force today (the latest whose effective date has come), if any. */
  current: PolicyVersionRow | undefined;
  /** A published version whose effective date is still to come. */
  upcoming: PolicyVersionSummary | undefined;
  /** Every published version, newest first. */
  history: PolicyVersionSummary[];
}

export const policyService = (deps: PolicyDeps) => {
  const { store, clock, audit, catalog } = deps;

  const draft = async (): Promise<PolicyDraft> => {
    const cat = catalog.current();
    const content = buildPolicyContent(cat);
    const contentSha256 = contentDigest(content);
    const history = await store.history();
    const latestSummary = history[0];
    const latest = latestSummary === undefined ? undefined : await store.latest();
    const document = composePolicy(content, {
      version: null,
      effective: null,
      history: [...history].reverse().map(historyEntry),
      website: cat.privacy_policy?.website ?? null,
    });
    const texts = textsOf(document);
    return {
      content,
      contentSha256,
      catalogSha256: catalogDigest(cat),
      document,
      texts,
      textSha256: digests(texts),
      latest: latestSummary,
      identicalToLatest: latest !== undefined && latest.contentSha256 === contentSha256,
      changes: latest === undefined ? [] : diffPolicy(latest.content, content),
    };
  };

  return {
    /** The policy the catalog in force would publish now (not stored). Throws CATALOG_INVALID naming what the law requires and the catalog lacks. */
    draft,

    /**
     * Publishes the catalog's policy as the next version. `effective` (YYYY-MM-DD, KST) defaults
     * to today. CONFLICT when identical to the latest version; VALIDATION_FAILED for a date in the
     * past or before the latest version's.
     */
    async publish(opts: { by: string; effective?: string; source?: string | null; requestId?: string }): Promise<PolicyVersionRow> {
      const d = await draft();
      const latest = d.latest;
      if (latest !== undefined && d.identicalToLatest)
        throw new HaechiError(
          "CONFLICT",
          `the catalog's privacy policy is identical to version ${latest.version} (effective ${latest.effective}): nothing to publish`,
          { version: latest.version },
        );
      const now = clock.now();
      const today = kstDay(now);
      const effective = opts.effective ?? today;
      if (!DAY_RE.test(effective) || Number.isNaN(Date.parse(`${effective}T00:00:00Z`)) || new Date(`${effective}T00:00:00Z`).toISOString().slice(0, 10) !== effective)
        throw new HaechiError("VALIDATION_FAILED", `effective must be a calendar date YYYY-MM-DD, not ${JSON.stringify(effective)}`);
      if (effective < today)
        throw new HaechiError("VALIDATION_FAILED", `effective ${effective} is in the past (today is ${today} KST): a policy cannot take effect retroactively`);
      if (latest !== undefined && effective < latest.effective)
        throw new HaechiError("VALIDATION_FAILED", `effective ${effective} is before version ${latest.version}'s (${latest.effective}): effective dates must not go backwards`);
      const version = (latest?.version ?? 0) + 1;
      const entry: PolicyHistoryEntry = { version, effective, publishedAt: now.toISOString(), changes: d.changes };
      const cat = catalog.current();
      const history = (await store.history()).reverse().map(historyEntry);
      const document = composePolicy(d.content, { version, effective, history: [...history, entry], website: cat.privacy_policy?.website ?? null });
      const texts = textsOf(document);
      const textSha256 = digests(texts);
      // Audit first (ADR 0003): if the entry cannot be written, nothing is published.
      const auditSeq = await audit.record({
        at: now.toISOString(),
        requestId: opts.requestId ?? `policy-${randomBytes(8).toString("hex")}`,
        principal: opts.by,
        source: opts.source ?? null,
        action: "policy.publish",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        meta: {
          version,
          effective,
          contentSha256: d.contentSha256,
          catalogSha256: d.catalogSha256,
          changes: d.changes.length,
          koMarkdownSha256: textSha256["ko.md"] ?? null,
          enMarkdownSha256: textSha256["en.md"] ?? null,
        },
      });
      const row: PolicyVersionRow = {
        version,
        effective,
        publishedAt: now,
        publishedBy: opts.by,
        catalogSha256: d.catalogSha256,
        contentSha256: d.contentSha256,
        content: d.content,
        texts,
        textSha256,
        changes: d.changes,
        auditSeq,
      };
      await store.publish(row);
      return row;
    },

    /** The version in force today, a published one still to come, and the history. */
    async inForce(): Promise<PolicyInForce> {
      const today = kstDay(clock.now());
      const history = await store.history();
      const currentSummary = history.find((h) => h.effective <= today);
      const upcoming = history.filter((h) => h.effective > today).at(-1);
      const current = currentSummary === undefined ? undefined : await store.get(currentSummary.version);
      return { current, upcoming, history };
    },

    /** One published version (NOT_FOUND if there is none with that number). */
    async version(n: number): Promise<PolicyVersionRow> {
      const row = await store.get(n);
      if (row === undefined) throw new HaechiError("NOT_FOUND", `no published privacy-policy version ${n}`);
      return row;
    },

    history: () => store.history(),
  };
};

export type PolicyService = ReturnType<typeof policyService>;
export type { PolicyLang };
