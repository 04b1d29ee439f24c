/** One second of a load: what succeeded, what failed, and its latency. */
export interface TimelineSecond {
  second: number;
  operations: number;
  errors: number;
  p50Millis: number;
  p99Millis: number;
}

export interface TimelineEvent {
  at: number;
  what: string;
}

const escapeHtml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/**
 * A load over time as inline SVG (no scripts): successful operations per second as grey
 * bars and errors as red bars (left axis), p50 and p99 latency as lines on a log scale
 * (right axis), and each event as a dashed vertical line with its label.
 */
export function timelineChart(title: string, seconds: TimelineSecond[], events: TimelineEvent[]): string {
  const [left, top, width, height] = [60, 40, 560, 200];
  const n = Math.max(seconds.length, 1);
  const x = (second: number) => left + (second / n) * width;
  const barWidth = Math.max(1, width / n - 1);
  const maxOps = Math.max(...seconds.map((s) => s.operations + s.errors), 1);
  const yOps = (value: number) => top + height - (value / maxOps) * height;
  const latencies = seconds.flatMap((s) => [s.p50Millis, s.p99Millis]).filter((v) => v > 0);
  const lo = Math.log10(Math.min(...latencies, 0.1));
  const hi = Math.log10(Math.max(...latencies, 10)) + 0.1;
  const yMs = (ms: number) => top + height - ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * height;
  const bars = seconds
    .map((s) => {
      const okTop = yOps(s.operations);
      const errTop = yOps(s.operations + s.errors);
      return `<rect x="${x(s.second).toFixed(1)}" y="${okTop.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(top + height - okTop).toFixed(1)}" fill="#c8c8c8"/>${
        s.errors > 0
          ? `<rect class="errors" x="${x(s.second).toFixed(1)}" y="${errTop.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(okTop - errTop).toFixed(1)}" fill="#cb3c33"/>`
          : ""
      }`;
    })
    .join("");
  const line = (pick: (s: TimelineSecond) => number, colour: string, name: string) => {
    const points = seconds
      .filter((s) => pick(s) > 0)
      .map((s) => `${(x(s.second) + barWidth / 2).toFixed(1)},${yMs(pick(s)).toFixed(1)}`)
      .join(" ");
    return `<polyline class="series ${name}" fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>`;
  };
  const marks = events
    .map(
      (e, i) =>
        `<line class="event" x1="${x(e.at).toFixed(1)}" x2="${x(e.at).toFixed(1)}" y1="${top}" y2="${top + height}" stroke="#555" stroke-dasharray="4 3"/><text x="${(x(e.at) + 3).toFixed(1)}" y="${top + 10 + (i % 4) * 11}" font-size="10">${escapeHtml(e.what.slice(0, 48))}</text>`,
    )
    .join("");
  const msGrid = [0.1, 1, 10, 100, 1000, 10000]
    .filter((ms) => Math.log10(ms) >= lo && Math.log10(ms) <= hi)
    .map((ms) => `<text x="${left + width + 6}" y="${yMs(ms) + 4}" font-size="10">${ms} ms</text>`)
    .join("");
  const secondsAxis = Array.from({ length: Math.floor(n / 5) + 1 }, (_, i) => i * 5)
    .map((sec) => `<text x="${x(sec)}" y="${top + height + 14}" font-size="10" text-anchor="middle">${sec}s</text>`)
    .join("");
  const legend = `<text x="${left}" y="${top - 8}" font-size="11"><tspan fill="#888">■ ok/s</tspan> <tspan fill="#cb3c33">■ errors/s</tspan> <tspan fill="#4063d8">— p50</tspan> <tspan fill="#e69f00">— p99</tspan> (max ${maxOps}/s)</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" width="700" height="${top + height + 24}" role="img" aria-label="${escapeHtml(title)}"><text x="0" y="14" font-size="14" font-weight="bold">${escapeHtml(title)}</text>${legend}${bars}${line((s) => s.p50Millis, "#4063d8", "p50")}${line((s) => s.p99Millis, "#e69f00", "p99")}${marks}${msGrid}${secondsAxis}</svg>`;
}
