/**
 * Writes the catalog's JSON Schema to `schema/haechi.schema.json` (or the path given).
 *
 *   node --import tsx src/core/catalog/write-schema.ts           write it
 *   node --import tsx src/core/catalog/write-schema.ts --check   exit 1 if the committed file is stale (CI)
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { catalogJsonSchema } from "./catalog-fns.js";

const args = process.argv.slice(2);
const check = args.includes("--check");
const out = args.find((a) => !a.startsWith("--")) ?? fileURLToPath(new URL("../../../schema/haechi.schema.json", import.meta.url));
const text = `${JSON.stringify(catalogJsonSchema(), null, 2)}\n`;

if (check) {
  const current = await readFile(out, "utf8").catch(() => "");
  if (current !== text) {
    console.error(`${out} is out of date; run: node --import tsx src/core/catalog/write-schema.ts`);
    process.exitCode = 1;
  } else console.log(`${out} is up to date`);
} else {
  await writeFile(out, text, "utf8");
  console.log(`wrote ${out}`);
}
