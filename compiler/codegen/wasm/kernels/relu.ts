// relu and its adjoint as WebAssembly SIMD, over n elements (a parameter: one function serves
// every size), f64x2 (float64) or f32x4 (float32):
//
// - relu(x, y, n): y = max(x, 0) with Wasm's max, which is relu's semantics exactly: NaN for
//   NaN, +0 for -0 and -0 ... 0 (max(-0, +0) is +0), -inf to 0.
// - reluGrad(x, dy, dx, n): dx = dy where x > 0 or x is NaN, else 0: the lanes where x <= 0
//   (a comparison mask) cleared from dy with v128.andnot. For NaN x the comparison is false,
//   so dy passes, as in the TypeScript `x <= 0 ? 0 : dy` (and PyTorch's threshold_backward).
//
// Why: the TypeScript loops branch on the sign of each element (`x > 0 ? x : ...`; V8 has no
// branch-free select for it, and Math.max branches too), and after a layer the signs are
// random: on 150,528 random elements (LeNet-5's conv1 at batch 32) the loop took 850-950 µs
// on the 2-core EPYC VM against 165 µs for a branch-free loop; these take one comparison or
// max per vector. The leftover elements (n not a multiple of the lanes) run in scalar code.

import { type FuncScope, type Local, type Stmt, brIf, forRange, func, get, i32, if_, loop, select, set, v128 } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, lanesOf } from "./lanes.js";

/** relu(x, y, n) or reluGrad(x, dy, dx, n), byte addresses and an element count. */
export function reluKernel(name: string, dtype: Dtype, grad: boolean): EncodedFunction {
  const L = lanesOf(dtype);
  const E = L.bytes;
  const VL = L.lanes;
  const params: Record<string, "i32"> = grad ? { x: "i32", dy: "i32", dx: "i32", n: "i32" } : { x: "i32", y: "i32", n: "i32" };
  return func(name, params, [], (s: FuncScope, p: Readonly<Record<string, Local<"i32">>>) => {
    const at = s.local("i32", "at");
    const end = s.local("i32", "end");
    const vectorEnd = s.local("i32", "vectorEnd");
    const zero = s.local("v128", "zero");
    const xv = s.local("v128", "x");
    const xs = s.local(L.scalar as "f64", "xs");
    const out = grad ? p.dx! : p.y!;
    const x = (): ReturnType<typeof get<"i32">> => i32.add(get(p.x!), get(at));
    const to = (): ReturnType<typeof get<"i32">> => i32.add(get(out), get(at));
    // the element or vector `at` bytes from each buffer's start
    const vector: Stmt[] = grad
      ? [set(xv, L.load(x(), 0)), L.store(to(), v128.andnot(L.load(i32.add(get(p.dy!), get(at)), 0), L.le(get(xv), get(zero))), 0)]
      : [L.store(to(), L.max(L.load(x(), 0), get(zero)), 0)];
    const scalar: Stmt[] = grad
      ? [set(xs, L.sload(x(), 0)), L.sstore(to(), select(L.szero(), L.sload(i32.add(get(p.dy!), get(at)), 0), L.sle(get(xs), L.szero())), 0)]
      : [L.sstore(to(), L.smax(L.sload(x(), 0), L.szero()), 0)];
    return [
      set(zero, L.zero()),
      set(end, i32.mul(get(p.n!), i32.const(E))),
      // whole vectors up to n - n % lanes elements, then the rest one at a time
      set(vectorEnd, i32.and(get(end), i32.const(~(VL * E - 1)))),
      forRange(at, 0, vectorEnd, vector, VL * E),
      if_(i32.lt_u(get(vectorEnd), get(end)), [
        set(at, get(vectorEnd)),
        loop((repeat) => [...scalar, set(at, i32.add(get(at), i32.const(E))), brIf(repeat, i32.lt_u(get(at), get(end)))]),
      ]),
    ];
  });
}
