// The layer kernels of the benchmark's models, each two ways on the same random data: the
// TypeScript kernel adgen generates today (compiler/codegen/kernels/, emitted through the
// kernel registry from one IR instruction) and the WebAssembly SIMD prototype
// (compiler/codegen/wasm/kernels/). Shared by bench/wasmKernels.ts (GFLOP/s) and
// test/wasmKernels.test.ts (the two agree).
//
// Shapes: LeNet-5's conv1 (1 -> 6 channels, 5x5, padding 2, 28x28), conv2 (6 -> 16, 5x5,
// 14x14), linear 400 -> 120 -> 84 -> 10, and the MLP's 784 -> 128 -> 10; each linear layer as
// its forward product and the two adjoint products (dx = dy·W, dW = dyᵀ·x). Batch 1 is the
// unbatched form ([C, H, W], [in]), as in the models.

import ts from "typescript";
import { type Type, type Value, type ValueId, type SimpleInstr, tensorType } from "../compiler/ir/types.js";
import { createKernelRegistry } from "../compiler/codegen/kernels/registry.js";
import { createNameScope } from "../compiler/codegen/names.js";
import { encodeModule, PAGE_BYTES, type EncodedFunction } from "../compiler/codegen/wasm/encoder.js";
import { type GemmBlock, type GemmSpec, gemmKernel, gemmMode } from "../compiler/codegen/wasm/kernels/gemm.js";
import { type ConvBlock, type ConvSpec, conv2dKernel, convGeometry } from "../compiler/codegen/wasm/kernels/conv2d.js";
import type { Dtype } from "../compiler/codegen/wasm/kernels/lanes.js";
import { mulberry32 } from "./peers/shapes.js";

export type { Dtype };
export type KernelOp = "conv2d" | "linear" | "linearGradInput" | "linearGradWeight";

export interface LayerShape {
  readonly model: "LeNet-5" | "MLP";
  readonly layer: string;
  readonly kind: "conv" | "linear";
  /** conv: C, H, W, O, k, padding; linear: in, out. */
  readonly dims: readonly number[];
}

export const LAYERS: readonly LayerShape[] = [
  { model: "LeNet-5", layer: "conv1", kind: "conv", dims: [1, 28, 28, 6, 5, 2] },
  { model: "LeNet-5", layer: "conv2", kind: "conv", dims: [6, 14, 14, 16, 5, 0] },
  { model: "LeNet-5", layer: "f1 400->120", kind: "linear", dims: [400, 120] },
  { model: "LeNet-5", layer: "f2 120->84", kind: "linear", dims: [120, 84] },
  { model: "LeNet-5", layer: "f3 84->10", kind: "linear", dims: [84, 10] },
  { model: "MLP", layer: "l1 784->128", kind: "linear", dims: [784, 128] },
  { model: "MLP", layer: "l2 128->10", kind: "linear", dims: [128, 10] },
];

// ---------------------------------------------------------------------------------------
// TypeScript kernels, as the code generator emits them

type Arr = Float64Array | Float32Array;

let nextValue = 0;
const value = (type: Type): Value => ({ id: nextValue++ as ValueId, type });

/** The TypeScript kernel of one instruction: a function (...args, out) => void. */
export function tsKernel(
  op: KernelOp, argShapes: readonly (readonly number[])[], resultShape: readonly number[],
  attrs: Record<string, unknown>, dtype: Dtype,
): (...buffers: Arr[]) => void {
  const arrayType = dtype === "float64" ? "Float64Array" : "Float32Array";
  const registry = createKernelRegistry(createNameScope(), arrayType);
  const instr = {
    op, attrs, loc: { line: 1, col: 1 },
    args: argShapes.map((s) => value(tensorType(s))),
    result: value(tensorType(resultShape)),
  } as unknown as SimpleInstr;
  const { name } = registry.kernelFor(instr);
  const source = registry.emit().flat().join("\n");
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022 } }).outputText;
  return new Function(`${js}\nreturn ${name};`)() as (...buffers: Arr[]) => void;
}

// ---------------------------------------------------------------------------------------
// WebAssembly kernels with their buffers in the module's memory

export interface WasmRun {
  /** Views of the module's memory, one per buffer, in the order given. */
  readonly views: Arr[];
  /** Calls the kernel on the buffers. */
  run(): void;
  readonly bytes: number;
}

/** Instantiates one kernel; buffers (element counts) are laid out 64-byte aligned. */
export function wasmRun(fn: EncodedFunction, dtype: Dtype, sizes: readonly number[]): WasmRun {
  const E = dtype === "float64" ? 8 : 4;
  const offsets: number[] = [];
  let end = 64; // address 0 stays unused
  for (const n of sizes) {
    offsets.push(end);
    end += Math.ceil((n * E) / 64) * 64;
  }
  const bytes = encodeModule({ memory: { pages: Math.ceil(end / PAGE_BYTES), exportAs: "memory" }, functions: [fn] });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const mem = inst.exports.memory as WebAssembly.Memory;
  const kernel = inst.exports[fn.name] as (...ptrs: number[]) => void;
  const F = dtype === "float64" ? Float64Array : Float32Array;
  const views = sizes.map((n, k) => new F(mem.buffer, offsets[k], n));
  return { views, run: () => kernel(...offsets), bytes: bytes.length };
}

// ---------------------------------------------------------------------------------------
// The cases

export interface KernelCase {
  readonly layer: LayerShape;
  readonly op: KernelOp;
  readonly batch: number;
  readonly dtype: Dtype;
  /** Multiply-adds × 2. */
  readonly flops: number;
  /** How the Wasm kernel vectorises ("columns", "dot", "direct"). */
  readonly mode: string;
  /** The TypeScript kernel on its own buffers. */
  readonly ts: () => void;
  /** The Wasm kernel, its buffers already in its memory. */
  readonly wasm: () => void;
  /** The Wasm kernel with its inputs copied in from, and its result out to, JS typed arrays. */
  readonly wasmCopied: () => void;
  /** The two results (after one call each). */
  results(): { ts: Arr; wasm: Arr };
  /** The Wasm kernel function and the size of its module alone. */
  readonly fn: EncodedFunction;
  readonly wasmBytes: number;
}

export interface CaseOptions {
  readonly gemmBlock?: Partial<GemmBlock>;
  readonly convBlock?: Partial<ConvBlock>;
  readonly seed?: number;
}

function randomArray(n: number, dtype: Dtype, rnd: () => number): Arr {
  const a = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rnd() - 1;
  return a;
}

const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * One kernel of one layer. `inputs` are the TS kernel's argument shapes, `wasmInputs` the
 * order of the Wasm kernel's buffers (indices into the TS arguments, then -1 for the result
 * and -2 for scratch).
 */
function makeCase(
  layer: LayerShape, op: KernelOp, batch: number, dtype: Dtype, flops: number, mode: string,
  argShapes: readonly (readonly number[])[], resultShape: readonly number[], attrs: Record<string, unknown>,
  fn: EncodedFunction, wasmOrder: readonly number[], scratch: number, seed: number,
): KernelCase {
  const rnd = mulberry32(seed);
  const args = argShapes.map((s) => randomArray(sizeOf(s), dtype, rnd));
  const tsOut = dtype === "float64" ? new Float64Array(sizeOf(resultShape)) : new Float32Array(sizeOf(resultShape));
  const tsFn = tsKernel(op, argShapes, resultShape, attrs, dtype);
  const sizes = wasmOrder.map((k) => (k >= 0 ? args[k]!.length : k === -1 ? tsOut.length : Math.max(1, scratch)));
  const w = wasmRun(fn, dtype, sizes);
  wasmOrder.forEach((k, slot) => {
    if (k >= 0) (w.views[slot] as Float64Array).set(args[k]! as Float64Array);
  });
  const outSlot = wasmOrder.indexOf(-1);
  const copyOut = dtype === "float64" ? new Float64Array(tsOut.length) : new Float32Array(tsOut.length);
  return {
    layer, op, batch, dtype, flops, mode,
    ts: () => tsFn(...args, tsOut),
    wasm: w.run,
    wasmCopied: () => {
      wasmOrder.forEach((k, slot) => {
        if (k >= 0) (w.views[slot] as Float64Array).set(args[k]! as Float64Array);
      });
      w.run();
      (copyOut as Float64Array).set(w.views[outSlot]! as Float64Array);
    },
    results() {
      tsFn(...args, tsOut);
      w.run();
      return { ts: tsOut, wasm: w.views[outSlot]! };
    },
    fn,
    wasmBytes: w.bytes,
  };
}

let caseId = 0;

/** The Wasm convolution of a conv layer. */
export function convSpec(layer: LayerShape, batch: number, dtype: Dtype, block?: Partial<ConvBlock>): ConvSpec {
  const [C, H, W, O, k, pad] = layer.dims as [number, number, number, number, number, number];
  return {
    name: `conv${caseId++}`, dtype, batch, C, H, W, O, KH: k, KW: k, padding: [pad, pad], stride: [1, 1], bias: true,
    ...(block ? { block } : {}),
  };
}

/** The Wasm product of one kernel of a linear layer (x [batch, in], w [out, in]). */
export function linearSpec(layer: LayerShape, op: Exclude<KernelOp, "conv2d">, batch: number, dtype: Dtype, block?: Partial<GemmBlock>): GemmSpec {
  const [nIn, nOut] = layer.dims as [number, number];
  const base = { name: `${op}${caseId++}`, dtype, ...(block ? { block } : {}) };
  switch (op) {
    case "linear": // y[n][o] = b[o] + Σ_i x[n][i] w[o][i]
      return { ...base, M: batch, N: nOut, K: nIn, a: { rs: nIn, cs: 1 }, b: { rs: 1, cs: nIn }, c: { rs: nOut, cs: 1 }, bias: "col" };
    case "linearGradInput": // dx[n][i] = Σ_o dy[n][o] w[o][i]
      return { ...base, M: batch, N: nIn, K: nOut, a: { rs: nOut, cs: 1 }, b: { rs: nIn, cs: 1 }, c: { rs: nIn, cs: 1 } };
    case "linearGradWeight": // dw[o][i] = Σ_n dy[n][o] x[n][i]
      return { ...base, M: nOut, N: nIn, K: batch, a: { rs: 1, cs: nOut }, b: { rs: nIn, cs: 1 }, c: { rs: nIn, cs: 1 } };
  }
}

export function convCase(layer: LayerShape, batch: number, dtype: Dtype, o: CaseOptions = {}): KernelCase {
  const spec = convSpec(layer, batch, dtype, o.convBlock);
  const { C, O, KH: k } = spec;
  const pad = spec.padding[0];
  const g = convGeometry(spec);
  const xShape = batch === 1 ? [C, spec.H, spec.W] : [batch, C, spec.H, spec.W];
  const yShape = batch === 1 ? [O, g.OH, g.OW] : [batch, O, g.OH, g.OW];
  return makeCase(layer, "conv2d", batch, dtype, 2 * batch * O * g.OH * g.OW * C * k * k, "direct",
    [xShape, [O, C, k, k], [O]], yShape, { stride: [1, 1], padding: [pad, pad] },
    conv2dKernel(spec), [0, 1, 2, -1, -2], g.scratch, o.seed ?? 11 + batch);
}

export function linearCase(layer: LayerShape, op: Exclude<KernelOp, "conv2d">, batch: number, dtype: Dtype, o: CaseOptions = {}): KernelCase {
  const [nIn, nOut] = layer.dims as [number, number];
  const rows = (n: number): number[] => (batch === 1 ? [n] : [batch, n]);
  const spec = linearSpec(layer, op, batch, dtype, o.gemmBlock);
  const seed = o.seed ?? 23 + batch;
  const flops = 2 * batch * nIn * nOut;
  const fn = gemmKernel(spec);
  if (op === "linear") {
    return makeCase(layer, op, batch, dtype, flops, gemmMode(spec), [rows(nIn), [nOut, nIn], [nOut]], rows(nOut), {}, fn, [0, 1, -1, 2], 0, seed);
  }
  if (op === "linearGradInput") {
    return makeCase(layer, op, batch, dtype, flops, gemmMode(spec), [rows(nOut), [nOut, nIn]], rows(nIn), {}, fn, [0, 1, -1], 0, seed);
  }
  return makeCase(layer, op, batch, dtype, flops, gemmMode(spec), [rows(nOut), rows(nIn)], [nOut, nIn], {}, fn, [0, 1, -1], 0, seed);
}

/** The Wasm kernels of one model at one batch size and dtype (no data, no TS kernels). */
export function modelKernels(model: LayerShape["model"], batch: number, dtype: Dtype): EncodedFunction[] {
  return LAYERS.filter((l) => l.model === model).flatMap((l) => (l.kind === "conv"
    ? [conv2dKernel(convSpec(l, batch, dtype))]
    : (["linear", "linearGradInput", "linearGradWeight"] as const).map((op) => gemmKernel(linearSpec(l, op, batch, dtype)))));
}

/** Every kernel of every layer at one batch size and dtype. */
export function allCases(batch: number, dtype: Dtype): KernelCase[] {
  return LAYERS.flatMap((l) => (l.kind === "conv"
    ? [convCase(l, batch, dtype)]
    : (["linear", "linearGradInput", "linearGradWeight"] as const).map((op) => linearCase(l, op, batch, dtype))));
}

/**
 * How far apart two results are: max |a - b| over max |b| (the infinity-norm relative
 * difference), and whether they are equal element by element.
 */
export function difference(a: ArrayLike<number>, b: ArrayLike<number>): { relative: number; identical: boolean } {
  let diff = 0;
  let scale = 0;
  let identical = a.length === b.length;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = d; // NaN sticks
    scale = Math.max(scale, Math.abs(b[i]!));
    if (a[i] !== b[i]) identical = false;
  }
  return { relative: scale === 0 ? diff : diff / scale, identical };
}
