/** The ustar writer the evidence pack uses, checked against the system's tar. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { tarHeader, writeTarGz } from "../../src/util/tar.js";

test("a .tar.gz that tar reads back: members from memory and streamed from files, any size, in order", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-tar-"));
  try {
    const big = path.join(dir, "big.bin");
    fs.writeFileSync(big, Buffer.alloc(70_001, 7));
    const out = path.join(dir, "a.tar.gz");
    const mtime = new Date("2026-10-01T00:00:00Z");
    await writeTarGz(out, [
      { name: "README.txt", data: "해치 evidence\n", mtime },
      { name: "sub/big.bin", file: big, mtime },
      { name: "sub/empty.json", data: "", mtime },
      { name: "x".repeat(100), data: "long name", mtime },
    ]);
    assert.deepEqual(execFileSync("tar", ["-tzf", out], { encoding: "utf8" }).trim().split("\n"), ["README.txt", "sub/big.bin", "sub/empty.json", "x".repeat(100)]);
    const x = path.join(dir, "x");
    fs.mkdirSync(x);
    execFileSync("tar", ["-xzf", out, "-C", x]);
    assert.equal(fs.readFileSync(path.join(x, "README.txt"), "utf8"), "해치 evidence\n");
    assert.deepEqual(fs.readFileSync(path.join(x, "sub/big.bin")), fs.readFileSync(big));
    assert.equal(fs.statSync(path.join(x, "sub/empty.json")).size, 0);
    assert.equal(fs.statSync(path.join(x, "README.txt")).mtime.getTime(), mtime.getTime());
    assert.equal(fs.statSync(out).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")), [], "no temporary file left");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("member names are relative, 1–100 bytes", () => {
  assert.throws(() => tarHeader("x".repeat(101), 0, new Date()), /1–100 bytes/);
  assert.throws(() => tarHeader("", 0, new Date()), /1–100 bytes/);
  assert.throws(() => tarHeader("/etc/passwd", 0, new Date()), /relative/);
  assert.throws(() => tarHeader("a/../../b", 0, new Date()), /relative/);
});
