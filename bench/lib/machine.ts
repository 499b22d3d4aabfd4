/** Machine facts recorded with every benchmark result, and the result writer. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const machine = () => ({
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  os: `${os.type()} ${os.release()}`,
});

export const writeResult = (name: string, obj: Record<string, unknown>) => {
  const dir = path.resolve(import.meta.dirname, "../results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), ...obj }, null, 2)}\n`);
  return file;
};
