/**
 * Bad input never breaks the API. Malformed JSON, wrong content types, wrong types, unknown
 * fields and keys, unknown purposes and notices, huge strings, oversize and deeply nested
 * bodies, invalid ids, bad query strings, unicode oddities, null bytes and bad keys all get a
 * 4xx with `{ error: { code, message, requestId } }` from the closed vocabulary: never a 5xx,
 * never a stack trace or driver text, never a partial write.
 *
 * A named table pins the exact answers; then fast-check sends thousands of generated bad
 * requests over raw HTTP (so GET bodies, Latin-1 bytes, bad Content-Length and oversize URLs are
 * possible) to a real server on SQLite and, with fewer runs, on PostgreSQL. Bad keys are fuzzed on
 * a server of their own: repeated failures lock 127.0.0.1 out (429), which is fine there but would
 * mask everything else.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { ERROR_CODES, type ErrorCode } from "../../src/core/errors.js";
import type { SubjectId } from "../../src/core/ids.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { httpStatus } from "../../src/http/error-map.js";
import { STORE_KINDS, startApp, type StoreKind, type TestApp } from "../helpers/app.js";

// ─── raw HTTP ────────────────────────────────────────────────────────────────────────────────

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Send with Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
  /** Bytes written to a socket as they are (for what an HTTP client refuses to send). */
  raw?: Buffer;
}
interface RawResponse {
  status: number;
  text: string;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One request with node:http (no fetch: it refuses GET bodies and odd headers). */
const sendHttp = (base: URL, r: RawRequest): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, "utf8");
    const big = body !== undefined && body.length > 256 * 1024;
    const headers: Record<string, string> = { ...r.headers };
    if (body !== undefined) {
      if (r.chunked) headers["transfer-encoding"] = "chunked";
      else headers["content-length"] = String(body.length);
    }
    let answered = false;
    const req = http.request(
      // A server may close the connection after refusing a big body: never reuse it.
      { host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent: big ? false : keepAlive },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    // Writing the rest of a refused body may fail after the answer arrived; that is fine.
    req.on("error", (e) => {
      if (!answered) reject(e);
    });
    if (body === undefined) req.end();
    else if (r.chunked) {
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      req.end();
    } else req.end(body);
  });

/** Bytes straight onto a socket; reads one response (the server answers with Content-Length). */
const sendRaw = (base: URL, bytes: Buffer): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(Number(base.port), base.hostname, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined); // the server may reset after answering; judged below
    socket.on("close", () => {
      const all = Buffer.concat(chunks);
      const head = all.toString("latin1", 0, Math.max(0, all.indexOf("\r\n\r\n")));
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!status || !length) return reject(new Error(`no HTTP response to raw request (got ${JSON.stringify(all.toString("latin1", 0, 200))})`));
      const start = head.length + 4;
      // Only the first response: bytes after a short Content-Length may draw a second one.
      resolve({ status: Number(status[1]), text: all.toString("utf8", start, start + Number(length[1])) });
    });
  });

const send = (base: URL, r: RawRequest) => (r.raw ? sendRaw(base, r.raw) : sendHttp(base, r));

// ─── the property every bad request must satisfy ────────────────────────────────────────────────

/** Stack frames, SQL, driver and file names must never reach a client. */
const LEAK =
  /\n\s*at |\bat [\w$.<>[\]]+ \(|\.[cm]?[jt]s:\d+|node_modules|file:\/\/|\bSELECT\b|\bINSERT\b|\bUPDATE\s+\w+\s+SET\b|sqlite|postgres|(?:^|[^a-z])pg(?:[^a-z]|$)|relation "|syntax error at/i;

/** Generated text never contains what LEAK looks for, so an echoed value cannot trip it. */
const clean = (s: string) => !LEAK.test(s);

const CODES = new Set<string>(ERROR_CODES);

interface Gen {
  /** What kind of badness this is (shown on failure). */
  kind: string;
  req: RawRequest;
  /** The codes this kind may answer with; any 4xx code if absent. */
  expect?: readonly ErrorCode[];
  /** Text the message must contain (the name of the offending field, purpose, …). */
  mentions?: string;
}

const describeReq = (g: Gen) =>
  `${g.kind}: ${g.req.method} ${g.req.path.slice(0, 200)} ${JSON.stringify(g.req.headers).slice(0, 200)} body=${
    g.req.raw ? `raw(${g.req.raw.length})` : g.req.body === undefined ? "-" : JSON.stringify(String(g.req.body).slice(0, 300))
  }${g.req.body && g.req.body.length > 300 ? `…(${g.req.body.length})` : ""}`;

/** Asserts the 4xx error contract for one answer. */
const checkAnswer = (g: Gen, res: RawResponse) => {
  const where = `${describeReq(g)}\n→ ${res.status} ${res.text.slice(0, 500)}`;
  assert.ok(res.status >= 400 && res.status <= 499, `expected a 4xx\n${where}`);
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    assert.fail(`answer is not JSON\n${where}`);
  }
  const err = (body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error;
  assert.ok(err && typeof err === "object", `no error object\n${where}`);
  assert.equal(typeof err.code, "string", `no code\n${where}`);
  assert.ok(CODES.has(err.code as string), `code outside the closed vocabulary\n${where}`);
  assert.equal(httpStatus[err.code as ErrorCode], res.status, `status does not match the code's mapping\n${where}`);
  assert.ok(typeof err.message === "string" && err.message.trim().length > 0, `empty message\n${where}`);
  assert.ok(typeof err.requestId === "string" && err.requestId.length > 0, `no requestId\n${where}`);
  // The request id is the server's own token (it may spell anything); judge the rest.
  assert.equal(LEAK.test(res.text.replace(JSON.stringify(err.requestId), '""')), false, `stack frame or driver text leaked\n${where}`);
  if (g.expect) assert.ok(g.expect.includes(err.code as ErrorCode), `expected ${g.expect.join("|")}\n${where}`);
  if (g.mentions !== undefined) assert.ok((err.message as string).includes(g.mentions), `message does not name "${g.mentions}"\n${where}`);
};

// ─── what exists on the server ────────────────────────────────────────────────────────────────

interface World {
  t: TestApp;
  base: URL;
  /** talk-app's subject every PATCH / consent / read is aimed at. */
  subject: string;
  subjectInternal: SubjectId;
  /** Ids issued in other contexts (openchat, pay-app): talk-app must get 404 for them. */
  foreignIds: string[];
  /** A real signed checkpoint export (the valid body of POST /v1/audit/verify). */
  checkpoint: unknown;
  fieldNames: string[];
  purposeNames: string[];
  noticeNames: string[];
}

const person = { user_id: "fz-a", phone: "010-5555-0100", name: "홍길동", nickname: "gildong" };

const setUp = async (t: TestApp): Promise<World> => {
  const a = await t.call("talk-app", "POST", "/v1/subjects", {
    purpose: "talk_service",
    fields: { ...person, email: "fz@example.com" },
    consents: [{ notice: "marketing", action: "grant", channel: "app" }],
  });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  const b = await t.call("openchat-app", "POST", "/v1/subjects", { purpose: "openchat_service", fields: { user_id: "fz-b", openchat_nickname: "anon" } });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  const c = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: { user_id: "fz-c", name: "이몽룡", phone: "010-5555-0200" } });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const cp = await t.call("privacy-office", "GET", "/v1/audit/checkpoint");
  assert.equal(cp.status, 200, JSON.stringify(cp.body));
  const subjectInternal = pseudonyms(t.c.keyring.secrets.pseudonymKey).resolve("talk-app", a.body.id);
  assert.ok(subjectInternal);
  const cat = t.c.catalog.current();
  return {
    t,
    base: new URL(t.url),
    subject: a.body.id,
    subjectInternal,
    foreignIds: [b.body.id, c.body.id],
    checkpoint: cp.body,
    fieldNames: Object.keys(cat.fields),
    purposeNames: Object.keys(cat.purposes),
    noticeNames: Object.keys(cat.notices),
  };
};

/** Everything a request could have written: counts and the target subject's stored bytes. */
const snapshot = async (w: World) => {
  const { t } = w;
  await t.c.audit.flush();
  const allow: Record<string, number> = {};
  for await (const page of t.c.stores.audit.iterate(0, 1000)) {
    for (const row of page) {
      const b = JSON.parse(row.body) as { action: string; effect: string };
      if (b.effect === "allow" && /^(subject\.(create|update|import|erase)|consent\.|audit\.checkpoint)/.test(b.action)) {
        allow[b.action] = (allow[b.action] ?? 0) + 1;
      }
    }
  }
  const keys = (await t.c.stores.keys.countByKekVersion()).reduce((n, r) => n + r.count, 0);
  const fields = (await t.c.stores.data.getFields(w.subjectInternal, w.fieldNames))
    .map((f) => `${f.field}:${f.ciphertext.toString("base64")}:${f.updatedAt.toISOString()}`)
    .sort();
  const consents = (await t.c.stores.data.consentHistory(w.subjectInternal)).length;
  const subject = await t.c.stores.data.getSubject(w.subjectInternal);
  const checkpoints = (await t.c.stores.audit.listCheckpoints()).length;
  return { allow, keys, fields, consents, updatedAt: subject?.updatedAt.toISOString(), status: subject?.status, checkpoints };
};

// ─── generators ───────────────────────────────────────────────────────────────────────────────

/** Text that breaks things: NUL, lone surrogates, bidi overrides, BOM, combining marks, … */
const ODD = [
  "\u0000", "\ud800", "\udfff", "\u202e", "\u200b", "\ufeff", "\u0301", "😀", "\u{10ffff}", "\uffff",
  "\n", "\r\n", "\t", "\\", '"', "'", "%", "%00", "../", "<script>", "${x}", "{{x}}", "' OR '1'='1", "; DROP TABLE subjects;--",
  "ｔａｌｋ", "İ", "ß", "\u00a0", "\u0085", "\u2028",
];
const oddText = fc
  .array(fc.oneof(fc.constantFrom(...ODD), fc.string({ minLength: 1, maxLength: 6 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 })), {
    minLength: 1,
    maxLength: 6,
  })
  .map((parts) => parts.join(""))
  .filter(clean);

/** Printable ASCII names, which error messages print as they are. */
const asciiName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,30}$/).filter(clean);
const anyText = fc.oneof(asciiName, oddText, fc.string({ maxLength: 20 }).filter(clean));
const PROTO_NAMES = ["constructor", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "isPrototypeOf", "prototype"];
const isProto = (s: string) => s in Object.prototype || s === "prototype";

const unknownName = (known: readonly string[]) => {
  const k = new Set(known);
  return fc.oneof(asciiName, oddText).filter((s) => s.length >= 1 && s.length <= 64 && !k.has(s) && !isProto(s));
};

const NOT_OBJECT = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }).filter(clean),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }).map((a) => JSON.parse(JSON.stringify(a)) as unknown),
);
const NOT_STRING = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.constant({}), fc.constant([]), fc.array(fc.string().filter(clean), { minLength: 1, maxLength: 2 }));
const NOT_ARRAY = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.string().filter(clean), fc.constant({}));
const NOT_JSON_CT = [
  "text/plain",
  "text/plain; charset=utf-8",
  "text/html",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/xml",
  "application/octet-stream",
  "application/vnd.api+json",
  "application/jsonx",
  "json",
  "image/png",
];

/**
 * A huge string: at least `min` code points (zod counts those), built by repetition so fast-check
 * never builds a big string character by character.
 */
const huge = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.constantFrom("x", "가", "😀", "\u0000", "a\\\"")).map(([n, unit]) => unit.repeat(n));

const nested = (depth: number, leaf: unknown, useObjects: boolean): string => {
  const open = useObjects ? '{"a":'.repeat(depth) : "[".repeat(depth);
  const close = useObjects ? "}".repeat(depth) : "]".repeat(depth);
  return `${open}${JSON.stringify(leaf)}${close}`;
};

type BodyRoute = "create" | "patch" | "consents" | "reactivate" | "lookup" | "verifyPost";

/** Percent-encodes like encodeURIComponent, but a lone surrogate becomes its (invalid) UTF-8 bytes. */
const pct = (s: string) => {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    if (u >= 0xd800 && u <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (u >= 0xd800 && u <= 0xdfff) {
      out += [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join("");
    } else out += encodeURIComponent(s[i]!);
  }
  return out;
};

/** True when the text has no lone surrogate (it survives a URL round trip). */
const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

/** A valid Ed25519 public key that did not sign anything of ours. */
const otherPem = crypto.generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();

const requestArbitrary = (w: World): fc.Arbitrary<Gen> => {
  const talk = `Bearer ${w.t.keys["talk-app"]}`;
  const operator = `Bearer ${w.t.keys["privacy-office"]}`;
  const json = (auth: string) => ({ authorization: auth, "content-type": "application/json" });
  const enc = pct;

  const bases: Record<BodyRoute, { path: string; auth: string; body: Record<string, unknown> }> = {
    create: { path: "/v1/subjects", auth: talk, body: { purpose: "talk_service", fields: { ...person, user_id: "fz-new" } } },
    patch: { path: `/v1/subjects/${w.subject}`, auth: talk, body: { purpose: "talk_service", fields: { nickname: "changed" } } },
    consents: { path: `/v1/subjects/${w.subject}/consents`, auth: talk, body: { consents: [{ notice: "analytics", action: "grant", channel: "app" }] } },
    reactivate: { path: `/v1/subjects/${w.subject}/reactivate`, auth: talk, body: { purpose: "talk_service" } },
    lookup: { path: "/v1/lookup", auth: talk, body: { purpose: "talk_service", field: "user_id", value: "fz-a" } },
    verifyPost: { path: "/v1/audit/verify", auth: operator, body: { checkpoints: [w.checkpoint] } },
  };
  const bodyRoute = fc.constantFrom<BodyRoute>("create", "patch", "consents", "reactivate", "lookup", "verifyPost");
  const withBody = (r: BodyRoute, kind: string, body: string | Buffer, extra: Partial<Gen> = {}, headers?: Record<string, string>): Gen => ({
    kind: `${kind} → ${r}`,
    req: { method: r === "patch" ? "PATCH" : "POST", path: bases[r].path, headers: headers ?? json(bases[r].auth), body },
    ...extra,
  });
  const valid = (r: BodyRoute) => JSON.stringify(bases[r].body);

  /** Malformed JSON: every proper prefix of an object is invalid, and so are these. */
  const malformed = fc.oneof(
    fc.tuple(bodyRoute, fc.nat()).map(([r, n]) => {
      const text = valid(r);
      return withBody(r, "truncated JSON", text.slice(0, n % text.length), { expect: ["BAD_REQUEST"] });
    }),
    fc
      .tuple(bodyRoute, fc.nat(), fc.constantFrom("{", "}", "[", "]", ",", ":", '"', "\\", "'", "x", "\u0000", "NaN", "undefined", "/*"))
      .map(([r, n, ch]) => {
        const text = valid(r);
        const at = n % (text.length + 1);
        return [r, text.slice(0, at) + ch + text.slice(at)] as const;
      })
      .filter(([, text]) => {
        try {
          JSON.parse(text);
          return false;
        } catch {
          return true;
        }
      })
      .map(([r, text]) => withBody(r, "corrupted JSON", text, { expect: ["BAD_REQUEST"] })),
    fc
      .tuple(
        bodyRoute,
        fc.constantFrom("{a:1}", "{'purpose':'x'}", '{"purpose":"x",}', "[1,]", '{"a":01}', '{"a":"\\x"}', '{"a":"unterminated}', "tru", "{}{}", "{} x", "nul", '{"a":1e}', '{"a":-}', "\u0000{}"),
      )
      .map(([r, text]) => withBody(r, "malformed JSON", text, { expect: ["BAD_REQUEST"] })),
    fc
      .tuple(bodyRoute, fc.uint8Array({ minLength: 1, maxLength: 64 }))
      .filter(([, bytes]) => {
        try {
          JSON.parse(Buffer.from(bytes).toString("utf8"));
          return false;
        } catch {
          return true;
        }
      })
      .map(([r, bytes]) => withBody(r, "binary body", Buffer.from(bytes), { expect: ["BAD_REQUEST"] })),
  );

  const wrongContentType = fc.tuple(bodyRoute, fc.constantFrom(...NOT_JSON_CT, "")).map(([r, ct]) => {
    const headers: Record<string, string> = { authorization: bases[r].auth };
    if (ct) headers["content-type"] = ct;
    return withBody(r, `content-type "${ct}"`, valid(r), { expect: ["UNSUPPORTED_MEDIA_TYPE"] }, headers);
  });

  const notObject = fc
    .tuple(bodyRoute, NOT_OBJECT)
    .map(([r, v]) => withBody(r, "not an object", JSON.stringify(v), { expect: ["VALIDATION_FAILED"] }));

  /** One top-level member of the right name gets a value of the wrong type. */
  const wrongTopType = fc.oneof(
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch", "reactivate", "lookup"), fc.oneof(NOT_STRING, fc.constant(""), huge(65, 300))).map(([r, v]) =>
      withBody(r, "purpose of the wrong type", JSON.stringify({ ...bases[r].body, purpose: v }), { expect: ["VALIDATION_FAILED"], mentions: "purpose" }),
    ),
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch"), NOT_OBJECT).map(([r, v]) =>
      withBody(r, "fields not an object", JSON.stringify({ ...bases[r].body, fields: v }), { expect: ["VALIDATION_FAILED"], mentions: "fields" }),
    ),
    fc.tuple(fc.constantFrom<BodyRoute>("create", "consents"), fc.oneof(NOT_ARRAY, fc.array(NOT_OBJECT, { minLength: 1, maxLength: 3 }))).map(([r, v]) =>
      withBody(r, "consents not a list of objects", JSON.stringify({ ...bases[r].body, consents: v }), { expect: ["VALIDATION_FAILED"], mentions: "consents" }),
    ),
    fc.constant(withBody("consents", "empty consents", JSON.stringify({ consents: [] }), { expect: ["VALIDATION_FAILED"], mentions: "consents" })),
    fc.oneof(NOT_STRING, fc.constant("")).map((v) =>
      withBody("lookup", "lookup field of the wrong type", JSON.stringify({ ...bases.lookup.body, field: v }), { expect: ["VALIDATION_FAILED"], mentions: "field" }),
    ),
    fc.oneof(fc.constant(null), fc.boolean(), fc.constant({}), fc.constant([]), fc.constant(""), huge(1025, 5000)).map((v) =>
      withBody("lookup", "lookup value of the wrong type", JSON.stringify({ ...bases.lookup.body, value: v }), { expect: ["VALIDATION_FAILED"], mentions: "value" }),
    ),
    fc.oneof(NOT_ARRAY, fc.constant([]), fc.array(NOT_OBJECT, { minLength: 1, maxLength: 3 }), fc.constant(Array.from({ length: 1001 }, () => ({ format: "x" })))).map((v) =>
      withBody("verifyPost", "checkpoints of the wrong type", JSON.stringify({ checkpoints: v }), { expect: ["VALIDATION_FAILED"] }),
    ),
    // The real export with one signed member (or the key, format or message) forged or dropped:
    // it no longer verifies. (keyId is a label outside the signature; an absent message is allowed.)
    fc
      .tuple(
        fc.constantFrom("format", "checkpoint.seq", "checkpoint.hash", "checkpoint.at", "checkpoint.signature", "publicKeyPem", "message", "checkpoint"),
        fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 1 }), fc.integer(), fc.constant(-1), fc.constant(2 ** 53), fc.stringMatching(/^[0-9a-f]{64}$/), fc.constant(otherPem)),
      )
      .map(([path, v]) => {
        const doc = JSON.parse(JSON.stringify(w.checkpoint)) as Record<string, Record<string, unknown> | unknown>;
        const [a, b] = path.split(".") as [string, string | undefined];
        const target = (b ? doc[a] : doc) as Record<string, unknown>;
        const key = b ?? a;
        if (v === undefined) delete target[key];
        else target[key] = v;
        return [path, doc] as const;
      })
      .filter(([path, doc]) => JSON.stringify(doc) !== JSON.stringify(w.checkpoint) && !(path === "message" && !("message" in doc)))
      .map(([path, doc]) => withBody("verifyPost", `checkpoint with ${path} forged`, JSON.stringify({ checkpoints: [doc] }), { expect: ["VALIDATION_FAILED"], mentions: "checkpoints[0]" })),
    fc
      .record({ checkpoint: fc.dictionary(asciiName, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), format: anyText, publicKey: anyText }, { requiredKeys: [] })
      .map((v) => withBody("verifyPost", "forged checkpoint", JSON.stringify({ checkpoints: [v] }), { expect: ["VALIDATION_FAILED"] })),
  );

  /** A catalog field gets a value of the wrong type or shape. */
  const wrongFieldValue = fc
    .tuple(
      fc.constantFrom<BodyRoute>("create", "patch"),
      fc.constantFrom("user_id", "phone", "name", "nickname", "email", "profile_photo"),
      fc.oneof(fc.integer(), fc.boolean(), fc.constant({}), fc.array(fc.string().filter(clean), { maxLength: 2 }), fc.constant("")),
    )
    .map(([r, field, v]) => {
      const fields = { ...(bases[r].body.fields as Record<string, unknown>), [field]: v };
      return withBody(r, `field "${field}" of the wrong type`, JSON.stringify({ ...bases[r].body, fields }), { expect: ["VALIDATION_FAILED"], mentions: field });
    });
  const badFieldValue = fc
    .tuple(
      fc.constantFrom<BodyRoute>("create", "patch"),
      fc.constantFrom(
        ["phone", "not a phone"],
        ["phone", "010-1234-5678\u0000"],
        ["email", "no-at-sign"],
        ["birth_date", "1990-13-45"],
        ["birth_date", "yesterday"],
        ["nickname", "x".repeat(41)],
        ["user_id", "가".repeat(65)],
        ["profile_photo", "😀".repeat(1025)],
      ),
    )
    .map(([r, [field, v]]) => {
      const fields = { ...(bases[r].body.fields as Record<string, unknown>), [field!]: v };
      return withBody(r, `field "${field}" with a bad value`, JSON.stringify({ ...bases[r].body, fields }), { expect: ["VALIDATION_FAILED"], mentions: field! });
    });
  const removeRequired = fc
    .constantFrom("user_id", "phone", "name", "nickname")
    .map((f) => withBody("patch", "null for a required field", JSON.stringify({ purpose: "talk_service", fields: { [f]: null } }), { expect: ["VALIDATION_FAILED"], mentions: f }));

  const TOP_KEYS: Record<BodyRoute, string[]> = {
    create: ["purpose", "fields", "consents"],
    patch: ["purpose", "fields"],
    consents: ["consents"],
    reactivate: ["purpose"],
    lookup: ["purpose", "field", "value"],
    verifyPost: ["checkpoints"],
  };
  const unknownTopKey = fc
    .tuple(bodyRoute, fc.oneof(asciiName, oddText, fc.constantFrom(...PROTO_NAMES, "__proto__", "Purpose", "purpose ", "id")), fc.jsonValue({ maxDepth: 2 }))
    .filter(([r, k]) => !TOP_KEYS[r].includes(k))
    .map(([r, k, v]) => {
      const body = { ...bases[r].body };
      Object.defineProperty(body, k, { value: v, enumerable: true, configurable: true, writable: true });
      return withBody(r, `unknown top-level key ${JSON.stringify(k)}`, JSON.stringify(body), {
        // __proto__ / constructor.prototype are refused by the JSON parser itself.
        expect: ["VALIDATION_FAILED", "BAD_REQUEST"],
      });
    });
  const unknownConsentKey = fc
    .tuple(fc.constantFrom<BodyRoute>("create", "consents"), asciiName.filter((k) => !["notice", "version", "action", "channel"].includes(k) && !isProto(k)))
    .map(([r, k]) => {
      const consent = { notice: "analytics", action: "grant", channel: "app", [k]: 1 };
      return withBody(r, `unknown consent key "${k}"`, JSON.stringify({ ...bases[r].body, consents: [consent] }), { expect: ["VALIDATION_FAILED"], mentions: k });
    });

  const unknownField = fc.oneof(
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch"), unknownName(w.fieldNames), fc.jsonValue({ maxDepth: 1 })).map(([r, name, v]) => {
      const fields = { ...(bases[r].body.fields as Record<string, unknown>) };
      Object.defineProperty(fields, name, { value: v, enumerable: true, configurable: true, writable: true });
      return withBody(r, `unknown field ${JSON.stringify(name)}`, JSON.stringify({ ...bases[r].body, fields }), { expect: ["UNKNOWN_FIELD"], mentions: name });
    }),
    unknownName(w.fieldNames).map((name) =>
      withBody("lookup", `lookup by unknown field ${JSON.stringify(name)}`, JSON.stringify({ ...bases.lookup.body, field: name }), { expect: ["UNKNOWN_FIELD"], mentions: name }),
    ),
    fc.constantFrom("nickname", "name", "birth_date").map((name) =>
      withBody("lookup", `lookup by a field that is not a lookup field`, JSON.stringify({ ...bases.lookup.body, field: name }), { expect: ["VALIDATION_FAILED"], mentions: name }),
    ),
    // Names of Object.prototype members: refused (the exact code is the catalog's business).
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch", "lookup"), fc.constantFrom(...PROTO_NAMES)).map(([r, name]) => {
      if (r === "lookup") return withBody(r, `lookup by field "${name}"`, JSON.stringify({ ...bases.lookup.body, field: name }));
      const fields = { ...(bases[r].body.fields as Record<string, unknown>), [name]: "x" };
      return withBody(r, `field named "${name}"`, JSON.stringify({ ...bases[r].body, fields }));
    }),
  );

  const unknownPurpose = fc.oneof(
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch", "reactivate", "lookup"), unknownName(w.purposeNames)).map(([r, p]) =>
      withBody(r, `unknown purpose ${JSON.stringify(p)}`, JSON.stringify({ ...bases[r].body, purpose: p }), { expect: ["UNKNOWN_PURPOSE"], mentions: p }),
    ),
    // Purposes that exist but talk-app may not use.
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch", "reactivate", "lookup"), fc.constantFrom("marketing", "pay_service", "customer_support", "legal_retention", "health_wallet")).map(([r, p]) =>
      withBody(r, `foreign purpose "${p}"`, JSON.stringify({ ...bases[r].body, purpose: p }), { expect: ["ACCESS_DENIED"] }),
    ),
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch", "reactivate", "lookup"), fc.constantFrom(...PROTO_NAMES)).map(([r, p]) =>
      withBody(r, `purpose "${p}"`, JSON.stringify({ ...bases[r].body, purpose: p })),
    ),
  );

  /** Consent events that must be refused, as part of a create or on their own. */
  const badConsent = fc.tuple(
    fc.constantFrom<BodyRoute>("create", "consents"),
    fc.oneof(
      unknownName(w.noticeNames).map((n) => ({ c: { notice: n, action: "grant", channel: "app" }, expect: ["UNKNOWN_NOTICE"] as ErrorCode[], mentions: n })),
      fc.constantFrom(...PROTO_NAMES).map((n) => ({ c: { notice: n, action: "grant", channel: "app" }, expect: undefined, mentions: undefined })),
      anyText
        .filter((ch) => !["web", "app", "phone", "written", "email", "import"].includes(ch))
        .map((ch) => ({ c: { notice: "analytics", action: "grant", channel: ch }, expect: ["VALIDATION_FAILED"] as ErrorCode[], mentions: "channel" })),
      anyText
        .filter((a) => a !== "grant" && a !== "withdraw")
        .map((a) => ({ c: { notice: "analytics", action: a, channel: "app" }, expect: ["VALIDATION_FAILED"] as ErrorCode[], mentions: "action" })),
      fc.oneof(fc.integer({ max: 0 }), fc.double({ min: 0.1, max: 9.9, noNaN: true }).filter((d) => !Number.isInteger(d)), fc.constant("2")).map((v) => ({
        c: { notice: "analytics", version: v, action: "grant", channel: "app" },
        expect: ["VALIDATION_FAILED"] as ErrorCode[],
        mentions: "version",
      })),
      // A grant must be to the version in force; a withdrawal names a version that exists.
      fc.constant({ c: { notice: "marketing", version: 1, action: "grant", channel: "app" }, expect: ["CONFLICT"] as ErrorCode[], mentions: "marketing" }),
      fc.integer({ min: 3, max: 1000 }).map((v) => ({ c: { notice: "marketing", version: v, action: "withdraw", channel: "app" }, expect: ["VALIDATION_FAILED"] as ErrorCode[], mentions: "marketing" })),
      // Notices talk-app's purposes are not linked to.
      fc.constantFrom("health_wallet", "passport_unique_id").map((n) => ({ c: { notice: n, action: "grant", channel: "app" }, expect: ["ACCESS_DENIED"] as ErrorCode[], mentions: n })),
      huge(65, 500).map((n) => ({ c: { notice: n, action: "grant", channel: "app" }, expect: ["VALIDATION_FAILED"] as ErrorCode[], mentions: "notice" })),
    ),
    fc.nat(3),
  ).map(([r, bad, goodBefore]) => {
    // The bad event may follow good ones: the whole request is refused, none of it recorded.
    const consents = [...Array.from({ length: goodBefore }, () => ({ notice: "analytics", action: "grant", channel: "web" })), bad.c];
    const body = r === "create" ? { ...bases.create.body, consents } : { consents };
    return withBody(r, `bad consent ${JSON.stringify(bad.c).slice(0, 80)}`, JSON.stringify(body), { expect: bad.expect, mentions: bad.mentions });
  });
  const tooManyConsents = fc.constantFrom<BodyRoute>("create", "consents").map((r) => {
    const consents = Array.from({ length: 33 }, () => ({ notice: "analytics", action: "grant", channel: "web" }));
    return withBody(r, "33 consent events", JSON.stringify(r === "create" ? { ...bases.create.body, consents } : { consents }), { expect: ["VALIDATION_FAILED"] });
  });

  /** More than bodyLimit (1 MiB): refused before parsing. */
  const oversize = fc
    .tuple(bodyRoute, fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 200_000 }), fc.boolean())
    .map(([r, size, chunked]) => {
      const prefix = `{"purpose":"talk_service","pad":"`;
      const text = `${prefix}${"x".repeat(Math.max(0, size - prefix.length - 2))}"}`;
      const g = withBody(r, `oversize body (${size} bytes${chunked ? ", chunked" : ""})`, text, { expect: ["PAYLOAD_TOO_LARGE"] });
      return { ...g, req: { ...g.req, chunked } };
    });

  const hugeStrings = fc.oneof(
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch"), fc.constantFrom("nickname", "name", "user_id", "email"), huge(300, 100_000)).map(([r, f, v]) => {
      const fields = { ...(bases[r].body.fields as Record<string, unknown>), [f]: v };
      return withBody(r, `huge value for ${f}`, JSON.stringify({ ...bases[r].body, fields }), { expect: ["VALIDATION_FAILED"], mentions: f });
    }),
    fc.tuple(fc.constantFrom<BodyRoute>("create", "patch"), huge(65, 1000)).map(([r, name]) => {
      const fields = { ...(bases[r].body.fields as Record<string, unknown>), [name]: 1 };
      return withBody(r, "huge field name", JSON.stringify({ ...bases[r].body, fields }), { expect: ["VALIDATION_FAILED"] });
    }),
    huge(65, 100_000).map((k) => withBody("create", "huge unknown key", JSON.stringify({ ...bases.create.body, [k]: 1 }), { expect: ["VALIDATION_FAILED"] })),
  );

  /** Deeper than the parser allows, anywhere in the body. */
  const deep = fc
    .tuple(bodyRoute, fc.integer({ min: 65, max: 20_000 }), fc.boolean(), fc.constantFrom("top", "fields", "value", "checkpoints"))
    .map(([r, depth, objects, where]) => {
      const inner = nested(depth, "x", objects);
      const text =
        where === "top"
          ? inner
          : where === "fields"
            ? `{"purpose":"pay_service","fields":{"user_id":"d","name":"d","phone":"010-1234-5678","transaction_history":${inner}}}`
            : where === "value"
              ? `{"purpose":"talk_service","field":"user_id","value":${inner}}`
              : `{"checkpoints":[${inner}]}`;
      return withBody(r, `nested ${depth} deep (${where})`, text, { expect: ["BAD_REQUEST"], mentions: "nested" });
    });

  /** Raw bytes that are not UTF-8 inside string values. */
  const badUtf8 = fc
    .tuple(fc.constantFrom<BodyRoute>("create", "patch", "lookup"), fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]))
    .map(([r, bytes]) =>
      withBody(r, "invalid UTF-8 in the purpose", Buffer.concat([Buffer.from('{"purpose":"talk'), Buffer.from(bytes), Buffer.from(`",${valid(r).slice(1).replace(/^"purpose":"[^"]*",/, "")}`)])),
    );

  // ─── ids, queries, routes, headers ─────────────────────────────────────────────────────────
  const idRoute = fc.constantFrom("read", "patch", "consents");
  const idRequest = (route: string, idPath: string, kind: string, expect: readonly ErrorCode[]): Gen => {
    if (route === "read") return { kind: `${kind} → read`, req: { method: "GET", path: `/v1/subjects/${idPath}?purpose=talk_service`, headers: { authorization: talk } }, expect };
    if (route === "patch") return { ...withBody("patch", kind, valid("patch")), req: { ...withBody("patch", kind, valid("patch")).req, path: `/v1/subjects/${idPath}` }, expect };
    return { ...withBody("consents", kind, valid("consents")), req: { ...withBody("consents", kind, valid("consents")).req, path: `/v1/subjects/${idPath}/consents` }, expect };
  };
  const badId = fc.oneof(
    fc.tuple(idRoute, fc.constantFrom(...w.foreignIds)).map(([r, id]) => idRequest(r, id, "another context's id", ["NOT_FOUND"])),
    fc.tuple(idRoute, fc.nat()).map(([r, n]) => {
      // The real id with one character changed.
      const i = 4 + (n % (w.subject.length - 4));
      const ch = w.subject[i] === "A" ? "B" : "A";
      return idRequest(r, w.subject.slice(0, i) + ch + w.subject.slice(i + 1), "tampered id", ["NOT_FOUND"]);
    }),
    fc.tuple(idRoute, fc.stringMatching(/^sub_[A-Za-z0-9_-]{22}$/)).map(([r, id]) => idRequest(r, id, "random sub_ id", ["NOT_FOUND"])),
    fc.tuple(idRoute, anyText.filter((s) => s.length >= 1 && s.length <= 30)).map(([r, id]) => idRequest(r, enc(id), `random id ${JSON.stringify(id)}`, ["NOT_FOUND", "VALIDATION_FAILED", "BAD_REQUEST"])),
    fc.tuple(idRoute, fc.integer({ min: 65, max: 3000 })).map(([r, n]) => idRequest(r, "s".repeat(n), `id of ${n} characters`, ["VALIDATION_FAILED"])),
    fc.tuple(idRoute, fc.constantFrom("%", "%Z", "%ZZ", "%C0%80", "%ED%A0%80", "%FF", "a%", "%E0%A4%A")).map(([r, id]) => idRequest(r, id, `garbled percent-encoding ${id}`, ["BAD_REQUEST"])),
    fc.tuple(idRoute, fc.constantFrom("%00", "a%00b", "%2F", "..", ".", "%2E%2E", "%20", "null", "undefined", "0", "-1")).map(([r, id]) => idRequest(r, id, `odd id ${id}`, ["NOT_FOUND", "VALIDATION_FAILED"])),
  );

  const readPath = (q: string) => `/v1/subjects/${w.subject}${q}`;
  const badQuery = fc.oneof(
    fc.constantFrom(
      "",
      "?",
      "?purpose=",
      "?purpose",
      "?purpose=talk_service&purpose=talk_service",
      "?purpose[]=talk_service",
      "?purpose[a]=talk_service",
      "?Purpose=talk_service",
      "?purpose=talk_service&fields=",
      "?purpose=talk_service&fields=Phone",
      "?purpose=talk_service&fields=phone,",
      "?purpose=talk_service&fields=,phone",
      "?purpose=talk_service&fields=phone%2C%20name",
      "?purpose=talk_service&fields=phone&fields=name",
      "?purpose=talk_service&fields=%00",
      "?purpose=talk_service%00",
      "?purpose=%ZZ",
      "?purpose=talk_service&x=1",
      "?purpose=talk_service;x=1",
    ).map((q) => ({ kind: `bad query ${q}`, req: { method: "GET", path: readPath(q), headers: { authorization: talk } } })),
    fc.tuple(unknownName(w.purposeNames).filter(wellFormed), fc.boolean()).map(([p, withFields]) => ({
      kind: `read for unknown purpose ${JSON.stringify(p)}`,
      req: { method: "GET", path: readPath(`?purpose=${enc(p)}${withFields ? "&fields=phone" : ""}`), headers: { authorization: talk } },
      expect: ["UNKNOWN_PURPOSE"] as ErrorCode[],
      mentions: p,
    })),
    fc.constantFrom(...PROTO_NAMES).map((p) => ({ kind: `read for purpose "${p}"`, req: { method: "GET", path: readPath(`?purpose=${p}`), headers: { authorization: talk } } })),
    fc.constantFrom("marketing", "pay_service", "customer_support", "analytics").map((p) => ({
      kind: `read for a purpose talk-app may not use: ${p}`,
      req: { method: "GET", path: readPath(`?purpose=${p}`), headers: { authorization: talk } },
      expect: ["ACCESS_DENIED"] as ErrorCode[],
    })),
    fc.constantFrom("ip_address", "rrn", "health_status", "card_number").map((f) => ({
      kind: `read a field outside the purpose: ${f}`,
      req: { method: "GET", path: readPath(`?purpose=talk_service&fields=${f}`), headers: { authorization: talk } },
      expect: ["ACCESS_DENIED"] as ErrorCode[],
    })),
    fc.tuple(anyText.filter((k) => k.length > 0), anyText).map(([k, v]) => ({
      kind: `extra query ${JSON.stringify(k)}=${JSON.stringify(v)}`,
      req: { method: "GET", path: readPath(`?purpose=talk_service&${enc(k)}=${enc(v)}`), headers: { authorization: talk } },
    })).filter((g) => !/[?&](purpose|fields)=/.test(g.req.path.replace("?purpose=talk_service", ""))),
    fc.integer({ min: 2049, max: 12_000 }).map((n) => ({
      kind: "fields list too long",
      req: { method: "GET", path: readPath(`?purpose=talk_service&fields=${"a".repeat(n)}`), headers: { authorization: talk } },
      expect: ["VALIDATION_FAILED"] as ErrorCode[],
    })),
    fc.tuple(fc.constantFrom("/v1/audit/verify", "/v1/audit/checkpoint"), anyText.filter((k) => k.length > 0), anyText).map(([p, k, v]) => ({
      kind: `audit with a query ${JSON.stringify(k)}`,
      req: { method: "GET", path: `${p}?${enc(k)}=${enc(v)}`, headers: { authorization: operator } },
      expect: ["VALIDATION_FAILED"] as ErrorCode[],
      mentions: wellFormed(k) && !k.includes('"') && !k.includes("\\") ? k : undefined,
    })),
  );

  /** Operator-only routes for a service principal, GET bodies, wrong methods, unknown routes. */
  const misc = fc.oneof(
    fc.constantFrom("GET /v1/audit/verify", "GET /v1/audit/checkpoint", "POST /v1/audit/verify").map((r) => {
      const [method, path] = r.split(" ") as [string, string];
      return {
        kind: `${r} as talk-app`,
        req: { method, path, headers: method === "POST" ? json(talk) : { authorization: talk }, ...(method === "POST" ? { body: valid("verifyPost") } : {}) },
        expect: ["ACCESS_DENIED"] as ErrorCode[],
      };
    }),
    fc.tuple(fc.constantFrom("PUT", "OPTIONS", "POST", "PATCH"), fc.constantFrom("/v1/subjects", `/v1/subjects/${w.subject}`, "/v1/lookup", "/v1/audit/verify", "/v1/audit/checkpoint", `/v1/subjects/${w.subject}/consents`))
      .filter(([m, p]) => !(m === "POST" && (p === "/v1/subjects" || p === "/v1/lookup" || p === "/v1/audit/verify" || p.endsWith("/consents"))) && !(m === "PATCH" && p === `/v1/subjects/${w.subject}`))
      .map(([m, p]) => ({ kind: `${m} ${p}`, req: { method: m, path: p, headers: m === "OPTIONS" ? { authorization: talk } : json(talk), ...(m === "OPTIONS" ? {} : { body: "{}" }) }, expect: ["NOT_FOUND"] as ErrorCode[] })),
    fc.tuple(anyText.filter((seg) => seg !== "subjects"), fc.constantFrom("GET", "POST")).map(([seg, m]) => ({
      kind: `unknown route /v1/${JSON.stringify(seg)}`,
      req: { method: m, path: `/v1/${enc(seg)}/${enc(seg)}`, headers: m === "POST" ? json(talk) : { authorization: talk }, ...(m === "POST" ? { body: "{}" } : {}) },
      expect: (wellFormed(seg) ? ["NOT_FOUND"] : ["NOT_FOUND", "BAD_REQUEST"]) as ErrorCode[],
    })),
    fc.constantFrom("/v1/subjects/", "/v1/subjects//consents", "/v1/", "/v1/subjects/x/y", "/v1/subjects/x/consents/y").map((p) => ({
      kind: `route ${p}`,
      req: { method: "GET", path: p, headers: { authorization: talk } },
      expect: ["NOT_FOUND", "VALIDATION_FAILED"] as ErrorCode[],
    })),
  );

  /** What an HTTP client library would refuse to send: raw Latin-1 bytes, bad framing, huge heads. */
  const rawHttp = fc.oneof(
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => a.map((b) => 0x80 | b)), fc.boolean()).map(([bytes, inQuery]) => ({
      kind: "raw non-ASCII bytes in the request line",
      req: {
        method: "GET",
        path: "(raw)",
        headers: {},
        raw: Buffer.concat([
          Buffer.from(inQuery ? `GET /v1/subjects/${w.subject}?purpose=` : "GET /v1/subjects/"),
          Buffer.from(bytes),
          Buffer.from(`${inQuery ? "" : "?purpose=talk_service"} HTTP/1.1\r\nHost: x\r\nAuthorization: ${talk}\r\nConnection: close\r\n\r\n`),
        ]),
      },
      expect: ["BAD_REQUEST"] as ErrorCode[],
    })),
    fc.constantFrom("abc", "-1", "1, 2", "99999999999999999999", "1.5").map((cl) => ({
      kind: `Content-Length: ${cl}`,
      expect: ["BAD_REQUEST", "PAYLOAD_TOO_LARGE"] as ErrorCode[],
      req: {
        method: "POST",
        path: "(raw)",
        headers: {},
        raw: Buffer.from(`POST /v1/subjects HTTP/1.1\r\nHost: x\r\nAuthorization: ${talk}\r\nContent-Type: application/json\r\nContent-Length: ${cl}\r\nConnection: close\r\n\r\n{}`),
      },
    })),
    fc.constant({
      kind: "Content-Length shorter than the body",
      req: {
        method: "POST",
        path: "(raw)",
        headers: {},
        raw: Buffer.from(`POST /v1/lookup HTTP/1.1\r\nHost: x\r\nAuthorization: ${talk}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{"purpose":"talk_service"}`),
      },
    }),
    fc.integer({ min: 17_000, max: 40_000 }).map((n) => ({
      kind: `URL of ${n} characters`,
      req: {
        method: "GET",
        path: "(raw)",
        headers: {},
        raw: Buffer.from(`GET /v1/subjects/${w.subject}?purpose=${"a".repeat(n)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${talk}\r\nConnection: close\r\n\r\n`),
      },
      expect: ["BAD_REQUEST"] as ErrorCode[],
    })),
    fc.constantFrom("HELLO\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", `GET /v1/lookup HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`).map((text) => ({
      kind: `garbage request ${JSON.stringify(text.slice(0, 20))}`,
      req: { method: "?", path: "(raw)", headers: {}, raw: Buffer.from(text) },
      expect: ["BAD_REQUEST"] as ErrorCode[],
    })),
  );

  return fc.oneof(
    { arbitrary: malformed, weight: 8 },
    { arbitrary: wrongContentType, weight: 4 },
    { arbitrary: notObject, weight: 4 },
    { arbitrary: wrongTopType, weight: 8 },
    { arbitrary: wrongFieldValue, weight: 4 },
    { arbitrary: badFieldValue, weight: 3 },
    { arbitrary: removeRequired, weight: 1 },
    { arbitrary: unknownTopKey, weight: 5 },
    { arbitrary: unknownConsentKey, weight: 2 },
    { arbitrary: unknownField, weight: 6 },
    { arbitrary: unknownPurpose, weight: 6 },
    { arbitrary: badConsent, weight: 6 },
    { arbitrary: tooManyConsents, weight: 1 },
    { arbitrary: oversize, weight: 1 },
    { arbitrary: hugeStrings, weight: 2 },
    { arbitrary: deep, weight: 2 },
    { arbitrary: badUtf8, weight: 2 },
    { arbitrary: badId, weight: 8 },
    { arbitrary: badQuery, weight: 8 },
    { arbitrary: misc, weight: 4 },
    { arbitrary: rawHttp, weight: 2 },
  );
};

/** Bad, missing and garbled credentials on otherwise valid requests to every route. */
const authArbitrary = (w: World): fc.Arbitrary<Gen> => {
  const keys = Object.values(w.t.keys);
  const talkKey = w.t.keys["talk-app"]!;
  const valid = new Set(keys);
  const headerText = fc
    .string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 80 })
    .filter(clean);
  const mutateKey = fc.tuple(fc.constantFrom(...keys), fc.nat(), fc.constantFrom("flip", "append", "truncate", "prefix", "case")).map(([k, n, how]) => {
    const i = n % k.length;
    const ch = k[i]!;
    switch (how) {
      case "flip":
        return k.slice(0, i) + (ch === "A" ? "B" : "A") + k.slice(i + 1);
      case "append":
        return `${k}${ch}`;
      case "truncate":
        return k.slice(0, i);
      case "prefix":
        return `x${k}`;
      default:
        return k.slice(0, i) + (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) + k.slice(i + 1);
    }
  });
  const authorization = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom("", "Bearer", "Bearer ", "Bearer    ", "Bearer garbage", "Basic dGFsay1hcHA6eA==", "Digest x", "Bearer null", "Bearer undefined", "Bearer hk_", "Bearer hk__"),
    fc.constantFrom(...keys).map((k) => k), // the key without its scheme
    fc.tuple(fc.constantFrom("Token", "Basic", "Key", "Bearer:", "Bearer-"), fc.constantFrom(...keys)).map(([s, k]) => `${s} ${k}`),
    mutateKey.filter((k) => !valid.has(k)).map((k) => `Bearer ${k}`),
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{12}$/), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)).map(([id, s]) => `Bearer hk_${id}_${s}`),
    headerText.map((s) => `Bearer ${s}`).filter((h) => !valid.has(h.slice(7).trim())),
    headerText.filter((h) => !/^bearer[ \t]/i.test(h)),
    fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...keys)).map(([a, b]) => `Bearer ${a} ${b}`),
    fc.integer({ min: 5_000, max: 12_000 }).map((n) => `Bearer ${"k".repeat(n)}`),
  );
  const route = fc.constantFrom("create", "read", "patch", "consents", "lookup", "verifyGet", "verifyPost", "checkpoint");
  const ctJson = { "content-type": "application/json" };
  return fc.tuple(route, authorization, fc.nat()).map(([r, auth, n]) => {
    const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth };
    const kind = `auth ${auth === undefined ? "(none)" : JSON.stringify(auth.slice(0, 60))} → ${r}`;
    const expect: ErrorCode[] = ["UNAUTHENTICATED", "AUTH_LOCKED"];
    switch (r) {
      case "create":
        return {
          kind,
          expect,
          req: { method: "POST", path: "/v1/subjects", headers: { ...headers, ...ctJson }, body: JSON.stringify({ purpose: "talk_service", fields: { ...person, user_id: `fz-auth-${n}` } }) },
        };
      case "read":
        return { kind, expect, req: { method: "GET", path: `/v1/subjects/${w.subject}?purpose=talk_service`, headers } };
      case "patch":
        return { kind, expect, req: { method: "PATCH", path: `/v1/subjects/${w.subject}`, headers: { ...headers, ...ctJson }, body: JSON.stringify({ purpose: "talk_service", fields: { nickname: `n${n}` } }) } };
      case "consents":
        return {
          kind,
          expect,
          req: { method: "POST", path: `/v1/subjects/${w.subject}/consents`, headers: { ...headers, ...ctJson }, body: JSON.stringify({ consents: [{ notice: "analytics", action: "grant", channel: "app" }] }) },
        };
      case "lookup":
        return { kind, expect, req: { method: "POST", path: "/v1/lookup", headers: { ...headers, ...ctJson }, body: JSON.stringify({ purpose: "talk_service", field: "user_id", value: "fz-a" }) } };
      case "verifyGet":
        return { kind, expect, req: { method: "GET", path: "/v1/audit/verify", headers } };
      case "verifyPost":
        return { kind, expect, req: { method: "POST", path: "/v1/audit/verify", headers: { ...headers, ...ctJson }, body: JSON.stringify({ checkpoints: [w.checkpoint] }) } };
      default:
        return { kind, expect, req: { method: "GET", path: "/v1/audit/checkpoint", headers } };
    }
  }).filter((g) => (g.req.headers as Record<string, string>).authorization !== `Bearer ${talkKey}`);
};

// ─── the suites ───────────────────────────────────────────────────────────────────────────────

/** Runs on SQLite (thousands) and PostgreSQL (hundreds): enough to cover every kind on both. */
const RUNS: Record<StoreKind, { main: number; auth: number }> = { sqlite: { main: 2500, auth: 400 }, postgres: { main: 400, auth: 120 } };
/** Fixed so a failure replays; HAECHI_FUZZ_SEED / HAECHI_FUZZ_SCALE explore further by hand. */
const SEED = Number(process.env.HAECHI_FUZZ_SEED ?? 20_261_121);
const SCALE = Number(process.env.HAECHI_FUZZ_SCALE ?? 1);
for (const k of STORE_KINDS) RUNS[k] = { main: Math.round(RUNS[k].main * SCALE), auth: Math.round(RUNS[k].auth * SCALE) };

const runProperty = async (w: World, arb: fc.Arbitrary<Gen>, numRuns: number, seed: number) => {
  let sent = 0;
  const kinds = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(arb, async (g) => {
      sent++;
      const k = g.kind.split(/[ (":]/)[0]!;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
      checkAnswer(g, await send(w.base, g.req));
    }),
    { numRuns, seed, endOnFailure: true, interruptAfterTimeLimit: 90_000 * SCALE, markInterruptAsFailure: true },
  );
  return { sent, kinds };
};

for (const kind of STORE_KINDS) {
  describe(`bad input on ${kind}`, () => {
    let t: TestApp;
    let w: World;
    before(async () => {
      t = await startApp(kind);
      w = await setUp(t);
    });
    after(async () => {
      await t?.close();
    });

    const raw = (r: RawRequest) => send(w.base, r);
    const talkJson = () => ({ authorization: `Bearer ${t.keys["talk-app"]}`, "content-type": "application/json" });

    /** The named cases: exact code, and a message that names the problem. */
    const table: { name: string; req: () => RawRequest; status: number; code: ErrorCode; message: RegExp }[] = [
      { name: "malformed JSON", req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: '{"purpose":' }), status: 400, code: "BAD_REQUEST", message: /not valid JSON/ },
      { name: "empty JSON body", req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: "" }), status: 400, code: "BAD_REQUEST", message: /empty/ },
      {
        name: "body larger than bodyLimit",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: `{"pad":"${"x".repeat(1024 * 1024)}"}` }),
        status: 413,
        code: "PAYLOAD_TOO_LARGE",
        message: /larger than 1048576 bytes/,
      },
      {
        name: "text/plain",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: { authorization: `Bearer ${t.keys["talk-app"]}`, "content-type": "text/plain" }, body: '{"purpose":"talk_service","fields":{}}' }),
        status: 415,
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: /Content-Type: application\/json/,
      },
      {
        name: "unknown top-level key",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: JSON.stringify({ purpose: "talk_service", fields: person, colour: "blue" }) }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /colour/,
      },
      {
        name: "unknown field",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: JSON.stringify({ purpose: "talk_service", fields: { ...person, shoe_size: 270 } }) }),
        status: 400,
        code: "UNKNOWN_FIELD",
        message: /shoe_size/,
      },
      {
        name: "unknown purpose",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: JSON.stringify({ purpose: "mind_reading", fields: person }) }),
        status: 400,
        code: "UNKNOWN_PURPOSE",
        message: /mind_reading/,
      },
      {
        name: "unknown purpose on a read",
        req: () => ({ method: "GET", path: `/v1/subjects/${w.subject}?purpose=mind_reading`, headers: { authorization: `Bearer ${t.keys["talk-app"]}` } }),
        status: 400,
        code: "UNKNOWN_PURPOSE",
        message: /mind_reading/,
      },
      {
        name: "unknown notice",
        req: () => ({ method: "POST", path: `/v1/subjects/${w.subject}/consents`, headers: talkJson(), body: JSON.stringify({ consents: [{ notice: "horoscope", action: "grant", channel: "app" }] }) }),
        status: 400,
        code: "UNKNOWN_NOTICE",
        message: /horoscope/,
      },
      {
        name: "unknown channel",
        req: () => ({ method: "POST", path: `/v1/subjects/${w.subject}/consents`, headers: talkJson(), body: JSON.stringify({ consents: [{ notice: "analytics", action: "grant", channel: "fax" }] }) }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /channel/,
      },
      {
        name: "wrong type for a field",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: JSON.stringify({ purpose: "talk_service", fields: { ...person, phone: 1012345678 } }) }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /phone/,
      },
      {
        name: "wrong type for a body member",
        req: () => ({ method: "POST", path: "/v1/lookup", headers: talkJson(), body: JSON.stringify({ purpose: "talk_service", field: 7, value: "x" }) }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /field/,
      },
      { name: "an array instead of an object", req: () => ({ method: "POST", path: "/v1/lookup", headers: talkJson(), body: "[]" }), status: 400, code: "VALIDATION_FAILED", message: /expected object/ },
      {
        name: "nesting deeper than 64 levels",
        req: () => ({ method: "POST", path: "/v1/lookup", headers: talkJson(), body: `{"purpose":"talk_service","field":"user_id","value":${nested(10_000, 1, false)}}` }),
        status: 400,
        code: "BAD_REQUEST",
        message: /nested deeper than 64/,
      },
      {
        name: "__proto__ in a body",
        req: () => ({ method: "POST", path: "/v1/subjects", headers: talkJson(), body: '{"purpose":"talk_service","fields":{"__proto__":{"x":1}}}' }),
        status: 400,
        code: "BAD_REQUEST",
        message: /__proto__/,
      },
      {
        name: "garbled percent-encoding in the path",
        req: () => ({ method: "GET", path: "/v1/subjects/%ZZ?purpose=talk_service", headers: { authorization: `Bearer ${t.keys["talk-app"]}` } }),
        status: 400,
        code: "BAD_REQUEST",
        message: /URL/,
      },
      {
        name: "path parameter longer than the router allows",
        req: () => ({ method: "GET", path: `/v1/subjects/${"s".repeat(200)}?purpose=talk_service`, headers: { authorization: `Bearer ${t.keys["talk-app"]}` } }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /longer than/,
      },
      {
        name: "headers larger than the server accepts",
        req: () => ({ method: "GET", path: "(raw)", headers: {}, raw: Buffer.from(`GET /v1/subjects/${w.subject}?purpose=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`) }),
        status: 400,
        code: "BAD_REQUEST",
        message: /too large/,
      },
      {
        name: "unknown query parameter on audit verify",
        req: () => ({ method: "GET", path: "/v1/audit/verify?from=0", headers: { authorization: `Bearer ${t.keys["privacy-office"]}` } }),
        status: 400,
        code: "VALIDATION_FAILED",
        message: /from/,
      },
      { name: "unknown route", req: () => ({ method: "GET", path: "/v1/nothing-here", headers: { authorization: `Bearer ${t.keys["talk-app"]}` } }), status: 404, code: "NOT_FOUND", message: /\/v1\/nothing-here/ },
      {
        name: "another context's id",
        req: () => ({ method: "GET", path: `/v1/subjects/${w.foreignIds[0]}?purpose=talk_service`, headers: { authorization: `Bearer ${t.keys["talk-app"]}` } }),
        status: 404,
        code: "NOT_FOUND",
        message: /not found/,
      },
    ];

    for (const c of table) {
      test(`named case: ${c.name} → ${c.status} ${c.code}`, async () => {
        const before = await snapshot(w);
        const res = await raw(c.req());
        checkAnswer({ kind: c.name, req: c.req(), expect: [c.code] }, res);
        assert.equal(res.status, c.status);
        assert.match(JSON.parse(res.text).error.message, c.message);
        assert.deepEqual(await snapshot(w), before, "nothing was written");
      });
    }

    test("the lowercase auth scheme is the same credential (RFC 9110: schemes are case-insensitive)", async () => {
      const res = await raw({ method: "GET", path: `/v1/subjects/${w.subject}?purpose=talk_service&fields=nickname`, headers: { authorization: `bearer ${t.keys["talk-app"]}` } });
      assert.equal(res.status, 200, res.text);
    });

    test(`property: ${RUNS[kind].main} generated bad requests over every /v1 route → 4xx in the error shape, nothing written`, async (ctx) => {
      const before = await snapshot(w);
      const started = Date.now();
      const { sent, kinds } = await runProperty(w, requestArbitrary(w), RUNS[kind].main, SEED);
      const ms = Date.now() - started;
      assert.ok(sent >= RUNS[kind].main, `only ${sent} requests were sent`);
      const after = await snapshot(w);
      assert.deepEqual(after, before, "a bad request wrote something");
      // The subject is still whole and readable with its original values.
      const read = await t.call("talk-app", "GET", `/v1/subjects/${w.subject}?purpose=talk_service`);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.deepEqual(read.body.fields, { ...person, email: "fz@example.com" });
      const look = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: "fz-new" });
      assert.deepEqual(look.body.matches, [], "a generated create got through");
      ctx.diagnostic(`${sent} bad requests in ${ms} ms across ${kinds.size} kinds`);
    });

    describe("bad keys, on a server of their own", () => {
      let ta: TestApp;
      let wa: World;
      before(async () => {
        // Time moves 90 s per reading, so lockouts start and expire during the run and both the
        // 401 and the 429 paths are exercised.
        let ticks = 0;
        const start = Date.now();
        ta = await startApp(kind, { clock: { now: () => new Date(start + ticks++ * 90_000) } });
        wa = await setUp(ta);
      });
      after(async () => {
        await ta?.close();
      });

      test("missing key → 401 UNAUTHENTICATED; Bearer garbage → 401", async () => {
        const none = await send(wa.base, { method: "GET", path: `/v1/subjects/${wa.subject}?purpose=talk_service`, headers: {} });
        checkAnswer({ kind: "no key", req: { method: "GET", path: "", headers: {} }, expect: ["UNAUTHENTICATED"] }, none);
        assert.equal(none.status, 401);
        assert.match(JSON.parse(none.text).error.message, /missing API key/);
        const garbage = await send(wa.base, { method: "GET", path: `/v1/subjects/${wa.subject}?purpose=talk_service`, headers: { authorization: "Bearer garbage" } });
        checkAnswer({ kind: "Bearer garbage", req: { method: "GET", path: "", headers: {} }, expect: ["UNAUTHENTICATED"] }, garbage);
        assert.equal(garbage.status, 401);
        assert.match(JSON.parse(garbage.text).error.message, /invalid API key/);
      });

      test(`property: ${RUNS[kind].auth} generated bad or missing keys → 401 or 429, nothing written`, async () => {
        const before = await snapshot(wa);
        const { sent } = await runProperty(wa, authArbitrary(wa), RUNS[kind].auth, SEED + 1);
        assert.ok(sent >= RUNS[kind].auth);
        assert.deepEqual(await snapshot(wa), before, "a request with a bad key wrote something");
        const reasons = new Set<string>();
        await ta.c.audit.flush();
        for await (const page of ta.c.stores.audit.iterate(0, 1000)) {
          for (const row of page) {
            const b = JSON.parse(row.body) as { action: string; reasons: string[] };
            if (b.action === "auth.failure") for (const r of b.reasons) reasons.add(r);
          }
        }
        // Every failure kind was reached and audited, not only the lockout.
        for (const r of ["MISSING_KEY", "MALFORMED_KEY", "UNKNOWN_KEY", "WRONG_SECRET"]) assert.ok(reasons.has(r), `no ${r} failure was audited: ${[...reasons].join(", ")}`);
      });
    });
  });
}

after(() => keepAlive.destroy());
