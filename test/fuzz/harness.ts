// Runs generated programs through the compiler and checks them (see test/property.test.ts):
//
//  (a) the program compiles (with and without simplification);
//  (b) the generated forward function equals the DSL file run as-is under Node (the
//      reference semantics: adgen's runtime, tensors as nested arrays) to 1e-12 relative;
//  (c) the gradient (fGrad, or fVjp with a random cotangent for a tensor output) agrees
//      with centered finite differences along random directions;
//  (d) the build without simplification gives the same value and gradients to 1e-12;
//  (f, g) fJvp against the gradient, fHvp against differences of fGrad (see checkRun)
//  (e) fBackward(fForward(x)) equals fGrad, a second fBackward on the same tape gives the
//      same gradients (the backward pass must not consume its tape), and the allocation-free
//      fGradInto / fVjpInto, called after a call at other inputs (its buffers persist),
//      equals fGrad / fVjp; integer-only parameters (labels) get no gradient, and a @wrt
//      tag restricts the gradients to its parameters;
//  (f) `typecheck`: the generated modules type-check under tsc --strict.
//
// Finite differences and non-smooth points. Programs contain kinks and jumps (relu, max,
// abs, max-pooling, data-dependent branches, floor). A centered difference with step h is
// wrong only if a kink or a jump lies within h of x along the direction d; the generated
// gradient, taken at x itself, is right whichever side x is on (inputs are continuous random
// numbers, so x is on no kink). We therefore check each direction at steps h = 1e-6,
// h/16 and h/256 and accept the first that agrees: for a function that is smooth near x
// the centered difference is accurate at all three (truncation O(h^2), rounding
// ~ 64 eps |f| / h, which the tolerance includes), and a non-smooth point at distance r
// from x contaminates only the steps h > r -- the chance that one lies within 1e-6/256 of
// a random x is negligible. A genuine gradient error persists at every step and fails.
// The failure report prints, for each step, the centered difference and the second
// difference |f(x+hd) - 2 f(x) + f(x-hd)|, which is O(h^2) when f is smooth there and O(h)
// (kink) or O(1) (jump) when it is not -- so a reader can tell the two apart.
//
// Ties. A condition can compare two expressions that are equal in exact arithmetic
// (`x > mean(add(zeros([3]), x))`): the branch then depends on rounding, and flips within a
// few ulps of every x. Two builds that round differently may take different branches, and no
// finite-difference step is small enough. Such a point is recognised on the reference alone:
// the DSL run as-is jumps (changes by more than 1e-6 relative) under perturbations of 1e-12
// and 1e-10 along random directions -- a smooth function changes by ~1e-10 |grad| there. A
// value mismatch at such a point discards the input draw; a finite-difference failure along
// d is skipped when the reference jumps along d within the smallest step (by more than a
// smooth function could, 1e-6 |f| + 1e3 h |grad|). Both are counted ("ties") and rare.
//
// An input draw is discarded when the reference run (the DSL file as-is) produces an output
// that is not finite or exceeds 1e6, or any intermediate result of a Math or adgen function
// that is not finite or exceeds 1e8 (generation keeps values bounded, but only roughly; past
// that, overflow such as 0 * exp(800) makes gradients meaningless). The decision looks at
// the reference run only, so it cannot hide a compiler error.

import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import ts from "typescript";
import { compile } from "../../compiler/pipeline.js";
import { importCode, unflatten } from "../helpers.js";
import {
  BUILTIN_NAMES, Fn, GenFlags, Param, Program, SizeRun, entryOf, hash32, makeRand, printProgram, printPrograms, programSize,
  runsOf, shapeAt, shapeOf, shrinkCandidates, sizeOf,
} from "./generator.js";

type Mod = Record<string, any>;
export type Arg = number | Float64Array;

export interface Built {
  readonly fast: Mod;
  /** The build with `simplify: false` (absent while shrinking a failure that does not need it). */
  readonly plain?: Mod;
  readonly ref: Mod;
  readonly source: string;
  /** The generated modules' text (simplified, and unsimplified when built). */
  readonly codes: readonly string[];
}

export interface Failure {
  readonly seed: number;
  /** A short category; shrinking keeps a candidate only if it fails with the same kind. */
  readonly kind: string;
  readonly message: string;
  /** The inputs (and cotangent) at which the check failed. */
  readonly inputs?: Record<string, number | number[]>;
}

export interface CheckStats {
  checked: number;
  /** Of those, checks at a run with run-time sizes or integer parameters (and at N = 1). */
  sized: number;
  sizeOne: number;
  discarded: number;
  /** Directions that needed a smaller step (a kink or branch flip within 1e-6 of x). */
  refined: number;
  /** Checks skipped at a tie: the reference itself jumps within 4e-9 of x (see below). */
  ties: number;
  directions: number;
}

export const newStats = (): CheckStats => ({ checked: 0, sized: 0, sizeOne: 0, discarded: 0, refined: 0, ties: 0, directions: 0 });

const GENERATED_DIR = new URL("../.generated/", import.meta.url);
const RUNTIME_URL = new URL("../../runtime/index.ts", import.meta.url).href;

/**
 * Magnitudes seen while the DSL file runs as-is: every result of a Math function and of an
 * adgen function. A run with an intermediate that is not finite or exceeds 1e8 is
 * discarded: there, floating point overflow (exp of a huge number times 0, ...) makes the
 * gradient meaningless although the output may look fine.
 */
export const refTrace = { maxAbs: 0, nonFinite: false };
function track(x: unknown): void {
  if (typeof x === "number") {
    if (!Number.isFinite(x)) refTrace.nonFinite = true;
    else if (Math.abs(x) > refTrace.maxAbs) refTrace.maxAbs = Math.abs(x);
  } else if (Array.isArray(x)) for (const e of x) track(e);
}
const TRACED_MATH = Object.fromEntries(Object.getOwnPropertyNames(Math).map((k) => {
  const v = (Math as unknown as Record<string, unknown>)[k];
  return [k, typeof v === "function" ? (...a: number[]) => {
    const r = (v as (...a: number[]) => number)(...a);
    track(r);
    return r;
  } : v];
}));
(globalThis as Record<string, unknown>).__adgenFuzz = { Math: TRACED_MATH, track };

/** adgen's runtime with every function's result traced (written once per process). */
let tracedRuntimeUrl: string | undefined;
function tracedRuntime(): string {
  if (tracedRuntimeUrl) return tracedRuntimeUrl;
  const lines = [`import * as rt from ${JSON.stringify(RUNTIME_URL)};`, "const { track } = globalThis.__adgenFuzz;",
    "const wrap = (f) => (...a) => { const r = f(...a); track(r); return r; };"];
  for (const n of BUILTIN_NAMES) lines.push(`export const ${n} = wrap(rt.${n});`);
  const text = lines.join("\n") + "\n";
  mkdirSync(GENERATED_DIR, { recursive: true });
  const url = new URL(`runtime_traced_${createHash("sha256").update(text).digest("hex").slice(0, 12)}.mjs`, GENERATED_DIR);
  writeFileSync(url, text);
  return (tracedRuntimeUrl = url.href);
}

/** The DSL file as-is, transpiled to JavaScript, importing adgen's runtime (traced). */
export async function importReference(source: string): Promise<Mod> {
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText.replace(/from\s+["']adgen["']/g, `from ${JSON.stringify(tracedRuntime())}`) +
    "\nconst Math = globalThis.__adgenFuzz.Math;\n";
  mkdirSync(GENERATED_DIR, { recursive: true });
  const hash = createHash("sha256").update(js).digest("hex").slice(0, 16);
  const url = new URL(`ref_${hash}.mjs`, GENERATED_DIR);
  writeFileSync(url, js);
  return (await import(/* @vite-ignore */ url.href)) as Mod;
}

export type BuildResult = { built: Built } | { failure: { kind: string; message: string } };

/**
 * Type-checks generated modules under `tsc --strict` (SPEC: the module type-checks) in one
 * TypeScript program; returns "file:line:col TSxxxx message" for every error, with the
 * offending line.
 */
export function typecheck(codes: readonly string[]): string[] {
  mkdirSync(GENERATED_DIR, { recursive: true });
  const files = codes.map((code) => {
    const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
    const url = new URL(`tsc_${hash}.ts`, GENERATED_DIR);
    writeFileSync(url, code);
    return fileURLToPath(url);
  });
  const program = ts.createProgram(files, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    lib: ["lib.es2022.d.ts"], types: [], skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const line = where && d.file ? d.file.text.split("\n")[where.line]!.trim() : "";
    return `${d.file?.fileName ?? "?"}:${(where?.line ?? -1) + 1}:${(where?.character ?? -1) + 1} TS${d.code} ` +
      `${ts.flattenDiagnosticMessageText(d.messageText, " ")}\n    ${line}`;
  });
}

/** Compiles (simplified and, unless `withPlain` is false, not) and imports a file holding the given programs. */
export async function build(
  progs: readonly Program[], timing?: { compileMs: number; compiles: number }, withPlain = true,
): Promise<BuildResult> {
  const source = printPrograms(progs);
  const diag = (r: Awaited<ReturnType<typeof compile>>) =>
    r.diagnostics.map((d) => `model.ts:${d.line}:${d.col} ${d.code}: ${d.message}`).join("\n");
  let t = performance.now();
  const fast = await compile(source);
  if (timing) {
    timing.compileMs += performance.now() - t;
    timing.compiles++;
  }
  if (fast.diagnostics.length) return { failure: { kind: `compile:${fast.diagnostics[0]!.code}`, message: diag(fast) } };
  t = performance.now();
  const plain = withPlain ? await compile(source, { simplify: false }) : undefined;
  if (timing) {
    timing.compileMs += performance.now() - t;
    timing.compiles++;
  }
  if (plain?.diagnostics.length) {
    return { failure: { kind: `compile-unsimplified:${plain.diagnostics[0]!.code}`, message: diag(plain) } };
  }
  let fastMod: Mod;
  let plainMod: Mod | undefined;
  try {
    fastMod = await importCode<Mod>(fast.code!);
  } catch (e) {
    return { failure: { kind: "import", message: `the generated module does not load: ${String(e)}` } };
  }
  try {
    if (plain) plainMod = await importCode<Mod>(plain.code!);
  } catch (e) {
    return { failure: { kind: "import-unsimplified", message: `the unsimplified module does not load: ${String(e)}` } };
  }
  let ref: Mod;
  try {
    ref = await importReference(source);
  } catch (e) {
    return { failure: { kind: "reference-import", message: `the DSL file does not load as-is: ${String(e)}` } };
  }
  const codes = [fast.code!, ...(plain ? [plain.code!] : [])];
  return { built: { fast: fastMod, ...(plainMod ? { plain: plainMod } : {}), ref, source, codes } };
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** Inputs of a program's entry point at a run's sizes: a function of (seed, parameter name,
 * salt, sizes) only, so that removing other parameters while shrinking keeps the remaining
 * inputs unchanged. An integer parameter takes its value from the run. */
export function makeInputs(p: Program, salt: number, run: SizeRun = {}): Arg[] {
  return entryOf(p).params.map((q) => inputFor(p.seed, q, salt, run));
}

function inputFor(seed: number, q: Param, salt: number, run: SizeRun): Arg {
  const r = makeRand(hash32(seed, q.name, salt, ...Object.values(run)));
  const n = sizeOf(shapeAt(q.ty, run));
  if (q.role === "int") return run[q.name]!;
  if (q.role === "label") return r.int(0, q.classes! - 1);
  if (q.role === "labels") return Float64Array.from({ length: n }, () => r.int(0, q.classes! - 1));
  if (q.ty.k === "num") return r.real(-1.5, 1.5);
  return Float64Array.from({ length: n }, () => r.real(-1, 1));
}

/**
 * The sizes that no parameter array determines, which the generated functions take as a
 * trailing `{ N, M }` argument (SPEC section 5): a size is determined by an array in whose
 * shape it is the only size not yet determined, repeatedly.
 */
export function trailingSizes(f: Fn): string[] {
  const syms = f.typeParams ?? [];
  const known = new Set<string>();
  for (let progress = true; progress;) {
    progress = false;
    for (const q of f.params) {
      const dims = q.ty.k === "ten" ? q.ty.dims : undefined;
      if (!dims) continue;
      const unknown = [...new Set(dims.filter((d): d is string => typeof d === "string" && !known.has(d)))];
      if (unknown.length !== 1) continue;
      known.add(unknown[0]!);
      progress = true;
    }
  }
  return syms.filter((s) => !known.has(s));
}

/**
 * A module whose functions take a run's trailing sizes argument (when the entry needs one)
 * appended to their arguments; a backward pass takes its tape (and cotangent) only.
 */
function atSizes(m: Mod, f: Fn, run: SizeRun): Mod {
  const trailing = trailingSizes(f);
  if (trailing.length === 0) return m;
  const sizes = Object.fromEntries(trailing.map((s) => [s, run[s]!]));
  return new Proxy(m, {
    get: (t, k) => {
      const v = t[k as string];
      return typeof v === "function" && !String(k).endsWith("Backward") ? (...a: unknown[]) => v(...a, sizes) : v;
    },
  });
}

const toList = (x: unknown): number[] => (typeof x === "number" ? [x] : Array.from(x as ArrayLike<number>));

function flattenNested(x: unknown, out: number[] = []): number[] {
  if (typeof x === "number") out.push(x);
  else if (Array.isArray(x)) for (const e of x) flattenNested(e, out);
  else out.push(NaN);
  return out;
}

const rel = (a: number, b: number): number => {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
};
function worstRel(a: readonly number[], b: readonly number[]): { err: number; at: number } {
  if (a.length !== b.length) return { err: Infinity, at: -1 };
  let err = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = rel(a[i]!, b[i]!);
    if (e > err) {
      err = e;
      at = i;
    }
  }
  return { err, at };
}

const show = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(17).replace(/\.?0+(e|$)/, "$1"));

function inputsRecord(f: Fn, args: readonly Arg[], cot?: Float64Array, run: SizeRun = {}): Record<string, number | number[]> {
  const rec: Record<string, number | number[]> = {};
  for (const s of f.typeParams ?? []) rec[`<size ${s}>`] = run[s]!;
  f.params.forEach((q, i) => (rec[q.name] = typeof args[i] === "number" ? (args[i] as number) : Array.from(args[i] as Float64Array)));
  if (cot) rec["<cotangent>"] = Array.from(cot);
  return rec;
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

export const TOL = { value: 1e-12, grad: 1e-5, simplify: 1e-12 };
const STEPS = [1e-6, 1e-6 / 16, 1e-6 / 256];
const DIRECTIONS = 4;

/**
 * Checks one program against built modules; null when it passes (or is discarded, which
 * `stats` counts).
 */
export function checkProgram(p: Program, built: Built, stats: CheckStats = newStats()): Failure | null {
  const f = entryOf(p);
  const name = f.name;
  const isTensorOut = f.ret.k === "ten";
  for (const fnName of [name, isTensorOut ? `${name}Vjp` : `${name}Grad`]) {
    if (typeof built.fast[fnName] !== "function") return { seed: p.seed, kind: "missing-export", message: `the generated module has no function ${fnName}` };
  }
  // every run: the sizes and integer parameters the generated code is called at, in turn
  for (const run of runsOf(p)) {
    const b: Built = { ...built, fast: atSizes(built.fast, f, run), ...(built.plain ? { plain: atSizes(built.plain, f, run) } : {}) };
    const fl = checkRun(p, b, stats, run);
    if (fl) return fl;
  }
  return null;
}

/** The checks of one program at one run's sizes (b's modules take the run's sizes argument). */
function checkRun(p: Program, b: Built, stats: CheckStats, run: SizeRun): Failure | null {
  const f = entryOf(p);
  const name = f.name;
  const at = Object.keys(run).length ? ` [at ${Object.entries(run).map(([k, v]) => `${k} = ${v}`).join(", ")}]` : "";
  const fail = (kind: string, message: string, args?: readonly Arg[], cot?: Float64Array): Failure => ({
    seed: p.seed, kind, message: message + at, ...(args ? { inputs: inputsRecord(f, args, cot, run) } : {}),
  });
  const isTensorOut = f.ret.k === "ten";

  // a few input draws: a draw whose reference output is degenerate (huge, not finite) is skipped
  for (let salt = 0; salt < 3; salt++) {
    const args = makeInputs(p, salt, run);
    const refArgs = args.map((a, i) => (typeof a === "number" ? a : unflatten(a, shapeAt(f.params[i]!.ty, run))));
    let refOut: number[];
    refTrace.maxAbs = 0;
    refTrace.nonFinite = false;
    try {
      refOut = flattenNested(b.ref[name](...refArgs));
    } catch (e) {
      return fail("reference-throws", `the DSL file run as-is throws: ${String(e)}`, args);
    }
    if (!refOut.every((v) => Number.isFinite(v) && Math.abs(v) <= 1e6) || refTrace.nonFinite || refTrace.maxAbs > 1e8) continue;
    stats.checked++;
    if (Object.keys(run).length) stats.sized++;
    if (Object.values(run).includes(1) && (f.typeParams ?? []).some((t) => run[t] === 1)) stats.sizeOne++;
    const atTie = (): boolean => {
      if (nearTie(p, b, args, refOut, run)) {
        stats.ties++;
        return true;
      }
      return false;
    };

    // (b) forward against the reference
    let out: number[];
    try {
      out = toList(b.fast[name](...args));
    } catch (e) {
      return fail("forward-throws", `${name} throws: ${String(e)}`, args);
    }
    const fw = worstRel(out, refOut);
    if (fw.err > TOL.value && !atTie()) {
      return fail("forward", `forward ${name} differs from the DSL run as-is: rel. error ${fw.err.toExponential(3)} at element ${fw.at}: ` +
        `generated ${show(out[fw.at] ?? NaN)}, reference ${show(refOut[fw.at] ?? NaN)}` +
        (out.length > 1 ? `\n  generated: [${out.map(show).join(", ")}]\n  reference: [${refOut.map(show).join(", ")}]` : ""), args);
    }

    // gradient / vector-Jacobian product
    const cr = makeRand(hash32(p.seed, "cotangent", salt));
    const cot = isTensorOut ? Float64Array.from({ length: out.length }, () => cr.real(-1, 1)) : undefined;
    const runGrad = (m: Mod): { value: Arg; grads: Record<string, Arg | undefined> } =>
      isTensorOut ? m[`${name}Vjp`](...args, cot) : m[`${name}Grad`](...args);
    let g: { value: Arg; grads: Record<string, Arg | undefined> };
    try {
      g = runGrad(b.fast);
    } catch (e) {
      return fail("grad-throws", `${name}${isTensorOut ? "Vjp" : "Grad"} throws: ${String(e)}`, args, cot);
    }
    const gv = worstRel(toList(g.value), out);
    if (gv.err > TOL.value && !atTie()) {
      return fail("grad-value", `${name}Grad's value differs from ${name}: ${show(toList(g.value)[gv.at] ?? NaN)} vs ${show(out[gv.at] ?? NaN)}`, args, cot);
    }
    for (const q of f.params) {
      const gq = g.grads[q.name];
      if (q.role !== "real" && gq !== undefined) {
        return fail("integer-param-grad", `integer-only parameter '${q.name}' (a class label or an integer parameter) got a gradient`, args, cot);
      }
      if (f.wrt && !f.wrt.includes(q.name) && gq !== undefined) {
        return fail("wrt", `'${q.name}' is not in @wrt ${f.wrt.join(", ")} but got a gradient`, args, cot);
      }
      if (gq !== undefined) {
        const want = sizeOf(shapeAt(q.ty, run));
        if (q.ty.k === "num" ? typeof gq !== "number" : !(gq instanceof Float64Array) || gq.length !== want) {
          return fail("grad-shape", `gradient of '${q.name}' has the wrong type or size`, args, cot);
        }
      }
    }

    // (c) finite differences
    const fdFail = finiteDifferences(p, b, args, g.grads, cot, stats, run);
    if (fdFail) return fail("gradient", fdFail, args, cot);

    // (d) the unsimplified build
    let outPlain: number[] = out;
    let gPlain: { value: Arg; grads: Record<string, Arg | undefined> } = g;
    if (b.plain) {
      try {
        outPlain = toList(b.plain[name](...args));
        gPlain = runGrad(b.plain);
      } catch (e) {
        return fail("unsimplified-throws", `the unsimplified build throws: ${String(e)}`, args, cot);
      }
    }
    const pv = worstRel(outPlain, out);
    if (pv.err > TOL.simplify && !atTie()) {
      return fail("simplify-value", `value with simplify: false differs: ${show(outPlain[pv.at] ?? NaN)} vs ${show(out[pv.at] ?? NaN)} (element ${pv.at})`, args, cot);
    }
    for (const q of f.params) {
      if (q.role !== "real") continue;
      const size = sizeOf(shapeAt(q.ty, run));
      const a = g.grads[q.name] === undefined ? new Array<number>(size).fill(0) : toList(g.grads[q.name]);
      const c = gPlain.grads[q.name] === undefined ? new Array<number>(size).fill(0) : toList(gPlain.grads[q.name]);
      const e = worstRel(c, a);
      if (e.err > TOL.simplify && !atTie()) {
        return fail("simplify-grad", `gradient of '${q.name}' with simplify: false differs: rel. error ${e.err.toExponential(3)} at element ${e.at}: ` +
          `${show(c[e.at] ?? NaN)} (unsimplified) vs ${show(a[e.at] ?? NaN)} (simplified)` +
          `${g.grads[q.name] === undefined ? " [no gradient in the simplified build]" : ""}${gPlain.grads[q.name] === undefined ? " [no gradient in the unsimplified build]" : ""}`,
          args, cot);
      }
    }

    // (e) the forward/backward split keeps its tape intact (a second backward pass gives the
    // same gradients), and the allocation-free form -- whose buffers persist from call to
    // call -- agrees with fGrad/fVjp after a call at other inputs
    const same = (x: Record<string, Arg | undefined>, y: Record<string, Arg | undefined>): string | null => {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        const e = worstRel(x[k] === undefined ? [] : toList(x[k]), y[k] === undefined ? [] : toList(y[k]));
        if (e.err > TOL.value) return `gradient of '${k}': rel. error ${e.err.toExponential(3)} at element ${e.at}`;
      }
      return null;
    };
    const fwd = b.fast[`${name}Forward`];
    const bwd = b.fast[`${name}Backward`];
    if (typeof fwd === "function" && typeof bwd === "function") {
      try {
        const tape = fwd(...args);
        const g1 = isTensorOut ? bwd(tape, cot) : bwd(tape);
        const g2 = isTensorOut ? bwd(tape, cot) : bwd(tape);
        const d1 = same(g1, g.grads);
        if (d1) return fail("forward-backward", `${name}Backward(${name}Forward(...)) differs from ${name}${isTensorOut ? "Vjp" : "Grad"}: ${d1}`, args, cot);
        const d2 = same(g2, g1);
        if (d2) return fail("tape-reuse", `a second ${name}Backward on the same tape gives other gradients: ${d2}`, args, cot);
      } catch (e) {
        return fail("forward-backward-throws", `${name}Forward/${name}Backward throw: ${String(e)}`, args, cot);
      }
    }
    const into = b.fast[isTensorOut ? `${name}VjpInto` : `${name}GradInto`];
    if (typeof into === "function") {
      const runInto = (xs: readonly Arg[]): { value: Arg; grads: Record<string, Arg | undefined> } => {
        const grads: Record<string, Arg> = {};
        for (const [k, v] of Object.entries(g.grads)) {
          if (v !== undefined) grads[k] = typeof v === "number" ? NaN : new Float64Array(v.length).fill(NaN);
        }
        if (isTensorOut) {
          const o = new Float64Array(out.length);
          into(...xs, cot, o, grads);
          return { value: o, grads };
        }
        return { value: into(...xs, grads) as number, grads };
      };
      try {
        runInto(makeInputs(p, salt + 100, run));
        const r = runInto(args);
        const ve = worstRel(toList(r.value), out);
        const d = ve.err > TOL.value ? `value ${show(toList(r.value)[ve.at] ?? NaN)} vs ${show(out[ve.at] ?? NaN)}` : same(r.grads, g.grads);
        if (d) return fail("grad-into", `${name}${isTensorOut ? "VjpInto" : "GradInto"}, called after a call at other inputs, differs: ${d}`, args, cot);
      } catch (e) {
        return fail("grad-into-throws", `${name}${isTensorOut ? "VjpInto" : "GradInto"} throws: ${String(e)}`, args, cot);
      }
    }

    // (f) forward mode: fJvp's tangent along a random t is ⟨grad, t⟩ (⟨cotangent, J t⟩ for a
    // tensor value); (g) fHvp gives fGrad's value and gradient, and along t the centered
    // differences of fGrad (at one of two steps: a piecewise function may change pieces
    // within the larger one)
    const tr = makeRand(hash32(p.seed, "tangent", salt));
    const wrt = Object.keys(g.grads).filter((k) => g.grads[k] !== undefined);
    const t: Record<string, Arg> = Object.fromEntries(wrt.map((k) => {
      const gk = g.grads[k]!;
      return [k, typeof gk === "number" ? tr.real(-1, 1) : Float64Array.from(gk, () => tr.real(-1, 1))];
    }));
    const dotAbs = (x: Arg, y: Arg): [number, number] => {
      if (typeof x === "number") return [x * (y as number), Math.abs(x * (y as number))];
      let d = 0;
      let sc = 0;
      for (let i = 0; i < x.length; i++) {
        d += x[i]! * (y as Float64Array)[i]!;
        sc += Math.abs(x[i]! * (y as Float64Array)[i]!);
      }
      return [d, sc];
    };
    let jvp: { value: Arg; tangent: Arg };
    try {
      jvp = b.fast[`${name}Jvp`](...args, t);
    } catch (e) {
      return fail("jvp-throws", `${name}Jvp throws: ${String(e)}`, args, cot);
    }
    const [lhs, ls] = cot ? dotAbs(cot, jvp.tangent) : [jvp.tangent as number, 0];
    let rhs = 0;
    let scale = ls;
    for (const k of wrt) {
      const [d, sc] = dotAbs(g.grads[k]!, t[k]!);
      rhs += d;
      scale += sc;
    }
    // (relative to the terms' sizes, with a floor of 1e-12: an exact zero computed two ways is
    // rounding noise of the intermediate values, as with crossEntropy at a saturated softmax)
    if (!(Math.abs(lhs - rhs) <= 1e-9 * scale + 1e-12) && !(Number.isNaN(lhs) && Number.isNaN(rhs)) && !atTie()) {
      return fail("jvp", `${name}Jvp's tangent ${show(lhs)} differs from the gradient's ⟨grad, t⟩ ${show(rhs)}`, args, cot);
    }
    if (!isTensorOut && wrt.length) {
      let h: { value: number; grads: Record<string, Arg>; hvp: Record<string, Arg> };
      try {
        h = b.fast[`${name}Hvp`](...args, t);
      } catch (e) {
        return fail("hvp-throws", `${name}Hvp throws: ${String(e)}`, args);
      }
      if (!Object.is(h.value, g.value)) return fail("hvp-value", `${name}Hvp's value ${show(h.value)} differs from ${name}Grad's ${show(g.value as number)}`, args);
      const d = same(h.grads, g.grads);
      if (d) return fail("hvp-grads", `${name}Hvp's gradient differs from ${name}Grad's: ${d}`, args);
      let worst = Infinity;
      for (const eps of [1e-5, 1e-7]) {
        const moved = (sign: number): Arg[] => args.map((a, i) => {
          const tk = t[f.params[i]!.name];
          if (tk === undefined) return a;
          return typeof a === "number" ? a + sign * eps * (tk as number) : Float64Array.from(a, (v, j) => v + sign * eps * (tk as Float64Array)[j]!);
        });
        try {
          const gp = b.fast[`${name}Grad`](...moved(1)).grads;
          const gm = b.fast[`${name}Grad`](...moved(-1)).grads;
          let num = 0;
          let den = 0;
          for (const k of wrt) {
            const hv = toList(h.hvp[k]);
            const pl = toList(gp[k] ?? 0);
            const mi = toList(gm[k] ?? 0);
            hv.forEach((v, j) => {
              const fd = (pl[j]! - mi[j]!) / (2 * eps);
              num += (fd - v) ** 2;
              den += fd * fd + v * v;
            });
          }
          worst = Math.min(worst, Math.sqrt(num / Math.max(den, 1e-12)));
        } catch {
          // (an input moved outside the function's domain: the other step decides)
        }
      }
      if (!(worst <= 1e-4) && !atTie()) return fail("hvp", `${name}Hvp differs from differences of ${name}Grad along t: relative error ${worst.toExponential(3)}`, args);
    }
    return null;
  }
  stats.discarded++;
  return null;
}

/** The reference output (flat) at inputs given as the generated code takes them. */
function runReference(p: Program, b: Built, xs: readonly Arg[], run: SizeRun): number[] {
  const f = entryOf(p);
  return flattenNested(b.ref[f.name](...xs.map((a, i) => (typeof a === "number" ? a : unflatten(a, shapeAt(f.params[i]!.ty, run))))));
}

/** Whether the reference jumps under perturbations of 1e-12 and 1e-10 of x (a tie at x). */
function nearTie(p: Program, b: Built, args: readonly Arg[], f0: readonly number[], run: SizeRun): boolean {
  const f = entryOf(p);
  const r = makeRand(hash32(p.seed, "ties"));
  for (let n = 0; n < 4; n++) {
    const dirs = args.map((a, k) => (f.params[k]!.role !== "real" ? undefined : typeof a === "number" ? r.real(-1, 1) : Float64Array.from(a, () => r.real(-1, 1))));
    for (const t of [1e-12, -1e-12, 1e-10, -1e-10]) {
      const xs = args.map((a, k) => {
        const d = dirs[k];
        if (d === undefined) return a;
        return typeof a === "number" ? a + t * (d as number) : Float64Array.from(a, (v, i) => v + t * (d as Float64Array)[i]!);
      });
      const fx = runReference(p, b, xs, run);
      if (fx.some((v, i) => Math.abs(v - f0[i]!) > 1e-6 * Math.max(1, Math.abs(f0[i]!)))) return true;
    }
  }
  return false;
}

/** Directional finite-difference check; returns a description of the failure or null. */
function finiteDifferences(
  p: Program, b: Built, args: readonly Arg[], grads: Record<string, Arg | undefined>, cot: Float64Array | undefined,
  stats: CheckStats, run: SizeRun,
): string | null {
  const f = entryOf(p);
  const m = b.fast;
  const perturb = f.params.map((q) => q.role === "real" && (!f.wrt || f.wrt.includes(q.name)));
  // phi(x) = f(x) or <cot, f(x)>, and a magnitude for its rounding error
  const phi = (xs: readonly Arg[]): { v: number; mag: number } => {
    const out = m[f.name](...xs);
    if (!cot) return { v: out as number, mag: Math.abs(out as number) };
    let v = 0;
    let mag = 0;
    const o = out as Float64Array;
    for (let i = 0; i < o.length; i++) {
      v += cot[i]! * o[i]!;
      mag += Math.abs(cot[i]! * o[i]!);
    }
    return { v, mag };
  };
  const r = makeRand(hash32(p.seed, "directions"));
  const f0 = phi(args);
  for (let n = 0; n < DIRECTIONS; n++) {
    stats.directions++;
    const dirs = args.map((a, k) => (!perturb[k] ? undefined : typeof a === "number" ? r.real(-1, 1) : Float64Array.from(a, () => r.real(-1, 1))));
    let gd = 0;
    let scale = 0;
    f.params.forEach((q, k) => {
      const d = dirs[k];
      if (d === undefined) return;
      const gq = grads[q.name];
      if (gq === undefined) return; // no gradient: the output must not depend on q (treated as 0)
      const gs = toList(gq);
      const ds = toList(d);
      for (let i = 0; i < ds.length; i++) {
        gd += (gs[i] ?? NaN) * ds[i]!;
        scale += Math.abs((gs[i] ?? NaN) * ds[i]!);
      }
    });
    const shifted = (t: number): Arg[] =>
      args.map((a, k) => {
        const d = dirs[k];
        if (d === undefined) return a;
        if (typeof a === "number") return a + t * (d as number);
        const dd = d as Float64Array;
        return Float64Array.from(a, (v, i) => v + t * dd[i]!);
      });
    const tried: string[] = [];
    let ok = false;
    for (const [k, h] of STEPS.entries()) {
      const fp = phi(shifted(h));
      const fm = phi(shifted(-h));
      const fd = (fp.v - fm.v) / (2 * h);
      const noise = (64 * Number.EPSILON * Math.max(fp.mag, fm.mag, f0.mag, 1)) / h;
      const err = Math.abs(fd - gd);
      const allowed = TOL.grad * Math.max(scale, Math.abs(gd), Math.abs(fd)) + noise;
      if (err <= allowed) {
        ok = true;
        if (k > 0) stats.refined++;
        break;
      }
      const d2 = Math.abs(fp.v - 2 * f0.v + fm.v);
      tried.push(`h=${h.toExponential(2)}: finite difference ${show(fd)}, error ${err.toExponential(3)} (allowed ${allowed.toExponential(2)}), ` +
        `second difference ${d2.toExponential(3)}`);
    }
    if (!ok) {
      // a jump of the reference itself within the smallest step: a tie, not a gradient error
      const hMin = STEPS[STEPS.length - 1]!;
      const ref = (xs: readonly Arg[]): number => {
        const o = runReference(p, b, xs, run);
        return cot ? o.reduce((acc, v, i) => acc + cot[i]! * v, 0) : o[0]!;
      };
      const r0 = ref(args);
      const bound = 1e-6 * Math.max(1, Math.abs(r0)) + 1e3 * hMin * Math.max(scale, Math.abs(gd), 1);
      if (Math.abs(ref(shifted(hMin)) - r0) > bound || Math.abs(ref(shifted(-hMin)) - r0) > bound) {
        stats.ties++;
        continue;
      }
      return `gradient along a random direction (#${n}): generated <grad, d> = ${show(gd)} (sum |g_i d_i| = ${show(scale)})\n  ` +
        tried.join("\n  ") + `\n  gradients: ${JSON.stringify(Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, v === undefined ? v : toList(v)])))}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Running a batch, isolating failures, shrinking
// ---------------------------------------------------------------------------------------------

/** Builds one program alone and checks it (`withPlain`: also the unsimplified build). */
export async function evaluateAlone(p: Program, withPlain = true): Promise<Failure | null> {
  const r = await build([p], undefined, withPlain);
  if ("failure" in r) return { seed: p.seed, ...r.failure };
  return checkProgram(p, r.built);
}

/**
 * Checks programs compiled together in one file (one compile for several entry points);
 * if the file does not build, each program is built alone to find the culprits.
 */
export async function runBatch(
  progs: readonly Program[], stats: CheckStats, timing?: { compileMs: number; compiles: number },
  onCodes?: (codes: readonly string[]) => void,
): Promise<Failure[]> {
  const r = await build(progs, timing);
  const failures: Failure[] = [];
  if ("built" in r) {
    onCodes?.(r.built.codes);
    for (const p of progs) {
      const fl = checkProgram(p, r.built, stats);
      if (fl) failures.push(fl);
    }
    return failures;
  }
  for (const p of progs) {
    const one = await build([p], timing);
    if ("failure" in one) failures.push({ seed: p.seed, ...one.failure });
    else {
      const fl = checkProgram(p, one.built, stats);
      if (fl) failures.push(fl);
    }
  }
  if (failures.length === 0) failures.push({ seed: progs[0]!.seed, kind: r.failure.kind, message: `only together: ${r.failure.message}` });
  return failures;
}

/** A failure's kind, coarse enough to survive shrinking: compile errors by code only. */
const sameFailure = (a: Failure, b: Failure | null): boolean => b !== null && a.kind === b.kind;

/**
 * Greedy shrinking: repeatedly takes the first candidate from `shrinkCandidates` that fails
 * the same way, until none does or the time budget is spent.
 */
export async function shrink(p: Program, failure: Failure, budgetMs: number): Promise<{ program: Program; failure: Failure; steps: number; tries: number }> {
  const deadline = Date.now() + budgetMs;
  let cur = p;
  let curFail = failure;
  let steps = 0;
  let tries = 0;
  const seen = new Set<string>([printProgram(p)]);
  // the unsimplified build matters only to failures that involve it
  const needsPlain = /simplif/.test(failure.kind);
  outer: while (Date.now() < deadline) {
    for (const cand of shrinkCandidates(cur)) {
      if (Date.now() >= deadline) break outer;
      const text = printProgram(cand);
      if (seen.has(text) || programSize(cand) >= programSize(cur) && text.length >= printProgram(cur).length) continue;
      seen.add(text);
      tries++;
      let fl: Failure | null;
      try {
        fl = await evaluateAlone(cand, needsPlain);
      } catch {
        fl = null;
      }
      if (fl && sameFailure(curFail, fl)) {
        cur = cand;
        curFail = fl;
        steps++;
        continue outer;
      }
    }
    break;
  }
  return { program: cur, failure: curFail, steps, tries };
}

export function formatFailure(original: Program, f: Failure, shrunk?: { program: Program; failure: Failure; steps: number; tries: number }): string {
  const lines: string[] = [];
  lines.push(`=== property failure: seed ${f.seed}, kind ${f.kind} ===`);
  lines.push(`reproduce: ADGEN_FUZZ_SEEDS=${f.seed} npx vitest run test/property.test.ts`);
  lines.push(f.message);
  if (f.inputs) lines.push(`inputs: ${JSON.stringify(f.inputs)}`);
  lines.push("--- program ---");
  lines.push(printProgram(original));
  if (shrunk) {
    lines.push(`--- shrunk (${shrunk.steps} steps, ${shrunk.tries} candidates tried), kind ${shrunk.failure.kind} ---`);
    lines.push(printProgram(shrunk.program));
    lines.push(shrunk.failure.message);
    if (shrunk.failure.inputs) lines.push(`inputs: ${JSON.stringify(shrunk.failure.inputs)}`);
  }
  return lines.join("\n");
}

export type { GenFlags };
