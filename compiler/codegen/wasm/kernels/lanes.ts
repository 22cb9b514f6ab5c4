// The element type of a kernel, as the ops it needs: float64 kernels compute in f64 and
// f64x2 (2 lanes), float32 kernels in f32 and f32x4 (4 lanes). Addresses are byte
// addresses in the module's memory, and every buffer is a dense row-major array of
// elements, so element e of a buffer at `p` is at byte p + e·bytes.

import {
  type Expr, type Stmt, f32, f32x4, f64, f64x2, v128,
} from "../builder.js";

export type Dtype = "float64" | "float32";

export interface Lanes {
  readonly dtype: Dtype;
  readonly scalar: "f64" | "f32";
  /** Bytes per element. */
  readonly bytes: number;
  /** Elements per v128. */
  readonly lanes: number;
  /** The vector at addr + offset bytes (any alignment). */
  load(addr: Expr<"i32">, offset: number): Expr<"v128">;
  store(addr: Expr<"i32">, value: Expr<"v128">, offset: number): Stmt;
  /**
   * The `count` elements (fewer than the lanes) at addr + offset bytes in the low lanes,
   * zeros above; reads nothing past them.
   */
  loadPartial(addr: Expr<"i32">, offset: number, count: number): Expr<"v128">;
  /** The element at addr + offset bytes, in every lane. */
  loadSplat(addr: Expr<"i32">, offset: number): Expr<"v128">;
  zero(): Expr<"v128">;
  add(a: Expr<"v128">, b: Expr<"v128">): Expr<"v128">;
  mul(a: Expr<"v128">, b: Expr<"v128">): Expr<"v128">;
  // scalar ops on the element type, typed as f64 for both (a generator never mixes the two
  // element types, and the builder checks the real types when it runs)
  /** Lane 0 + lane 1 (+ lane 2 + lane 3), left to right. */
  sumLanes(v: Expr<"v128">): Expr<"f64">;
  sload(addr: Expr<"i32">, offset: number): Expr<"f64">;
  sstore(addr: Expr<"i32">, value: Expr<"f64">, offset: number): Stmt;
  szero(): Expr<"f64">;
  sadd(a: Expr<"f64">, b: Expr<"f64">): Expr<"f64">;
  smul(a: Expr<"f64">, b: Expr<"f64">): Expr<"f64">;
  /** Wasm's max (NaN if either is NaN; +0 above -0). */
  smax(a: Expr<"f64">, b: Expr<"f64">): Expr<"f64">;
  sle(a: Expr<"f64">, b: Expr<"f64">): Expr<"i32">;
  sgt(a: Expr<"f64">, b: Expr<"f64">): Expr<"i32">;
  sne(a: Expr<"f64">, b: Expr<"f64">): Expr<"i32">;
  /** Lanewise max (as smax) and a <= b (all ones where true). */
  max(a: Expr<"v128">, b: Expr<"v128">): Expr<"v128">;
  le(a: Expr<"v128">, b: Expr<"v128">): Expr<"v128">;
}

const F64: Lanes = {
  dtype: "float64", scalar: "f64", bytes: 8, lanes: 2,
  load: (a, o) => v128.load(a, o),
  store: (a, v, o) => v128.store(a, v, o),
  loadPartial: (a, o, count) => {
    if (count !== 1) throw new RangeError(`f64x2: a partial vector of ${count} elements`);
    return v128.load64_zero(a, o);
  },
  loadSplat: (a, o) => v128.load64_splat(a, o),
  zero: () => f64x2.splat(f64.const(0)),
  add: f64x2.add,
  mul: f64x2.mul,
  sumLanes: (v) => f64.add(f64x2.extract_lane(v, 0), f64x2.extract_lane(v, 1)),
  sload: (a, o) => f64.load(a, o),
  sstore: (a, v, o) => f64.store(a, v, o),
  szero: () => f64.const(0),
  sadd: f64.add,
  smul: f64.mul,
  smax: f64.max,
  sle: f64.le,
  sgt: f64.gt,
  sne: f64.ne,
  max: f64x2.max,
  le: f64x2.le,
};

const asF64 = (e: Expr<"f32">): Expr<"f64"> => e as unknown as Expr<"f64">;
const asF32 = (e: Expr<"f64">): Expr<"f32"> => e as unknown as Expr<"f32">;

const F32: Lanes = {
  dtype: "float32", scalar: "f32", bytes: 4, lanes: 4,
  load: (a, o) => v128.load(a, o),
  store: (a, v, o) => v128.store(a, v, o),
  loadPartial: (a, o, count) => {
    if (count === 1) return v128.load32_zero(a, o);
    if (count === 2) return v128.load64_zero(a, o);
    if (count === 3) return f32x4.replace_lane(v128.load64_zero(a, o), 2, f32.load(a, o + 8));
    throw new RangeError(`f32x4: a partial vector of ${count} elements`);
  },
  loadSplat: (a, o) => v128.load32_splat(a, o),
  zero: () => f32x4.splat(f32.const(0)),
  add: f32x4.add,
  mul: f32x4.mul,
  sumLanes: (v) => asF64(f32.add(f32.add(f32.add(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), f32x4.extract_lane(v, 2)), f32x4.extract_lane(v, 3))),
  sload: (a, o) => asF64(f32.load(a, o)),
  sstore: (a, v, o) => f32.store(a, asF32(v), o),
  szero: () => asF64(f32.const(0)),
  sadd: (a, b) => asF64(f32.add(asF32(a), asF32(b))),
  smul: (a, b) => asF64(f32.mul(asF32(a), asF32(b))),
  smax: (a, b) => asF64(f32.max(asF32(a), asF32(b))),
  sle: (a, b) => f32.le(asF32(a), asF32(b)),
  sgt: (a, b) => f32.gt(asF32(a), asF32(b)),
  sne: (a, b) => f32.ne(asF32(a), asF32(b)),
  max: f32x4.max,
  le: f32x4.le,
};

export function lanesOf(dtype: Dtype): Lanes {
  return dtype === "float64" ? F64 : F32;
}
