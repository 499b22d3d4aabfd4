/** The growth chart of bench/sizing.bench.ts: one PostgreSQL copy's storage, year by year, from the result's model. */

export interface SizingModel {
  assumptions: { subjects: number; auditRetentionYears: number };
  storage: { dataGB: number; keysGB: number };
  base: { auditEntriesPerDay: number };
  years: Array<{ year: number; dataTB: number; keysTB: number; auditPartitionedTB: number; auditUnprunedTB: number }>;
}

/** Stacked bars (data, keys, audit with old months dropped) and a dashed mark for the audit log never pruned. */
export const growthSvg = (model: SizingModel): string => {
  const { years, assumptions: a, storage, base } = model;
  const W = 760;
  const H = 360;
  const left = 60;
  const bottom = 62;
  const top = 62;
  const max = Math.max(...years.map((y) => y.dataTB + y.keysTB + y.auditUnprunedTB));
  const step = max > 400 ? 100 : max > 200 ? 50 : max > 40 ? 10 : max > 10 ? 5 : 1;
  const ceiling = Math.ceil(max / step) * step;
  const scale = (H - top - bottom) / ceiling;
  const bw = (W - left - 30) / years.length;
  const parts: string[] = [];
  for (let v = 0; v <= ceiling; v += step) {
    const y = H - bottom - v * scale;
    parts.push(`<line x1="${left}" y1="${y.toFixed(1)}" x2="${W - 20}" y2="${y.toFixed(1)}" stroke="#e0e0e0"/><text x="${left - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${v}</text>`);
  }
  const mid = (top + (H - top - bottom) / 2).toFixed(0);
  parts.push(`<text x="16" y="${mid}" font-size="11" transform="rotate(-90 16 ${mid})" text-anchor="middle">TB</text>`);
  years.forEach((y, i) => {
    const x = left + i * bw + bw * 0.2;
    const w = bw * 0.5;
    let b = H - bottom;
    for (const [v, color, what] of [
      [y.dataTB, "#1565c0", "data and consents"],
      [y.keysTB, "#2e7d32", "key store"],
      [y.auditPartitionedTB, "#ef6c00", "audit log"],
    ] as const) {
      const h = v * scale;
      b -= h;
      parts.push(`<rect x="${x.toFixed(1)}" y="${b.toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(1, h).toFixed(1)}" fill="${color}"><title>year ${y.year}, ${what}: ${v} TB</title></rect>`);
    }
    const total = y.dataTB + y.keysTB + y.auditPartitionedTB;
    parts.push(`<text x="${(x + w / 2).toFixed(1)}" y="${(b - 5).toFixed(1)}" font-size="11" text-anchor="middle">${total.toFixed(0)}</text>`);
    const unpruned = y.dataTB + y.keysTB + y.auditUnprunedTB;
    if (unpruned > total + 0.5) {
      const uy = H - bottom - unpruned * scale;
      parts.push(`<line x1="${(x - 6).toFixed(1)}" y1="${uy.toFixed(1)}" x2="${(x + w + 6).toFixed(1)}" y2="${uy.toFixed(1)}" stroke="#c62828" stroke-width="2" stroke-dasharray="4 3"><title>year ${y.year}, nothing ever dropped: ${unpruned.toFixed(0)} TB</title></line>`);
      parts.push(`<text x="${(x + w / 2).toFixed(1)}" y="${(uy - 5).toFixed(1)}" font-size="11" fill="#c62828" text-anchor="middle">${unpruned.toFixed(0)}</text>`);
    }
    parts.push(`<text x="${(x + w / 2).toFixed(1)}" y="${H - bottom + 16}" font-size="12" text-anchor="middle">year ${y.year}</text>`);
  });
  const legend = [
    ["#1565c0", `data + consents (${storage.dataGB} GB)`],
    ["#2e7d32", `key store (${storage.keysGB} GB)`],
    ["#ef6c00", `audit log, months older than ${a.auditRetentionYears} years dropped`],
    ["#c62828", "audit log never pruned (today's schema)"],
  ]
    .map(([color, label], i) => {
      const lx = left + (i % 2) * 330;
      const ly = H - 26 + Math.floor(i / 2) * 18;
      return `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="${ly}" font-size="11">${label}</text>`;
    })
    .join("");
  const title = `One PostgreSQL copy for ${(a.subjects / 1e6).toFixed(0)} M people at ${(base.auditEntriesPerDay / 1e6).toFixed(0)} M audit entries a day`;
  const sub = "measured bytes × stated assumptions (bench/results/sizing-postgres.json); the three sites hold three copies";
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" role="img" aria-label="${title}">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${title}</text>
<text x="10" y="38" font-size="11">${sub}</text>
${parts.join("\n")}
${legend}
</svg>
`;
};
