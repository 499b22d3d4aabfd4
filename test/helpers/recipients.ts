/** The demo recipients' secret keys (DEMO ONLY, committed so a demo user can decrypt exports). */
import fs from "node:fs";
import path from "node:path";

const IDENTITIES = path.resolve(import.meta.dirname, "../../examples/demo-recipient-identities.txt");

export const demoIdentity = (recipient: string): string => {
  const lines = fs.readFileSync(IDENTITIES, "utf8").split("\n").map((l) => l.trim());
  const at = lines.findIndex((l) => l === `# ${recipient}`);
  const key = lines.slice(at + 1).find((l) => l.startsWith("AGE-SECRET-KEY-1"));
  if (at < 0 || !key) throw new Error(`no demo identity for ${recipient}`);
  return key;
};
