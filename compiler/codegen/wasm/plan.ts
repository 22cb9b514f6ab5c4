// Which layer kernels of a generated module have a WebAssembly SIMD version (`--target
// wasm`), and how its buffers are laid out: from one IR instruction (op, attributes, argument
// and result types) to the Wasm function that computes it and the list of buffers it reads
// and writes in the module's memory, in the order of its parameters.
//
// Covered: linear and both its adjoints (gemm.ts), the conv2d forward (conv2d.ts) and both
// its adjoints: the weight adjoint (conv2dGradWeight.ts), and the input adjoint as the
// forward convolution of dy, padded by (KH - 1 - ph, KW - 1 - pw), with the kernels'
// channels transposed and their taps reversed (stride 1, and only where the padding adds
// little: see WASTE_LIMIT). Everything else, and any
// shape a kernel does not fit (sizes known only at run time, a column stride, rows shorter
// than a vector, products with no unit stride to vectorise along), keeps its TypeScript
// kernel only.

import { AttrsOf, Dim, SimpleInstr, Type } from "../../ir/types.js";
import type { EncodedFunction } from "./encoder.js";
import { conv2dKernel, convGeometry } from "./kernels/conv2d.js";
import { conv2dGradWeightKernel, convGradWeightGeometry } from "./kernels/conv2dGradWeight.js";
import { type GemmSpec, gemmKernel, gemmMode } from "./kernels/gemm.js";
import { type Dtype, lanesOf } from "./kernels/lanes.js";

/** One buffer of a Wasm kernel, as the TypeScript kernel that calls it fills or reads it. */
export type SimdBuffer =
  /** Argument `arg` of the instruction, copied in. */
  | { readonly kind: "arg"; readonly arg: number; readonly elements: number }
  /**
   * Argument `arg`, a conv2d weight [O, C, KH, KW], copied in as [C, O, KH, KW] with each
   * kernel's taps reversed (w'[c][o][k] = w[o][c][KH·KW - 1 - k]).
   */
  | { readonly kind: "flipped"; readonly arg: number; readonly elements: number; readonly O: number; readonly C: number; readonly taps: number }
  /** The result, copied out. */
  | { readonly kind: "result"; readonly elements: number }
  /** Scratch the kernel uses on its own (a padded image). */
  | { readonly kind: "scratch"; readonly elements: number };

export interface SimdKernelPlan {
  readonly fn: EncodedFunction;
  /** The buffers, in the order of the function's parameters (one byte address each). */
  readonly buffers: readonly SimdBuffer[];
  /** What the Wasm kernel computes, for the comment at the call. */
  readonly what: string;
}

const literal = (t: Type | undefined): readonly number[] | null =>
  t?.kind === "tensor" && t.shape.every((d): d is number => typeof d === "number") ? (t.shape as readonly number[]) : null;

const literalDims = (s: readonly Dim[]): readonly number[] | null =>
  s.every((d): d is number => typeof d === "number") ? (s as readonly number[]) : null;

const count = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** conv2dGradInput: at most this many products per useful one (the padded dy's area over dy's). */
const WASTE_LIMIT = 1.5;

/** The Wasm kernel of `instr`, exported as `name`, or null when it keeps its TypeScript kernel only. */
export function simdPlanFor(instr: SimpleInstr, name: string, dtype: Dtype): SimdKernelPlan | null {
  const shapes = instr.args.map((a) => literal(a.type));
  const result = literal(instr.result.type);
  if (result === null || shapes.some((s) => s === null)) return null;
  const [s0, s1] = shapes as (readonly number[])[];
  switch (instr.op) {
    case "linear":
      return linearPlan(name, dtype, s0!, s1!, instr.args.length === 3, result);
    case "linearGradInput": {
      // dx[n][i] = Σ_o dy[n][o] w[o][i]
      const [nOut, nIn] = s1!;
      const batch = s0!.length === 2 ? s0![0]! : 1;
      return gemmPlan({
        name, dtype, M: batch, N: nIn!, K: nOut!, a: { rs: nOut!, cs: 1 }, b: { rs: nIn!, cs: 1 }, c: { rs: nIn!, cs: 1 },
      }, [{ kind: "arg", arg: 0, elements: count(s0!) }, { kind: "arg", arg: 1, elements: count(s1!) }, { kind: "result", elements: count(result) }],
      "dx = dy·w");
    }
    case "linearGradWeight": {
      // dw[o][i] = Σ_n dy[n][o] x[n][i]
      const nOut = s0![s0!.length - 1]!;
      const nIn = s1![s1!.length - 1]!;
      const batch = s0!.length === 2 ? s0![0]! : 1;
      return gemmPlan({
        name, dtype, M: nOut, N: nIn, K: batch, a: { rs: 1, cs: nOut }, b: { rs: nIn, cs: 1 }, c: { rs: nIn, cs: 1 },
      }, [{ kind: "arg", arg: 0, elements: count(s0!) }, { kind: "arg", arg: 1, elements: count(s1!) }, { kind: "result", elements: count(result) }],
      "dw = dyᵀ·x");
    }
    case "conv2d":
      return conv2dPlan(instr as SimpleInstr<"conv2d">, name, dtype, s0!, s1!, result);
    case "conv2dGradInput":
      return conv2dGradInputPlan(instr as SimpleInstr<"conv2dGradInput">, name, dtype, s0!, s1!, result);
    case "conv2dGradWeight":
      return conv2dGradWeightPlan(instr as SimpleInstr<"conv2dGradWeight">, name, dtype, s0!, s1!, result);
    default:
      return null;
  }
}

/** A product, unless it has no unit stride to vectorise along (then its TypeScript kernel is as good). */
function gemmPlan(g: GemmSpec, buffers: SimdBuffer[], what: string): SimdKernelPlan | null {
  if (gemmMode(g) === "scalar") return null;
  return { fn: gemmKernel(g), buffers, what: `${what}, f${g.dtype === "float64" ? "64x2" : "32x4"} in register blocks` };
}

function linearPlan(name: string, dtype: Dtype, xs: readonly number[], ws: readonly number[], bias: boolean, ys: readonly number[]): SimdKernelPlan | null {
  // y[n][o] = b[o] + Σ_i x[n][i] w[o][i]; the Wasm product takes (a, b, c, bias)
  const [nOut, nIn] = ws as [number, number];
  const batch = xs.length === 2 ? xs[0]! : 1;
  return gemmPlan({
    name, dtype, M: batch, N: nOut, K: nIn, a: { rs: nIn, cs: 1 }, b: { rs: 1, cs: nIn }, c: { rs: nOut, cs: 1 },
    ...(bias ? { bias: "col" as const } : {}),
  }, [
    { kind: "arg", arg: 0, elements: count(xs) }, { kind: "arg", arg: 1, elements: count(ws) }, { kind: "result", elements: count(ys) },
    ...(bias ? [{ kind: "arg" as const, arg: 2, elements: nOut }] : []),
  ], bias ? "y = x·wᵀ + b" : "y = x·wᵀ");
}

function conv2dPlan(
  instr: SimpleInstr<"conv2d">, name: string, dtype: Dtype, xs: readonly number[], ws: readonly number[], ys: readonly number[],
): SimdKernelPlan | null {
  const { stride, padding } = instr.attrs as AttrsOf<"conv2d">;
  const image = xs.slice(-3) as [number, number, number];
  const [O, , KH, KW] = ws as [number, number, number, number];
  const spec = {
    name, dtype, batch: xs.length === 4 ? xs[0]! : 1, C: image[0], H: image[1], W: image[2], O, KH, KW,
    padding, stride, bias: instr.args.length === 3,
  };
  if (stride[1] !== 1 || convGeometry(spec).OW < lanesOf(dtype).lanes) return null;
  return {
    fn: conv2dKernel(spec),
    buffers: [
      { kind: "arg", arg: 0, elements: count(xs) }, { kind: "arg", arg: 1, elements: count(ws) },
      ...(spec.bias ? [{ kind: "arg" as const, arg: 2, elements: O }] : []),
      { kind: "result", elements: count(ys) }, { kind: "scratch", elements: convGeometry(spec).scratch },
    ],
    what: `the direct convolution, f${dtype === "float64" ? "64x2" : "32x4"}`,
  };
}

function conv2dGradInputPlan(
  instr: SimpleInstr<"conv2dGradInput">, name: string, dtype: Dtype, dys: readonly number[], ws: readonly number[], dxs: readonly number[],
): SimdKernelPlan | null {
  // dx[c][y][x] = Σ over o, a, b of w[o][c][KH-1-a][KW-1-b] dyp[o][y + a][x + b], where dyp is
  // dy with a zero border of (KH - 1 - ph, KW - 1 - pw): a forward convolution (stride 1)
  const { stride, padding, inputShape } = instr.attrs as AttrsOf<"conv2dGradInput">;
  const input = literalDims(inputShape);
  if (input === null || stride[0] !== 1 || stride[1] !== 1) return null;
  const [O, C, KH, KW] = ws as [number, number, number, number];
  const [, OH, OW] = dys.slice(-3) as [number, number, number];
  const pad: [number, number] = [KH - 1 - padding[0], KW - 1 - padding[1]];
  if (pad[0] < 0 || pad[1] < 0) return null;
  const spec = {
    name, dtype, batch: dys.length === 4 ? dys[0]! : 1, C: O, H: OH, W: OW, O: C, KH, KW, padding: pad,
    stride: [1, 1] as const, bias: false,
  };
  const g = convGeometry(spec);
  if (g.OW < lanesOf(dtype).lanes || g.OH !== input[input.length - 2] || g.OW !== input[input.length - 1]) return null;
  // The padded dy is mostly border when the kernel is large next to dy: of the H·W·KH·KW
  // products per channel pair only OH·OW·KH·KW are not with zeros (LeNet's conv2: 14·14 against
  // 10·10, half wasted). The TypeScript kernel also skips dy's zeros (after relu and max-pool,
  // three in four), and was faster there: 2.1 ms against 3.1 ms for the Wasm kernel, LeNet-5
  // batch 32, float64. So the Wasm kernel only where the border costs little.
  if (g.OH * g.OW > WASTE_LIMIT * OH * OW) return null;
  return {
    fn: conv2dKernel(spec),
    buffers: [
      { kind: "arg", arg: 0, elements: count(dys) },
      { kind: "flipped", arg: 1, elements: count(ws), O, C, taps: KH * KW },
      { kind: "result", elements: count(dxs) }, { kind: "scratch", elements: g.scratch },
    ],
    what: `the convolution of dy (padded by ${pad[0]}, ${pad[1]}) with the kernels transposed and reversed, f${dtype === "float64" ? "64x2" : "32x4"}`,
  };
}

function conv2dGradWeightPlan(
  instr: SimpleInstr<"conv2dGradWeight">, name: string, dtype: Dtype, dys: readonly number[], xs: readonly number[], dws: readonly number[],
): SimdKernelPlan | null {
  const { stride, padding } = instr.attrs as AttrsOf<"conv2dGradWeight">;
  if (stride[1] !== 1) return null;
  const image = xs.slice(-3) as [number, number, number];
  const [O, , KH, KW] = dws as [number, number, number, number];
  const spec = {
    name, dtype, batch: xs.length === 4 ? xs[0]! : 1, C: image[0], H: image[1], W: image[2], O, KH, KW, padding, stride,
  };
  return {
    fn: conv2dGradWeightKernel(spec),
    buffers: [
      { kind: "arg", arg: 0, elements: count(dys) }, { kind: "arg", arg: 1, elements: count(xs) },
      { kind: "result", elements: count(dws) }, { kind: "scratch", elements: convGradWeightGeometry(spec).scratch },
    ],
    what: `dw = Σ dy·x over the images and output positions, f${dtype === "float64" ? "64x2" : "32x4"} along the output rows`,
  };
}
