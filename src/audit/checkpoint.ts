/**
 * Signed checkpoints: an Ed25519 signature over (seq, chain hash, time). Kept outside the
 * database (WORM storage, a ticket, an e-mail to the CPO), they let anyone detect truncation or a
 * rewritten chain — even by someone holding the chain key. See docs/adr/0002-audit-chain.md.
 */
import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { HaechiError } from "../core/errors.js";
import type { AuditHead, Checkpoint } from "../core/ports.js";

export const CHECKPOINT_MESSAGE_FORMAT = "haechi-audit-checkpoint:v1|<seq>|<hash hex>|<at>";
export const CHECKPOINT_EXPORT_FORMAT = "haechi-audit-checkpoint-export:v1";

export interface CheckpointSigner {
  keyId: string;
  /** Ed25519 private key. */
  privateKey: KeyObject;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The exact UTF-8 string that is signed (no trailing newline). */
export const checkpointMessage = (cp: Pick<Checkpoint, "seq" | "hash" | "at">): string =>
  `haechi-audit-checkpoint:v1|${cp.seq}|${cp.hash}|${cp.at}`;

/** Sign the chain head. `at` is the signing time (ISO, ms). */
export function signCheckpoint(head: AuditHead, at: Date, signer: CheckpointSigner): Checkpoint {
  if (signer.privateKey.asymmetricKeyType !== "ed25519") {
    throw new HaechiError("KEY_UNAVAILABLE", "checkpoint signing key must be Ed25519");
  }
  const base = { seq: head.seq, hash: head.hash.toString("hex"), at: at.toISOString() };
  const signature = sign(null, Buffer.from(checkpointMessage(base), "utf8"), signer.privateKey);
  return { ...base, keyId: signer.keyId, signature: signature.toString("base64") };
}

/** True when `cp` is well-formed and its signature verifies under `publicKey`. Never throws. */
export function verifyCheckpoint(cp: Checkpoint, publicKey: KeyObject): boolean {
  try {
    if (!Number.isSafeInteger(cp.seq) || cp.seq < 1 || !HEX64.test(cp.hash)) return false;
    if (publicKey.asymmetricKeyType !== "ed25519") return false;
    const sig = Buffer.from(cp.signature, "base64");
    if (sig.length !== 64) return false;
    return verify(null, Buffer.from(checkpointMessage(cp), "utf8"), publicKey, sig);
  } catch {
    return false;
  }
}

/** A self-contained checkpoint document, verifiable with openssl or node alone. */
export interface CheckpointExport {
  format: typeof CHECKPOINT_EXPORT_FORMAT;
  algorithm: "Ed25519";
  checkpoint: Checkpoint;
  messageFormat: typeof CHECKPOINT_MESSAGE_FORMAT;
  /** The exact signed message (UTF-8, no trailing newline). */
  message: string;
  publicKeyPem: string;
  howToVerify: string[];
}

/** Build the export document (serialise it with JSON.stringify and keep it outside). */
export function exportCheckpoint(cp: Checkpoint, publicKeyPem: string): CheckpointExport {
  return {
    format: CHECKPOINT_EXPORT_FORMAT,
    algorithm: "Ed25519",
    checkpoint: { ...cp },
    messageFormat: CHECKPOINT_MESSAGE_FORMAT,
    message: checkpointMessage(cp),
    publicKeyPem,
    howToVerify: [
      "jq -r .publicKeyPem cp.json > pub.pem",
      "jq -j .message cp.json > msg.txt",
      "jq -r .checkpoint.signature cp.json | base64 -d > sig.bin",
      "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg.txt -sigfile sig.bin",
      "Check that message = messageFormat filled from checkpoint.{seq,hash,at}; pin the public key fingerprint out of band; then compare checkpoint.seq/hash with the chain (verifyChain).",
    ],
  };
}

/**
 * Read an export document back (e.g. for `verifyChain`'s trusted checkpoints). Checks that the
 * message matches the checkpoint and that the signature verifies; throws `AUDIT_TAMPERED`.
 * Trust comes from where the document was kept, and from pinning the public key: compare
 * `publicKey` with the key you expect.
 */
export function parseCheckpointExport(doc: unknown): { checkpoint: Checkpoint; publicKey: KeyObject } {
  const d = doc as Partial<CheckpointExport> | null;
  if (!d || d.format !== CHECKPOINT_EXPORT_FORMAT || !d.checkpoint || typeof d.publicKeyPem !== "string") {
    throw new HaechiError("VALIDATION_FAILED", "not a Haechi checkpoint export");
  }
  const checkpoint: Checkpoint = {
    seq: d.checkpoint.seq,
    hash: d.checkpoint.hash,
    at: d.checkpoint.at,
    keyId: d.checkpoint.keyId,
    signature: d.checkpoint.signature,
  };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(d.publicKeyPem);
  } catch {
    throw new HaechiError("VALIDATION_FAILED", "checkpoint export holds no valid public key");
  }
  if (d.message !== undefined && d.message !== checkpointMessage(checkpoint)) {
    throw new HaechiError("AUDIT_TAMPERED", "checkpoint export message does not match its checkpoint");
  }
  if (!verifyCheckpoint(checkpoint, publicKey)) {
    throw new HaechiError("AUDIT_TAMPERED", "checkpoint signature does not verify");
  }
  return { checkpoint, publicKey };
}
