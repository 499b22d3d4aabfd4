/**
 * The monthly access-log review (PIPC Safety Standard Art. 8(2)): `haechi review generate`
 * reads one KST month of the audit log, writes the report (JSON, Markdown, an SVG chart) to the
 * reports directory and records `review.generate` with the report's SHA-256; `haechi review sign`
 * records the privacy officer's sign-off (`review.signoff`) against that same digest, refusing a
 * report that changed since it was generated. Both acts are audit entries, so the review itself
 * is evidence in the chain.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { auditWindow } from "../audit/audit-window.js";
import { HaechiError } from "../core/errors.js";
import type { AuditStore } from "../core/ports.js";
import { accessReviewer, monthWindow, reviewMarkdown, reviewSvg, type AccessReview, type ReviewOptions } from "../core/review/access-review-fns.js";
import { randomBytes } from "../crypto/random.js";
import { writeFileDurably } from "../util/durable-file.js";
import type { BaseDeps } from "./service-types.js";

export interface ReviewServiceDeps extends BaseDeps {
  store: Pick<AuditStore, "iterate" | "seqRange">;
  /** Resolves once everything recorded so far is in the store. */
  flush: () => Promise<void>;
  reportsDir: string;
}

export interface GeneratedReview {
  review: AccessReview;
  files: { json: string; markdown: string; svg: string };
  sha256: string;
}

export interface ReviewStatus {
  month: string;
  generated: { at: string; by: string | null; sha256: string } | null;
  signedOff: { at: string; by: string | null; sha256: string; note: string | null } | null;
}

export const reviewService = (deps: ReviewServiceDeps) => {
  const jsonFile = (month: string) => path.join(deps.reportsDir, `access-review-${month}.json`);
  const ctx = (by: string) => ({ principal: by, source: null, requestId: `review-${randomBytes(8).toString("hex")}` });

  const digestOf = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

  const service = {
    async generate(opts: Omit<ReviewOptions, "month"> & { month: string; by: string; onProgress?: (n: number) => void }): Promise<GeneratedReview> {
      const now = deps.clock.now();
      let window;
      try {
        window = monthWindow(opts.month);
      } catch (e) {
        throw new HaechiError("VALIDATION_FAILED", (e as Error).message);
      }
      if (window.end > now) throw new HaechiError("VALIDATION_FAILED", `month ${opts.month} has not ended yet (review a finished month)`);
      await deps.flush();
      let reviewer;
      try {
        reviewer = accessReviewer(opts);
      } catch (e) {
        throw new HaechiError("VALIDATION_FAILED", (e as Error).message);
      }
      let n = 0;
      for await (const { seq, entry } of auditWindow(deps.store, window.start, window.end)) {
        reviewer.add(seq, entry);
        if (++n % 50_000 === 0) opts.onProgress?.(n);
      }
      opts.onProgress?.(n);
      const review = reviewer.finish();
      fs.mkdirSync(deps.reportsDir, { recursive: true, mode: 0o700 });
      const files = {
        json: jsonFile(opts.month),
        markdown: path.join(deps.reportsDir, `access-review-${opts.month}.md`),
        svg: path.join(deps.reportsDir, `access-review-${opts.month}.svg`),
      };
      writeFileDurably(files.json, JSON.stringify(review, null, 2) + "\n");
      const sha256 = digestOf(files.json);
      writeFileDurably(files.svg, reviewSvg(review));
      writeFileDurably(files.markdown, reviewMarkdown(review, sha256));
      await deps.audit.record({
        at: now.toISOString(),
        ...ctx(opts.by),
        action: "review.generate",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        count: review.entries,
        meta: { month: opts.month, sha256, findings: review.findings.length, escalations: review.bulk.filter((b) => b.escalate).length },
      });
      return { review, files, sha256 };
    },

    /** Where the review of `month` stands: generated (with its digest) and signed off, from the audit log. */
    async status(month: string): Promise<ReviewStatus> {
      let window;
      try {
        window = monthWindow(month);
      } catch (e) {
        throw new HaechiError("VALIDATION_FAILED", (e as Error).message);
      }
      await deps.flush();
      const res: ReviewStatus = { month, generated: null, signedOff: null };
      // A review is generated after its month ends: read from there on.
      for await (const { entry } of auditWindow(deps.store, window.end)) {
        if (entry.meta?.month !== month) continue;
        if (entry.action === "review.generate") {
          res.generated = { at: entry.at, by: entry.principal, sha256: String(entry.meta.sha256) };
          res.signedOff = null; // a regenerated report needs a new sign-off
        } else if (entry.action === "review.signoff") {
          res.signedOff = { at: entry.at, by: entry.principal, sha256: String(entry.meta.sha256), note: (entry.meta.note as string | null) ?? null };
        }
      }
      return res;
    },

    /** Months with a generated report on disk, newest first (the console lists them). */
    months(): string[] {
      if (!fs.existsSync(deps.reportsDir)) return [];
      return fs
        .readdirSync(deps.reportsDir)
        .map((f) => /^access-review-(\d{4}-\d{2})\.json$/.exec(f)?.[1])
        .filter((m): m is string => m !== undefined)
        .sort()
        .reverse();
    },

    /** A generated report as written (null when there is none), with its current digest. */
    report(month: string): { review: AccessReview; sha256: string } | null {
      const file = jsonFile(month);
      if (!/^\d{4}-\d{2}$/.test(month) || !fs.existsSync(file)) return null;
      return { review: JSON.parse(fs.readFileSync(file, "utf8")) as AccessReview, sha256: digestOf(file) };
    },

    /** The privacy officer's sign-off on the generated report, which must be unchanged since. */
    async signOff(opts: { month: string; by: string; note?: string }): Promise<ReviewStatus> {
      const st = await service.status(opts.month);
      if (!st.generated) throw new HaechiError("NOT_FOUND", `no access-log review was generated for ${opts.month}: run haechi review generate --month ${opts.month}`);
      const file = jsonFile(opts.month);
      if (!fs.existsSync(file)) throw new HaechiError("NOT_FOUND", `the report ${file} is missing: generate it again`);
      const sha256 = digestOf(file);
      if (sha256 !== st.generated.sha256) {
        throw new HaechiError("CONFLICT", `the report ${file} changed since it was generated (SHA-256 ${sha256}, generated ${st.generated.sha256}): generate it again`);
      }
      const note = opts.note?.trim() ? opts.note.trim().slice(0, 500) : null;
      const now = deps.clock.now();
      await deps.audit.record({
        at: now.toISOString(),
        ...ctx(opts.by),
        action: "review.signoff",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        meta: { month: opts.month, sha256, note },
      });
      return { ...st, signedOff: { at: now.toISOString(), by: opts.by, sha256, note } };
    },
  };
  return service;
};

export type ReviewService = ReturnType<typeof reviewService>;
