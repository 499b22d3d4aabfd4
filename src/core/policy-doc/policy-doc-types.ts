/**
 * The privacy policy (개인정보 처리방침, PIPA Art. 30; Decree Art. 31) as data: generated from the
 * catalog, rendered to Markdown and HTML in Korean and English, published in numbered versions with
 * a machine-made change log. Not to be confused with `core/policy`, the access-policy engine.
 */

/** The two languages every policy text is in. */
export const POLICY_LANGS = ["ko", "en"] as const;
export type PolicyLang = (typeof POLICY_LANGS)[number];

/** One text in both languages (a catalog text given as a plain string is used for both). */
export type Bilingual = { ko: string; en: string };

/** The content of a section, in the order rendered. */
export type PolicyBlock =
  | { kind: "p"; text: Bilingual }
  | { kind: "list"; items: Bilingual[] }
  /** A caption (visually hidden in HTML), column heads and rows of cells. */
  | { kind: "table"; caption: Bilingual; head: Bilingual[]; rows: Bilingual[][] }
  /** A titled group (one overseas transfer, one right): a level-3 heading and its blocks. */
  | { kind: "group"; title: Bilingual; blocks: PolicyBlock[] };

/** The stable section ids; a section's id never changes (the change log and anchors use it). */
export const POLICY_SECTION_IDS = [
  "purposes",
  "items",
  "consent_items",
  "without_consent",
  "retention",
  "destruction",
  "third_parties",
  "consignment",
  "pseudonymised",
  "overseas",
  "sensitive_public",
  "automatic_collection",
  "rights",
  "automated_decisions",
  "safety",
  "officer",
  "changes",
] as const;
export type PolicySectionId = (typeof POLICY_SECTION_IDS)[number];

export interface PolicySection {
  id: PolicySectionId;
  /** The articles that require it, e.g. "PIPA Art. 30(1)4; Art. 26(2)". */
  article: string;
  title: Bilingual;
  blocks: PolicyBlock[];
}

/** What the change log compares: the policy's facts by kind and catalog name. */
export interface PolicyFacts {
  controller: { name: Bilingual; country: string };
  purposes: Record<string, { label: Bilingual; basis: string; article: string; statute: string | null; items: string[]; retention: Bilingual; rules: string[] }>;
  items: Record<string, { label: Bilingual; class: string; sensitivity: string }>;
  thirdParties: Record<string, { name: Bilingual; contact: string; country: string; purpose: Bilingual; items: string[]; retention: Bilingual; basis: string }>;
  trustees: Record<string, { name: Bilingual; country: string; work: Bilingual; items: string[]; subTrustees: { name: string; country: string; work: Bilingual }[] }>;
  transfers: Record<
    string,
    {
      recipient: Bilingual;
      contact: string;
      country: string;
      kind: string;
      items: string[];
      timing: Bilingual;
      method: Bilingual;
      purpose: Bilingual;
      retention: Bilingual;
      basis: string;
      article: string;
      basisDetail: Bilingual;
      refusal: { how: Bilingual; effect: Bilingual };
    }
  >;
  retentionRules: Record<string, { label: Bilingual; citation: string; period: string; items: string[] }>;
  officer: { name: string; title: Bilingual | null; phone: string | null; email: string; department: { name: Bilingual; phone: string; email: string | null } | null };
}

/**
 * The policy's content generated from one catalog: facts (compared between versions) and the
 * sections without the change history. Its digest decides whether a version would be identical.
 */
export interface PolicyContent {
  format: 1;
  facts: PolicyFacts;
  sections: PolicySection[];
}

export const CHANGE_SUBJECTS = ["purpose", "item", "third_party", "trustee", "transfer", "retention_rule", "section"] as const;
export type ChangeSubject = (typeof CHANGE_SUBJECTS)[number];

/** One line of the machine-made change log. `fields` names what changed (for "changed"). */
export interface PolicyChange {
  subject: ChangeSubject;
  change: "added" | "removed" | "changed";
  /** The catalog name (or the section id). */
  name: string;
  label: Bilingual;
  fields: string[];
}

/** A published version as the history lists it. */
export interface PolicyHistoryEntry {
  version: number;
  /** YYYY-MM-DD. */
  effective: string;
  publishedAt: string;
  changes: PolicyChange[];
}

/**
 * The whole document: the content plus its version (null for an unpublished draft), its effective
 * date and the history of published versions (this one included once published).
 */
export interface PolicyDocument {
  format: 1;
  controller: Bilingual;
  title: Bilingual;
  version: number | null;
  effective: string | null;
  website: string | null;
  sections: PolicySection[];
  facts: PolicyFacts;
  history: PolicyHistoryEntry[];
}

/** Something the law requires in the policy that the catalog does not hold. */
export interface PolicyGap {
  /** The catalog path to fill, e.g. `controller.privacy_officer.phone`. */
  path: string;
  article: string;
  message: string;
}

/** The rendered texts of one language. */
export interface RenderedPolicy {
  markdown: string;
  /** The `<article>` fragment (the page adds the frame and the earlier versions). */
  html: string;
}
