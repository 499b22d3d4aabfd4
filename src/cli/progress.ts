/**
 * A progress bar for long work (imports, rotations, verification), on stderr. On a terminal it
 * redraws one line; elsewhere (CI logs) it prints a line at most every few seconds.
 */
export const progressBar = (label: string, opts: { stream?: NodeJS.WriteStream; width?: number; unit?: string } = {}) => {
  const out = opts.stream ?? process.stderr;
  const tty = Boolean(out.isTTY);
  const width = opts.width ?? 28;
  const unit = opts.unit ?? "items";
  const start = Date.now();
  let lastPrint = 0;
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const render = (done: number, total: number | null, extra: string) => {
    const secs = (Date.now() - start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const frac = total ? Math.min(1, done / total) : null;
    const bar = frac === null ? "" : `[${"█".repeat(Math.round(frac * width)).padEnd(width, "·")}] ${(frac * 100).toFixed(0).padStart(3)}% `;
    const eta = frac && frac > 0 && frac < 1 ? ` ETA ${Math.ceil(secs / frac - secs)}s` : "";
    return `${label} ${bar}${fmt(done)} ${unit} · ${fmt(rate)}/s${eta}${extra ? ` · ${extra}` : ""}`;
  };
  return {
    update(done: number, total: number | null = null, extra = "") {
      const now = Date.now();
      if (tty) {
        if (now - lastPrint < 100) return;
        out.write(`\r\x1b[2K${render(done, total, extra)}`);
      } else {
        if (now - lastPrint < 3000) return;
        out.write(`${render(done, total, extra)}\n`);
      }
      lastPrint = now;
    },
    done(done: number, total: number | null = null, extra = "") {
      out.write(`${tty ? "\r\x1b[2K" : ""}${render(done, total ?? done, extra)}\n`);
    },
  };
};
