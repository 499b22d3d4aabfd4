/**
 * Verifying the audit log and issuing signed checkpoints (`GET /v1/audit/verify`,
 * `GET /v1/audit/checkpoint`, `haechi audit verify`). A checkpoint exported and kept outside is
 * what makes truncation of the tail detectable: verification against it fails if the log no
 * longer reaches its sequence number or disagrees with its hash.
 */
import type { KeyObject } from "node:crypto";
import type { Checkpoint, AuditStore } from "../core/ports.js";
import type { Clock } from "../core/clock.js";
import { exportCheckpoint, signCheckpoint, verifyCheckpoint, type CheckpointExport } from "../audit/checkpoint.js";
import { verifyStore } from "../audit/parallel-verify.js";
import type { VerifyResult } from "../audit/audit-types.js";
import { HaechiError } from "../core/errors.js";

export interface AuditServiceDeps {
  store: Pick<
    AuditStore,
    "iterate" | "seqRange" | "readSource" | "head" | "putCheckpoint" | "latestCheckpoint" | "listCheckpoints"
  >;
  flush: () => Promise<void>;
  chainKey: Buffer;
  signer: { keyId: string; privateKey: KeyObject; publicKey: KeyObject; publicKeyPem: string };
  clock: Clock;
  /** Verification on worker threads (audit/parallel-verify.ts); the defaults suit most machines. */
  verifyThreads?: { max?: number; minRowsPerThread?: number };
}

export const auditService = (deps: AuditServiceDeps) => ({
  /**
   * Verifies the whole chain against the stored checkpoints and any trusted ones from outside
   * (which must carry a valid signature by this keyring's key). A store that offers a read
   * source is read and hashed on worker threads, each over its own connection (≥ 500k
   * entries/s on 2 cores; docs/adr/0002-audit-chain.md); the result is the same either way.
   */
  async verify(opts: { trusted?: Checkpoint[]; onProgress?: (n: number) => void; pageSize?: number } = {}): Promise<VerifyResult> {
    await deps.flush();
    const stored = await deps.store.listCheckpoints();
    return verifyStore(deps.store, {
      chainKey: deps.chainKey,
      checkpoints: [...stored, ...(opts.trusted ?? [])],
      publicKey: deps.signer.publicKey,
      onProgress: opts.onProgress,
      pageSize: opts.pageSize,
      threads: deps.verifyThreads?.max,
      minRowsPerThread: deps.verifyThreads?.minRowsPerThread,
    });
  },

  /** Signs the current head, stores the checkpoint and returns it as a document to keep outside. */
  async checkpoint(): Promise<CheckpointExport> {
    await deps.flush();
    const head = await deps.store.head();
    if (!head) throw new HaechiError("CONFLICT", "the audit log is empty: nothing to checkpoint yet");
    const latest = await deps.store.latestCheckpoint();
    const cp =
      latest && latest.seq === head.seq && verifyCheckpoint(latest, deps.signer.publicKey)
        ? latest
        : signCheckpoint(head, deps.clock.now(), deps.signer);
    if (cp !== latest) await deps.store.putCheckpoint(cp);
    return exportCheckpoint(cp, deps.signer.publicKeyPem);
  },
});

export type AuditService = ReturnType<typeof auditService>;
