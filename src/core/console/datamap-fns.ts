/**
 * The data map as a picture (issue 6; PIPA Art. 30 system structure; LAW §15 A3): four columns —
 * fields → purposes → recipients → countries — with a line wherever data may flow: a purpose uses
 * a field, a recipient receives a purpose's data, a recipient processes in a country. Fields are
 * marked by sensitivity, recipients by kind, countries abroad by colour. Pure: the layout is data
 * (testable), the SVG is a string built from it with every label escaped.
 */
import { escapeXml } from "./svg-fns.js";
import type { Catalog } from "../catalog/catalog-schema.js";

export type MapColumn = "field" | "purpose" | "recipient" | "country";

export interface MapNode {
  id: string;
  column: MapColumn;
  label: string;
  /** field: the sensitivity; recipient: consignee | third_party; country: home | abroad; purpose: the legal basis. */
  tag: string;
  x: number;
  y: number;
}

export interface MapEdge {
  from: string;
  to: string;
}

export interface DataMapLayout {
  width: number;
  height: number;
  nodes: MapNode[];
  edges: MapEdge[];
}

const COLUMNS: MapColumn[] = ["field", "purpose", "recipient", "country"];
export const MAP_GEOMETRY = { columnWidth: 250, nodeWidth: 190, rowHeight: 30, top: 44, left: 10 } as const;

const nodeId = (column: MapColumn, name: string) => `${column}:${name}`;

/** Orders a column by the mean position of its neighbours in the previous one (fewer crossings); ties by name. */
const byBarycentre = (names: string[], neighbours: (n: string) => number[]): string[] => {
  const centre = (n: string) => {
    const ys = neighbours(n);
    return ys.length === 0 ? Number.POSITIVE_INFINITY : ys.reduce((a, b) => a + b, 0) / ys.length;
  };
  return [...names].sort((a, b) => centre(a) - centre(b) || (a < b ? -1 : a > b ? 1 : 0));
};

/** Computes the picture: nodes in four columns (each centred vertically), edges between them. */
export const dataMapLayout = (catalog: Catalog): DataMapLayout => {
  const fields = Object.keys(catalog.fields).sort();
  const purposes = Object.keys(catalog.purposes);
  const recipients = Object.keys(catalog.recipients ?? {});
  const home = catalog.controller.country;
  const countries = [...new Set([home, ...recipients.map((r) => catalog.recipients[r]!.country)])];

  const edges: MapEdge[] = [];
  for (const p of purposes) for (const f of catalog.purposes[p]!.fields) edges.push({ from: nodeId("field", f), to: nodeId("purpose", p) });
  for (const r of recipients) {
    const rec = catalog.recipients[r]!;
    for (const p of rec.purposes) edges.push({ from: nodeId("purpose", p), to: nodeId("recipient", r) });
    edges.push({ from: nodeId("recipient", r), to: nodeId("country", rec.country) });
  }

  const index = new Map<string, number>();
  const place = (column: MapColumn, names: string[]) => names.forEach((n, i) => index.set(nodeId(column, n), i));
  const fromOf = (column: MapColumn, prev: MapColumn) => (n: string) =>
    edges.filter((e) => e.to === nodeId(column, n) && e.from.startsWith(`${prev}:`)).map((e) => index.get(e.from) ?? 0);
  place("field", fields);
  const orderedPurposes = byBarycentre(purposes, fromOf("purpose", "field"));
  place("purpose", orderedPurposes);
  const orderedRecipients = byBarycentre(recipients, fromOf("recipient", "purpose"));
  place("recipient", orderedRecipients);
  const orderedCountries = byBarycentre(countries, fromOf("country", "recipient"));

  const order: Record<MapColumn, string[]> = { field: fields, purpose: orderedPurposes, recipient: orderedRecipients, country: orderedCountries };
  const rows = Math.max(...COLUMNS.map((c) => order[c].length), 1);
  const g = MAP_GEOMETRY;
  const nodes: MapNode[] = [];
  COLUMNS.forEach((column, ci) => {
    const names = order[column];
    const offset = ((rows - names.length) * g.rowHeight) / 2;
    names.forEach((name, i) => {
      const tag =
        column === "field"
          ? catalog.fields[name]!.sensitivity
          : column === "purpose"
            ? catalog.purposes[name]!.basis
            : column === "recipient"
              ? catalog.recipients[name]!.kind
              : name === home
                ? "home"
                : "abroad";
      nodes.push({ id: nodeId(column, name), column, label: name, tag, x: g.left + ci * g.columnWidth, y: g.top + offset + i * g.rowHeight });
    });
  });
  return { width: g.left * 2 + 3 * g.columnWidth + g.nodeWidth, height: g.top + rows * g.rowHeight + 40, nodes, edges };
};


export interface DataMapLabels {
  title: string;
  columns: Record<MapColumn, string>;
  legend: { sensitive: string; consignee: string; thirdParty: string; abroad: string };
}

/** Node fill by what it is: anything but general sensitivity is marked, so are third parties and countries abroad. */
const fillOf = (n: MapNode): string => {
  if (n.column === "field") return n.tag === "general" ? "#e3f2fd" : "#ffcdd2";
  if (n.column === "recipient") return n.tag === "third_party" ? "#ffe0b2" : "#e8f5e9";
  if (n.column === "country") return n.tag === "abroad" ? "#ffe0b2" : "#e8f5e9";
  return "#f3e5f5";
};

/** The picture as an SVG document (scales to its container; labels escaped; a <title> per node and line). */
export const dataMapSvg = (layout: DataMapLayout, labels: DataMapLabels): string => {
  const g = MAP_GEOMETRY;
  const h = g.rowHeight - 8;
  const at = new Map(layout.nodes.map((n) => [n.id, n]));
  const lines = layout.edges
    .map((e) => {
      const a = at.get(e.from);
      const b = at.get(e.to);
      if (!a || !b) return "";
      const x1 = a.x + g.nodeWidth;
      const y1 = a.y + h / 2;
      const x2 = b.x;
      const y2 = b.y + h / 2;
      const mid = (x1 + x2) / 2;
      const abroad = b.column === "country" && b.tag === "abroad";
      return `<path class="edge" d="M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}" fill="none" stroke="${abroad ? "#e65100" : "#90a4ae"}" stroke-width="${abroad ? 2 : 1.2}"><title>${escapeXml(a.label)} → ${escapeXml(b.label)}</title></path>`;
    })
    .join("\n");
  const boxes = layout.nodes
    .map((n) => {
      const marked = (n.column === "field" && n.tag !== "general") || n.tag === "third_party" || n.tag === "abroad";
      const text = n.column === "field" && n.tag !== "general" ? `${n.label} ⚠ ${n.tag}` : n.column === "purpose" ? `${n.label} (${n.tag})` : n.label;
      return `<g class="node ${n.column}${marked ? " marked" : ""}" data-id="${escapeXml(n.id)}"><title>${escapeXml(`${n.column} ${n.label} — ${n.tag}`)}</title><rect x="${n.x}" y="${n.y}" width="${g.nodeWidth}" height="${h}" rx="4" fill="${fillOf(n)}" stroke="${marked ? "#c62828" : "#78909c"}"/><text x="${n.x + 6}" y="${n.y + h / 2 + 4}" font-size="12">${escapeXml(text.length > 30 ? `${text.slice(0, 29)}…` : text)}</text></g>`;
    })
    .join("\n");
  const heads = (["field", "purpose", "recipient", "country"] as const)
    .map((c, i) => `<text x="${g.left + i * g.columnWidth}" y="28" font-size="14" font-weight="bold">${escapeXml(labels.columns[c])}</text>`)
    .join("");
  const ly = layout.height - 14;
  const legend =
    `<rect x="${g.left}" y="${ly - 11}" width="14" height="14" fill="#ffcdd2" stroke="#c62828"/><text x="${g.left + 20}" y="${ly}" font-size="12">${escapeXml(labels.legend.sensitive)}</text>` +
    `<rect x="${g.left + 260}" y="${ly - 11}" width="14" height="14" fill="#e8f5e9" stroke="#78909c"/><text x="${g.left + 280}" y="${ly}" font-size="12">${escapeXml(labels.legend.consignee)}</text>` +
    `<rect x="${g.left + 480}" y="${ly - 11}" width="14" height="14" fill="#ffe0b2" stroke="#c62828"/><text x="${g.left + 500}" y="${ly}" font-size="12">${escapeXml(labels.legend.thirdParty)} / ${escapeXml(labels.legend.abroad)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" font-family="sans-serif" role="img" aria-labelledby="datamap-title">
<title id="datamap-title">${escapeXml(labels.title)}</title>
<rect width="100%" height="100%" fill="white"/>
${heads}
${lines}
${boxes}
${legend}
</svg>`;
};
