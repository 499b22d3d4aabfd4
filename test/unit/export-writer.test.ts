import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Decrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import type { SubjectId } from "../../src/core/ids.js";
import { mask } from "../../src/core/masking.js";
import { sealField } from "../../src/crypto/envelope.js";
import { newSubjectId, pseudonymContextKey, pseudonyms } from "../../src/crypto/pseudonym.js";
import { csvCell } from "../../src/provision/export-fns.js";
import { openExportWriter, type ExportWriterOptions, type PartInput } from "../../src/provision/export-writer.js";

const root = crypto.randomBytes(32);
const hashKey = crypto.randomBytes(32);
const context = "recipient:x";
const ext = (id: SubjectId) => pseudonyms(root).externalId(context, id);
const hmac = (v: unknown) => crypto.createHmac("sha256", hashKey).update(JSON.stringify(v)).digest("hex");

interface Subject {
  id: SubjectId;
  dek: Buffer;
  values: Record<string, unknown>;
}

const FIELDS = ["name", "email", "phone", "note", "age"] as const;

const subjects: Subject[] = [
  { id: newSubjectId(), dek: crypto.randomBytes(32), values: { name: "홍길동", email: "kim@example.com", phone: "010-1234-5678", note: "plain", age: 41 } },
  // absent fields (email, age) and a stored null (note)
  { id: newSubjectId(), dek: crypto.randomBytes(32), values: { name: "Lee", phone: "01012345678", note: null } },
  // CSV quoting and formula injection
  { id: newSubjectId(), dek: crypto.randomBytes(32), values: { name: "a,b", email: 'say "hi"', note: "=HYPERLINK(\"x\")", age: -5 } },
  { id: newSubjectId(), dek: crypto.randomBytes(32), values: { name: "line\r\nbreak", note: "+1", email: "@home", phone: "\tx", age: { k: [1, "a,b"] } } },
  { id: newSubjectId(), dek: crypto.randomBytes(32), values: { note: "-3 dB" } },
];

const transforms: ExportWriterOptions["transforms"] = { email: "hash", phone: "phone", name: "name" };

const partOf = (file: string, list: Subject[] = subjects, fields: readonly string[] = FIELDS): PartInput => ({
  part: 1,
  file,
  ids: list.map((s) => s.id),
  // Copies: the writer zeroes the keys it is given.
  deks: list.map((s) => Buffer.from(s.dek)),
  values: list.map((s) => fields.map((f) => (f in s.values ? sealField(s.dek, 1, s.id, f, s.values[f]) : null))),
});

/** What each subject should look like after the transforms (absent: undefined). */
const expected = (s: Subject, f: string): unknown => {
  const v = s.values[f];
  if (v === undefined || v === null) return undefined;
  const t = transforms[f];
  if (t === undefined) return v;
  return t === "hash" ? hmac(v) : mask(t, v);
};

describe("export writer", () => {
  let identity: string;
  let recipientKey: string;
  let dir: string;
  const options = (o: Partial<ExportWriterOptions> = {}): ExportWriterOptions => ({
    recipientKey,
    pseudonymKey: pseudonymContextKey(root, context),
    hashKey,
    format: "ndjson",
    fields: FIELDS,
    transforms,
    threads: 0,
    ...o,
  });
  const decrypt = async (file: string) => {
    const d = new Decrypter();
    d.addIdentity(identity);
    return d.decrypt(new Uint8Array(fs.readFileSync(file)), "text");
  };

  before(async () => {
    identity = await generateX25519Identity();
    recipientKey = await identityToRecipient(identity);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-export-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("NDJSON: recipient pseudonyms, fields in order, absent fields omitted, hash and mask applied", async () => {
    const w = await openExportWriter(options());
    const file = path.join(dir, "ndjson.age");
    const r = await w.write(partOf(file));
    await w.close();
    const bytes = fs.readFileSync(file);
    assert.deepEqual(r, { part: 1, file, subjects: subjects.length, bytes: bytes.length, sha256: crypto.createHash("sha256").update(bytes).digest("hex") });
    assert.equal(bytes.subarray(0, 21).toString(), "age-encryption.org/v1"); // binary age, not armored
    const text = await decrypt(file);
    const want = subjects.map((s) => {
      const o: Record<string, unknown> = { id: ext(s.id) };
      for (const f of FIELDS) if (expected(s, f) !== undefined) o[f] = expected(s, f);
      return `${JSON.stringify(o)}\n`;
    });
    assert.equal(text, want.join(""));
    // Spot checks of the expectation itself.
    const first = JSON.parse(text.split("\n")[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), ["id", "name", "email", "phone", "note", "age"]);
    assert.equal(first.name, "홍*동");
    assert.equal(first.phone, "010-****-5678");
    assert.match(first.email as string, /^[0-9a-f]{64}$/);
    assert.match(first.id as string, /^sub_[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(Object.keys(JSON.parse(text.split("\n")[1]!) as object), ["id", "name", "phone"]);
  });

  test("CSV: header in every part, RFC 4180 quoting, formula guard, empty cells for absent values", async () => {
    const w = await openExportWriter(options({ format: "csv" }));
    const file = path.join(dir, "csv.age");
    await w.write(partOf(file));
    await w.close();
    const text = await decrypt(file);
    const [a, b, c, d, e] = subjects.map((s) => ext(s.id));
    const h1 = hmac("kim@example.com");
    const h3 = hmac('say "hi"');
    const h4 = hmac("@home");
    assert.equal(
      text,
      "id,name,email,phone,note,age\r\n" +
        `${a},홍*동,${h1},010-****-5678,plain,41\r\n` +
        `${b},L*e,,010****5678,,\r\n` +
        `${c},a*b,${h3},,"'=HYPERLINK(""x"")",-5\r\n` +
        // the masked name keeps its first and last graphemes (CR LF is one); "\tx" is no phone → ****
        `${d},l********k,${h4},****,'+1,"{""k"":[1,""a,b""]}"\r\n` +
        `${e},,,,'-3 dB,\r\n`,
    );
  });

  test("csvCell quotes and guards each cell", () => {
    assert.equal(csvCell("plain"), "plain");
    assert.equal(csvCell('a"b'), '"a""b"');
    assert.equal(csvCell("a\nb"), '"a\nb"');
    assert.equal(csvCell("=1+1"), "'=1+1");
    assert.equal(csvCell("@SUM(A1)"), "'@SUM(A1)");
    assert.equal(csvCell("\tx"), "'\tx");
    assert.equal(csvCell("\rx"), "\"'\rx\"");
    assert.equal(csvCell("-1,2"), "\"'-1,2\"");
    assert.equal(csvCell(-5), "-5");
    assert.equal(csvCell(true), "true");
    assert.equal(csvCell(""), "");
  });

  test("threads 0 and 2 give the same plaintext, for several parts in flight", async () => {
    const many: Subject[] = Array.from({ length: 300 }, (_, i) => ({
      id: newSubjectId(),
      dek: crypto.randomBytes(32),
      values: { name: `name ${i}`, email: `u${i}@example.com`, phone: i % 3 === 0 ? null : "010-0000-0000", note: i % 7 === 0 ? undefined : `n${i}`, age: i },
    }));
    for (const s of many) if (s.values.note === undefined) delete s.values.note;
    const texts: string[][] = [];
    for (const threads of [0, 2]) {
      const w = await openExportWriter(options({ format: "csv", threads }));
      assert.equal(w.threads, threads);
      const parts = [0, 1, 2, 3].map((k) => ({ ...partOf(path.join(dir, `t${threads}-${k}.age`), many.slice(k * 75, (k + 1) * 75)), part: k }));
      const results = await Promise.all(parts.map((p) => w.write(p)));
      await w.close();
      assert.deepEqual(
        results.map((r) => [r.part, r.subjects]),
        [0, 1, 2, 3].map((k) => [k, 75]),
      );
      texts.push(await Promise.all(parts.map((p) => decrypt(p.file))));
    }
    assert.deepEqual(texts[0], texts[1]);
    assert.equal(texts[0]!.join("").split("\r\n").length - 1, 300 + 4);
  });

  test("the data keys handed over are zeroed", async () => {
    for (const threads of [0, 1]) {
      const w = await openExportWriter(options({ threads }));
      const p = partOf(path.join(dir, `zero-${threads}.age`));
      await w.write(p);
      await w.close();
      for (const d of p.deks) assert.ok(d.every((b) => b === 0));
    }
  });

  test("a tampered stored value rejects the part, naming no value", async () => {
    for (const threads of [0, 1]) {
      const w = await openExportWriter(options({ threads }));
      const file = path.join(dir, `tampered-${threads}.age`);
      const p = partOf(file);
      const v = p.values[2]![1]!;
      v[v.length - 20]! ^= 1;
      await assert.rejects(w.write(p), (e: Error) => {
        assert.match(e.message, /part 1, row 2: stored value of field email failed authentication/);
        assert.doesNotMatch(e.message, /hi|example/);
        return true;
      });
      // The writer stays usable for the next part.
      await w.write(partOf(path.join(dir, `after-tampered-${threads}.age`)));
      await w.close();
      assert.equal(fs.existsSync(file), false);
    }
  });

  test("a value moved to another subject fails too (bound to its place)", async () => {
    const w = await openExportWriter(options());
    const p = partOf(path.join(dir, "moved.age"));
    (p.values[1] as (Buffer | null)[])[0] = p.values[0]![0]!;
    await assert.rejects(w.write(p), /row 1: stored value of field name failed authentication/);
    await w.close();
  });

  test("rewriting an existing part replaces it, and only the age file is written to the directory", async () => {
    const own = fs.mkdtempSync(path.join(dir, "rewrite-"));
    const file = path.join(own, "part-00001.ndjson.age");
    fs.writeFileSync(file, Buffer.alloc(100_000, 7), { mode: 0o644 });
    for (const threads of [0, 2]) {
      const w = await openExportWriter(options({ threads }));
      const r = await w.write(partOf(file, subjects.slice(0, 2)));
      await w.close();
      assert.deepEqual(fs.readdirSync(own), ["part-00001.ndjson.age"]);
      const st = fs.statSync(file);
      assert.equal(st.size, r.bytes);
      if (process.platform !== "win32") assert.equal(st.mode & 0o777, 0o600);
      assert.equal((await decrypt(file)).split("\n").length - 1, 2);
      // The plaintext is nowhere in the file.
      assert.equal(fs.readFileSync(file).includes(Buffer.from(ext(subjects[0]!.id))), false);
    }
  });

  test("options are checked when the writer opens", async () => {
    await assert.rejects(openExportWriter(options({ recipientKey: "age1nope" })), /not a valid age recipient/);
    await assert.rejects(openExportWriter(options({ pseudonymKey: Buffer.alloc(16) })), /pseudonymKey must be 32 bytes/);
    await assert.rejects(openExportWriter(options({ transforms: { emial: "hash" } })), /emial, which is not an exported field/);
    await assert.rejects(openExportWriter(options({ transforms: { email: "rot13" as "hash" } })), /unknown transform/);
    await assert.rejects(openExportWriter(options({ fields: ["id"] })), /cannot be named "id"/);
  });

  test("malformed parts are refused before any work", async () => {
    const w = await openExportWriter(options());
    const p = partOf(path.join(dir, "bad.age"));
    await assert.rejects(w.write({ ...p, file: "relative.age" }), /absolute path/);
    await assert.rejects(w.write({ ...partOf(path.join(dir, "bad.age")), deks: [] }), /differ in length/);
    await w.close();
    await assert.rejects(w.write(partOf(path.join(dir, "closed.age"))), /closed/);
    assert.equal(fs.existsSync(path.join(dir, "bad.age")), false);
  });

  test("close() stops the workers and rejects the parts still in flight", async () => {
    const w = await openExportWriter(options({ threads: 1 }));
    const big = Array.from({ length: 2000 }, () => subjects[0]!);
    const inFlight = assert.rejects(w.write(partOf(path.join(dir, "in-flight.age"), big)), /export writer is closed/);
    await w.close();
    await inFlight;
  });

  test("a failing write rejects with the file and the error code", async () => {
    const w = await openExportWriter(options({ threads: 1 }));
    await assert.rejects(w.write(partOf(path.join(dir, "no-such-dir", "p.age"))), /cannot create .*p\.age \(ENOENT\)/);
    await w.close();
  });
});
