// The training chart: a standalone SVG, written by hand, with two panels side by side, the
// mean cross-entropy and the accuracy per epoch, each with a training and a test series.

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testLoss: number;
  /** Fractions in [0, 1]. */
  readonly trainAccuracy: number;
  readonly testAccuracy: number;
}

const WIDTH = 1000;
const HEIGHT = 470;
const PANEL = { width: 380, height: 290, top: 120, lefts: [80, 570] } as const;
const COLORS = { train: "#1f77b4", test: "#d62728" } as const;

/** 1, 2 or 5 times a power of ten, close to `range / count`. */
function tickStep(range: number, count: number): number {
  const raw = range / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * pow;
}

/** A y range with round ends that holds every value, and the ticks inside it. */
function yAxis(values: readonly number[], clampMin?: number, clampMax?: number): { lo: number; hi: number; ticks: number[] } {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-9) {
    lo -= 0.5 * Math.abs(lo || 1);
    hi += 0.5 * Math.abs(hi || 1);
  }
  const step = tickStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  if (clampMin !== undefined) lo = Math.max(lo, clampMin);
  if (clampMax !== undefined) hi = Math.min(hi, clampMax);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return { lo, hi, ticks };
}

const fmt = (v: number): string => Number(v.toFixed(2)).toString();

const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface Series {
  readonly id: string;
  readonly label: string;
  readonly color: string;
  readonly values: readonly number[];
}

function panel(
  left: number,
  title: string,
  yLabel: string,
  epochs: readonly number[],
  series: readonly Series[],
  axis: { lo: number; hi: number; ticks: number[] },
  tickLabel: (v: number) => string,
): string {
  const { width: w, height: h, top } = PANEL;
  const x0 = epochs[0]!;
  const x1 = Math.max(epochs[epochs.length - 1]!, x0 + 1);
  const px = (e: number): number => left + ((e - x0) / (x1 - x0)) * w;
  const py = (v: number): number => top + h - ((v - axis.lo) / (axis.hi - axis.lo)) * h;
  const out: string[] = [`  <g class="panel">`];
  out.push(`    <text x="${left + w / 2}" y="${top - 14}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  // Grid lines and y ticks.
  for (const t of axis.ticks) {
    const y = fmt(py(t));
    out.push(`    <line x1="${left}" y1="${y}" x2="${left + w}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`    <text x="${left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  // x ticks: every epoch, or a round step when there are many.
  const xStep = Math.max(1, Math.ceil(tickStep(x1 - x0, 10)));
  for (let e = x0; e <= x1; e += xStep) {
    const x = fmt(px(e));
    out.push(`    <line x1="${x}" y1="${top + h}" x2="${x}" y2="${top + h + 5}" stroke="#333"/>`);
    out.push(`    <text x="${x}" y="${top + h + 20}" text-anchor="middle">${e}</text>`);
  }
  // Axes and their labels.
  out.push(`    <path d="M${left},${top} V${top + h} H${left + w}" fill="none" stroke="#333"/>`);
  out.push(`    <text x="${left + w / 2}" y="${top + h + 42}" text-anchor="middle">epoch</text>`);
  out.push(
    `    <text x="${left - 52}" y="${top + h / 2}" text-anchor="middle" transform="rotate(-90 ${left - 52} ${top + h / 2})">${escapeXml(yLabel)}</text>`,
  );
  // The series.
  for (const s of series) {
    const points = s.values.map((v, i) => `${fmt(px(epochs[i]!))},${fmt(py(v))}`);
    out.push(`    <polyline id="${s.id}" fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(" ")}">`);
    out.push(`      <title>${escapeXml(s.label)}</title>`);
    out.push(`    </polyline>`);
    for (const p of points) {
      const [cx, cy] = p.split(",");
      out.push(`    <circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
    }
  }
  out.push(`  </g>`);
  return out.join("\n");
}

/** The legend both panels share, centred on (x, y): what the two colours mean. */
function legend(x: number, y: number): string {
  const entries = [["training set", COLORS.train], ["held-out test set", COLORS.test]] as const;
  const out = [`  <g class="legend">`];
  let left = x - 150;
  for (const [label, color] of entries) {
    out.push(`    <line x1="${left}" y1="${y}" x2="${left + 28}" y2="${y}" stroke="${color}" stroke-width="2"/>`);
    out.push(`    <circle cx="${left + 14}" cy="${y}" r="3" fill="${color}"/>`);
    out.push(`    <text x="${left + 36}" y="${y}" dominant-baseline="middle">${label}</text>`);
    left += 150;
  }
  out.push(`  </g>`);
  return out.join("\n");
}

/** The chart of `history` (one record per epoch) as an SVG document; `caption` goes under the title. */
export function renderChart(history: readonly EpochRecord[], caption: string): string {
  if (history.length === 0) throw new RangeError("renderChart: no epochs to draw");
  const epochs = history.map((r) => r.epoch);
  const trainLoss = history.map((r) => r.trainLoss);
  const testLoss = history.map((r) => r.testLoss);
  const trainAcc = history.map((r) => 100 * r.trainAccuracy);
  const testAcc = history.map((r) => 100 * r.testAccuracy);
  const lossAxis = yAxis([...trainLoss, ...testLoss], 0);
  const accAxis = yAxis([...trainAcc, ...testAcc], 0, 100);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222">`,
    `  <title>LeNet-5 on MNIST: loss and accuracy per epoch</title>`,
    `  <rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `  <text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">LeNet-5 on MNIST, trained with gradients generated by adgen</text>`,
    `  <text x="${WIDTH / 2}" y="50" text-anchor="middle" fill="#555">${escapeXml(caption)}</text>`,
    legend(WIDTH / 2, 76),
    panel(PANEL.lefts[0], "Mean cross-entropy", "cross-entropy (nats)", epochs, [
      { id: "train-loss", label: "training set: mean cross-entropy", color: COLORS.train, values: trainLoss },
      { id: "test-loss", label: "test set: mean cross-entropy", color: COLORS.test, values: testLoss },
    ], lossAxis, (v) => String(v)),
    panel(PANEL.lefts[1], "Accuracy", "accuracy (%)", epochs, [
      { id: "train-accuracy", label: "training set: accuracy", color: COLORS.train, values: trainAcc },
      { id: "test-accuracy", label: "test set: accuracy", color: COLORS.test, values: testAcc },
    ], accAxis, (v) => `${v}%`),
    `</svg>`,
    ``,
  ].join("\n");
}
