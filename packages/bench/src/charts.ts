import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CompareReport } from './compare.js';
import type { GroupReport } from './group.js';
import type { IdleReport } from './idle.js';

/*
 * Charts of measured figures, rendered headless to SVG with Vega-Lite (no browser, no
 * canvas): the bench's own numbers in, files for docs/BENCHMARKS.md out.
 */

async function render(spec: TopLevelSpec, file: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileSync(file, svg);
  return file;
}

/** Latency (p50 and p99) against offered load per system, and CPU per message at each knee. */
export async function writeCharts(r: CompareReport, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const points = r.results.flatMap((x) =>
    x.steps
      .filter((s) => s.label !== 'warmup' && s.sentRate > 0)
      .flatMap((s) => [
        { system: x.system, offered: s.targetRate, percentile: 'p50', ms: s.latency.p50 },
        { system: x.system, offered: s.targetRate, percentile: 'p99', ms: s.latency.p99 },
      ]),
  );
  const o = r.options.pairs;
  const latency: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Send-to-receive latency against offered load (${o.pairs} pairs, receipts ${o.receipts ? 'on' : 'off'})`,
    width: 560,
    height: 320,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'offered', type: 'quantitative', title: 'offered load (msg/s)' },
      y: { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' } },
      color: { field: 'system', type: 'nominal' },
      strokeDash: { field: 'percentile', type: 'nominal' },
    },
  };
  const cpu: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Knee (highest step with p99 ≤ limit) and server CPU per message there',
    width: 560,
    height: 200,
    data: {
      values: r.results.map((x) => ({ system: x.system, knee: x.knee, us: Number.isFinite(x.cpuUsPerMsg) ? x.cpuUsPerMsg : 0 })),
    },
    hconcat: [
      {
        width: 260,
        mark: 'bar',
        encoding: {
          y: { field: 'system', type: 'nominal', sort: null, title: null },
          x: { field: 'knee', type: 'quantitative', title: 'knee (msg/s)' },
        },
      },
      {
        width: 260,
        mark: 'bar',
        encoding: {
          y: { field: 'system', type: 'nominal', sort: null, title: null },
          x: { field: 'us', type: 'quantitative', title: 'server CPU per message (µs)' },
        },
      },
    ],
  };
  return [await render(latency, path.join(dir, 'compare-latency.svg')), await render(cpu, path.join(dir, 'compare-knee-cpu.svg'))];
}

/** Group fan-out: first and last member's latency (p50, p99) against the group's message rate. */
export async function writeGroupChart(r: GroupReport, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const values = r.steps
    .filter((s) => !s.warmup)
    .flatMap((s) => [
      { rate: s.rate, series: 'last member p99', ms: s.last.p99 },
      { rate: s.rate, series: 'last member p50', ms: s.last.p50 },
      { rate: s.rate, series: 'first member p99', ms: s.first.p99 },
    ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${r.recipients + 1}-member group, all online, receipts ${r.options.receipts ? 'on' : 'off'}: send to member latency`,
    width: 480,
    height: 280,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'rate', type: 'quantitative', title: 'group messages per second' },
      y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' },
      color: { field: 'series', type: 'nominal' },
    },
  };
  return [await render(spec, path.join(dir, 'group-latency.svg'))];
}

/** Idle sockets: server memory per socket after connecting and after holding them idle. */
export async function writeIdleChart(r: IdleReport, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const perSocket = (rss: number) => (rss - r.rssBefore) / Math.max(1, r.connected) / 1024;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Server memory per idle authenticated socket (${r.connected.toLocaleString('en')} sockets)`,
    width: 420,
    height: 160,
    data: {
      values: [
        { when: 'after connecting', kib: perSocket(r.rssAfter) },
        { when: `after ${r.options.holdSeconds} s idle`, kib: perSocket(r.rssAfterHold) },
      ],
    },
    mark: 'bar',
    encoding: {
      y: { field: 'when', type: 'nominal', sort: null, title: null },
      x: { field: 'kib', type: 'quantitative', title: 'KiB of server RSS per socket' },
    },
  };
  return [await render(spec, path.join(dir, 'idle-memory.svg'))];
}
