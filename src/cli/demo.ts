/**
 * Demo keys for `npm start`: one API key per catalog principal, written to
 * `$HAECHI_HOME/demo-keys.json` ({ "<principal>": "<key>" }, mode 0600) and reused on the next
 * start while they still authenticate.
 */
import fs from "node:fs";
import path from "node:path";
import type { Container } from "../container.js";
import { parseApiKey, secretMatches } from "../crypto/api-keys.js";

export const ensureDemoKeys = async (c: Container): Promise<Record<string, string>> => {
  const file = path.join(c.config.home, "demo-keys.json");
  let existing: Record<string, string> = {};
  try {
    existing = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    existing = {};
  }
  const out: Record<string, string> = {};
  for (const principal of Object.keys(c.catalog.current().principals)) {
    const token = existing[principal];
    const parsed = token ? parseApiKey(token) : undefined;
    const row = parsed ? await c.stores.data.getApiKey(parsed.keyId) : undefined;
    if (parsed && row && !row.revokedAt && row.principal === principal && secretMatches(parsed.secret, row.secretHash)) {
      out[principal] = token!;
      continue;
    }
    out[principal] = (await c.services.auth.issue(principal)).token;
  }
  fs.mkdirSync(c.config.home, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`, { mode: 0o600 });
  return out;
};
