// Max-pooling with 2x2 windows and stride 2 that tile the input (H, W even), and its
// adjoint, as WebAssembly SIMD, f64x2 (float64) or f32x4 (float32), with the semantics of
// the TypeScript kernels (compiler/codegen/kernels/pool.ts): a window's maximum is its
// first maximum in row-major order (strictly greater values take over, so of -0 and +0 the
// first), a NaN is the maximum (the first NaN for the adjoint), and the adjoint sends each
// window's dy to that element and zeroes the other three.
//
// Per output row, `lanes` windows at a time: the two input rows' vectors are split into their
// even and odd columns (i8x16.shuffle), giving the window's four elements e0..e3 in row-major
// order, one window per lane. The first maximum is a chain of strict comparisons (pmax, or
// gt masks for the adjoint); the NaN rule is applied with masks (x != x) on top. A row's last
// windows (OW not a multiple of the lanes) run the same rule in scalar code.

import { type Expr, type FuncScope, type Local, type Stmt, f32x4, f64x2, forRange, func, get, i32, i8x16, select, set, v128 } from "../builder.js";
import type { EncodedFunction } from "../encoder.js";
import { type Dtype, lanesOf } from "./lanes.js";

export interface MaxPoolSpec {
  readonly name: string;
  readonly dtype: Dtype;
  /** Planes (images × channels). */
  readonly planes: number;
  /** The images known only at run time (the last parameter): then `planes` counts per image. */
  readonly dynamic?: boolean;
  /** Input rows and columns (even). */
  readonly H: number;
  readonly W: number;
}

/** Byte lane indices picking the even (0) or odd (1) elements of a then b. */
function deinterleave(E: number, parity: 0 | 1): number[] {
  const per = 16 / E;
  const out: number[] = [];
  for (let e = 0; e < per; e++) {
    const element = 2 * e + parity; // of a (0 .. per-1) then b (per .. 2per-1)
    for (let b = 0; b < E; b++) out.push(element * E + b);
  }
  return out;
}

/** Byte lane indices interleaving the low (0) or high (1) halves of a and b. */
function interleave(E: number, half: 0 | 1): number[] {
  const per = 16 / E;
  const out: number[] = [];
  for (let e = 0; e < per; e++) {
    const element = (e >> 1) + half * (per / 2) + (e & 1) * per;
    for (let b = 0; b < E; b++) out.push(element * E + b);
  }
  return out;
}

/** maxpool(x, y) or maxpoolGrad(x, dy, dx), byte addresses (and the planes last when dynamic). */
export function maxPoolKernel(c: MaxPoolSpec, grad: boolean): EncodedFunction {
  const L = lanesOf(c.dtype);
  const E = L.bytes;
  const VL = L.lanes;
  const V = c.dtype === "float64" ? f64x2 : f32x4;
  if (c.H % 2 || c.W % 2) throw new RangeError(`wasm maxpool ${c.name}: ${c.H}x${c.W} is not tiled by 2x2 windows`);
  const OH = c.H / 2;
  const OW = c.W / 2;
  const groups = Math.floor(OW / VL);
  const tail = OW - groups * VL;
  const params: Record<string, "i32"> = grad ? { x: "i32", dy: "i32", dx: "i32" } : { x: "i32", y: "i32" };
  if (c.dynamic) params.images = "i32";
  return func(c.name, params, [], (s: FuncScope, p: Readonly<Record<string, Local<"i32">>>) => {
    const plane = s.local("i32", "plane");
    const planes = s.local("i32", "planes");
    const i = s.local("i32", "i");
    const g = s.local("i32", "g");
    const xRow = s.local("i32", "xRow");
    const yRow = s.local("i32", "yRow");
    const xAt = s.local("i32", "xAt");
    const yAt = s.local("i32", "yAt");
    const e = [0, 1, 2, 3].map((k) => s.local("v128", `e${k}`));
    const best = s.local("v128", "best");
    const nan = s.local("v128", "nan");
    const m = [1, 2, 3].map((k) => s.local("v128", `gt${k}`));
    const pick = [0, 1, 2, 3].map((k) => s.local("v128", `pick${k}`));
    const dyv = s.local("v128", "dy");
    const se = [0, 1, 2, 3].map((k) => s.local(L.scalar as "f64", `s${k}`));
    const sbest = s.local(L.scalar as "f64", "sbest");
    const sat = s.local("i32", "sat");
    const out = grad ? p.dx! : p.y!;

    const isNaN = (x: Expr<"v128">): Expr<"v128"> => V.ne(x, x);
    const ra = s.local("v128", "ra");
    const rb = s.local("v128", "rb");
    // the window's elements: row 0 even, row 0 odd, row 1 even, row 1 odd (row-major order)
    const load: Stmt[] = [];
    for (const [r, base] of [[0, 0], [1, c.W * E]] as const) {
      load.push(set(ra, L.load(get(xAt), base)), set(rb, L.load(get(xAt), base + 16)));
      load.push(set(e[2 * r]!, i8x16.shuffle(get(ra), get(rb), deinterleave(E, 0))));
      load.push(set(e[2 * r + 1]!, i8x16.shuffle(get(ra), get(rb), deinterleave(E, 1))));
    }
    const anyNaN = (): Expr<"v128"> => v128.or(v128.or(isNaN(get(e[0]!)), isNaN(get(e[1]!))), v128.or(isNaN(get(e[2]!)), isNaN(get(e[3]!))));
    const forward: Stmt[] = [
      ...load,
      // the first maximum (pmax keeps its first operand on ties), NaN where the window has one
      set(best, V.pmax(V.pmax(V.pmax(get(e[0]!), get(e[1]!)), get(e[2]!)), get(e[3]!))),
      set(nan, anyNaN()),
      L.store(get(yAt), v128.bitselect(V.add(get(e[0]!), V.add(get(e[1]!), V.add(get(e[2]!), get(e[3]!)))), get(best), get(nan)), 0),
    ];
    // the adjoint: masks of the first maximum (a strictly greater element takes over), then of
    // the first NaN where there is one
    const firstNaN = (k: number): Expr<"v128"> => {
      let earlier: Expr<"v128"> | null = null;
      for (let j = 0; j < k; j++) earlier = earlier === null ? isNaN(get(e[j]!)) : v128.or(earlier, isNaN(get(e[j]!)));
      return earlier === null ? isNaN(get(e[k]!)) : v128.andnot(isNaN(get(e[k]!)), earlier);
    };
    const backward: Stmt[] = [
      ...load,
      set(best, get(e[0]!)),
      ...[1, 2, 3].flatMap((k) => [
        set(m[k - 1]!, V.gt(get(e[k]!), get(best))),
        set(best, v128.bitselect(get(e[k]!), get(best), get(m[k - 1]!))),
      ]),
      set(pick[3]!, get(m[2]!)),
      set(pick[2]!, v128.andnot(get(m[1]!), get(m[2]!))),
      set(pick[1]!, v128.andnot(get(m[0]!), v128.or(get(m[1]!), get(m[2]!)))),
      set(pick[0]!, v128.not(v128.or(get(m[0]!), v128.or(get(m[1]!), get(m[2]!))))),
      set(nan, anyNaN()),
      ...[0, 1, 2, 3].map((k) => set(pick[k]!, v128.bitselect(firstNaN(k), get(pick[k]!), get(nan)))),
      set(dyv, L.load(get(yAt), 0)),
      ...[0, 1, 2, 3].map((k) => set(pick[k]!, v128.and(get(pick[k]!), get(dyv)))),
      // back to the rows' order: even and odd columns interleaved
      ...([[0, 0], [1, c.W * E]] as const).flatMap(([r, base]) => [
        L.store(i32.add(get(out), i32.sub(get(xAt), get(p.x!))), i8x16.shuffle(get(pick[2 * r]!), get(pick[2 * r + 1]!), interleave(E, 0)), base),
        L.store(i32.add(get(out), i32.sub(get(xAt), get(p.x!))), i8x16.shuffle(get(pick[2 * r]!), get(pick[2 * r + 1]!), interleave(E, 1)), base + 16),
      ]),
    ];
    // one window in scalar code (xAt at its corner, yAt at its output)
    const offsets = [0, E, c.W * E, c.W * E + E];
    const scalarWindow: Stmt[] = [
      ...offsets.map((o, k) => set(se[k]!, L.sload(get(xAt), o))),
      set(sbest, get(se[0]!)),
      set(sat, i32.const(0)),
      ...[1, 2, 3].flatMap((k) => [
        set(sat, select(i32.const(k), get(sat), L.sgt(get(se[k]!), get(sbest)))),
        set(sbest, select(get(se[k]!), get(sbest), L.sgt(get(se[k]!), get(sbest)))),
      ]),
      // a NaN: the first one (checked from the last, so that the first is set last)
      ...[3, 2, 1, 0].map((k) => set(sat, select(i32.const(k), get(sat), L.sne(get(se[k]!), get(se[k]!))))),
      ...(grad
        ? offsets.map((o, k) => L.sstore(i32.add(get(out), i32.sub(get(xAt), get(p.x!))),
          select(L.sload(get(yAt), 0), L.szero(), i32.eq(get(sat), i32.const(k))), o))
        : [L.sstore(get(yAt), select(L.sadd(L.sadd(get(se[0]!), get(se[1]!)), L.sadd(get(se[2]!), get(se[3]!))), get(sbest),
          i32.or(i32.or(L.sne(get(se[0]!), get(se[0]!)), L.sne(get(se[1]!), get(se[1]!))),
            i32.or(L.sne(get(se[2]!), get(se[2]!)), L.sne(get(se[3]!), get(se[3]!))))), 0)]),
    ];
    return [
      ...(c.dynamic ? [set(planes, i32.mul(get(p.images!), i32.const(c.planes)))] : []),
      set(xRow, get(p.x!)),
      set(yRow, grad ? get(p.dy!) : get(p.y!)),
      forRange(plane, 0, c.dynamic ? planes : c.planes, [
        forRange(i, 0, OH, [
          set(xAt, get(xRow)),
          set(yAt, get(yRow)),
          forRange(g, 0, groups, [
            ...(grad ? backward : forward),
            set(xAt, i32.add(get(xAt), i32.const(2 * VL * E))),
            set(yAt, i32.add(get(yAt), i32.const(VL * E))),
          ]),
          ...Array.from({ length: tail }, () => [
            ...scalarWindow,
            set(xAt, i32.add(get(xAt), i32.const(2 * E))),
            set(yAt, i32.add(get(yAt), i32.const(E))),
          ]).flat(),
          set(xRow, i32.add(get(xRow), i32.const(2 * c.W * E))),
          set(yRow, i32.add(get(yRow), i32.const(OW * E))),
        ]),
      ]),
    ];
  });
}
