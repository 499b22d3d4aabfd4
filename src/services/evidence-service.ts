/**
 * The evidence pack for the regulator (`haechi evidence`; issue 5 item 4; PIPA Art. 63 requests,
 * Safety Standard Arts. 8, 11): one signed .tar.gz holding the system structure (the catalog and a
 * data map), the access records of a window exactly as chained (each with its seq and hash, so
 * they can be checked against the verified chain), the audit verification with its signed
 * checkpoints, the provisions made in the window, the protective measures in force, the
 * incidents open during the window (facts, scope summary, duties with their 72-hour deadlines,
 * notices and reports by digest, and the timeline), and the month reviews that overlap the window. A manifest lists every member with its SHA-256 and is
 * signed with the audit checkpoint key; the pack itself is an audit entry (`evidence.pack`).
 *
 * Subject references in the access records are the audit pseudonyms the log already holds, never
 * internal ids; the pack contains no field values.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { auditWindow } from "../audit/audit-window.js";
import type { VerifyResult } from "../audit/audit-types.js";
import type { CheckpointExport } from "../audit/checkpoint.js";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { HaechiError } from "../core/errors.js";
import type { AuditStore, DataStore, KeyStore } from "../core/ports.js";
import { monthOf, monthWindow } from "../core/review/access-review-fns.js";
import { randomBytes } from "../crypto/random.js";
import { writeTarGz, type TarMember } from "../util/tar.js";
import type { BaseDeps } from "./service-types.js";

export interface EvidenceServiceDeps extends BaseDeps {
  store: Pick<AuditStore, "iterate" | "seqRange">;
  data: { provisions: Pick<DataStore["provisions"], "listProvisions" | "partsOf" | "listSuspensions"> };
  keys: Pick<KeyStore, "countByKekVersion">;
  /** The whole chain's verification and a signed checkpoint of its head (the audit service's). */
  verify: () => Promise<VerifyResult>;
  checkpoint: () => Promise<CheckpointExport>;
  /** Incidents open at some time in the window, with their duties and timelines (no people). */
  incidents: (from: Date, to: Date) => Promise<unknown[]>;
  signer: { keyId: string; privateKey: KeyObject; publicKeyPem: string };
  catalogFile: string;
  reportsDir: string;
  evidenceDir: string;
}

export interface EvidencePack {
  file: string;
  sha256: string;
  window: { from: string; to: string };
  members: { name: string; bytes: number; sha256: string }[];
  accessRecords: number;
  incidents: number;
  verified: boolean;
}

/** Fields → purposes → recipients → countries: the picture of where personal data may go. */
export const dataMap = (catalog: Catalog) =>
  Object.keys(catalog.fields)
    .sort()
    .map((field) => ({
      field,
      purposes: Object.entries(catalog.purposes)
        .filter(([, p]) => p.fields.includes(field))
        .map(([name, p]) => ({ purpose: name, basis: p.basis }))
        .sort((a, b) => (a.purpose < b.purpose ? -1 : 1)),
      recipients: Object.entries(catalog.recipients ?? {})
        .filter(([, r]) => r.fields.includes(field))
        .map(([name, r]) => ({ recipient: name, kind: r.kind, country: r.country, purposes: r.purposes }))
        .sort((a, b) => (a.recipient < b.recipient ? -1 : 1)),
    }));

const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";

export const evidenceService = (deps: EvidenceServiceDeps) => ({
  async pack(opts: { from: Date; to: Date; by: string; onProgress?: (records: number) => void }): Promise<EvidencePack> {
    const now = deps.clock.now();
    if (Number.isNaN(opts.from.getTime()) || Number.isNaN(opts.to.getTime())) throw new HaechiError("VALIDATION_FAILED", "--from and --to must be dates (YYYY-MM-DD or ISO 8601)");
    if (!(opts.from < opts.to)) throw new HaechiError("VALIDATION_FAILED", "the window must end after it starts (--from before --to)");
    if (opts.from > now) throw new HaechiError("VALIDATION_FAILED", "the window starts in the future");
    const catalog = deps.catalog.current();
    const window = { from: opts.from.toISOString(), to: opts.to.toISOString() };
    const tag = `${window.from.slice(0, 10)}_${window.to.slice(0, 10)}`;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-evidence-"));
    try {
      // Access records, as chained: streamed to a file (a window can hold millions).
      const recordsFile = path.join(tmp, "access-records.ndjson");
      const fd = fs.openSync(recordsFile, "w", 0o600);
      let records = 0;
      let buf: string[] = [];
      const counts: Record<string, number> = {};
      try {
        for await (const row of auditWindow(deps.store, opts.from, opts.to)) {
          buf.push(`{"seq":${row.seq},"hash":"${row.hash.toString("hex")}","entry":${row.body}}`);
          counts[row.entry.action] = (counts[row.entry.action] ?? 0) + 1;
          if (++records % 10_000 === 0) {
            fs.writeSync(fd, buf.join("\n") + "\n");
            buf = [];
            opts.onProgress?.(records);
          }
        }
        if (buf.length > 0) fs.writeSync(fd, buf.join("\n") + "\n");
      } finally {
        fs.closeSync(fd);
      }
      opts.onProgress?.(records);

      const verification = await deps.verify();
      const checkpoint = await deps.checkpoint();
      const incidents = await deps.incidents(opts.from, opts.to);
      const provisions = (await deps.data.provisions.listProvisions({ limit: 100_000 })).filter((p) => p.createdAt >= opts.from && p.createdAt < opts.to);
      const provisionRecords = [];
      for (const p of provisions) {
        const parts = await deps.data.provisions.partsOf(p.id);
        provisionRecords.push({
          id: p.id,
          principal: p.principal,
          recipient: p.recipient,
          country: p.country,
          purpose: p.purpose,
          label: p.label,
          classification: p.classification,
          basis: p.basis,
          transferBasis: p.transferBasis,
          fields: p.fields,
          status: p.status,
          reasons: p.reasons,
          counts: p.counts,
          createdAt: p.createdAt.toISOString(),
          finishedAt: p.finishedAt?.toISOString() ?? null,
          parts: parts.map((x) => ({ part: x.part, subjects: x.subjects, bytes: x.bytes, sha256: x.sha256, ledgerDigest: x.ledgerDigest, at: x.at.toISOString() })),
        });
      }
      const measures = {
        encryption: {
          fields: "AES-256-GCM per field under a per-subject data key; the subject id and field name are bound as associated data",
          keys: "data keys wrapped by a key-encryption key from the key file, kept apart from the data store; crypto-shredding destroys the wrapped key",
          kekVersions: await deps.keys.countByKekVersion(),
          lookups: "blind indexes: keyed HMAC-SHA256, never the value",
        },
        auditLog: { chain: "HMAC-SHA256 hash chain with signed checkpoints (Ed25519)", verified: verification.ok, checkpointKeyId: deps.signer.keyId },
        accessControl: Object.entries(catalog.principals).map(([name, p]) => ({ principal: name, role: p.role, purposes: p.purposes, recipients: p.recipients ?? [] })),
        authentication: { lockout: catalog.security.lockout },
        retention: catalog.retention_rules,
        dormancy: catalog.dormancy ?? null,
        suspensions: (await deps.data.provisions.listSuspensions()).map((s) => ({ scope: s.scope, target: s.target, order: s.order, at: s.at.toISOString(), lifted: s.liftedAt?.toISOString() ?? null })),
        activityInWindow: counts,
      };

      // Month reviews overlapping the window.
      const reviews: TarMember[] = [];
      for (let m = monthOf(opts.from); monthWindow(m).start < opts.to; m = monthOf(monthWindow(m).end)) {
        for (const ext of ["json", "md", "svg"]) {
          const f = path.join(deps.reportsDir, `access-review-${m}.${ext}`);
          if (fs.existsSync(f)) reviews.push({ name: `reviews/access-review-${m}.${ext}`, file: f, mtime: fs.statSync(f).mtime });
        }
      }

      const members: TarMember[] = [
        {
          name: "README.txt",
          mtime: now,
          data: [
            `Haechi evidence pack (증빙 자료), ${window.from} – ${window.to}, generated ${now.toISOString()} by ${opts.by}.`,
            "",
            "catalog/catalog.yaml        the catalog in force: fields, purposes and bases, notices, recipients, retention (system structure)",
            "catalog/data-map.json       fields → purposes → recipients → countries",
            "access-records.ndjson       every audit entry of the window: seq, chain hash, entry (who, when, from where, whose, what, why)",
            "audit/verification.json     verification of the whole chain at packing time",
            "audit/checkpoint.json       a signed checkpoint of the chain head, with the public key",
            "provisions.json             provisions made in the window, with their parts' digests",
            "measures.json               the protective measures in force",
            "incidents.json              incidents open during the window: facts, scope summary (counts, no people), duties and deadlines, notices by digest, timeline",
            "reviews/                    monthly access-log reviews overlapping the window",
            "manifest.json               every member's SHA-256, signed (manifest.sig, Ed25519; public key: publicKeyPem in audit/checkpoint.json)",
            "",
          ].join("\n"),
        },
        { name: "catalog/catalog.yaml", file: deps.catalogFile, mtime: fs.statSync(deps.catalogFile).mtime },
        { name: "catalog/data-map.json", data: json(dataMap(catalog)), mtime: now },
        { name: "access-records.ndjson", file: recordsFile, mtime: now },
        { name: "audit/verification.json", data: json(verification), mtime: now },
        { name: "audit/checkpoint.json", data: json(checkpoint), mtime: now },
        { name: "provisions.json", data: json(provisionRecords), mtime: now },
        { name: "measures.json", data: json(measures), mtime: now },
        { name: "incidents.json", data: json(incidents), mtime: now },
        ...reviews,
      ];
      const listed = members.map((m) => {
        const bytes = m.data !== undefined ? Buffer.from(m.data) : fs.readFileSync(m.file!);
        return { name: m.name, bytes: bytes.length, sha256: sha256(bytes) };
      });
      const manifest = json({ format: "haechi-evidence/1", window, generatedAt: now.toISOString(), by: opts.by, accessRecords: records, incidents: incidents.length, verified: verification.ok, members: listed });
      const signature = crypto.sign(null, Buffer.from(manifest), deps.signer.privateKey).toString("base64");
      members.push({ name: "manifest.json", data: manifest, mtime: now }, { name: "manifest.sig", data: signature + "\n", mtime: now });

      fs.mkdirSync(deps.evidenceDir, { recursive: true, mode: 0o700 });
      const file = path.join(deps.evidenceDir, `evidence-${tag}-${randomBytes(3).toString("hex")}.tar.gz`);
      // The pack is an audit entry before it exists (fail closed): a pack nobody can account for is not made.
      await deps.audit.record({
        at: now.toISOString(),
        requestId: `evidence-${randomBytes(8).toString("hex")}`,
        principal: opts.by,
        source: null,
        action: "evidence.pack",
        effect: "info",
        purpose: null,
        subjectRef: null,
        fields: [],
        reasons: [],
        count: records,
        meta: { from: window.from, to: window.to, incidents: incidents.length, manifestSha256: sha256(manifest), file: path.basename(file) },
      });
      await writeTarGz(file, members);
      return { file, sha256: sha256(fs.readFileSync(file)), window, members: listed, accessRecords: records, incidents: incidents.length, verified: verification.ok };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
});

export type EvidenceService = ReturnType<typeof evidenceService>;
