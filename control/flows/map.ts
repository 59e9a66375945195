/**
 * The dependency map: workloads grouped by the perimeter that protects them, edges from the
 * recorded flows weighted by traffic, denied and would-be-denied edges marked. Rendered as DOT
 * (for Graphviz and anything that reads it) and as a self-contained SVG laid out here (a grid of
 * perimeter boxes), so it needs no external tool.
 */

import { printable } from './recorded.js';
import type { Flow } from './store.js';

export interface MapNode {
  id: string;
  label: string;
  /** A registered workload's SPIFFE ID; callers outside the registry have their own. */
  identity: string | undefined;
  group: string;
  mode: string | undefined;
}

export interface MapEdge {
  from: string;
  to: string;
  requests: number;
  allowed: number;
  denied: number;
  wouldDeny: number;
}

export interface DependencyMap {
  groups: { name: string; mode: string | undefined; nodes: MapNode[] }[];
  edges: MapEdge[];
}

const UNPROTECTED = 'unprotected';
const OUTSIDE = 'outside the registry';
const UNAUTHENTICATED = 'unauthenticated';

/** The workloads of a compiled policy, as far as the map needs them. */
export interface MapWorkloads {
  workloads: readonly { workload: { name: string; identity: string }; perimeters: readonly string[] }[];
}

export function buildMap(compiled: MapWorkloads, modes: ReadonlyMap<string, string>, flows: readonly Flow[]): DependencyMap {
  const nodes = new Map<string, MapNode>();
  const byIdentity = new Map<string, string>();
  for (const w of compiled.workloads) {
    const group = w.perimeters[0] ?? UNPROTECTED;
    nodes.set(w.workload.name, {
      id: w.workload.name,
      label: w.workload.name,
      identity: w.workload.identity,
      group,
      mode: modes.get(group),
    });
    byIdentity.set(w.workload.identity, w.workload.name);
  }
  const edges = new Map<string, MapEdge>();
  for (const f of flows) {
    let from = f.source === undefined ? UNAUTHENTICATED : byIdentity.get(f.source);
    if (from === undefined) {
      from = f.source as string;
      if (!nodes.has(from))
        nodes.set(from, { id: from, label: from.replace(/^spiffe:\/\//, ''), identity: f.source, group: OUTSIDE, mode: undefined });
    }
    if (from === UNAUTHENTICATED && !nodes.has(from))
      nodes.set(from, { id: from, label: 'unauthenticated callers', identity: undefined, group: OUTSIDE, mode: undefined });
    if (!nodes.has(f.destination))
      nodes.set(f.destination, { id: f.destination, label: f.destination, identity: undefined, group: OUTSIDE, mode: undefined });
    const key = `${from}\u0000${f.destination}`;
    const e = edges.get(key) ?? { from, to: f.destination, requests: 0, allowed: 0, denied: 0, wouldDeny: 0 };
    e.requests += f.count;
    e.allowed += f.allowed;
    e.denied += f.denied;
    e.wouldDeny += f.wouldDeny;
    edges.set(key, e);
  }
  const groups = new Map<string, MapNode[]>();
  for (const n of nodes.values()) groups.set(n.group, [...(groups.get(n.group) ?? []), n]);
  const order = (g: string) => (g === OUTSIDE ? 2 : g === UNPROTECTED ? 1 : 0);
  return {
    groups: [...groups]
      .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
      .map(([name, ns]) => ({ name, mode: modes.get(name), nodes: ns.sort((a, b) => a.label.localeCompare(b.label)) })),
    edges: [...edges.values()].sort((a, b) => b.requests - a.requests),
  };
}

const kindOf = (e: MapEdge) => (e.denied > 0 ? 'denied' : e.wouldDeny > 0 ? 'would-deny' : 'allowed');
const COLOUR = { allowed: '#2ca02c', denied: '#d62728', 'would-deny': '#ff7f0e' } as const;
// Labels can hold recorded identities: controls are shown inert before XML or DOT quoting.
const esc = (s: string) => printable(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const quote = (s: string) => `"${printable(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const width = (requests: number) => (1 + Math.log10(requests + 1) * 1.5).toFixed(1);
const edgeLabel = (e: MapEdge) =>
  [`${e.requests} req`, e.denied ? `${e.denied} denied` : '', e.wouldDeny ? `${e.wouldDeny} would deny` : ''].filter(Boolean).join(', ');

export function toDot(m: DependencyMap): string {
  const lines = [
    'digraph perimeter {',
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  m.groups.forEach((g, i) => {
    lines.push(`  subgraph cluster_${i} {`, `    label=${quote(g.mode ? `${g.name} (${g.mode})` : g.name)};`, '    style=dashed;');
    for (const n of g.nodes) lines.push(`    ${quote(n.id)} [label=${quote(n.label)}];`);
    lines.push('  }');
  });
  for (const e of m.edges) {
    const k = kindOf(e);
    lines.push(
      `  ${quote(e.from)} -> ${quote(e.to)} [label=${quote(edgeLabel(e))}, color=${quote(COLOUR[k])}, penwidth=${width(e.requests)}${k === 'would-deny' ? ', style=dashed' : ''}];`,
    );
  }
  lines.push('}', '');
  return lines.join('\n');
}

/** A grid of perimeter boxes, workloads listed inside, curved edges between them. */
export function toSvg(m: DependencyMap, title = 'Perimeter dependency map'): string {
  const NODE = { w: 190, h: 26, gap: 10 };
  const BOX = { w: 230, pad: 20, head: 30 };
  const COLS = 3;
  const GAP = { x: 120, y: 50 };
  const top = 50;
  const pos = new Map<string, { x: number; y: number }>();
  const boxes: string[] = [];
  const rowHeights: number[] = [];
  m.groups.forEach((g, i) => {
    const row = Math.floor(i / COLS);
    rowHeights[row] = Math.max(rowHeights[row] ?? 0, BOX.head + g.nodes.length * (NODE.h + NODE.gap) + BOX.pad);
  });
  const rowTop = (r: number) => top + rowHeights.slice(0, r).reduce((a, h) => a + h + GAP.y, 0);
  m.groups.forEach((g, i) => {
    const x = 20 + (i % COLS) * (BOX.w + GAP.x);
    const y = rowTop(Math.floor(i / COLS));
    const h = BOX.head + g.nodes.length * (NODE.h + NODE.gap) + BOX.pad;
    const label = g.mode ? `${g.name} · ${g.mode}` : g.name;
    boxes.push(
      `<g class="perimeter" data-name="${esc(g.name)}"><rect x="${x}" y="${y}" width="${BOX.w}" height="${h}" rx="8" fill="#f7f7fb" stroke="#9aa" stroke-dasharray="${g.mode ? '' : '4,3'}"/>` +
        `<text x="${x + 10}" y="${y + 20}" font-weight="bold">${esc(label)}</text></g>`,
    );
    g.nodes.forEach((n, j) => {
      const nx = x + (BOX.w - NODE.w) / 2;
      const ny = y + BOX.head + j * (NODE.h + NODE.gap);
      pos.set(n.id, { x: nx, y: ny });
      boxes.push(
        `<g class="workload" data-id="${esc(n.id)}"><title>${esc(n.identity ?? n.label)}</title><rect x="${nx}" y="${ny}" width="${NODE.w}" height="${NODE.h}" rx="5" fill="white" stroke="#456"/>` +
          `<text x="${nx + NODE.w / 2}" y="${ny + 17}" text-anchor="middle">${esc(n.label.length > 30 ? `${n.label.slice(0, 29)}…` : n.label)}</text></g>`,
      );
    });
  });
  const edges = m.edges.map((e, i) => {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) return '';
    const k = kindOf(e);
    const [x1, y1] = [a.x + NODE.w, a.y + NODE.h / 2];
    const [x2, y2] = b.x > a.x ? [b.x, b.y + NODE.h / 2] : [b.x + NODE.w, b.y + NODE.h / 2];
    // Bend each edge a little differently, so parallel edges stay apart.
    const bend = 30 + (i % 4) * 12;
    const cx = (x1 + x2) / 2;
    const cy = (y1 + y2) / 2 - bend;
    return (
      `<g class="edge ${k}" data-from="${esc(e.from)}" data-to="${esc(e.to)}"><title>${esc(`${e.from} → ${e.to}: ${edgeLabel(e)}`)}</title>` +
      `<path d="M${x1},${y1} Q${cx},${cy} ${x2},${y2}" fill="none" stroke="${COLOUR[k]}" stroke-width="${width(e.requests)}"${k === 'would-deny' ? ' stroke-dasharray="6,4"' : ''} marker-end="url(#arrow-${k})"/>` +
      `<text x="${cx}" y="${cy + bend / 2 - 4}" text-anchor="middle" font-size="10" fill="${COLOUR[k]}">${esc(edgeLabel(e))}</text></g>`
    );
  });
  const W = 20 + Math.min(COLS, m.groups.length) * (BOX.w + GAP.x);
  const H = rowTop(rowHeights.length) + 40;
  const markers = Object.entries(COLOUR)
    .map(
      ([k, c]) =>
        `<marker id="arrow-${k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`,
    )
    .join('');
  const legend = `<text x="20" y="${H - 14}" font-size="11"><tspan fill="${COLOUR.allowed}">━ allowed</tspan>   <tspan fill="${COLOUR.denied}">━ denied</tspan>   <tspan fill="${COLOUR['would-deny']}">╍ would be denied (not enforced)</tspan>   line width: requests (log)</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<defs>${markers}</defs>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="20" y="28" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...boxes,
    ...edges,
    legend,
    '</svg>',
    '',
  ].join('\n');
}
