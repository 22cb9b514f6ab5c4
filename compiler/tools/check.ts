// `adgen --check`: compares every entry's generated gradient with centered finite
// differences (f(θ + h d) − f(θ − h d)) / 2h at random points: per element for small
// parameters, along random directions for large ones (cost independent of size).
//
// A finite difference that straddles a kink (relu at 0, a max-pool tie, abs at 0) is
// recognised by its one-sided slopes disagreeing, (f(θ + h d) − f(θ)) / h versus
// (f(θ) − f(θ − h d)) / h, and reported as a kink, not as a failure.
//
// Sizes known only at run time (an entry's type parameters N) are drawn per point, small
// (1 to 4) and different at consecutive points, so that a gradient right at one size only
// is caught; a function that takes a trailing sizes object gets one. Integer parameters
// (loop bounds) take small positive integers.
//
// Inputs that get no gradient take random values of their kind (see inputRanges.ts):
// integers in range for labels and indices, random reals for data. A check where the
// gradient and every finite difference are exactly 0 compares nothing: it is counted as
// "not exercised", and a parameter with no other check fails the run, as does one whose
// points were all skipped. "gradients agree" means every parameter was compared and agrees.
//
// At the same points, forward mode: along one direction per differentiated parameter (it
// alone moves) and one moving them all, fJvp's tangent against centered differences of f
// (the whole value of a tensor-valued entry, element by element), and for an entry returning
// a number fHvp's Hessian-vector product against centered differences of the gradient fHvp
// returns. Their values are f's, fHvp's gradient is fGrad's, and ⟨gradient, direction⟩ is
// the JVP (⟨cotangent, tangent⟩ for a tensor-valued entry), which counts against the JVP or
// HVP only when the entry's gradients agreed with finite differences. An entry's JVP and HVP
// are one line each, "not exercised" as a parameter is: an HVP that is exactly 0 wherever
// the gradient does not move at all (an entry linear or piecewise linear in its parameters:
// relu, max, abs) fails the run.

import ts from "../frontend/ts.js";
import { CompileResult } from "../pipeline.js";
import { Dim, Func, Type, sizeOf } from "../ir/types.js";
import { evalDim, showDim, symbolsOf } from "../ir/dims.js";
import { InputPlan, inputPlans } from "./inputRanges.js";

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
  /** The generated module, already loaded (default: loaded from result.code). */
  readonly module?: Record<string, unknown>;
}

/**
 * "not exercised": the gradient and every finite difference were exactly 0 at every check,
 * so nothing was compared; "not checked": every point was skipped.
 */
export type ParamStatus = "ok" | "mismatch" | "not exercised" | "not checked";

export interface ParamReport {
  readonly entry: string;
  readonly param: string;
  /** The shape at the first point checked (sizes vary between points: see `dims`). */
  readonly shape: readonly number[];
  /** The shape as declared, symbolic dimensions by name: ["N", "4"]. */
  readonly dims: readonly string[];
  /** Element by element when the parameter is small at every point, along directions when large at every point. */
  readonly method: "per element" | "directions" | "per element and directions";
  readonly checks: number;
  /** Worst relative error among smooth checks. */
  readonly worst: number;
  /** Checks whose finite difference straddled a kink. */
  readonly kinks: number;
  /** Checks where the gradient and every finite difference were exactly 0 (nothing compared). */
  readonly notExercised: number;
  readonly status: ParamStatus;
  readonly ok: boolean;
}

/**
 * An entry's forward-mode derivatives, checked at the points of its gradients, along one
 * direction per differentiated parameter (moving it alone) and one moving them all:
 * "jvp", fJvp's tangent against centered finite differences of f (the whole value, for a
 * tensor-valued entry); "hvp", fHvp's Hessian-vector product against centered finite
 * differences of the gradient fHvp returns, itself compared with fGrad's.
 */
export interface ModeReport {
  readonly entry: string;
  readonly mode: "jvp" | "hvp";
  /** jvp: the value's shape as declared, symbolic dimensions by name; hvp: [] (the gradients). */
  readonly dims: readonly string[];
  readonly checks: number;
  /** Worst relative error among smooth checks. */
  readonly worst: number;
  /** Checks whose finite difference straddled a kink. */
  readonly kinks: number;
  /** Checks where the derivative and every finite difference were exactly 0 (nothing compared). */
  readonly notExercised: number;
  /** Checks where fJvp's or fHvp's value was not f's. */
  readonly valueMismatches: number;
  /**
   * Checks where the result disagrees with the gradient: ⟨grad, t⟩ against the JVP's tangent
   * (⟨cotangent, tangent⟩ for a tensor-valued entry), fHvp's grads against fGrad's.
   */
  readonly gradMismatches: number;
  /**
   * No gradient of the entry disagreed with finite differences, so a disagreement with it is
   * this mode's (when one did, `gradMismatches` do not count against this mode).
   */
  readonly gradientTrusted: boolean;
  readonly status: ParamStatus;
  readonly ok: boolean;
}

/** How an input that gets no gradient was sampled. */
export interface InputReport {
  readonly entry: string;
  readonly param: string;
  readonly sampled: string;
}

/** The sizes an entry with size symbols was checked at, one record per point kept. */
export interface SizesReport {
  readonly entry: string;
  readonly points: readonly Readonly<Record<string, number>>[];
  /** The generated functions take (some of) them as a trailing sizes object: no array determines them. */
  readonly passed: boolean;
}

export interface CheckReport {
  readonly params: readonly ParamReport[];
  /** Each entry's JVP, and HVP for an entry returning a number (none for an entry whose points were all skipped). */
  readonly modes: readonly ModeReport[];
  readonly inputs: readonly InputReport[];
  readonly sizes: readonly SizesReport[];
  readonly worst: number;
  /** True when no gradient, JVP or HVP disagrees and each was exercised at some check. */
  readonly ok: boolean;
  readonly skipped: readonly string[];
}

type Arg = number | Float64Array;
/** The trailing sizes object of a generated function: { N: 3, D: 2 }. */
type Sizes = Readonly<Record<string, number>>;
/** An argument of a generated function: a parameter, tangents or a direction (keyed as the gradients), sizes. */
type CallArg = Arg | Sizes | Readonly<Record<string, Arg>>;

/** The sizes --check draws for symbolic dimensions (a type parameter N of the entry): 1 to MAX_SIZE. */
const MAX_SIZE = 4;

/** The value of each size symbol at a point (and of each integer parameter drawn). */
type SizeEnv = (sym: string) => number | undefined;

/** A shape with its symbolic dimensions given the sizes of a point. */
function concrete(shape: readonly Dim[], env: SizeEnv): number[] {
  return shape.map((d) => {
    const v = evalDim(d, env);
    if (v === undefined) throw new Error(`internal: --check has no value for a size of ${showDim(d)}`);
    return v;
  });
}

function numel(shape: readonly Dim[], env: SizeEnv): number {
  return concrete([sizeOf(shape)], env)[0]!;
}

/**
 * The sizes of point `point`: symbol k is 1 + (offset_k + point) mod MAX_SIZE, its offset
 * random, so every symbol changes from one point to the next; `retry` > 0 draws them afresh
 * (a point where the entry is not defined at those sizes).
 */
function drawSizes(symbols: readonly string[], offsets: readonly number[], point: number, retry: number, random: () => number): Record<string, number> {
  return Object.fromEntries(symbols.map((s, k) => [s, retry > 0 ? 1 + Math.floor(random() * MAX_SIZE) : 1 + ((offsets[k]! + point) % MAX_SIZE)]));
}

/**
 * The size symbols that no parameter array determines, which the generated functions take as
 * a trailing sizes object (`sizes: { N: number; M: number }`): bound as codegen/forms/sizes.ts
 * binds them, a symbol from an array whose size is one term in which it is the only symbol
 * not yet known, until no array adds one.
 */
export function sizesArgument(primal: Func): string[] {
  const symbols = primal.sizes ?? [];
  const known = new Set<string>();
  for (let progress = true; progress;) {
    progress = false;
    for (const p of primal.body.params) {
      if (p.type.kind !== "tensor") continue;
      const size = sizeOf(p.type.shape);
      if (typeof size === "number" || size.terms.length !== 1) continue;
      const unknown = symbolsOf(size).filter((s) => symbols.includes(s) && !known.has(s));
      if (unknown.length !== 1) continue;
      known.add(unknown[0]!);
      progress = true;
    }
  }
  return symbols.filter((s) => !known.has(s));
}

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

/** Attempts at finding a point where the entry is defined before the point is skipped. */
const ATTEMPTS = 8;

/** Extra random points for a parameter that the first points did not exercise. */
const EXTRA_POINTS = 8;

export async function checkGradients(result: CompileResult, options: CheckOptions = {}): Promise<CheckReport> {
  const mod = options.module ?? (await loadGenerated(result.code!));
  const tolerance = options.tolerance ?? 1e-5;
  const perElementLimit = options.perElementLimit ?? 64;
  const random = rng(options.seed ?? 1);
  // the directions of the JVP and HVP checks come from a stream of their own: the points
  // and the gradient checks are those of a check of gradients alone
  const dirRandom = rng((options.seed ?? 1) ^ 0x5bd1e995);
  const params: ParamReport[] = [];
  const modes: ModeReport[] = [];
  const inputs: InputReport[] = [];
  const sizesUsed: SizesReport[] = [];
  const skipped: string[] = [];

  for (const { entry, primal, grad, hvp } of result.entries) {
    const f = mod[entry.name] as (...a: CallArg[]) => number | Float64Array;
    const vjp = grad.hasCotangent;
    const gradFn = mod[vjp ? `${entry.name}Vjp` : `${entry.name}Grad`] as (...a: CallArg[]) => { value: unknown; grads: Record<string, Arg> };
    const wrt = new Set(grad.wrt);
    const names = entry.params.map((p) => p.name);
    const stats = new Map<string, { worst: number; kinks: number; checks: number; notExercised: number; small: number; large: number }>();
    for (const w of grad.wrt) stats.set(w, { worst: 0, kinks: 0, checks: 0, notExercised: 0, small: 0, large: 0 });
    // forward mode (no JVP to check without a differentiated parameter)
    type Forward = (...a: CallArg[]) => { value: Arg; tangent: Arg };
    type SecondOrder = (...a: CallArg[]) => { value: number; grads: Record<string, Arg>; hvp: Record<string, Arg> };
    const exported = <F>(name: string): F => {
      if (typeof mod[name] !== "function") throw new Error(`internal: the generated module has no function ${name}`);
      return mod[name] as F;
    };
    const jvpFn = grad.wrt.length ? exported<Forward>(`${entry.name}Jvp`) : undefined;
    const hvpFn = grad.wrt.length && hvp ? exported<SecondOrder>(`${entry.name}Hvp`) : undefined;
    const newTally = () => ({ checks: 0, worst: 0, kinks: 0, notExercised: 0, valueMismatches: 0, gradMismatches: 0 });
    const jvpTally = newTally();
    const hvpTally = newTally();
    const tallies = [...(jvpFn ? [jvpTally] : []), ...(hvpFn ? [hvpTally] : [])];

    // size symbols: drawn per point; a function whose arrays do not determine them takes
    // them as a trailing object (the generated signature then declares one more parameter)
    const symbols = primal.sizes ?? [];
    const offsets = symbols.map(() => Math.floor(random() * MAX_SIZE));
    const trailing = sizesArgument(primal);
    const points: Record<string, number>[] = [];
    let firstShapes: Map<string, number[]> | undefined;
    // the plans at sizes with no symbol (the same at every point): an entry no integer fits is skipped
    const plansAt = (env: SizeEnv) => inputPlans(primal, wrt, names, (sym) => env(sym) ?? MAX_SIZE);
    const impossibleAt = (plans: ReturnType<typeof plansAt>) => entry.params.find((p, k) => plans[k]?.kind === "integer" && plans[k].values.length === 0);
    const impossible = symbols.length === 0 ? impossibleAt(plansAt(() => undefined)) : undefined;
    // the input plans of the last point kept (they depend on the sizes)
    let plansOfPoint: ReturnType<typeof plansAt> | undefined;
    // tensors and data are signed until a value is not finite; then positive (log, sqrt)
    let positive = false;
    // the smallest and largest integer drawn for each integer input, at points kept
    const drawn: [number, number][] = entry.params.map(() => [Infinity, -Infinity]);
    const pointCount = impossible ? 0 : (options.points ?? 2);
    if (impossible) skipped.push(`${entry.name}: no integer value of '${impossible.name}' keeps every index it reaches in range; entry skipped`);

    // a parameter that no point exercised yet (Math.max(a, b) with a < b at both) gets up
    // to EXTRA_POINTS more points before it is reported as not exercised
    const unexercised = (): boolean => [...stats.values(), ...tallies].some((st) => st.checks > 0 && st.notExercised === st.checks);
    for (let point = 0; point < pointCount || (point < pointCount + EXTRA_POINTS && unexercised()); point++) {
      // find a point where the entry is defined: each failed attempt narrows the integers
      // tried for indices the analysis could not follow (out of range, the generated code
      // throws a RangeError or reads NaN), and a value that is not finite switches tensors
      // and data to positive values; from the second half of the attempts on, the sizes
      // are drawn afresh too
      let args: Arg[] = [];
      let sizes: Record<string, number> = {};
      let env: SizeEnv = () => undefined;
      let cot: Float64Array | undefined;
      let f0 = NaN;
      let problem = "";
      const call = <R>(fn: (...a: CallArg[]) => R, a: readonly CallArg[]): R =>
        fn(...a, ...(trailing.length ? [Object.fromEntries(trailing.map((s) => [s, sizes[s]!]))] : []));
      const scalarOf = (a: Arg[]): number => {
        const y = call(f, a);
        if (typeof y === "number") return y;
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i]! * cot![i]!;
        return s;
      };
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        sizes = drawSizes(symbols, offsets, point, attempt >= ATTEMPTS / 2 ? attempt : 0, random);
        const integerArgs = new Map<string, number>();
        env = (sym) => sizes[sym] ?? integerArgs.get(sym);
        const plans = plansAt(env);
        const stuck = impossibleAt(plans);
        if (stuck) {
          problem = `no integer value of '${stuck.name}' keeps every index it reaches in range`;
          continue;
        }
        // numbers first: an integer parameter may be a dimension of a tensor parameter
        const order = entry.params.map((_, k) => k).sort((a, b) => Number(entry.params[a]!.type.kind === "tensor") - Number(entry.params[b]!.type.kind === "tensor"));
        args = new Array<Arg>(entry.params.length);
        for (const k of order) {
          const p = entry.params[k]!;
          args[k] = sample(p.type, plans[k], random, { positive, narrow: attempt }, env);
          if (typeof args[k] === "number" && primal.integers?.includes(p.name)) integerArgs.set(p.name, args[k] as number);
        }
        plansOfPoint = plans;
        cot = vjp ? Float64Array.from({ length: entry.result.kind === "tensor" ? numel(entry.result.shape, env) : 1 }, () => random() * 2 - 1) : undefined;
        try {
          f0 = scalarOf(args);
          if (Number.isFinite(f0)) break;
          problem = `the value is not finite (${f0})`;
          positive = true;
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          problem = `it throws RangeError: ${e.message}`;
        }
      }
      if (!Number.isFinite(f0)) {
        skipped.push(`${entry.name}: ${problem} at ${ATTEMPTS} random points; point skipped`);
        continue;
      }
      if (symbols.length) points.push(sizes);
      firstShapes ??= new Map(entry.params.map((p) => [p.name, p.type.kind === "tensor" ? concrete(p.type.shape, env) : []]));
      const plans = plansOfPoint!;
      args.forEach((a, k) => {
        if (plans[k]?.kind !== "integer") return;
        for (const v of typeof a === "number" ? [a] : a) drawn[k] = [Math.min(drawn[k]![0], v), Math.max(drawn[k]![1], v)];
      });
      const g = call(gradFn, cot ? [...args, cot] : args).grads;
      // errors are relative to the gradient, or at least to 1/1000 of its largest component
      // in the entry: a component far smaller than the others (an initial state after many
      // saturating steps) is below what finite differences resolve against the curvature
      // the other components see
      const entryScale = grad.wrt.reduce((m, w) => Math.max(m, magnitude(g[w]!)), 0);
      entry.params.forEach((p, k) => {
        if (!wrt.has(p.name)) return;
        const st = stats.get(p.name)!;
        const gk = g[p.name]!;
        const n = p.type.kind === "tensor" ? numel(p.type.shape, env) : 1;
        const scale = Math.max(1e-12, magnitude(gk), entryScale);
        const probe = (dir: (i: number) => number): void => {
          let analytic = 0;
          for (let i = 0; i < n; i++) analytic += (typeof gk === "number" ? gk : gk[i]!) * dir(i);
          const at = (h: number): Step => {
            const shifted = (sign: number): Arg[] =>
              args.map((a, j) => (j !== k ? a : typeof a === "number" ? a + sign * h * dir(0) : Float64Array.from(a, (v, i) => v + sign * h * dir(i))));
            return compareStep([analytic], [f0], [scalarOf(shifted(1))], [scalarOf(shifted(-1))], h, tolerance, scale);
          };
          // a truncation or round-off error shrinks or grows with the step; a wrong gradient
          // disagrees at every step: take the best of three steps
          probeSteps(st, analytic === 0, [1e-6, 1e-7, 1e-5], at, tolerance);
        };
        if (n <= perElementLimit) {
          st.small++;
          for (let i = 0; i < n; i++) probe((j) => (j === i ? 1 : 0));
        } else {
          st.large++;
          for (let d = 0; d < (options.directions ?? 3); d++) {
            const dir = Float64Array.from({ length: n }, () => random() * 2 - 1);
            probe((i) => dir[i]!);
          }
        }
      });
      if (!jvpFn) continue;

      // forward mode at the same point: one direction per differentiated parameter, moving
      // it alone (a parameter whose effect is small is not lost among the others), and one
      // moving them all (a tangent that is not linear in the direction); keyed and shaped as
      // the gradients are, the other parameters (integers, data) get none
      const moved = entry.params.map((p, k) => (wrt.has(p.name) ? k : -1)).filter((k) => k >= 0);
      const direction = (only: number | undefined): Record<string, Arg> =>
        Object.fromEntries(
          moved.map((k) => {
            const a = args[k]!;
            const on = only === undefined || only === k;
            if (typeof a === "number") return [names[k]!, on ? (dirRandom() < 0.5 ? -1 : 1) * (0.5 + dirRandom()) : 0];
            const d = new Float64Array(a.length);
            if (on) for (let i = 0; i < d.length; i++) d[i] = dirRandom() * 2 - 1;
            return [names[k]!, d];
          }),
        );
      // each with the parameters it moves
      const dirs = [...moved.map((k) => ({ d: direction(k), moves: [k] })), ...(moved.length > 1 ? [{ d: direction(undefined), moves: moved }] : [])];
      /** The point moved by s along a direction. */
      const along = ({ d, moves }: (typeof dirs)[number], s: number): Arg[] =>
        args.map((a, j) => {
          if (!moves.includes(j)) return a;
          const dj = d[names[j]!]!;
          if (typeof a === "number") return a + s * (dj as number);
          const out = new Float64Array(a.length);
          for (let i = 0; i < out.length; i++) out[i] = a[i]! + s * (dj as Float64Array)[i]!;
          return out;
        });
      /** The gradients (or a direction) as one vector, in the order of grad.wrt. */
      const flatGrads = (gr: Record<string, Arg>): Float64Array => {
        const parts = grad.wrt.map((w) => gr[w]!);
        const out = new Float64Array(parts.reduce<number>((n, a) => n + (typeof a === "number" ? 1 : a.length), 0));
        let at = 0;
        for (const a of parts) {
          if (typeof a === "number") out[at++] = a;
          else {
            out.set(a, at);
            at += a.length;
          }
        }
        return out;
      };
      const gFlat = flatGrads(g);

      // fJvp: its tangent against finite differences of f along the direction, its value f's
      const y0 = flat(call(f, args));
      const jvps = dirs.map(({ d }) => call(jvpFn, [...args, d]));
      const tangents = jvps.map((r) => flat(r.tangent));
      const jvpScale = tangents.reduce((m, t) => Math.max(m, magnitude(t)), 0);
      dirs.forEach((dir, c) => {
        const { d } = dir;
        const t = tangents[c]!;
        if (!equalValues(flat(jvps[c]!.value), y0)) jvpTally.valueMismatches++;
        // ⟨grad, t⟩ = the tangent (⟨cotangent, tangent⟩ = ⟨vjp, t⟩ for a tensor-valued entry)
        const dFlat = flatGrads(d);
        if (!closeDots(cot ? [cot, t] : [Float64Array.of(1), t], [gFlat, dFlat], tolerance)) jvpTally.gradMismatches++;
        const scale = Math.max(1e-12, magnitude(t), jvpScale);
        const at = (h: number): Step => compareStep(t, y0, flat(call(f, along(dir, h))), flat(call(f, along(dir, -h))), h, tolerance, scale);
        probeSteps(jvpTally, t.every((v) => v === 0), [1e-6, 1e-7, 1e-5], at, tolerance);
      });

      // fHvp: the Hessian times the direction against finite differences of the gradient it
      // returns (differentiating its own gradient keeps a wrong fGrad, reported as such,
      // from failing the HVP too), that gradient fGrad's, its value f's. A gradient that is
      // piecewise (relu) can change pieces within a step: the better of two steps
      if (!hvpFn) continue;
      const hvps = dirs.map(({ d }) => call(hvpFn, [...args, d]));
      const products = hvps.map((r) => flatGrads(r.hvp));
      const hvpScale = products.reduce((m, v) => Math.max(m, magnitude(v)), 0);
      dirs.forEach((dir, c) => {
        const r = hvps[c]!;
        const hv = products[c]!;
        const g0 = flatGrads(r.grads);
        if (!equalValues([r.value], [f0])) hvpTally.valueMismatches++;
        if (!equalValues(g0, gFlat)) hvpTally.gradMismatches++;
        const scale = Math.max(1e-12, magnitude(hv), hvpScale);
        const gradAt = (s: number): Float64Array => flatGrads(call(hvpFn, [...along(dir, s), dir.d]).grads);
        const at = (h: number): Step => compareStep(hv, g0, gradAt(h), gradAt(-h), h, tolerance, scale);
        probeSteps(hvpTally, hv.every((v) => v === 0), [1e-5, 1e-7], at, tolerance);
      });
    }
    // how inputs were sampled: the plans of the last point (of sizes 3 when none was kept)
    const plans = plansOfPoint ?? plansAt(() => 3);
    entry.params.forEach((p, k) => {
      const plan = plans[k];
      if (plan) inputs.push({ entry: entry.name, param: p.name, sampled: describe(plan, positive, drawn[k]!) });
    });
    if (symbols.length) sizesUsed.push({ entry: entry.name, points, passed: trailing.length > 0 });
    for (const p of entry.params) {
      if (!wrt.has(p.name)) continue;
      const st = stats.get(p.name)!;
      const status: ParamStatus =
        st.worst > tolerance ? "mismatch" : st.checks === 0 ? "not checked" : st.notExercised === st.checks ? "not exercised" : "ok";
      params.push({
        entry: entry.name,
        param: p.name,
        shape: firstShapes?.get(p.name) ?? (p.type.kind === "tensor" ? concrete(p.type.shape, (sym) => (symbols.includes(sym) ? 1 : undefined)) : []),
        dims: p.type.kind === "tensor" ? p.type.shape.map(showDim) : [],
        method: st.large === 0 ? "per element" : st.small === 0 ? "directions" : "per element and directions",
        checks: st.checks,
        worst: st.worst,
        kinks: st.kinks,
        notExercised: st.notExercised,
        status,
        ok: status === "ok",
      });
    }
    // an entry whose points were all skipped has no JVP or HVP line: its parameters are
    // NOT CHECKED, which fails the run
    const gradientTrusted = !params.some((p) => p.entry === entry.name && p.status === "mismatch");
    const modeOf = (mode: "jvp" | "hvp", t: ReturnType<typeof newTally>): void => {
      if (t.checks === 0) return;
      const status: ParamStatus =
        t.worst > tolerance || t.valueMismatches > 0 || (gradientTrusted && t.gradMismatches > 0) ? "mismatch" : t.notExercised === t.checks ? "not exercised" : "ok";
      const dims = mode === "jvp" && entry.result.kind === "tensor" ? entry.result.shape.map(showDim) : [];
      // an HVP that is 0 wherever the gradient does not move at all is a Hessian that is 0
      // (an entry linear, or piecewise linear, in its parameters: a hinge or L1 loss): it
      // cannot be exercised, and does not fail a run whose gradients and JVP were
      const zeroHessian = mode === "hvp" && status === "not exercised" && modes.some((m) => m.entry === entry.name && m.mode === "jvp" && m.status === "ok");
      modes.push({ entry: entry.name, mode, dims, ...t, gradientTrusted, status, ok: status === "ok" || zeroHessian });
    };
    if (jvpFn) modeOf("jvp", jvpTally);
    if (hvpFn) modeOf("hvp", hvpTally);
  }
  const worst = [...params, ...modes].reduce((m, p) => Math.max(m, p.worst), 0);
  const ok = params.length > 0 && params.every((p) => p.ok) && modes.every((m) => m.ok);
  return { params, modes, inputs, sizes: sizesUsed, worst, ok, skipped };
}

/** One finite-difference comparison at step h: the worst relative error, a kink, no movement. */
interface Step {
  readonly err: number;
  readonly kink: boolean;
  /** The function did not move at all at this step (f(θ ± h d) === f(θ) everywhere). */
  readonly flat: boolean;
}

/** What the checks of one parameter, or of one entry's JVP or HVP, found so far. */
interface Tally {
  checks: number;
  worst: number;
  kinks: number;
  notExercised: number;
}

/**
 * Compares a claimed derivative along a direction, `analytic` (one number per output
 * element), with the centered difference (fp − fm) / 2h of the outputs fp = F(θ + h d),
 * fm = F(θ − h d) around f0 = F(θ), element by element: errors are relative to the larger
 * of the two, or at least 1/1000 of `scale`. An element whose finite difference straddles a
 * kink (one-sided slopes that disagree by more than curvature explains, or by at least the
 * error itself: a kink on one side moves the centered difference by half the jump, a wrong
 * derivative leaves the slopes equal) and whose error exceeds the tolerance makes the step a
 * kink's.
 */
function compareStep(analytic: ArrayLike<number>, f0: ArrayLike<number>, fp: ArrayLike<number>, fm: ArrayLike<number>, h: number, tolerance: number, scale: number): Step {
  let err = 0;
  let kink = false;
  let flat = true;
  for (let i = 0; i < analytic.length; i++) {
    const a = analytic[i]!;
    const centered = (fp[i]! - fm[i]!) / (2 * h);
    const denom = Math.max(Math.abs(a), Math.abs(centered), 1e-3 * scale);
    const e = Math.abs(centered - a) / denom;
    const ei = Number.isNaN(e) ? Infinity : e;
    const right = (fp[i]! - f0[i]!) / h;
    const left = (f0[i]! - fm[i]!) / h;
    const asymmetry = Math.abs(right - left);
    if (
      ei > tolerance &&
      (asymmetry > 1e-2 * Math.max(Math.abs(right), Math.abs(left), 1e-3 * scale) || (asymmetry > tolerance * denom && asymmetry >= Math.abs(centered - a)))
    ) {
      kink = true;
    }
    err = Math.max(err, ei);
    flat &&= fp[i] === f0[i] && fm[i] === f0[i];
  }
  return { err, kink, flat };
}

/**
 * One check: the best of the steps (a truncation or round-off error shrinks or grows with
 * the step, a wrong derivative disagrees at every step). A derivative that is exactly 0
 * where the function does not move at any step compares nothing: not exercised. When no
 * step agrees and one of them straddled a kink (the smallest step may be lost in
 * round-off), the check is a kink's, not counted.
 */
function probeSteps(tally: Tally, analyticZero: boolean, steps: readonly number[], at: (h: number) => Step, tolerance: number): void {
  tally.checks++;
  let best = at(steps[0]!);
  if (analyticZero && best.flat && steps.slice(1).every((h) => at(h).flat)) {
    tally.notExercised++;
    return;
  }
  let kink = best.kink;
  for (const h of steps.slice(1)) {
    if (best.err <= tolerance) break;
    const r = at(h);
    kink ||= r.kink;
    if (r.err < best.err) best = r;
  }
  if (best.err > tolerance && kink) tally.kinks++;
  else tally.worst = Math.max(tally.worst, best.err);
}

/**
 * A random value for a parameter. Differentiated numbers in [0.5, 1.5] (inside the domain
 * of log and sqrt); differentiated tensors with random signs (positive once a value was not
 * finite), scaled by 1/sqrt(fan-in) as weights are initialised, so that deep models stay out
 * of saturation. Inputs without a
 * gradient as their plan says: integers that keep every index in range (labels, indices;
 * when the analysis was not exact, those inside the dimension the other uses index, and
 * the `narrow`-th retry keeps the smallest 1/2^narrow of them), data uniform in [-1, 1]
 * or, once a value was not finite, in [0.5, 1.5].
 */
function sample(t: Type, plan: InputPlan | undefined, random: () => number, how: { positive: boolean; narrow: number }, env: SizeEnv): Arg {
  const n = t.kind === "tensor" ? numel(t.shape, env) : 1;
  let draw: () => number;
  if (!plan) {
    if (t.kind !== "tensor") return 0.5 + random();
    const fanIn = t.shape.length > 1 ? n / Math.max(1, concrete(t.shape, env)[0]!) : 1;
    const scale = 1 / Math.sqrt(fanIn);
    draw = () => (how.positive || random() < 0.5 ? 1 : -1) * (0.5 + random()) * scale;
  } else if (plan.kind === "data") {
    draw = how.positive ? () => 0.5 + random() : () => random() * 2 - 1;
  } else {
    const pool = integerPool(plan, how.narrow);
    draw = () => pool[Math.floor(random() * pool.length)]!;
  }
  return t.kind === "tensor" ? Float64Array.from({ length: n }, draw) : draw();
}

function integerPool(plan: InputPlan & { kind: "integer" }, narrow: number): readonly number[] {
  if (plan.exact) return plan.values;
  // the uses not analysed index a dimension of `bound`: start from the values inside it
  const inside = plan.values.filter((v) => v >= 0 && v < plan.bound);
  const pool = inside.length ? inside : plan.values;
  return pool.slice(0, Math.max(1, Math.ceil(pool.length / 2 ** narrow)));
}

/** How an input was sampled: the integers allowed (or, when not exact, those drawn), or data. */
function describe(plan: InputPlan, positive: boolean, [lo, hi]: readonly [number, number]): string {
  if (plan.kind === "data") return positive ? "data in [0.5, 1.5]" : "data in [-1, 1]";
  const v = plan.values;
  if (v.length === 0) return "no integer keeps every index in range";
  if (!plan.exact) return lo <= hi ? `integers drawn in [${lo}, ${hi}] (some uses not analysed)` : "integers (some uses not analysed)";
  const first = v[0]!;
  const last = v[v.length - 1]!;
  return last - first + 1 === v.length ? `integers in [${first}, ${last + 1})` : `${v.length} integers in [${first}, ${last}]`;
}

/** A value, gradient or direction as a flat array. */
function flat(a: Arg): Float64Array {
  return typeof a === "number" ? Float64Array.of(a) : Float64Array.from(a);
}

/**
 * Two computations of the same values (f's value by fJvp, fGrad's gradient by fHvp): equal
 * up to round-off, 1e-12 relative to the larger.
 */
function equalValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= EQUAL_TOLERANCE * Math.max(Math.abs(x), Math.abs(y)))) return false;
  }
  return true;
}

const EQUAL_TOLERANCE = 1e-12;

/**
 * ⟨a0, a1⟩ and ⟨b0, b1⟩ agree to `tolerance`, relative to the larger, or at least to 1/1000
 * of the sum of the absolute values of the products (two dot products that cancel).
 */
function closeDots([a0, a1]: readonly [ArrayLike<number>, ArrayLike<number>], [b0, b1]: readonly [ArrayLike<number>, ArrayLike<number>], tolerance: number): boolean {
  let a = 0;
  let b = 0;
  let size = 0;
  for (let i = 0; i < a0.length; i++) {
    a += a0[i]! * a1[i]!;
    size += Math.abs(a0[i]! * a1[i]!);
  }
  let sizeB = 0;
  for (let i = 0; i < b0.length; i++) {
    b += b0[i]! * b1[i]!;
    sizeB += Math.abs(b0[i]! * b1[i]!);
  }
  if (a === b) return true;
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b), 1e-3 * Math.max(size, sizeB));
}

/** The largest absolute value of a gradient. */
function magnitude(a: Arg): number {
  if (typeof a === "number") return Math.abs(a);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

const STATUS_TEXT: Record<ParamStatus, string> = {
  ok: "ok",
  mismatch: "MISMATCH",
  "not exercised": "NOT EXERCISED",
  "not checked": "NOT CHECKED",
};

/** An HVP that is 0 wherever the gradient does not move: nothing to compare, not a failure. */
const ZERO_HESSIAN = "0 at every check, as is every difference of the gradient (linear in its parameters: nothing to compare)";

export function formatCheckReport(report: CheckReport, tolerance: number): string {
  const lines: string[] = [];
  const entries = [...new Set([...report.params.map((p) => p.entry), ...report.inputs.map((i) => i.entry)])];
  for (const e of entries) {
    lines.push(`${e}:`);
    for (const p of report.params.filter((q) => q.entry === e)) {
      const shape = `[${p.dims.join(", ")}]`;
      const kinks = p.kinks ? `, ${p.kinks} straddled a kink (not counted)` : "";
      const zero = p.notExercised && p.notExercised < p.checks ? `, ${p.notExercised} not exercised (gradient and finite differences exactly 0)` : "";
      lines.push(
        `  ${p.param.padEnd(8)} ${shape.padEnd(16)} ${`${p.method} (${p.checks})`.padEnd(22)} worst relative error ${p.worst.toExponential(2)}  ${STATUS_TEXT[p.status]}${kinks}${zero}`,
      );
    }
    for (const m of report.modes.filter((q) => q.entry === e)) {
      const what = m.mode === "jvp" ? `value [${m.dims.join(", ")}]` : "gradient";
      const notes: string[] = [];
      if (m.kinks) notes.push(`${m.kinks} straddled a kink (not counted)`);
      if (m.notExercised && m.notExercised < m.checks) notes.push(`${m.notExercised} not exercised (${m.mode.toUpperCase()} and finite differences exactly 0)`);
      if (m.valueMismatches) notes.push(`value not ${e}'s at ${m.valueMismatches}`);
      if (m.gradMismatches) {
        const which = m.mode === "jvp" ? "tangent not <gradient, direction>" : "grads not those of the gradient";
        notes.push(`${which} at ${m.gradMismatches}${m.gradientTrusted ? "" : " (the gradient is wrong: not counted)"}`);
      }
      lines.push(
        `  ${m.mode.padEnd(8)} ${what.padEnd(16)} ${`directions (${m.checks})`.padEnd(22)} worst relative error ${m.worst.toExponential(2)}  ${m.ok && m.status === "not exercised" ? ZERO_HESSIAN : STATUS_TEXT[m.status]}${notes.map((n) => `, ${n}`).join("")}`,
      );
    }
    const sizes = report.sizes.find((z) => z.entry === e);
    if (sizes) {
      const at = sizes.points.map((pt) => Object.entries(pt).map(([k, v]) => `${k} = ${v}`).join(", "));
      lines.push(`  sizes: ${at.length ? at.join("; ") : "none (every point was skipped)"}${sizes.passed ? " (passed as the sizes argument)" : ""}`);
    }
    const inputs = report.inputs.filter((i) => i.entry === e);
    if (inputs.length) lines.push(`  inputs without gradient: ${inputs.map((i) => `${i.param} ${i.sampled}`).join("; ")}`);
  }
  for (const s of report.skipped) lines.push(`note: ${s}`);
  lines.push(`worst relative error: ${report.worst.toExponential(2)} (tolerance ${tolerance.toExponential(0)}): ${verdict(report)}`);
  return lines.join("\n") + "\n";
}

/**
 * The last line's conclusion: "gradients agree" only when every parameter, JVP and HVP was
 * compared and agrees; a JVP or HVP that does not is named `f.jvp`, `f.hvp`.
 */
function verdict(report: CheckReport): string {
  if (report.ok) {
    const modes = [...new Set(report.modes.map((m) => m.mode))].map((m) => `${m.toUpperCase()}s`);
    const zero = report.modes.filter((m) => m.status === "not exercised").map((m) => `${m.entry}.${m.mode}`);
    const note = zero.length ? ` (${zero.join(", ")}: ${ZERO_HESSIAN})` : "";
    return modes.length ? `gradients agree, and so do ${modes.join(" and ")}${note}` : "gradients agree";
  }
  if (report.params.length === 0) return "NOTHING CHECKED (no entry has a differentiated parameter)";
  const params = (s: ParamStatus): string[] => report.params.filter((p) => p.status === s).map((p) => `${p.entry}.${p.param}`);
  const modes = (s: ParamStatus, mode?: "jvp" | "hvp"): string[] =>
    report.modes.filter((m) => m.status === s && (mode === undefined || m.mode === mode)).map((m) => `${m.entry}.${m.mode}`);
  const named = (s: ParamStatus): string => [...params(s), ...modes(s)].join(", ");
  const parts: string[] = [];
  if (named("mismatch")) parts.push(`GRADIENT MISMATCH (${named("mismatch")})`);
  const unexercised: [string[], string][] = [
    [params("not exercised"), "the gradient and every finite difference were exactly 0 at every check, so nothing was compared"],
    [modes("not exercised", "jvp"), "the JVP and every finite difference were exactly 0 at every check, so nothing was compared"],
    [
      modes("not exercised", "hvp"),
      "the HVP and every finite difference of the gradient were exactly 0 at every check (the entry may be linear, or piecewise linear, in its differentiated parameters), so nothing was compared",
    ],
  ];
  for (const [names, why] of unexercised) if (names.length) parts.push(`NOT EXERCISED (${names.join(", ")}: ${why})`);
  if (named("not checked")) parts.push(`NOT CHECKED (${named("not checked")}: every point was skipped)`);
  return parts.join("; ");
}
