// A pipeline's graph in its sidebar job row: a box a step, coloured by its
// state, layers from top to bottom (the sidebar is narrow), an arrow from
// each step to the steps that need it.

import { IPipelineStep } from './api';

const SVG = 'http://www.w3.org/2000/svg';
const BOX_W = 112;
const BOX_H = 30;
const GAP_X = 8;
const GAP_Y = 18;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** What the graph shows, as a string: it is drawn again only when this changes. */
export function graphKey(steps: IPipelineStep[], layers: string[][]): string {
  return JSON.stringify([layers, steps.map(s => [s.name, s.state, s.error ?? ''])]);
}

/** The graph as an SVG element, or null without layers. */
export function pipelineGraph(steps: IPipelineStep[], layers: string[][]): SVGSVGElement | null {
  const byName = new Map(steps.map(step => [step.name, step]));
  const rows = layers.map(layer => layer.filter(name => byName.has(name)));
  if (!rows.some(row => row.length)) {
    return null;
  }
  const widest = Math.max(...rows.map(row => row.length));
  const width = widest * (BOX_W + GAP_X) - GAP_X;
  const height = rows.length * (BOX_H + GAP_Y) - GAP_Y;
  const at = new Map<string, { x: number; y: number }>();
  rows.forEach((row, depth) => {
    // Each layer centred over the widest.
    const offset = ((widest - row.length) * (BOX_W + GAP_X)) / 2;
    row.forEach((name, index) => {
      at.set(name, { x: offset + index * (BOX_W + GAP_X), y: depth * (BOX_H + GAP_Y) });
    });
  });
  const graph = svg('svg', {
    class: 'mlnb-pipeline-graph',
    viewBox: `-2 -2 ${width + 4} ${height + 4}`,
    width: width + 4,
    role: 'img',
    'aria-label': 'Pipeline steps'
  });
  graph.style.maxWidth = '100%';
  for (const step of steps) {
    const to = at.get(step.name);
    for (const need of step.needs ?? []) {
      const from = at.get(need);
      if (to && from) {
        graph.append(
          svg('line', {
            class: 'mlnb-pipeline-edge',
            x1: from.x + BOX_W / 2,
            y1: from.y + BOX_H,
            x2: to.x + BOX_W / 2,
            y2: to.y - 1
          })
        );
      }
    }
  }
  for (const [name, { x, y }] of at) {
    const step = byName.get(name)!;
    const box = svg('g', {
      class: `mlnb-pipeline-step mlnb-step-${step.state.toLowerCase()}`,
      'data-step': name
    });
    const title = svg('title', {});
    title.textContent = `${name} (${step.action}): ${step.state}${step.error ? `: ${step.error}` : ''}`;
    const label = svg('text', { x: x + 6, y: y + 13, class: 'mlnb-step-name' });
    label.textContent = name.length > 16 ? `${name.slice(0, 15)}…` : name;
    const state = svg('text', { x: x + 6, y: y + 25, class: 'mlnb-step-state' });
    state.textContent = step.state.toLowerCase();
    box.append(title, svg('rect', { x, y, width: BOX_W, height: BOX_H, rx: 5 }), label, state);
    graph.append(box);
  }
  return graph;
}
