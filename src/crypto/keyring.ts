/**
 * The keyring: versioned key-encryption keys (KEKs) and the root secrets Haechi derives its
 * other keys from. In embedded mode it is a local key file (`$HAECHI_HOME/keyring.json`,
 * mode 0600), kept apart from every data store; in production a `KekProvider` backed by a KMS
 * takes the same place (see docs/adr/0001-envelope-encryption.md).
 *
 * Nothing in this file is ever written to a database or a log.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { HaechiError } from "../core/errors.js";
import { randomBytes } from "./random.js";

/** Wraps and unwraps data keys. The local keyring implements it; a KMS adapter can too. */
export interface KekProvider {
  /** The version new data keys are wrapped with. */
  activeVersion(): number;
  versions(): number[];
  wrap(dek: Buffer, aad: Buffer): Promise<{ kekVersion: number; wrapped: Buffer }>;
  unwrap(kekVersion: number, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
}

/** Root secrets: every derived key (pseudonyms, blind indexes, audit chain) comes from these. */
export interface RootSecrets {
  /** Keys the audit hash chain. */
  chainKey: Buffer;
  /** Root of the per-context pseudonymous subject ids. */
  pseudonymKey: Buffer;
  /** Root of the per-field blind-index keys. */
  blindIndexKey: Buffer;
  /** Signs audit checkpoints (Ed25519). */
  signer: { keyId: string; privateKey: KeyObject; publicKey: KeyObject; publicKeyPem: string };
}

interface KeyringFileV1 {
  format: "haechi-keyring/1";
  createdAt: string;
  active: number;
  keks: { version: number; key: string; createdAt: string }[];
  chainKey: string;
  pseudonymKey: string;
  blindIndexKey: string;
  signing: { keyId: string; privateKeyPem: string; publicKeyPem: string };
}

const b64 = (b: Buffer) => b.toString("base64");
const unb64 = (s: string, what: string, len: number) => {
  const b = Buffer.from(s, "base64");
  if (b.length !== len) throw new HaechiError("KEY_UNAVAILABLE", `keyring: ${what} must be ${len} bytes`);
  return b;
};

/** Creates a fresh keyring document (random keys). */
export const newKeyringFile = (now: Date): KeyringFileV1 => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
  return {
    format: "haechi-keyring/1",
    createdAt: now.toISOString(),
    active: 1,
    keks: [{ version: 1, key: b64(crypto.randomBytes(32)), createdAt: now.toISOString() }],
    chainKey: b64(crypto.randomBytes(32)),
    pseudonymKey: b64(crypto.randomBytes(32)),
    blindIndexKey: b64(crypto.randomBytes(32)),
    signing: {
      keyId: `ck-${crypto.randomBytes(4).toString("hex")}`,
      privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    },
  };
};

/** Writes atomically (temp file + rename) with owner-only permissions. */
const writeKeyringFile = (file: string, doc: KeyringFileV1) => {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(doc, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
};

const readKeyringFile = (file: string): KeyringFileV1 => {
  let doc: KeyringFileV1;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8")) as KeyringFileV1;
  } catch (e) {
    throw new HaechiError("KEY_UNAVAILABLE", `cannot read keyring ${file}: ${(e as Error).message}`);
  }
  if (doc.format !== "haechi-keyring/1") throw new HaechiError("KEY_UNAVAILABLE", `keyring ${file}: unknown format`);
  return doc;
};

export interface LocalKeyring {
  kek: KekProvider & {
    /** Adds a new KEK version and makes it active (new keys are wrapped by it at once). */
    rotate(now: Date): Promise<number>;
  };
  secrets: RootSecrets;
  file: string;
}

const dekAad = (aad: Buffer, kekVersion: number) => {
  const v = Buffer.alloc(4);
  v.writeUInt32BE(kekVersion);
  return Buffer.concat([aad, v]);
};

/**
 * Opens (or with `create`, creates) the local key file. The file holds every KEK version until
 * an operator retires one after a completed rotation.
 */
export const openLocalKeyring = (file: string, opts: { create: boolean; now?: Date }): LocalKeyring => {
  if (!fs.existsSync(file)) {
    if (!opts.create) {
      throw new HaechiError(
        "KEY_UNAVAILABLE",
        `keyring ${file} does not exist: if Haechi has run on these stores, restore it from its offline copy (docs/crisis-manual.md §4.7); for new, empty stores run \`haechi init\``,
      );
    }
    writeKeyringFile(file, newKeyringFile(opts.now ?? new Date()));
  }
  let doc = readKeyringFile(file);
  const keks = new Map<number, Buffer>();
  const load = () => {
    keks.clear();
    for (const k of doc.keks) keks.set(k.version, unb64(k.key, `kek v${k.version}`, 32));
  };
  load();
  // Another process (`haechi keys rotate` next to a running server) may add a KEK version: the
  // file is looked at again at most every two seconds, and at once when a version is missing.
  let mtime = fs.statSync(file).mtimeMs;
  let checkedAt = Date.now();
  const refresh = (force: boolean) => {
    if (!force && Date.now() - checkedAt < 2000) return;
    checkedAt = Date.now();
    const m = fs.statSync(file).mtimeMs;
    if (m === mtime) return;
    mtime = m;
    doc = readKeyringFile(file);
    load();
  };

  const kek: LocalKeyring["kek"] = {
    activeVersion: () => {
      refresh(false);
      return doc.active;
    },
    versions: () => [...keks.keys()].sort((a, b) => a - b),
    async wrap(dek, aad) {
      refresh(false);
      const kekVersion = doc.active;
      const key = keks.get(kekVersion)!;
      const iv = randomBytes(12);
      const c = crypto.createCipheriv("aes-256-gcm", key, iv);
      c.setAAD(dekAad(aad, kekVersion));
      const ct = Buffer.concat([c.update(dek), c.final()]);
      return { kekVersion, wrapped: Buffer.concat([iv, ct, c.getAuthTag()]) };
    },
    async unwrap(kekVersion, wrapped, aad) {
      if (!keks.has(kekVersion)) refresh(true);
      const key = keks.get(kekVersion);
      if (!key) throw new HaechiError("KEY_UNAVAILABLE", `key-encryption key v${kekVersion} is not in the keyring`);
      if (wrapped.length !== 12 + 32 + 16) throw new HaechiError("KEY_UNAVAILABLE", "wrapped data key is malformed");
      const d = crypto.createDecipheriv("aes-256-gcm", key, wrapped.subarray(0, 12));
      d.setAAD(dekAad(aad, kekVersion));
      d.setAuthTag(wrapped.subarray(44));
      try {
        return Buffer.concat([d.update(wrapped.subarray(12, 44)), d.final()]);
      } catch {
        throw new HaechiError("KEY_UNAVAILABLE", "data key failed authentication");
      }
    },
    async rotate(now) {
      const version = Math.max(...doc.keks.map((k) => k.version)) + 1;
      const next: KeyringFileV1 = {
        ...doc,
        active: version,
        keks: [...doc.keks, { version, key: b64(crypto.randomBytes(32)), createdAt: now.toISOString() }],
      };
      writeKeyringFile(file, next);
      doc = next;
      load();
      mtime = fs.statSync(file).mtimeMs;
      return version;
    },
  };

  const privateKey = crypto.createPrivateKey(doc.signing.privateKeyPem);
  const publicKey = crypto.createPublicKey(doc.signing.publicKeyPem);
  const secrets: RootSecrets = {
    chainKey: unb64(doc.chainKey, "chainKey", 32),
    pseudonymKey: unb64(doc.pseudonymKey, "pseudonymKey", 32),
    blindIndexKey: unb64(doc.blindIndexKey, "blindIndexKey", 32),
    signer: { keyId: doc.signing.keyId, privateKey, publicKey, publicKeyPem: doc.signing.publicKeyPem },
  };
  return { kek, secrets, file };
};

/** HKDF-SHA256 sub-key derivation with a label, so each use of a root secret gets its own key. */
export const deriveKey = (root: Buffer, label: string, length = 32): Buffer =>
  Buffer.from(crypto.hkdfSync("sha256", root, Buffer.alloc(0), Buffer.from(`haechi:${label}`), length));

/** The key file's id: derived from its chain key, recorded in the stores and in backups (never a key). */
export const keyringIdOf = (k: LocalKeyring): string => deriveKey(k.secrets.chainKey, "backup/keyring-id", 8).toString("hex");
