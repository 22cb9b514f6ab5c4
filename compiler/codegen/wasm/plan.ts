// Which layer kernels of a generated module have a WebAssembly SIMD version (`--target
// wasm`), and how its buffers are laid out: from one IR instruction (op, attributes, argument
// and result types) to the Wasm function that computes it and the list of buffers it reads
// and writes in the module's memory, in the order of its parameters.
//
// Covered: linear and both its adjoints (gemm.ts); conv2d and both its adjoints as im2col
// products where the channels and taps are many (convGemm.ts, see useGemm); else the direct
// conv2d forward (conv2d.ts), its weight adjoint (conv2dGradWeight.ts), and its input
// adjoint as the forward convolution of dy, padded by (KH - 1 - ph, KW - 1 - pw), with the
// kernels' channels transposed and their taps reversed (stride 1; the padded rows left out,
// and only where the padded columns add little: see WASTE_LIMIT); conv2d's bias adjoint
// (conv2dGradBias.ts), 2x2 max-pooling and its adjoint (maxpool.ts). (relu, its adjoint and
// sigmoid over whole buffers are in compiler/codegen/kernels/registry.ts.) A batch known only at
// run time (a size N as the leading
// dimension) is a parameter of the Wasm function. Everything else, and any shape a kernel
// does not fit (other sizes known only at run time, a column stride, rows shorter than a
// vector, products with no unit stride to vectorise along), keeps its TypeScript kernel only.

import { AttrsOf, Dim, SimpleInstr, Type } from "../../ir/types.js";
import { dimEquals } from "../../ir/dims.js";
import type { EncodedFunction } from "./encoder.js";
import { conv2dKernel, convGeometry } from "./kernels/conv2d.js";
import { conv2dGradWeightKernel, convGradWeightGeometry } from "./kernels/conv2dGradWeight.js";
import { conv2dGradBiasKernel } from "./kernels/conv2dGradBias.js";
import { maxPoolKernel } from "./kernels/maxpool.js";
import { type ConvGemmSpec, conv2dGemmKernel, conv2dGradInputGemmKernel, conv2dGradWeightGemmKernel, convGemmGeometry } from "./kernels/convGemm.js";
import { type GemmSpec, gemmKernel, gemmMode } from "./kernels/gemm.js";
import { type Dtype, lanesOf } from "./kernels/lanes.js";

/**
 * One buffer of a Wasm kernel, as the TypeScript kernel that calls it fills or reads it.
 * `elements` counts per image (row) of the batch when `batched`: the batch is then known
 * only at run time (a size N), and so are the buffer's size and the addresses after it.
 */
export type SimdBuffer = (
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
  | { readonly kind: "scratch"; readonly elements: number }
) & { readonly batched?: boolean };

export interface SimdKernelPlan {
  readonly fn: EncodedFunction;
  /** The buffers, in the order of the function's parameters (one byte address each). */
  readonly buffers: readonly SimdBuffer[];
  /** What the Wasm kernel computes, for the comment at the call. */
  readonly what: string;
  /**
   * The batch, when it is known only at run time: the size it is (the leading dimension of
   * the batched buffers), passed to the Wasm function after the addresses.
   */
  readonly batch?: Dim;
}

/** A dimension of a kernel's shape: a literal, or "N", the batch known only at run time. */
type Ext = number | "N";

/**
 * The shapes of an instruction's arguments and result as the Wasm kernels take them: every
 * dimension a literal, except a leading batch dimension that may be one size known at run
 * time (the same in every shape that has it); null for anything else.
 */
function kernelShapes(types: readonly (Type | undefined)[]): { shapes: (readonly Ext[])[]; batch?: Dim } | null {
  let batch: Dim | undefined;
  const shapes: (readonly Ext[])[] = [];
  for (const t of types) {
    if (t?.kind !== "tensor") return null;
    const s: Ext[] = [];
    for (const [k, d] of t.shape.entries()) {
      if (typeof d === "number") s.push(d);
      else if (k === 0 && (batch === undefined || dimEquals(batch, d))) {
        batch = d;
        s.push("N");
      } else return null;
    }
    shapes.push(s);
  }
  return batch === undefined ? { shapes } : { shapes, batch };
}

const literalDims = (s: readonly Dim[]): readonly Ext[] | null =>
  s.every((d, k) => typeof d === "number" || k === 0) ? s.map((d) => (typeof d === "number" ? d : "N")) : null;

/** Elements per image of the batch (all of them for a shape without "N"). */
const count = (s: readonly Ext[]): number => s.reduce<number>((a, b) => a * (b === "N" ? 1 : b), 1);
const batched = (s: readonly Ext[]): boolean => s[0] === "N";

/** The batch of a batched shape (leading dimension) as a kernel spec takes it; 1 for an unbatched one. */
const batchOf = (s: readonly Ext[], rank: number): number | "dynamic" => (s.length === rank ? (s[0] === "N" ? "dynamic" : s[0]!) : 1);

/** A typical batch for choosing a block when it is known only at run time. */
const TYPICAL_BATCH = 32;

/**
 * conv2dGradInput: at most this many products per useful one (dx's row length over dy's).
 * LeNet-5's conv2 (1.4) in float32: the step at batch 128 took 14.4 ms with the Wasm kernel
 * against 17.0 ms with the TypeScript one, at batch 32 3.5 against 4.05 ms; in float64 the
 * TypeScript kernel (which skips dy's zeros) was as fast or faster: 24.2–24.7 against
 * 24.8–25.4 ms, 5.9–6.1 against 5.9–6.5 ms (one process per module, 2-core VM, idle).
 */
const WASTE_LIMIT: Record<Dtype, number> = { float32: 1.5, float64: 1.25 };

/** The Wasm kernel of `instr`, exported as `name`, or null when it keeps its TypeScript kernel only. */
export function simdPlanFor(instr: SimpleInstr, name: string, dtype: Dtype): SimdKernelPlan | null {
  const found = kernelShapes([...instr.args.map((a) => a.type), instr.result.type]);
  if (found === null) return null;
  const shapes = found.shapes.slice(0, instr.args.length);
  const result = found.shapes[instr.args.length]!;
  const [s0, s1] = shapes as (readonly Ext[])[];
  const plan = ((): Omit<SimdKernelPlan, "batch"> | null => {
    switch (instr.op) {
      case "linear":
        return linearPlan(name, dtype, s0!, s1!, instr.args.length === 3, result);
      case "linearGradInput": {
        // dx[n][i] = Σ_o dy[n][o] w[o][i]
        const [nOut, nIn] = s1! as number[];
        const batch = batchOf(s0!, 2);
        return gemmPlan({
          name, dtype, M: batch === "dynamic" ? TYPICAL_BATCH : batch, N: nIn!, K: nOut!, a: { rs: nOut!, cs: 1 }, b: { rs: nIn!, cs: 1 }, c: { rs: nIn!, cs: 1 },
          ...(batch === "dynamic" ? { dynamic: "M" as const } : {}),
        }, [buffer("arg", s0!, 0), buffer("arg", s1!, 1), buffer("result", result)], "dx = dy·w");
      }
      case "linearGradWeight": {
        // dw[o][i] = Σ_n dy[n][o] x[n][i]
        const nOut = s0![s0!.length - 1] as number;
        const nIn = s1![s1!.length - 1] as number;
        const batch = batchOf(s0!, 2);
        return gemmPlan({
          name, dtype, M: nOut, N: nIn, K: batch === "dynamic" ? TYPICAL_BATCH : batch, a: { rs: 1, cs: nOut }, b: { rs: nIn, cs: 1 }, c: { rs: nIn, cs: 1 },
          ...(batch === "dynamic" ? { dynamic: "K" as const } : {}),
        }, [buffer("arg", s0!, 0), buffer("arg", s1!, 1), buffer("result", result)], "dw = dyᵀ·x");
      }
      case "conv2d":
        return conv2dPlan(instr as SimpleInstr<"conv2d">, name, dtype, s0!, s1!, result);
      case "conv2dGradInput":
        return conv2dGradInputPlan(instr as SimpleInstr<"conv2dGradInput">, name, dtype, s0!, s1!, result);
      case "conv2dGradWeight":
        return conv2dGradWeightPlan(instr as SimpleInstr<"conv2dGradWeight">, name, dtype, s0!, s1!, result);
      case "maxpool2d":
      case "maxpool2dGrad":
        // (x, y) or (x, dy): the windows' outputs
        return maxPoolPlan(instr as SimpleInstr<"maxpool2d">, name, dtype, s0!, instr.op === "maxpool2d" ? result : s1!);
      case "conv2dGradBias": {
        // db[o] = Σ over n, i, j of dy[n][o][i][j]
        const [O, OH, OW] = s0!.slice(-3) as [number, number, number];
        return {
          fn: conv2dGradBiasKernel({ name, dtype, batch: batchOf(s0!, 4), O, plane: OH * OW }),
          buffers: [buffer("arg", s0!, 0), buffer("result", result)],
          what: `dy summed per channel, two ${dtype === "float64" ? "f64x2" : "f32x4"} accumulators`,
        };
      }
      default:
        return null;
    }
  })();
  if (plan === null) return null;
  return found.batch === undefined ? plan : { ...plan, batch: found.batch };
}

/**
 * Whether a convolution (or one of its adjoints) runs as products of im2col matrices
 * (kernels/convGemm.ts) rather than as the direct kernel: where the products' row blocks are
 * full and their k loops long (O >= 8 output channels, K = C·KH·KW >= 64 taps), and, for the
 * forward pass, where the direct kernel's row vectors waste lanes (OW not a multiple of the
 * lanes). Measured kernel by kernel on LeNet-5 at batch 128 (each kernel alone, minimum of
 * 40 samples, 2-core VM with other load), direct against products: conv2 (O = 16, K = 150,
 * OW = 10) float32 forward 2.55 -> 2.10 ms, weight adjoint 3.22 -> 2.43, input adjoint (the
 * clamped convolution of dy) 3.30 -> 2.53; float64 weight adjoint 4.66 -> 4.34, input
 * adjoint 5.75 -> 4.62, forward 4.69 against 3.98–5.63 (OW = 10 is 5 whole f64x2 vectors:
 * kept direct); conv1 (O = 6, K = 25) slower as products in both dtypes (float32 forward
 * 1.03 -> 1.27, float64 2.12 -> 2.60).
 */
function useGemm(which: "fwd" | "weight" | "input", spec: ConvGemmSpec): boolean {
  const g = convGemmGeometry(spec);
  if (spec.O < 8 || g.K < 64 || spec.stride[1] !== 1) return false;
  return which !== "fwd" || g.OW % lanesOf(spec.dtype).lanes !== 0;
}

/** An argument's or the result's buffer, batched when its shape's leading dimension is the batch. */
function buffer(kind: "arg" | "result", s: readonly Ext[], arg = 0): SimdBuffer {
  const b = batched(s) ? { batched: true } : {};
  return kind === "arg" ? { kind, arg, elements: count(s), ...b } : { kind, elements: count(s), ...b };
}

/** Max-pooling (and its adjoint) with 2x2 windows and stride 2 that tile the input (planes per image when the batch is N). */
function maxPoolPlan(instr: SimpleInstr<"maxpool2d">, name: string, dtype: Dtype, xs: readonly Ext[], ys: readonly Ext[]): SimdKernelPlan | null {
  const { size, stride } = instr.attrs as AttrsOf<"maxpool2d">;
  if (size[0] !== 2 || size[1] !== 2 || stride[0] !== 2 || stride[1] !== 2) return null;
  const [H, W] = xs.slice(-2) as [number, number];
  if (H % 2 || W % 2 || count(ys) * 4 !== count(xs)) return null;
  const planes = count(xs) / (H * W);
  const grad = instr.op === ("maxpool2dGrad" as string);
  const lanes = dtype === "float64" ? "f64x2" : "f32x4";
  return {
    fn: maxPoolKernel({ name, dtype, planes, H, W, ...(batched(xs) ? { dynamic: true } : {}) }, grad),
    buffers: grad
      ? [buffer("arg", xs, 0), buffer("arg", ys, 1), buffer("result", xs)]
      : [buffer("arg", xs, 0), buffer("result", ys)],
    what: grad ? `dy to each window's first maximum, ${lanes} masks` : `each window's first maximum, ${lanes}`,
  };
}

/** A product, unless it has no unit stride to vectorise along (then its TypeScript kernel is as good). */
function gemmPlan(g: GemmSpec, buffers: SimdBuffer[], what: string): SimdKernelPlan | null {
  const mode = gemmMode(g);
  if (mode === "scalar" || (g.dynamic === "K" && mode === "dot")) return null;
  return { fn: gemmKernel(g), buffers, what: `${what}, f${g.dtype === "float64" ? "64x2" : "32x4"} in register blocks` };
}

function linearPlan(name: string, dtype: Dtype, xs: readonly Ext[], ws: readonly Ext[], bias: boolean, ys: readonly Ext[]): SimdKernelPlan | null {
  // y[n][o] = b[o] + Σ_i x[n][i] w[o][i]; the Wasm product takes (a, b, c, bias)
  const [nOut, nIn] = ws as [number, number];
  const batch = batchOf(xs, 2);
  return gemmPlan({
    name, dtype, M: batch === "dynamic" ? TYPICAL_BATCH : batch, N: nOut, K: nIn, a: { rs: nIn, cs: 1 }, b: { rs: 1, cs: nIn }, c: { rs: nOut, cs: 1 },
    ...(bias ? { bias: "col" as const } : {}), ...(batch === "dynamic" ? { dynamic: "M" as const } : {}),
  }, [
    buffer("arg", xs, 0), buffer("arg", ws, 1), buffer("result", ys),
    ...(bias ? [{ kind: "arg" as const, arg: 2, elements: nOut }] : []),
  ], bias ? "y = x·wᵀ + b" : "y = x·wᵀ");
}

function conv2dPlan(
  instr: SimpleInstr<"conv2d">, name: string, dtype: Dtype, xs: readonly Ext[], ws: readonly Ext[], ys: readonly Ext[],
): SimdKernelPlan | null {
  const { stride, padding } = instr.attrs as AttrsOf<"conv2d">;
  const image = xs.slice(-3) as [number, number, number];
  const [O, , KH, KW] = ws as [number, number, number, number];
  const spec = {
    name, dtype, batch: batchOf(xs, 4), C: image[0], H: image[1], W: image[2], O, KH, KW,
    padding, stride, bias: instr.args.length === 3,
  };
  if (stride[1] !== 1 || convGeometry(spec).OW < lanesOf(dtype).lanes) return null;
  const lanes = dtype === "float64" ? "f64x2" : "f32x4";
  const kernel = useGemm("fwd", spec)
    ? { fn: conv2dGemmKernel(spec), scratch: convGemmGeometry(spec).scratch, what: `y = w·col(x) + b per image, ${lanes} in register blocks` }
    : { fn: conv2dKernel(spec), scratch: convGeometry(spec).scratch, what: `the direct convolution, ${lanes}` };
  return {
    fn: kernel.fn,
    buffers: [
      buffer("arg", xs, 0), buffer("arg", ws, 1),
      ...(spec.bias ? [{ kind: "arg" as const, arg: 2, elements: O }] : []),
      buffer("result", ys), { kind: "scratch", elements: kernel.scratch },
    ],
    what: kernel.what,
  };
}

function conv2dGradInputPlan(
  instr: SimpleInstr<"conv2dGradInput">, name: string, dtype: Dtype, dys: readonly Ext[], ws: readonly Ext[], dxs: readonly Ext[],
): SimdKernelPlan | null {
  // dx[c][y][x] = Σ over o, a, b of w[o][c][KH-1-a][KW-1-b] dyp[o][y + a][x + b], where dyp is
  // dy with a zero border of (KH - 1 - ph, KW - 1 - pw): a forward convolution (stride 1)
  const { stride, padding, inputShape } = instr.attrs as AttrsOf<"conv2dGradInput">;
  const input = literalDims(inputShape);
  if (input === null || stride[1] !== 1) return null;
  const [O, C, KH, KW] = ws as [number, number, number, number];
  const [, OH, OW] = dys.slice(-3) as [number, number, number];
  const fwd: ConvGemmSpec = {
    name, dtype, batch: batchOf(dys, 4), C, H: input[input.length - 2] as number, W: input[input.length - 1] as number, O, KH, KW, padding, stride,
  };
  if (useGemm("input", fwd) && convGemmGeometry(fwd).OH === OH && convGemmGeometry(fwd).OW === OW) {
    return {
      fn: conv2dGradInputGemmKernel(fwd),
      buffers: [buffer("arg", dys, 0), buffer("arg", ws, 1), buffer("result", dxs), { kind: "scratch", elements: convGemmGeometry(fwd).scratch }],
      what: `dx = col2im(wᵀ·dy) per image, f${dtype === "float64" ? "64x2" : "32x4"} in register blocks`,
    };
  }
  if (stride[0] !== 1) return null;
  const pad: [number, number] = [KH - 1 - padding[0], KW - 1 - padding[1]];
  if (pad[0] < 0 || pad[1] < 0) return null;
  const spec = {
    name, dtype, batch: batchOf(dys, 4), C: O, H: OH, W: OW, O: C, KH, KW, padding: pad,
    stride: [1, 1] as const, bias: false, clampRows: true,
  };
  const g = convGeometry(spec);
  if (g.OW < lanesOf(dtype).lanes || g.OH !== input[input.length - 2] || g.OW !== input[input.length - 1]) return null;
  // The kernel rows that fall in the padded rows are left out (clampRows), but a row's
  // padded columns are multiplied like the rest: of the W·KW products per row and kernel row,
  // only OW·KW are not with zeros. On LeNet-5's conv2 (dy rows of 10 padded to 18, dx rows of
  // 14) that is 1.4 products per useful one; padding the rows too made it 1.96, and the
  // TypeScript kernel, which skips dy's zeros (three in four after relu and max-pooling), was
  // then as fast in float32 and faster in float64. So the Wasm kernel only where the columns'
  // border costs little.
  if (g.OW > WASTE_LIMIT[dtype] * OW) return null;
  return {
    fn: conv2dKernel(spec),
    buffers: [
      buffer("arg", dys, 0),
      { kind: "flipped", arg: 1, elements: count(ws), O, C, taps: KH * KW },
      buffer("result", dxs), { kind: "scratch", elements: g.scratch },
    ],
    what: `the convolution of dy (padded by ${pad[0]}, ${pad[1]}) with the kernels transposed and reversed, f${dtype === "float64" ? "64x2" : "32x4"}`,
  };
}

function conv2dGradWeightPlan(
  instr: SimpleInstr<"conv2dGradWeight">, name: string, dtype: Dtype, dys: readonly Ext[], xs: readonly Ext[], dws: readonly Ext[],
): SimdKernelPlan | null {
  const { stride, padding } = instr.attrs as AttrsOf<"conv2dGradWeight">;
  if (stride[1] !== 1) return null;
  const image = xs.slice(-3) as [number, number, number];
  const [O, , KH, KW] = dws as [number, number, number, number];
  const spec = {
    name, dtype, batch: batchOf(xs, 4), C: image[0], H: image[1], W: image[2], O, KH, KW, padding, stride,
  };
  if (useGemm("weight", spec)) {
    return {
      fn: conv2dGradWeightGemmKernel(spec),
      buffers: [buffer("arg", dys, 0), buffer("arg", xs, 1), buffer("result", dws), { kind: "scratch", elements: convGemmGeometry(spec).scratch }],
      what: `dw = Σ dy·col(x)ᵀ over the images, f${dtype === "float64" ? "64x2" : "32x4"} in register blocks`,
    };
  }
  return {
    fn: conv2dGradWeightKernel(spec),
    buffers: [
      buffer("arg", dys, 0), buffer("arg", xs, 1),
      buffer("result", dws), { kind: "scratch", elements: convGradWeightGeometry(spec).scratch },
    ],
    what: `dw = Σ dy·x over the images and output positions, f${dtype === "float64" ? "64x2" : "32x4"} along the output rows`,
  };
}
