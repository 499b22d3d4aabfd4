/**
 * A minimal POSIX ustar writer, gzip-compressed, for archives people open with ordinary tools
 * (`tar -xzf`): regular files only, names up to 100 bytes, contents from memory or streamed from a
 * file (so a large member never sits in memory). Written to a temporary name, fsynced, then
 * renamed: a crash never leaves a half archive under the final name.
 */
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import zlib from "node:zlib";

export interface TarMember {
  /** Path inside the archive, `/`-separated, at most 100 bytes. */
  name: string;
  /** The content, or a file to stream it from. */
  data?: Buffer | string;
  file?: string;
  mtime: Date;
}

const BLOCK = 512;

const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";

/** One ustar header block. */
export const tarHeader = (name: string, size: number, mtime: Date): Buffer => {
  const nameBytes = Buffer.from(name, "utf8");
  if (nameBytes.length === 0 || nameBytes.length > 100) throw new RangeError(`tar member name must be 1–100 bytes: ${name}`);
  if (name.startsWith("/") || name.split("/").includes("..")) throw new RangeError(`tar member name must be relative: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  nameBytes.copy(h, 0);
  h.write(octal(0o644, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum field counts as spaces while summing
  h.write("0", 156, "ascii"); // regular file
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("haechi", 265, "ascii");
  h.write("haechi", 297, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
};

async function* tarStream(members: readonly TarMember[]): AsyncGenerator<Buffer> {
  for (const m of members) {
    if ((m.data === undefined) === (m.file === undefined)) throw new RangeError(`tar member ${m.name}: give data or file`);
    const size = m.data !== undefined ? Buffer.byteLength(m.data) : fs.statSync(m.file!).size;
    yield tarHeader(m.name, size, m.mtime);
    if (m.data !== undefined) yield Buffer.from(m.data);
    else {
      let read = 0;
      for await (const chunk of fs.createReadStream(m.file!)) {
        read += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (read !== size) throw new Error(`tar member ${m.name} changed while it was archived`);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad, 0);
  }
  yield Buffer.alloc(2 * BLOCK, 0); // end of archive
}

/** Writes `members` as a .tar.gz at `out` (mode 0600), durably. */
export const writeTarGz = async (out: string, members: readonly TarMember[]): Promise<void> => {
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.tmp`);
  try {
    const sink = fs.createWriteStream(tmp, { mode: 0o600 });
    await pipeline(Readable.from(tarStream(members)), zlib.createGzip(), sink);
    const fd = fs.openSync(tmp, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, out);
    const dir = fs.openSync(path.dirname(out), "r");
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
};
