/**
 * The console from a test: staff accounts made with the real CLI (`haechi console user add`), and
 * a small cookie-keeping client that signs in through the login form as a browser does.
 */
import fs from "node:fs";
import path from "node:path";
import { base32Decode, totp } from "../../src/crypto/totp.js";
import type { TestApp } from "./app.js";
import { runCli } from "./cli.js";

export interface Staff {
  id: string;
  role: string;
  password: string;
  secret: Buffer;
}

/** Adds a staff account through the CLI; returns its password and TOTP secret (from the printed URI). */
export const addStaff = async (t: TestApp, id: string, role: string, password = `pw-${id}-long-enough`): Promise<Staff> => {
  const file = path.join(t.home, `pw-${id}`);
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  const r = await runCli(t.env, "console", "user", "add", "--id", id, "--role", role, "--password-file", file);
  fs.rmSync(file);
  if (r.code !== 0) throw new Error(`console user add failed: ${r.out} ${String(r.error)}`);
  const m = /secret=([A-Z2-7]+)/.exec(r.out);
  if (!m) throw new Error(`no otpauth URI in: ${r.out}`);
  return { id, role, password, secret: base32Decode(m[1]!) };
};

/** The code an authenticator shows at the server's time. */
export const codeOf = (t: TestApp, s: Staff, offsetSteps = 0) => totp(s.secret, new Date(t.c.clock.now().getTime() + offsetSteps * 30_000));

export interface Res {
  status: number;
  location: string | null;
  text: string;
  headers: Headers;
}

export const consoleClient = (t: TestApp) => {
  const jar = new Map<string, string>();
  const remember = (h: Headers) => {
    for (const c of h.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      if (attrs.some((a) => /max-age=0/i.test(a.trim())) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
  };
  const cookie = () => [...jar.entries()].map(([k, v]) => `${k}=${v}`).join("; ");
  const send = async (method: string, p: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Res> => {
    const res = await fetch(`${t.url}${p}`, {
      method,
      redirect: "manual",
      headers: {
        ...(jar.size > 0 ? { cookie: cookie() } : {}),
        ...(form ? { "content-type": "application/x-www-form-urlencoded", origin: t.url } : {}),
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    remember(res.headers);
    return { status: res.status, location: res.headers.get("location"), text: await res.text(), headers: res.headers };
  };
  const client = {
    jar,
    get: (p: string, headers?: Record<string, string>) => send("GET", p, undefined, headers),
    post: (p: string, form: Record<string, string>, headers?: Record<string, string>) => send("POST", p, form, headers),
    /** The CSRF token of the last page that had a form. */
    csrfOf: (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? "",
    async login(id: string, password: string, code: string): Promise<Res> {
      const form = await send("GET", "/console/login?lang=en");
      const token = /name="_login" value="([^"]+)"/.exec(form.text)?.[1] ?? "";
      return send("POST", "/console/login?lang=en", { _login: token, id, password, code });
    },
  };
  return client;
};
