// The bias adjoint of conv2d as WebAssembly SIMD: dy [N, O, OH, OW] -> db [O], each channel's
// dy summed over the images and the output plane, f64x2 (float64) or f32x4 (float32).
//
// The TypeScript kernel's sum is one chain of dependent additions (one add per element, each
// waiting for the last); here two vector accumulators take alternate vectors of a plane, so
// 4 (float64) or 8 (float32) sums run side by side; a plane's last elements (OH·OW not a
// multiple of the lanes) are a partial vector (zeros above). The order of the sum differs
// from the TypeScript kernel's: float64 results agree to rounding (~1e-16 relative).

import { type FuncScope, type Local, type Stmt, forRange, func, get, i32, set } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, lanesOf } from "./lanes.js";

export interface ConvGradBiasSpec {
  readonly name: string;
  readonly dtype: Dtype;
  /** Images (1 for an unbatched dy [O, OH, OW]); "dynamic": known at run time, the last parameter. */
  readonly batch: number | "dynamic";
  readonly O: number;
  /** Elements of an output plane (OH·OW). */
  readonly plane: number;
}

/** The kernel: convGradBias(dy, db) with byte addresses, and the images last when known only at run time. */
export function conv2dGradBiasKernel(c: ConvGradBiasSpec): EncodedFunction {
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  const VL = L.lanes;
  const vectors = Math.floor(c.plane / VL);
  const pairs = Math.floor(vectors / 2);
  const odd = vectors - 2 * pairs;
  const tail = c.plane - vectors * VL;
  const params: Record<string, "i32"> = { dy: "i32", db: "i32" };
  if (c.batch === "dynamic") params.images = "i32";
  return func(c.name, params, [], (s: FuncScope, p: Readonly<Record<string, Local<"i32">>>) => {
    const o = s.local("i32", "o");
    const n = s.local("i32", "n");
    const v = s.local("i32", "v");
    const plane = s.local("i32", "plane");
    const at = s.local("i32", "at");
    const acc0 = s.local("v128", "acc0");
    const acc1 = s.local("v128", "acc1");
    const add = (acc: Local<"v128">, offset: number): Stmt => set(acc, L.add(get(acc), L.load(get(at), offset)));
    const planeSum: Stmt[] = [
      set(at, get(plane)),
      forRange(v, 0, pairs, [add(acc0, 0), add(acc1, VL * E), set(at, i32.add(get(at), i32.const(2 * VL * E)))]),
      ...(odd ? [add(acc0, 0)] : []),
      ...(tail ? [set(acc1, L.add(get(acc1), L.loadPartial(get(at), odd * VL * E, tail)))] : []),
      // the next image's plane of this channel
      set(plane, i32.add(get(plane), i32.const(c.O * c.plane * E))),
    ];
    return [
      forRange(o, 0, c.O, [
        set(acc0, L.zero()),
        set(acc1, L.zero()),
        set(plane, i32.add(get(p.dy!), i32.mul(get(o), i32.const(c.plane * E)))),
        forRange(n, 0, c.batch === "dynamic" ? p.images! : c.batch, planeSum),
        L.sstore(i32.add(get(p.db!), i32.mul(get(o), i32.const(E))), L.sumLanes(L.add(get(acc0), get(acc1))), 0),
      ]),
    ];
  });
}
