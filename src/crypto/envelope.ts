/**
 * Envelope encryption of field values (docs/adr/0001-envelope-encryption.md).
 *
 * Each subject has a random 256-bit data key (DEK), stored only wrapped by a KEK in the key
 * store. Each field value is sealed with AES-256-GCM under the subject's DEK:
 *
 *   byte 0      format version (0x01)
 *   bytes 1–4   DEK version (uint32 BE)
 *   bytes 5–16  IV (96 bits, random)
 *   …           ciphertext of JSON.stringify(value)
 *   last 16     GCM tag
 *
 * Associated data binds the ciphertext to its place: subject id, field name and DEK version,
 * so a value copied to another subject or field fails authentication.
 */
import crypto from "node:crypto";
import { HaechiError } from "../core/errors.js";
import type { SubjectId } from "../core/ids.js";
import { randomBytes } from "./random.js";

const FORMAT_V1 = 0x01;
const HEADER = 1 + 4 + 12;
const TAG = 16;

const fieldAad = (subject: SubjectId, field: string, dekVersion: number) =>
  Buffer.from(`haechi/field/v1\0${subject}\0${field}\0${dekVersion}`, "utf8");

/** AAD for wrapping a subject's DEK: the KEK provider appends its own version. */
export const dekAad = (subject: SubjectId, dekVersion: number) =>
  Buffer.from(`haechi/dek/v1\0${subject}\0${dekVersion}`, "utf8");

/** Associated data of a subject's sealed-store key wrap (PIPA Art. 21(3)): never interchangeable with its data key's. */
export const sealedKeyAad = (subject: SubjectId) => Buffer.from(`haechi/sealed-dek/v1\0${subject}`, "utf8");

export const sealField = (dek: Buffer, dekVersion: number, subject: SubjectId, field: string, value: unknown): Buffer => {
  const iv = randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", dek, iv);
  c.setAAD(fieldAad(subject, field, dekVersion));
  const body = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
  const out = Buffer.allocUnsafe(HEADER + body.length + TAG);
  out[0] = FORMAT_V1;
  out.writeUInt32BE(dekVersion, 1);
  iv.copy(out, 5);
  body.copy(out, HEADER);
  c.getAuthTag().copy(out, HEADER + body.length);
  return out;
};

/** The DEK version a sealed value names (to pick the right key). */
export const sealedDekVersion = (sealed: Buffer): number => {
  if (sealed.length < HEADER + TAG || sealed[0] !== FORMAT_V1) {
    throw new HaechiError("INTERNAL", "sealed value has an unknown format");
  }
  return sealed.readUInt32BE(1);
};

export const openField = (dek: Buffer, subject: SubjectId, field: string, sealed: Buffer): unknown => {
  const dekVersion = sealedDekVersion(sealed);
  const d = crypto.createDecipheriv("aes-256-gcm", dek, sealed.subarray(5, HEADER));
  d.setAAD(fieldAad(subject, field, dekVersion));
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(sealed.subarray(HEADER, sealed.length - TAG)), d.final()]);
  } catch {
    // Never say more: the value is not released and the failure is audited by the caller.
    throw new HaechiError("INTERNAL", `stored value of field ${field} failed authentication`);
  }
  return JSON.parse(plain.toString("utf8"));
};
