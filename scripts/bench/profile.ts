/**
 * Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes): the functions with the most
 * self time, self time grouped by where the code lives, and the cortado functions with the
 * most inclusive time (themselves plus what they call).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameShare {
  frame: string;
  /** Percent of the busy samples (idle excluded). */
  percent: number;
  ms: number;
}

export interface ProfileSummary {
  file: string;
  /** Wall time summarised (the window, or the whole profile). */
  totalMs: number;
  /** Time not idle. */
  busyMs: number;
  topSelf: FrameShare[];
  categories: FrameShare[];
  topInclusive: FrameShare[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  const src = path.indexOf('/src/');
  if (src >= 0) return path.slice(src + 1);
  return path;
}

function frameName(frame: CallFrame): string {
  const url = shortUrl(frame.url);
  const name = frame.functionName || '(anonymous)';
  // tsx-compiled modules report every function on line 1: the line is shown only when known.
  return url ? `${name} ${url}${frame.lineNumber > 0 ? `:${frame.lineNumber + 1}` : ''}` : name;
}

/** Where a frame's code lives, for the grouped view. */
function category(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') return name;
  const url = frame.url.replace(/^file:\/\//, '');
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `node_modules: ${nm[1]}`;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `cortado src/${src[1]}/`;
  if (url.startsWith('node:') || url === '' || !url.includes('/')) return 'node internals and native code';
  return 'other';
}

const percent = (count: number, total: number) => Math.round((count / Math.max(1, total)) * 1000) / 10;

/**
 * `window`: milliseconds from the profile's start to summarise (the load phase, so start-up
 * compilation does not count); the whole profile when absent.
 */
export function summariseProfile(file: string, window?: { fromMs: number; toMs: number }, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const totalUs = profile.endTime - profile.startTime;
  const usPerSample = totalUs / Math.max(1, profile.samples.length);
  const self = new Map<string, number>();
  const categories = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime;
  let total = 0;
  for (const [index, id] of profile.samples.entries()) {
    at += profile.timeDeltas[index] ?? 0;
    const offsetMs = (at - profile.startTime) / 1000;
    if (window && (offsetMs < window.fromMs || offsetMs > window.toMs)) continue;
    total++;
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)') continue;
    busy++;
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + 1);
    const group = category(node.callFrame);
    categories.set(group, (categories.get(group) ?? 0) + 1);
    // Inclusive: each cortado function on the stack once per sample.
    const seen = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const frame = byId.get(up)?.callFrame;
      if (frame && /\/src\//.test(frame.url) && !frame.url.includes('/node_modules/')) seen.add(frameName(frame));
    }
    for (const key of seen) inclusive.set(key, (inclusive.get(key) ?? 0) + 1);
  }
  const ranked = (map: Map<string, number>, limit: number): FrameShare[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([frame, count]) => ({ frame, percent: percent(count, busy), ms: Math.round((count * usPerSample) / 1000) }));
  return {
    file,
    totalMs: Math.round((total * usPerSample) / 1000),
    busyMs: Math.round((busy * usPerSample) / 1000),
    topSelf: ranked(self, top),
    categories: ranked(categories, 20),
    topInclusive: ranked(inclusive, top),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [`CPU profile ${summary.file}: ${summary.totalMs} ms recorded, ${summary.busyMs} ms busy (percentages are of busy time)`];
  const section = (title: string, rows: FrameShare[]) => {
    lines.push('', title);
    for (const row of rows) lines.push(`  ${row.percent.toFixed(1).padStart(5)} %  ${row.frame}`);
  };
  section('self time by location:', summary.categories);
  section('top functions by self time:', summary.topSelf);
  section('top cortado functions by inclusive time:', summary.topInclusive);
  return lines.join('\n');
}
