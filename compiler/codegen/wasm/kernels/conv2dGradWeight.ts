// The weight adjoint of conv2d as WebAssembly SIMD, for static shapes: dy [N, O, OH, OW],
// x [N, C, H, W] -> dw [O, C, KH, KW] = Σ over n, i, j of dy[n][o][i][j] ·
// xp[n][c][i·sh + ki][j + kj], NCHW, row stride sh, column stride 1, zero padding (ph, pw),
// f64x2 (float64) or f32x4 (float32).
//
// Layout and blocking:
// - A padded input is copied image by image into a scratch buffer with a zero border, as in
//   the forward kernel (conv2d.ts); an unpadded one is read in place.
// - Per image, filter o, input channel c and kernel row ki, a block of `kb` taps kj (kb =
//   KW, or blocks of at most 6) keeps one vector accumulator each: per output row i and
//   vector of `lanes` outputs j, it loads dy[o][i][j ..] once and, per tap, the input vector
//   xp[c][i·sh + ki][j + kj ..] (unaligned), and multiply-adds. At the end of the block the
//   lanes are summed and added to dw, which is zeroed first (the images accumulate).
// - The loop over a row's vectors is a loop (not unrolled): TurboFan schedules every load of
//   a loop body first, so a body of one vector keeps 1 + kb loaded vectors live beside the kb
//   accumulators (11 for 5x5 kernels, of V8's 16 xmm registers).
// - The leftover outputs of a row (OW not a multiple of the lanes) are one more vector step
//   on partial vectors (v128.load32_zero / load64_zero: zeros above). With a scalar step
//   instead, LeNet-5's conv2 (OW = 10: two f32x4 vectors and two leftovers per row) took
//   about 7 times its forward convolution in float32.
//
// The sums run in another order than the TypeScript kernel's (which lists dy's nonzeros and
// skips the zeros): float64 results agree to rounding (~1e-15 relative), not bit for bit.
// This kernel is dense: it does the products of dy's zeros too (a zero times an infinite or
// NaN input is NaN, as in the TypeScript kernel's full product).

import { type FuncScope, type Local, type Stmt, forRange, func, get, i32, memory, seq, set } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, lanesOf } from "./lanes.js";

export interface ConvGradWeightSpec {
  readonly name: string;
  readonly dtype: Dtype;
  /** Images (1 for an unbatched x [C, H, W]); "dynamic": known at run time, the last parameter. */
  readonly batch: number | "dynamic";
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly O: number;
  readonly KH: number;
  readonly KW: number;
  readonly padding: readonly [number, number];
  /** Row stride; the column stride must be 1 (vectors run along a row). */
  readonly stride: readonly [number, number];
  /** Taps per block (default: KW if at most 6, else 6). */
  readonly taps?: number;
}

export function convGradWeightGeometry(c: ConvGradWeightSpec): { OH: number; OW: number; Hp: number; Wp: number; scratch: number } {
  const [ph, pw] = c.padding;
  const Hp = c.H + 2 * ph;
  const Wp = c.W + 2 * pw;
  const OH = Math.floor((Hp - c.KH) / c.stride[0]) + 1;
  const OW = Math.floor((Wp - c.KW) / c.stride[1]) + 1;
  return { OH, OW, Hp, Wp, scratch: ph > 0 || pw > 0 ? c.C * Hp * Wp : 0 };
}

function bump(l: Local<"i32">, bytes: number): Stmt {
  return bytes === 0 ? seq([]) : set(l, i32.add(get(l), i32.const(bytes)));
}

/**
 * The kernel: convGradWeight(dy, x, dw, scratch) with byte addresses (scratch unused without
 * padding), and the number of images last when it is known only at run time.
 */
export function conv2dGradWeightKernel(c: ConvGradWeightSpec): EncodedFunction {
  const g = convGradWeightGeometry(c);
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  const VL = L.lanes;
  const [ph, pw] = c.padding;
  const [sh, sw] = c.stride;
  if (sw !== 1) throw new Error(`wasm conv2dGradWeight ${c.name}: column stride ${sw} (vectors need stride 1)`);
  const kb = Math.min(c.taps ?? (c.KW <= 6 ? c.KW : 6), c.KW);
  const vectors = Math.floor(g.OW / VL);
  const tail = g.OW - vectors * VL;
  const kernelSize = c.C * c.KH * c.KW;

  const params: Record<string, "i32"> = { dy: "i32", x: "i32", dw: "i32", scratch: "i32" };
  if (c.batch === "dynamic") params.images = "i32";
  return func(c.name, params, [], (s: FuncScope, p: Readonly<Record<string, Local<"i32">>>) => {
    const n = s.local("i32", "n");
    const o = s.local("i32", "o");
    const ci = s.local("i32", "ci");
    const ki = s.local("i32", "ki");
    const i = s.local("i32", "i");
    const jv = s.local("i32", "jv");
    const row = s.local("i32", "row");
    const xImage = s.local("i32", "xImage");
    const dyImage = s.local("i32", "dyImage");
    const xBase = s.local("i32", "xBase");
    const dyPlane = s.local("i32", "dyPlane");
    const xPlane = s.local("i32", "xPlane");
    const xKernelRow = s.local("i32", "xKernelRow");
    const dwAt = s.local("i32", "dwAt");
    const dyRow = s.local("i32", "dyRow");
    const xRow = s.local("i32", "xRow");
    const dyAt = s.local("i32", "dyAt");
    const xAt = s.local("i32", "xAt");
    const src = s.local("i32", "src");
    const dst = s.local("i32", "dst");
    const dstPlane = s.local("i32", "dstPlane");
    const acc = Array.from({ length: kb }, (_, t) => s.local("v128", `acc${t}`));
    const dyv = s.local("v128", "dy");
    const padded = g.scratch > 0;

    /** The taps [k0, k0 + count) of kernel row ki (dwAt at tap k0, xKernelRow at the row's first input). */
    const tapBlock = (k0: number, count: number): Stmt[] => {
      const out: Stmt[] = [];
      for (let t = 0; t < count; t++) out.push(set(acc[t]!, L.zero()));
      const vectorStep: Stmt[] = [set(dyAt, i32.add(get(dyRow), get(jv))), set(xAt, i32.add(get(xRow), get(jv))), set(dyv, L.load(get(dyAt), 0))];
      for (let t = 0; t < count; t++) {
        vectorStep.push(set(acc[t]!, L.add(get(acc[t]!), L.mul(get(dyv), L.load(get(xAt), (k0 + t) * E)))));
      }
      // the row's last `tail` outputs: partial vectors (zeros in the lanes above), so the
      // products of the missing lanes are 0 · 0 and nothing past the row is read
      const tailSteps: Stmt[] = [];
      if (tail > 0) {
        const j = vectors * VL;
        tailSteps.push(set(dyv, L.loadPartial(get(dyRow), j * E, tail)));
        for (let t = 0; t < count; t++) {
          tailSteps.push(set(acc[t]!, L.add(get(acc[t]!), L.mul(get(dyv), L.loadPartial(get(xRow), (j + k0 + t) * E, tail)))));
        }
      }
      out.push(
        set(dyRow, get(dyPlane)),
        set(xRow, get(xKernelRow)),
        forRange(i, 0, g.OH, [
          ...(vectors > 0 ? [forRange(jv, 0, vectors * VL * E, vectorStep, VL * E)] : []),
          ...tailSteps,
          bump(dyRow, g.OW * E),
          bump(xRow, sh * g.Wp * E),
        ]),
      );
      for (let t = 0; t < count; t++) {
        const sum = L.sumLanes(get(acc[t]!));
        out.push(L.sstore(get(dwAt), L.sadd(L.sload(get(dwAt), (k0 + t) * E), sum), (k0 + t) * E));
      }
      return out;
    };

    const blocks: Stmt[] = [];
    for (let k0 = 0; k0 < c.KW; k0 += kb) blocks.push(...tapBlock(k0, Math.min(kb, c.KW - k0)));

    return [
      ...(padded ? [memory.fill(get(p.scratch), i32.const(0), i32.const(g.scratch * E))] : []),
      memory.fill(get(p.dw), i32.const(0), i32.const(c.O * kernelSize * E)),
      set(xImage, get(p.x)),
      set(dyImage, get(p.dy)),
      forRange(n, 0, c.batch === "dynamic" ? p.images! : c.batch, [
        ...(padded
          ? [
            // xp[c][ph + ih][pw ..] = x[c][ih][..], one row at a time
            set(src, get(xImage)),
            set(dstPlane, i32.add(get(p.scratch), i32.const((ph * g.Wp + pw) * E))),
            forRange(ci, 0, c.C, [
              set(dst, get(dstPlane)),
              forRange(row, 0, c.H, [
                memory.copy(get(dst), get(src), i32.const(c.W * E)),
                bump(src, c.W * E),
                bump(dst, g.Wp * E),
              ]),
              bump(dstPlane, g.Hp * g.Wp * E),
            ]),
            set(xBase, get(p.scratch)),
          ]
          : [set(xBase, get(xImage))]),
        set(dyPlane, get(dyImage)),
        set(dwAt, get(p.dw)),
        forRange(o, 0, c.O, [
          set(xPlane, get(xBase)),
          forRange(ci, 0, c.C, [
            set(xKernelRow, get(xPlane)),
            forRange(ki, 0, c.KH, [
              ...blocks,
              bump(xKernelRow, g.Wp * E),
              bump(dwAt, c.KW * E),
            ]),
            bump(xPlane, g.Hp * g.Wp * E),
          ]),
          bump(dyPlane, g.OH * g.OW * E),
        ]),
        bump(xImage, c.C * c.H * c.W * E),
        set(dyImage, get(dyPlane)),
      ]),
    ];
  });
}
