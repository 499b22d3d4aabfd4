/** Writing a file so that it is on disk before the caller goes on (fsync), with owner-only access. */
import fs from "node:fs";

/**
 * Writes `text` to `file` and fsyncs it. `flag`: "w" replaces, "wx" refuses an existing file,
 * "a" appends (journals).
 */
export const writeFileDurably = (file: string, text: string, flag: "w" | "wx" | "a" = "w"): void => {
  const fd = fs.openSync(file, flag, 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};
