// Shared test helpers: compile a DSL source to a module and import it, load PyTorch
// reference cases, finite differences and error measures.

import { expect } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { compile, CompileOptions, CompileResult } from "../compiler/pipeline.js";

export const REFERENCE_DIR = new URL("./reference/", import.meta.url);
const GENERATED_DIR = new URL("./.generated/", import.meta.url);

export interface RefTensor {
  shape: number[];
  data: number[];
}
export interface Reference {
  name: string;
  description: string;
  inputs: Record<string, RefTensor>;
  wrt: string[];
  output: RefTensor;
  grads: Record<string, RefTensor>;
  cotangent?: RefTensor;
  hvp?: { direction: Record<string, RefTensor>; result: Record<string, RefTensor> };
}

export function loadReference(name: string): Reference {
  return JSON.parse(readFileSync(new URL(`${name}.json`, REFERENCE_DIR), "utf8")) as Reference;
}

/** A reference input as the generated code takes it: a number or a flat Float64Array. */
export function asArg(t: RefTensor): number | Float64Array {
  return t.shape.length === 0 ? t.data[0]! : Float64Array.from(t.data);
}

export async function compileOrThrow(source: string, options: CompileOptions = {}): Promise<CompileResult> {
  const r = await compile(source, options);
  if (r.diagnostics.length) {
    throw new Error(r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.code}: ${d.message}`).join("\n"));
  }
  return r;
}

/** Compiles a DSL source and imports the generated module (written under test/.generated). */
export async function compileModule<T = Record<string, any>>(source: string, options: CompileOptions = {}): Promise<T> {
  const r = await compileOrThrow(source, options);
  return importCode<T>(r.code!);
}

export async function importCode<T>(code: string): Promise<T> {
  mkdirSync(GENERATED_DIR, { recursive: true });
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
  const url = new URL(`m_${hash}.ts`, GENERATED_DIR);
  writeFileSync(url, code);
  return (await import(/* @vite-ignore */ url.href)) as T;
}

/** Relative error as the reference README defines it: |a - b| / max(1, |b|). */
export function relErr(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

export function maxRelErr(a: ArrayLike<number> | number, b: ArrayLike<number> | number): number {
  const xs = typeof a === "number" ? [a] : Array.from(a);
  const ys = typeof b === "number" ? [b] : Array.from(b);
  if (xs.length !== ys.length) return Infinity;
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, relErr(xs[i]!, ys[i]!));
  return m;
}

/** The largest magnitude of the elements. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** A deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Arg = number | Float64Array;

/**
 * Checks a gradient against centered finite differences along random directions:
 * (f(x + eps d) - f(x - eps d)) / 2 eps  vs  <grad, d>. Returns the worst relative error.
 */
export function directionalCheck(
  f: (args: Arg[]) => number,
  args: Arg[],
  grads: (Arg | undefined)[],
  opts: { eps?: number; directions?: number; seed?: number } = {},
): number {
  const eps = opts.eps ?? 1e-6;
  const random = rng(opts.seed ?? 1);
  let worst = 0;
  for (let n = 0; n < (opts.directions ?? 3); n++) {
    const dirs = args.map((a, k) =>
      grads[k] === undefined ? undefined : typeof a === "number" ? random() * 2 - 1 : Float64Array.from(a, () => random() * 2 - 1),
    );
    const shifted = (sign: number): Arg[] =>
      args.map((a, k) => {
        const d = dirs[k];
        if (d === undefined) return a;
        if (typeof a === "number") return a + sign * eps * (d as number);
        const dd = d as Float64Array;
        return Float64Array.from(a, (v, i) => v + sign * eps * dd[i]!);
      });
    const fd = (f(shifted(1)) - f(shifted(-1))) / (2 * eps);
    let dot = 0;
    let scale = 0;
    grads.forEach((g, k) => {
      const d = dirs[k];
      if (g === undefined || d === undefined) return;
      if (typeof g === "number") {
        dot += g * (d as number);
        scale += Math.abs(g * (d as number));
      } else {
        const dd = d as Float64Array;
        for (let i = 0; i < g.length; i++) {
          dot += g[i]! * dd[i]!;
          scale += Math.abs(g[i]! * dd[i]!);
        }
      }
    });
    worst = Math.max(worst, Math.abs(fd - dot) / Math.max(1e-8, scale, Math.abs(dot)));
  }
  return worst;
}

/** Nested arrays from flat row-major data (for running DSL files as-is). */
export function unflatten(data: ArrayLike<number>, shape: readonly number[]): any {
  if (shape.length === 0) return data[0];
  const [d, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: d! }, (_, i) => unflatten(Array.prototype.slice.call(data, i * step, (i + 1) * step), rest));
}

/**
 * fJvp and fHvp of an entry returning a number, at args: fJvp's tangent is ⟨grad, t⟩ (to
 * 1e-9) for a random t, fHvp gives the same value and gradient and, along t, the centered
 * differences of the gradient (to 1e-4). `names` are the differentiated parameters, `order`
 * every parameter's name in order (so the differences move the right arguments).
 */
/** ⟨a, b⟩ and Σ |aᵢ bᵢ| (the scale a relative error of the product is measured against). */
export function dotAbs(a: number | Float64Array, b: number | Float64Array): [number, number] {
  if (typeof a === "number") return [a * (b as number), Math.abs(a * (b as number))];
  let d = 0;
  let s = 0;
  a.forEach((v, i) => {
    d += v * (b as Float64Array)[i]!;
    s += Math.abs(v * (b as Float64Array)[i]!);
  });
  return [d, s];
}

export function checkJvpHvp(
  m: Record<string, (...a: any[]) => any>, entry: string, args: Arg[], names: readonly string[], order: readonly string[],
  g: { value: number; grads: Record<string, number | Float64Array> },
  /** Parameters left still in the differences of the gradient (where they would break max-pool ties: no derivative there to compare with). */
  still: readonly string[] = [],
): void {
  const r = rng(77);
  const t: Record<string, number | Float64Array> = {};
  for (const n of names) {
    const a = g.grads[n]!;
    t[n] = typeof a === "number" ? r() * 2 - 1 : Float64Array.from(a, () => r() * 2 - 1);
  }
  const hvpDirection = Object.fromEntries(Object.entries(t).map(([n, v]) => [n, still.includes(n) ? (typeof v === "number" ? 0 : new Float64Array(v.length)) : v]));
  const dot = dotAbs;
  const jvp = m[`${entry}Jvp`]!(...args, t);
  expect(jvp.value).toBe(g.value);
  let want = 0;
  let scale = 0;
  for (const n of names) {
    const [d, s] = dot(g.grads[n]!, t[n]!);
    want += d;
    scale += s;
  }
  expect(Math.abs(jvp.tangent - want) / Math.max(1e-12, scale), `${entry}Jvp against the gradient`).toBeLessThanOrEqual(1e-9);
  const h = m[`${entry}Hvp`]!(...args, hvpDirection);
  expect(h.value).toBe(g.value);
  for (const n of names) expect(maxRelErr(h.grads[n], g.grads[n]!), `${entry}Hvp's gradient of ${n}`).toBe(0);
  // (a piecewise-smooth function, relu or max-pool, can change pieces within the larger step:
  // the smaller one keeps them, at the cost of more rounding)
  for (const n of names) {
    let worst = Infinity;
    for (const eps of [1e-5, 1e-7]) {
      const moved = (sign: number): Arg[] => args.map((a, i) => {
        const d = hvpDirection[order[i]!];
        if (d === undefined) return a;
        return typeof a === "number" ? a + sign * eps * (d as number) : Float64Array.from(a, (v, j) => v + sign * eps * (d as Float64Array)[j]!);
      });
      const gp = m[`${entry}Grad`]!(...moved(1)).grads;
      const gm = m[`${entry}Grad`]!(...moved(-1)).grads;
      const fd = typeof gp[n] === "number" ? (gp[n] - gm[n]) / (2 * eps) : Float64Array.from(gp[n] as Float64Array, (v, j) => (v - gm[n][j]) / (2 * eps));
      const hv = h.hvp[n];
      const [d1] = dot(hv, fd);
      const [d2] = dot(fd, fd);
      const [d3] = dot(hv, hv);
      // |hvp - fd| relative to their sizes
      worst = Math.min(worst, Math.sqrt(Math.max(0, d3 - 2 * d1 + d2)) / Math.max(1e-6, Math.sqrt(d2), Math.sqrt(d3)));
    }
    expect(worst, `${entry}Hvp of ${n} against differences of the gradient`).toBeLessThanOrEqual(1e-4);
  }
}
