/**
 * Charts with Chart.js (only the pieces used are registered, so the bundle stays small). Values
 * are Numbers for drawing only; tooltips show the exact decimal strings. Every chart comes with
 * a text alternative: an aria-label summary and the same data as a table in a <details>.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import { h, type Child } from './dom.ts';
import { groupDigits } from './format.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#3b4350';
// No animation: charts redraw on every refresh and screenshots must show the final state.
Chart.defaults.animation = false;

/** Tableau 10: distinguishable, and readable for the common colour-vision deficiencies. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export interface Series {
  readonly label: string;
  /** Exact values (decimal strings) per label; null where there is nothing. */
  readonly exact: readonly (string | null)[];
}

export interface ChartHandle {
  readonly element: HTMLElement;
  destroy(): void;
}

function frame(summary: string, canvas: HTMLCanvasElement, table: Child): HTMLElement {
  return h('figure', { class: 'chart' }, h('div', { class: 'chart-box' }, canvas), h('figcaption', { class: 'sr-only' }, summary), table);
}

function dataTable(caption: string, labels: readonly string[], series: readonly Series[]): HTMLElement {
  return h(
    'details',
    { class: 'chart-data' },
    h('summary', null, 'Chart data as a table'),
    h(
      'div',
      { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 },
      h(
        'table',
        null,
        h('caption', null, caption),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Bucket'), ...series.map((s) => h('th', { scope: 'col', class: 'num' }, s.label)))),
        h(
          'tbody',
          null,
          ...labels.map((l, i) => h('tr', null, h('th', { scope: 'row' }, l), ...series.map((s) => h('td', { class: 'num' }, groupDigits(s.exact[i] ?? '0'))))),
        ),
      ),
    ),
  );
}

/** A stacked bar chart (usage per bucket, one stack segment per series). */
export function stackedBars(summary: string, labels: readonly string[], series: readonly Series[], unit: string): ChartHandle {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const config: ChartConfiguration<'bar', number[], string> = {
    type: 'bar',
    data: {
      labels: [...labels],
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.exact.map((v) => (v === null ? 0 : Number(v))),
        backgroundColor: PALETTE[i % PALETTE.length],
        borderWidth: 0,
        stack: 'usage',
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: true, beginAtZero: true, title: { display: unit !== '', text: unit }, ticks: { callback: (v) => compact(Number(v)) } },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label ?? ''}: ${groupDigits(series[item.datasetIndex]?.exact[item.dataIndex] ?? '0')}` } },
      },
    },
  };
  const chart = new Chart(canvas, config);
  return { element: frame(summary, canvas, dataTable(summary, labels, series)), destroy: () => chart.destroy() };
}

export interface LineChart extends ChartHandle {
  update(labels: readonly string[], series: readonly { label: string; values: readonly (number | null)[] }[]): void;
}

/** A line chart of rates that is updated in place (the Overview's live view). */
export function lines(summary: string, yTitle: string): LineChart {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const chart = new Chart<'line', (number | null)[], string>(canvas, {
    type: 'line',
    data: { labels: [], datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      spanGaps: true,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 16 } },
        y: { beginAtZero: true, title: { display: true, text: yTitle } },
      },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
      elements: { point: { radius: 2 }, line: { borderWidth: 2, tension: 0.2 } },
    },
  });
  return {
    element: h('figure', { class: 'chart' }, h('div', { class: 'chart-box' }, canvas), h('figcaption', { class: 'sr-only' }, summary)),
    destroy: () => chart.destroy(),
    update(labels, series) {
      chart.data.labels = [...labels];
      chart.data.datasets = series.map((s, i) => ({
        label: s.label,
        data: [...s.values],
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
      }));
      chart.update();
    },
  };
}

/** Axis ticks: 1.2k, 3.4M, … (the exact values are in tooltips and tables). */
function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e15) return v.toExponential(1);
  if (a >= 1e12) return `${(v / 1e12).toFixed(1)}T`;
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return String(v);
}
