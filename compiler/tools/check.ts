// `adgen --check`: compares every entry's generated gradient with centered finite
// differences (f(θ + h d) − f(θ − h d)) / 2h at random points: per element for small
// parameters, along random directions for large ones (cost independent of size).
//
// A finite difference that straddles a kink (relu at 0, a max-pool tie, abs at 0) is
// recognised by its one-sided slopes disagreeing, (f(θ + h d) − f(θ)) / h versus
// (f(θ) − f(θ − h d)) / h, and reported as a kink, not as a failure.

import ts from "../frontend/ts.js";
import { CompileResult } from "../pipeline.js";
import { Type, sizeOf } from "../ir/types.js";

export interface CheckOptions {
  readonly seed?: number;
  /** Random points per entry. */
  readonly points?: number;
  /** Relative error above which a gradient is reported as wrong. */
  readonly tolerance?: number;
  /** Parameters with at most this many elements are checked element by element. */
  readonly perElementLimit?: number;
  /** Random directions for larger parameters. */
  readonly directions?: number;
}

export interface ParamReport {
  readonly entry: string;
  readonly param: string;
  readonly shape: readonly number[];
  readonly method: "per element" | "directions";
  readonly checks: number;
  /** Worst relative error among smooth checks. */
  readonly worst: number;
  /** Checks whose finite difference straddled a kink. */
  readonly kinks: number;
  readonly ok: boolean;
}

export interface CheckReport {
  readonly params: readonly ParamReport[];
  readonly worst: number;
  readonly ok: boolean;
  readonly skipped: readonly string[];
}

type Arg = number | Float64Array;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function loadGenerated(code: string): Promise<Record<string, unknown>> {
  const js = ts.transpileModule(code, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  return (await import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`)) as Record<string, unknown>;
}

export async function checkGradients(result: CompileResult, options: CheckOptions = {}): Promise<CheckReport> {
  const mod = await loadGenerated(result.code!);
  const tolerance = options.tolerance ?? 1e-5;
  const perElementLimit = options.perElementLimit ?? 64;
  const random = rng(options.seed ?? 1);
  const params: ParamReport[] = [];
  const skipped: string[] = [];

  for (const { entry, grad } of result.entries) {
    const f = mod[entry.name] as (...a: Arg[]) => number | Float64Array;
    const vjp = grad.hasCotangent;
    const gradFn = mod[vjp ? `${entry.name}Vjp` : `${entry.name}Grad`] as (...a: Arg[]) => { value: unknown; grads: Record<string, Arg> };
    const wrt = new Set(grad.wrt);
    const outSize = entry.result.kind === "tensor" ? sizeOf(entry.result.shape) : 1;
    const stats = new Map<string, { worst: number; kinks: number; checks: number }>();
    for (const w of grad.wrt) stats.set(w, { worst: 0, kinks: 0, checks: 0 });

    for (let point = 0; point < (options.points ?? 2); point++) {
      // differentiated parameters at random points in [0.5, 1.5] with random signs for
      // tensors; the others (labels, indices, data) at 0, which is always a valid index
      const args: Arg[] = entry.params.map((p) => sample(p.type, wrt.has(p.name), random));
      const cot = vjp ? Float64Array.from({ length: outSize }, () => random() * 2 - 1) : undefined;
      const scalarOf = (a: Arg[]): number => {
        const y = f(...a);
        if (typeof y === "number") return y;
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i]! * cot![i]!;
        return s;
      };
      const f0 = scalarOf(args);
      if (!Number.isFinite(f0)) {
        skipped.push(`${entry.name}: the value is not finite at a random point; point skipped`);
        continue;
      }
      const g = (cot ? gradFn(...args, cot) : gradFn(...args)).grads;
      entry.params.forEach((p, k) => {
        if (!wrt.has(p.name)) return;
        const st = stats.get(p.name)!;
        const gk = g[p.name]!;
        const n = p.type.kind === "tensor" ? sizeOf(p.type.shape) : 1;
        const scale = Math.max(1e-12, typeof gk === "number" ? Math.abs(gk) : maxAbs(gk));
        const probe = (dir: (i: number) => number): void => {
          let analytic = 0;
          for (let i = 0; i < n; i++) analytic += (typeof gk === "number" ? gk : gk[i]!) * dir(i);
          const at = (h: number): { err: number; kink: boolean } => {
            const shifted = (sign: number): Arg[] =>
              args.map((a, j) => (j !== k ? a : typeof a === "number" ? a + sign * h * dir(0) : Float64Array.from(a, (v, i) => v + sign * h * dir(i))));
            const fp = scalarOf(shifted(1));
            const fm = scalarOf(shifted(-1));
            const centered = (fp - fm) / (2 * h);
            const denom = Math.max(Math.abs(analytic), Math.abs(centered), 1e-3 * scale);
            const err = Math.abs(centered - analytic) / denom;
            // one-sided slopes that disagree by more than curvature explains: a kink inside [-h, h]
            const right = (fp - f0) / h;
            const left = (f0 - fm) / h;
            const kink = Math.abs(right - left) > 1e-2 * Math.max(Math.abs(right), Math.abs(left), 1e-3 * scale);
            return { err: Number.isNaN(err) ? Infinity : err, kink };
          };
          st.checks++;
          // a truncation or round-off error shrinks or grows with the step; a wrong gradient
          // disagrees at every step: take the best of three steps
          let best = at(1e-6);
          for (const h of [1e-7, 1e-5]) {
            if (best.err <= tolerance) break;
            const r = at(h);
            if (r.err < best.err) best = r;
          }
          if (best.err > tolerance && best.kink) st.kinks++;
          else st.worst = Math.max(st.worst, best.err);
        };
        if (n <= perElementLimit) {
          for (let i = 0; i < n; i++) probe((j) => (j === i ? 1 : 0));
        } else {
          for (let d = 0; d < (options.directions ?? 3); d++) {
            const dir = Float64Array.from({ length: n }, () => random() * 2 - 1);
            probe((i) => dir[i]!);
          }
        }
      });
    }
    for (const p of entry.params) {
      if (!wrt.has(p.name)) continue;
      const st = stats.get(p.name)!;
      const n = p.type.kind === "tensor" ? sizeOf(p.type.shape) : 1;
      params.push({
        entry: entry.name,
        param: p.name,
        shape: p.type.kind === "tensor" ? p.type.shape : [],
        method: n <= perElementLimit ? "per element" : "directions",
        checks: st.checks,
        worst: st.worst,
        kinks: st.kinks,
        ok: st.worst <= tolerance,
      });
    }
  }
  const worst = params.reduce((m, p) => Math.max(m, p.worst), 0);
  return { params, worst, ok: params.every((p) => p.ok), skipped };
}

/**
 * A random value for a parameter: differentiated numbers in [0.5, 1.5] (inside the domain
 * of log and sqrt); differentiated tensors with random signs, scaled by 1/sqrt(fan-in) as
 * weights are initialised, so that deep models stay out of saturation; the others (labels,
 * indices, data) 0, always a valid index.
 */
function sample(t: Type, differentiated: boolean, random: () => number): Arg {
  if (t.kind !== "tensor") return differentiated ? 0.5 + random() : 0;
  const n = sizeOf(t.shape);
  if (!differentiated) return new Float64Array(n);
  const fanIn = t.shape.length > 1 ? n / t.shape[0]! : 1;
  const scale = 1 / Math.sqrt(fanIn);
  return Float64Array.from({ length: n }, () => (random() < 0.5 ? -1 : 1) * (0.5 + random()) * scale);
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function formatCheckReport(report: CheckReport, tolerance: number): string {
  const lines: string[] = [];
  const entries = [...new Set(report.params.map((p) => p.entry))];
  for (const e of entries) {
    lines.push(`${e}:`);
    for (const p of report.params.filter((q) => q.entry === e)) {
      const shape = `[${p.shape.join(", ")}]`;
      const status = p.ok ? "ok" : "MISMATCH";
      const kinks = p.kinks ? `, ${p.kinks} straddled a kink (not counted)` : "";
      lines.push(
        `  ${p.param.padEnd(8)} ${shape.padEnd(16)} ${`${p.method} (${p.checks})`.padEnd(22)} worst relative error ${p.worst.toExponential(2)}  ${status}${kinks}`,
      );
    }
  }
  for (const s of report.skipped) lines.push(`note: ${s}`);
  lines.push(`worst relative error: ${report.worst.toExponential(2)} (tolerance ${tolerance.toExponential(0)}): ${report.ok ? "gradients agree" : "GRADIENT MISMATCH"}`);
  return lines.join("\n") + "\n";
}
