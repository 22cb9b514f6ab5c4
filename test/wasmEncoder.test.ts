// adgen's WebAssembly encoder and builder (compiler/codegen/wasm/): LEB128 against known
// encodings, a module's exact bytes against a hand-assembled one, every numeric and SIMD op
// the builder offers against plain JavaScript on edge values (NaN, ±0, ±∞, ties, overflow),
// structured control flow, memory ops, determinism, and the builder's errors.

import { describe, expect, it } from "vitest";
import {
  type Code, type Expr, type Local, type Stmt, block, br, brIf, doWhile, drop, f32, f32x4, f64, f64x2, forRange, func,
  get, i32, i32x4, if_, loop, memory, nop, select, seq, set, tee, v128,
} from "../compiler/codegen/wasm/builder.js";
import { type EncodedFunction, type WasmModule, PAGE_BYTES, encodeModule, f64Bytes, sleb, uleb } from "../compiler/codegen/wasm/encoder.js";

// ---------------------------------------------------------------------------------------
// Helpers

function moduleOf(functions: EncodedFunction[], extra: Partial<WasmModule> = {}): Uint8Array<ArrayBuffer> {
  return encodeModule({ memory: { pages: 1, exportAs: "memory" }, functions, ...extra });
}

/** Validates, compiles and instantiates; returns the exports. */
function instantiate(functions: EncodedFunction[], extra: Partial<WasmModule> = {}): Record<string, unknown> & { memory: WebAssembly.Memory } {
  const bytes = moduleOf(functions, extra);
  expect(WebAssembly.validate(bytes)).toBe(true);
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as never;
}

const leb = (f: (n: number, out: number[]) => void, n: number): number[] => {
  const out: number[] = [];
  f(n, out);
  return out;
};

/** Same value, NaN equal to NaN and -0 distinct from +0. */
function same(actual: number, expected: number): boolean {
  return Object.is(actual, expected);
}

/** Round half to even (Wasm's nearest). */
function nearest(x: number): number {
  if (!Number.isFinite(x)) return x;
  const t = Math.trunc(x);
  if (Math.abs(x - t) === 0.5) return t % 2 === 0 ? t : t + Math.sign(x);
  return Math.round(x) === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : Math.round(x);
}

const F64_VALUES = [0, -0, 1.5, -2.25, 2.5, -2.5, 3.5, 0.49999999999999994, 1e308, -1e-310, Infinity, -Infinity, NaN, 7, -3];
const I32_VALUES = [0, 1, -1, 7, -13, 0x7fffffff, -0x80000000, 123456789, -987654321, 31, 32, 33];

// ---------------------------------------------------------------------------------------

describe("LEB128", () => {
  it("encodes unsigned numbers", () => {
    expect(leb(uleb, 0)).toEqual([0]);
    expect(leb(uleb, 127)).toEqual([0x7f]);
    expect(leb(uleb, 128)).toEqual([0x80, 0x01]);
    expect(leb(uleb, 624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(leb(uleb, 0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => leb(uleb, -1)).toThrow(RangeError);
    expect(() => leb(uleb, 2 ** 32)).toThrow(RangeError);
    expect(() => leb(uleb, 1.5)).toThrow(RangeError);
  });

  it("encodes signed numbers", () => {
    expect(leb(sleb, 0)).toEqual([0]);
    expect(leb(sleb, -1)).toEqual([0x7f]);
    expect(leb(sleb, 63)).toEqual([0x3f]);
    expect(leb(sleb, 64)).toEqual([0xc0, 0x00]);
    expect(leb(sleb, -64)).toEqual([0x40]);
    expect(leb(sleb, -65)).toEqual([0xbf, 0x7f]);
    expect(leb(sleb, -123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(leb(sleb, 0x7fffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(leb(sleb, -0x80000000)).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    expect(() => leb(sleb, 2 ** 31)).toThrow(RangeError);
  });
});

describe("modules", () => {
  it("encodes a small module to exactly the bytes of the binary format", () => {
    const add = func("add", { a: "i32", b: "i32" }, ["i32"], (_, p) => [i32.add(get(p.a), get(p.b))]);
    expect([...moduleOf([add])]).toEqual([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
      0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type section: (i32, i32) -> i32
      0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
      0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page, no max
      0x07, 0x10, 0x02, // export section, 2 exports
      0x06, ...new TextEncoder().encode("memory"), 0x02, 0x00,
      0x03, ...new TextEncoder().encode("add"), 0x00, 0x00,
      0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // code: no locals, get 0, get 1, add, end
    ]);
    const e = instantiate([add]);
    expect((e.add as (a: number, b: number) => number)(2, 40)).toBe(42);
    expect((e.add as (a: number, b: number) => number)(0x7fffffff, 1)).toBe(-0x80000000);
  });

  it("defines and exports its own memory (imports nothing), with a maximum when asked", () => {
    const bytes = encodeModule({ memory: { pages: 3, maxPages: 5, exportAs: "mem" }, functions: [] });
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(mod)).toEqual([]);
    expect(WebAssembly.Module.exports(mod)).toEqual([{ name: "mem", kind: "memory" }]);
    const mem = new WebAssembly.Instance(mod).exports.mem as WebAssembly.Memory;
    expect(mem.buffer.byteLength).toBe(3 * PAGE_BYTES);
    mem.grow(2);
    expect(() => mem.grow(1)).toThrow(RangeError);
    expect(() => encodeModule({ memory: { pages: 3, maxPages: 2, exportAs: "m" }, functions: [] })).toThrow(/maximum/);
  });

  it("shares function types, keeps locals, writes data segments and a name section", () => {
    const sum = (name: string) => func(name, { p: "i32", n: "i32" }, ["f64"], (s, p) => {
      const acc = s.local("f64", "acc");
      const k = s.local("i32", "k");
      return [
        doWhile([
          set(acc, f64.add(get(acc), f64.load(get(p.p)))),
          set(p.p, i32.add(get(p.p), i32.const(8))),
          set(k, i32.add(get(k), i32.const(1))),
        ], () => i32.lt_s(get(k), get(p.n))),
        get(acc),
      ];
    });
    const data = new Uint8Array(32);
    new Float64Array(data.buffer).set([1, 2, 3, 4.5]);
    const bytes = moduleOf([sum("sumA"), sum("sumB")], { data: [{ offset: 64, bytes: data }], names: true });
    expect(WebAssembly.validate(bytes)).toBe(true);
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.customSections(mod, "name")).toHaveLength(1);
    const e = new WebAssembly.Instance(mod).exports as Record<string, (p: number, n: number) => number>;
    expect(e.sumA!(64, 4)).toBe(10.5);
    expect(e.sumB!(72, 2)).toBe(5);
    // one type for both functions: the type section holds a single entry
    expect(bytes.slice(8, 11)).toEqual(Uint8Array.of(0x01, 0x07, 0x01));
    expect(() => moduleOf([], { data: [{ offset: PAGE_BYTES - 4, bytes: data }] })).toThrow(/overruns/);
    expect(() => moduleOf([sum("x"), sum("x")])).toThrow(/two exports named x/);
  });

  it("is deterministic: the same kernels give the same bytes", () => {
    const build = (): Uint8Array<ArrayBuffer> => moduleOf([
      func("scale", { x: "i32", n: "i32", a: "f64" }, [], (s, p) => {
        const i = s.local("i32", "i");
        return [forRange(i, 0, 16, [
          v128.store(i32.add(get(p.x), i32.shl(get(i), i32.const(3))),
            f64x2.mul(v128.load(i32.add(get(p.x), i32.shl(get(i), i32.const(3)))), f64x2.splat(get(p.a)))),
        ], 2)];
      }),
    ], { names: true });
    const a = build();
    const b = build();
    expect(a.length).toBeGreaterThan(40);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// Scalar ops

describe("scalar ops compute what JavaScript computes", () => {
  it("i32: arithmetic, bitwise, shifts, comparisons", () => {
    const binaryOps: [keyof typeof i32, (a: number, b: number) => number][] = [
      ["add", (a, b) => (a + b) | 0], ["sub", (a, b) => (a - b) | 0], ["mul", (a, b) => Math.imul(a, b)],
      ["and", (a, b) => a & b], ["or", (a, b) => a | b], ["xor", (a, b) => a ^ b],
      ["shl", (a, b) => a << b], ["shr_s", (a, b) => a >> b], ["shr_u", (a, b) => (a >>> b) | 0],
      ["rotl", (a, b) => ((a << (b & 31)) | (a >>> ((32 - (b & 31)) & 31))) | 0],
      ["rotr", (a, b) => ((a >>> (b & 31)) | (a << ((32 - (b & 31)) & 31))) | 0],
      ["eq", (a, b) => +(a === b)], ["ne", (a, b) => +(a !== b)],
      ["lt_s", (a, b) => +(a < b)], ["lt_u", (a, b) => +(a >>> 0 < b >>> 0)],
      ["gt_s", (a, b) => +(a > b)], ["gt_u", (a, b) => +(a >>> 0 > b >>> 0)],
      ["le_s", (a, b) => +(a <= b)], ["le_u", (a, b) => +(a >>> 0 <= b >>> 0)],
      ["ge_s", (a, b) => +(a >= b)], ["ge_u", (a, b) => +(a >>> 0 >= b >>> 0)],
      ["div_s", (a, b) => (a / b) | 0], ["div_u", (a, b) => ((a >>> 0) / (b >>> 0)) | 0],
      ["rem_s", (a, b) => (a % b) | 0], ["rem_u", (a, b) => ((a >>> 0) % (b >>> 0)) | 0],
    ];
    const fns = binaryOps.map(([name]) =>
      func(name, { a: "i32", b: "i32" }, ["i32"], (_, p) => [(i32[name] as (x: Expr<"i32">, y: Expr<"i32">) => Expr<"i32">)(get(p.a), get(p.b))]));
    const unaryOps: [keyof typeof i32, (a: number) => number][] = [
      ["eqz", (a) => +(a === 0)], ["clz", (a) => Math.clz32(a)], ["popcnt", (a) => [...(a >>> 0).toString(2)].filter((c) => c === "1").length],
      ["ctz", (a) => (a === 0 ? 32 : 31 - Math.clz32(a & -a))],
    ];
    fns.push(...unaryOps.map(([name]) =>
      func(name, { a: "i32" }, ["i32"], (_, p) => [(i32[name] as (x: Expr<"i32">) => Expr<"i32">)(get(p.a))])));
    fns.push(func("const", {}, ["i32"], () => [i32.add(i32.const(0xffffffff), i32.const(-0x80000000))]));
    const e = instantiate(fns);
    for (const [name, ref] of binaryOps) {
      for (const a of I32_VALUES) {
        for (const b of I32_VALUES) {
          const divides = name.startsWith("div") || name.startsWith("rem");
          if (divides && (b === 0 || (name === "div_s" && a === -0x80000000 && b === -1))) continue;
          expect((e[name] as (a: number, b: number) => number)(a, b), `${name}(${a}, ${b})`).toBe(ref(a, b));
        }
      }
    }
    for (const [name, ref] of unaryOps) {
      for (const a of I32_VALUES) expect((e[name] as (a: number) => number)(a), `${name}(${a})`).toBe(ref(a));
    }
    expect((e.const as () => number)()).toBe(0x7fffffff);
    expect(() => (e.div_s as (a: number, b: number) => number)(1, 0)).toThrow(WebAssembly.RuntimeError);
  });

  for (const t of ["f64", "f32"] as const) {
    it(`${t}: arithmetic, rounding, comparisons, conversions`, () => {
      const ops = t === "f64" ? f64 : f32;
      const r = t === "f64" ? (x: number) => x : Math.fround;
      const binaryOps: [string, (a: number, b: number) => number][] = [
        ["add", (a, b) => r(a + b)], ["sub", (a, b) => r(a - b)], ["mul", (a, b) => r(a * b)], ["div", (a, b) => r(a / b)],
        ["min", Math.min], ["max", Math.max],
        ["copysign", (a, b) => (b < 0 || Object.is(b, -0) ? -Math.abs(a) : Math.abs(a))],
      ];
      const compareOps: [string, (a: number, b: number) => number][] = [
        ["eq", (a, b) => +(a === b)], ["ne", (a, b) => +(a !== b)], ["lt", (a, b) => +(a < b)],
        ["gt", (a, b) => +(a > b)], ["le", (a, b) => +(a <= b)], ["ge", (a, b) => +(a >= b)],
      ];
      const unaryOps: [string, (a: number) => number][] = [
        ["abs", Math.abs], ["neg", (a) => -a], ["sqrt", (a) => r(Math.sqrt(a))], ["ceil", Math.ceil],
        ["floor", Math.floor], ["trunc", Math.trunc], ["nearest", nearest],
      ];
      type Bin = (x: Expr<typeof t>, y: Expr<typeof t>) => Code;
      type Un = (x: Expr<typeof t>) => Code;
      const fns = [
        ...binaryOps.map(([n]) => func(n, { a: t, b: t }, [t], (_, p) => [(ops[n as keyof typeof ops] as Bin)(get(p.a), get(p.b))])),
        ...compareOps.map(([n]) => func(n, { a: t, b: t }, ["i32"], (_, p) => [(ops[n as keyof typeof ops] as Bin)(get(p.a), get(p.b))])),
        ...unaryOps.map(([n]) => func(n, { a: t }, [t], (_, p) => [(ops[n as keyof typeof ops] as Un)(get(p.a))])),
        func("fromInt", { a: "i32" }, [t], (_, p) => [ops.convert_i32_s(get(p.a))]),
        func("toInt", { a: t }, ["i32"], (_, p) => [t === "f64" ? i32.trunc_f64_s(get(p.a) as Expr<"f64">) : i32.trunc_f32_s(get(p.a) as Expr<"f32">)]),
        func("third", {}, [t], () => [ops.const(1 / 3)]),
        func("roundTrip", { p: "i32", a: t }, [t], (_, p) => [
          (ops.store as (a: Expr<"i32">, v: Expr<typeof t>, o?: number) => Stmt)(get(p.p), get(p.a), 8),
          (ops.load as (a: Expr<"i32">, o?: number) => Expr<typeof t>)(i32.add(get(p.p), i32.const(8))),
        ]),
      ];
      const e = instantiate(fns) as Record<string, (...a: number[]) => number>;
      const values = F64_VALUES.map(r);
      for (const [n, ref] of binaryOps) {
        for (const a of values) {
          for (const b of values) {
            if (n === "copysign" && Number.isNaN(b)) continue; // the sign of a NaN is not observable from JS
            expect(same(e[n]!(a, b), ref(a, b)), `${t}.${n}(${a}, ${b}) = ${e[n]!(a, b)}`).toBe(true);
          }
        }
      }
      for (const [n, ref] of compareOps) for (const a of values) for (const b of values) expect(e[n]!(a, b), `${t}.${n}(${a}, ${b})`).toBe(ref(a, b));
      for (const [n, ref] of unaryOps) for (const a of values) expect(same(e[n]!(a), ref(a)), `${t}.${n}(${a}) = ${e[n]!(a)}`).toBe(true);
      for (const k of I32_VALUES) expect(e.fromInt!(k)).toBe(r(k));
      expect(e.toInt!(-7.9)).toBe(-7);
      expect(() => e.toInt!(NaN)).toThrow(WebAssembly.RuntimeError);
      expect(e.third!()).toBe(r(1 / 3));
      expect(e.roundTrip!(100, r(-2.75))).toBe(r(-2.75));
    });
  }

  it("conversions between f32 and f64, saturating truncation", () => {
    const e = instantiate([
      func("demote", { a: "f64" }, ["f32"], (_, p) => [f32.demote_f64(get(p.a))]),
      func("promote", { a: "f32" }, ["f64"], (_, p) => [f64.promote_f32(get(p.a))]),
      func("sat", { a: "f64" }, ["i32"], (_, p) => [i32.trunc_sat_f64_s(get(p.a))]),
    ]) as Record<string, (a: number) => number>;
    for (const x of F64_VALUES) expect(same(e.demote!(x), Math.fround(x))).toBe(true);
    expect(e.promote!(0.1)).toBe(Math.fround(0.1));
    expect([e.sat!(NaN), e.sat!(1e20), e.sat!(-1e20), e.sat!(-3.7)]).toEqual([0, 0x7fffffff, -0x80000000, -3]);
  });
});

// ---------------------------------------------------------------------------------------
// SIMD ops: each computes lane by lane what the scalar reference computes.

/** A function (a, b, out) that stores op(load a, load b) at out. */
function vectorBinary(name: string, f: (a: Expr<"v128">, b: Expr<"v128">) => Expr<"v128">): EncodedFunction {
  return func(name, { a: "i32", b: "i32", out: "i32" }, [], (_, p) => [
    v128.store(get(p.out), f(v128.load(get(p.a)), v128.load(get(p.b)))),
  ]);
}

function vectorUnary(name: string, f: (a: Expr<"v128">) => Expr<"v128">): EncodedFunction {
  return func(name, { a: "i32", out: "i32" }, [], (_, p) => [v128.store(get(p.out), f(v128.load(get(p.a))))]);
}

describe("SIMD ops compute lane by lane what JavaScript computes", () => {
  for (const shape of ["f64x2", "f32x4"] as const) {
    it(`${shape}: arithmetic, min/max, pmin/pmax, rounding, comparisons`, () => {
      const ops = shape === "f64x2" ? f64x2 : f32x4;
      const lanes = shape === "f64x2" ? 2 : 4;
      const r = shape === "f64x2" ? (x: number) => x : Math.fround;
      const binaryOps: [string, (a: number, b: number) => number][] = [
        ["add", (a, b) => r(a + b)], ["sub", (a, b) => r(a - b)], ["mul", (a, b) => r(a * b)], ["div", (a, b) => r(a / b)],
        ["min", Math.min], ["max", Math.max], ["pmin", (a, b) => (b < a ? b : a)], ["pmax", (a, b) => (a < b ? b : a)],
      ];
      const compareOps: [string, (a: number, b: number) => boolean][] = [
        ["eq", (a, b) => a === b], ["ne", (a, b) => a !== b], ["lt", (a, b) => a < b],
        ["gt", (a, b) => a > b], ["le", (a, b) => a <= b], ["ge", (a, b) => a >= b],
      ];
      const unaryOps: [string, (a: number) => number][] = [
        ["abs", Math.abs], ["neg", (a) => -a], ["sqrt", (a) => r(Math.sqrt(a))], ["ceil", Math.ceil],
        ["floor", Math.floor], ["trunc", Math.trunc], ["nearest", nearest],
      ];
      type Bin = (x: Expr<"v128">, y: Expr<"v128">) => Expr<"v128">;
      const e = instantiate([
        ...[...binaryOps, ...compareOps].map(([n]) => vectorBinary(n, ops[n as keyof typeof ops] as Bin)),
        ...unaryOps.map(([n]) => vectorUnary(n, ops[n as keyof typeof ops] as (x: Expr<"v128">) => Expr<"v128">)),
      ]);
      const F = shape === "f64x2" ? Float64Array : Float32Array;
      const mem = (at: number, n: number) => new F(e.memory.buffer, at, n);
      const values = F64_VALUES.map(r);
      // every pair of values meets in some lane
      const as: number[] = [];
      const bs: number[] = [];
      for (const a of values) for (const b of values) {
        as.push(a);
        bs.push(b);
      }
      while (as.length % lanes !== 0) {
        as.push(1);
        bs.push(1);
      }
      for (let at = 0; at < as.length; at += lanes) {
        mem(0, lanes).set(as.slice(at, at + lanes));
        mem(16, lanes).set(bs.slice(at, at + lanes));
        for (const [n, ref] of binaryOps) {
          (e[n] as (a: number, b: number, out: number) => void)(0, 16, 32);
          const out = mem(32, lanes);
          for (let l = 0; l < lanes; l++) {
            expect(same(out[l]!, ref(as[at + l]!, bs[at + l]!)), `${shape}.${n}(${as[at + l]}, ${bs[at + l]}) = ${out[l]}`).toBe(true);
          }
        }
        for (const [n, ref] of compareOps) {
          (e[n] as (a: number, b: number, out: number) => void)(0, 16, 32);
          const mask = new Int32Array(e.memory.buffer, 32, 4);
          for (let l = 0; l < 4; l++) {
            const lane = shape === "f64x2" ? l >> 1 : l;
            expect(mask[l], `${shape}.${n}(${as[at + lane]}, ${bs[at + lane]})`).toBe(ref(as[at + lane]!, bs[at + lane]!) ? -1 : 0);
          }
        }
        for (const [n, ref] of unaryOps) {
          (e[n] as (a: number, out: number) => void)(0, 32);
          const out = mem(32, lanes);
          for (let l = 0; l < lanes; l++) expect(same(out[l]!, ref(as[at + l]!)), `${shape}.${n}(${as[at + l]}) = ${out[l]}`).toBe(true);
        }
      }
    });

    it(`${shape}: splat, lanes, splat loads, zero loads`, () => {
      const ops = shape === "f64x2" ? f64x2 : f32x4;
      const t = shape === "f64x2" ? "f64" : "f32";
      const lanes = shape === "f64x2" ? 2 : 4;
      const bytes = 16 / lanes;
      const F = shape === "f64x2" ? Float64Array : Float32Array;
      const scalarLoad = (a: Expr<"i32">, o = 0) => (t === "f64" ? f64.load(a, o) : f32.load(a, o)) as Expr<typeof t>;
      const splat = ops.splat as (x: Expr<typeof t>) => Expr<"v128">;
      const extract = ops.extract_lane as (x: Expr<"v128">, l: number) => Expr<typeof t>;
      const replace = ops.replace_lane as (x: Expr<"v128">, l: number, v: Expr<typeof t>) => Expr<"v128">;
      const e = instantiate([
        func("splat", { a: "i32", out: "i32" }, [], (_, p) => [v128.store(get(p.out), splat(scalarLoad(get(p.a))))]),
        func("splatLoad", { a: "i32", out: "i32" }, [], (_, p) => [
          v128.store(get(p.out), t === "f64" ? v128.load64_splat(get(p.a), bytes) : v128.load32_splat(get(p.a), bytes)),
        ]),
        func("zeroLoad", { a: "i32", out: "i32" }, [], (_, p) => [
          v128.store(get(p.out), t === "f64" ? v128.load64_zero(get(p.a)) : v128.load32_zero(get(p.a))),
        ]),
        // out = reverse the lanes of a, through extract and replace
        func("reverse", { a: "i32", out: "i32" }, [], (s, p) => {
          const v = s.local("v128", "v");
          const w = s.local("v128", "w");
          return [
            set(v, v128.load(get(p.a))),
            set(w, get(v)),
            ...Array.from({ length: lanes }, (_, l) => set(w, replace(get(w), l, extract(get(v), lanes - 1 - l)))),
            v128.store(get(p.out), get(w), 16),
          ];
        }),
      ]);
      const m = new F(e.memory.buffer, 0, 16);
      m.set(Array.from({ length: 8 }, (_, k) => k + 0.5));
      (e.splat as (a: number, o: number) => void)(bytes * 3, 64);
      expect([...new F(e.memory.buffer, 64, lanes)]).toEqual(Array(lanes).fill(3.5));
      (e.splatLoad as (a: number, o: number) => void)(bytes * 3, 64);
      expect([...new F(e.memory.buffer, 64, lanes)]).toEqual(Array(lanes).fill(4.5));
      (e.zeroLoad as (a: number, o: number) => void)(bytes * 2, 64);
      expect([...new F(e.memory.buffer, 64, lanes)]).toEqual([2.5, ...Array(lanes - 1).fill(0)]);
      (e.reverse as (a: number, o: number) => void)(bytes, 64);
      expect([...new F(e.memory.buffer, 80, lanes)]).toEqual(Array.from({ length: lanes }, (_, l) => lanes - l + 0.5));
      expect(() => extract(splat(t === "f64" ? f64.const(1) as never : f32.const(1) as never), lanes)).toThrow(/lane/);
    });
  }

  it("i32x4: arithmetic, shifts, comparisons, reductions, conversions", () => {
    const binaryOps: [keyof typeof i32x4, (a: number, b: number) => number][] = [
      ["add", (a, b) => (a + b) | 0], ["sub", (a, b) => (a - b) | 0], ["mul", (a, b) => Math.imul(a, b)],
      ["min_s", Math.min], ["max_s", Math.max],
      ["eq", (a, b) => (a === b ? -1 : 0)], ["ne", (a, b) => (a !== b ? -1 : 0)], ["lt_s", (a, b) => (a < b ? -1 : 0)],
      ["gt_s", (a, b) => (a > b ? -1 : 0)], ["le_s", (a, b) => (a <= b ? -1 : 0)], ["ge_s", (a, b) => (a >= b ? -1 : 0)],
    ];
    const unaryOps: [keyof typeof i32x4, (a: number) => number][] = [["abs", (a) => Math.abs(a) | 0], ["neg", (a) => -a | 0]];
    const e = instantiate([
      ...binaryOps.map(([n]) => vectorBinary(n, i32x4[n] as (a: Expr<"v128">, b: Expr<"v128">) => Expr<"v128">)),
      ...unaryOps.map(([n]) => vectorUnary(n, i32x4[n] as (a: Expr<"v128">) => Expr<"v128">)),
      func("shifts", { a: "i32", out: "i32" }, [], (_, p) => [
        v128.store(get(p.out), i32x4.shl(v128.load(get(p.a)), i32.const(3))),
        v128.store(get(p.out), i32x4.shr_s(v128.load(get(p.a)), i32.const(33)), 16),
        v128.store(get(p.out), i32x4.shr_u(v128.load(get(p.a)), i32.const(4)), 32),
      ]),
      func("reduce", { a: "i32" }, ["i32"], (_, p) => [
        i32.add(i32.mul(i32x4.all_true(v128.load(get(p.a))), i32.const(100)),
          i32.add(i32x4.bitmask(v128.load(get(p.a))), i32.mul(v128.any_true(v128.load(get(p.a))), i32.const(1000)))),
      ]),
      func("lanes", { a: "i32" }, ["i32"], (_, p) => [
        i32x4.extract_lane(i32x4.replace_lane(i32x4.splat(i32.load(get(p.a))), 2, i32.const(9)), 2),
      ]),
      func("convert", { a: "i32", out: "i32" }, [], (_, p) => [
        v128.store(get(p.out), f32x4.convert_i32x4_s(v128.load(get(p.a)))),
        v128.store(get(p.out), i32x4.trunc_sat_f32x4_s(f32x4.convert_i32x4_s(v128.load(get(p.a)))), 16),
        v128.store(get(p.out), f64x2.convert_low_i32x4_s(v128.load(get(p.a))), 32),
      ]),
    ]);
    const m = (at: number) => new Int32Array(e.memory.buffer, at, 4);
    const values = I32_VALUES;
    for (let k = 0; k + 4 <= values.length; k += 2) {
      const a = values.slice(k, k + 4);
      const b = [...values].reverse().slice(k, k + 4);
      m(0).set(a);
      m(16).set(b);
      for (const [n, ref] of binaryOps) {
        (e[n] as (a: number, b: number, o: number) => void)(0, 16, 32);
        expect([...m(32)], `i32x4.${n}(${a}; ${b})`).toEqual(a.map((x, l) => ref(x, b[l]!)));
      }
      for (const [n, ref] of unaryOps) {
        (e[n] as (a: number, o: number) => void)(0, 32);
        expect([...m(32)], `i32x4.${n}`).toEqual(a.map(ref));
      }
      (e.shifts as (a: number, o: number) => void)(0, 32);
      expect([...m(32), ...m(48), ...m(64)]).toEqual([...a.map((x) => x << 3), ...a.map((x) => x >> 1), ...a.map((x) => (x >>> 4) | 0)]);
      (e.convert as (a: number, o: number) => void)(0, 32);
      expect([...new Float32Array(e.memory.buffer, 32, 4)]).toEqual(a.map(Math.fround));
      expect([...new Float64Array(e.memory.buffer, 64, 2)]).toEqual(a.slice(0, 2));
    }
    const reduce = e.reduce as (a: number) => number;
    m(0).set([-1, 5, -7, 0]);
    expect(reduce(0)).toBe(1000 + 0b0101);
    m(0).set([1, 2, 3, -4]);
    expect(reduce(0)).toBe(1000 + 100 + 0b1000);
    m(0).set([0, 0, 0, 0]);
    expect(reduce(0)).toBe(0);
    m(0).set([41, 0, 0, 0]);
    expect((e.lanes as (a: number) => number)(0)).toBe(9);
  });

  it("v128: constants, bitwise ops, bitselect, f32/f64 promote and demote", () => {
    const e = instantiate([
      vectorBinary("and", v128.and), vectorBinary("or", v128.or), vectorBinary("xor", v128.xor),
      vectorBinary("andnot", v128.andnot), vectorUnary("not", v128.not),
      vectorBinary("select", (a, b) => v128.bitselect(a, b, v128.const([...Array(8).fill(0xff), ...Array(8).fill(0)]))),
      vectorUnary("promote", f64x2.promote_low_f32x4), vectorUnary("demote", f32x4.demote_f64x2_zero),
      func("konst", { out: "i32" }, [], (_, p) => {
        const bytes: number[] = [];
        f64Bytes(1.25, bytes);
        f64Bytes(-3, bytes);
        return [v128.store(get(p.out), v128.const(bytes))];
      }),
    ]);
    const u = (at: number) => new Uint32Array(e.memory.buffer, at, 4);
    const a = [0xf0f0f0f0, 0x12345678, 0xffffffff, 0];
    const b = [0x0ff00ff0, 0x87654321, 0x0000ffff, 0xdeadbeef];
    u(0).set(a);
    u(16).set(b);
    const check = (n: string, ref: (x: number, y: number, l: number) => number) => {
      (e[n] as (a: number, b: number, o: number) => void)(0, 16, 32);
      expect([...u(32)], n).toEqual(a.map((x, l) => ref(x, b[l]!, l) >>> 0));
    };
    check("and", (x, y) => x & y);
    check("or", (x, y) => x | y);
    check("xor", (x, y) => x ^ y);
    check("andnot", (x, y) => x & ~y);
    check("select", (x, y, l) => (l < 2 ? x : y));
    (e.not as (a: number, o: number) => void)(0, 32);
    expect([...u(32)]).toEqual(a.map((x) => ~x >>> 0));
    new Float32Array(e.memory.buffer, 0, 4).set([0.1, -2.5, 7, 8]);
    (e.promote as (a: number, o: number) => void)(0, 32);
    expect([...new Float64Array(e.memory.buffer, 32, 2)]).toEqual([Math.fround(0.1), -2.5]);
    new Float64Array(e.memory.buffer, 0, 2).set([0.1, 1e300]);
    (e.demote as (a: number, o: number) => void)(0, 32);
    expect([...new Float32Array(e.memory.buffer, 32, 4)]).toEqual([Math.fround(0.1), Infinity, 0, 0]);
    (e.konst as (o: number) => void)(48);
    expect([...new Float64Array(e.memory.buffer, 48, 2)]).toEqual([1.25, -3]);
    expect(() => v128.const([1, 2, 3])).toThrow(/16 bytes/);
  });
});

// ---------------------------------------------------------------------------------------

describe("control flow and memory", () => {
  it("loops, nested blocks with branches to outer labels, if/else, select, tee", () => {
    const e = instantiate([
      // Σ_{i < n} i, with a static-bound forRange (n fixed) and a dynamic doWhile
      func("triangle", {}, ["i32"], (s) => {
        const i = s.local("i32", "i");
        const acc = s.local("i32", "acc");
        return [forRange(i, 0, 10, [set(acc, i32.add(get(acc), get(i)))]), get(acc)];
      }),
      func("stepped", {}, ["i32"], (s) => {
        const i = s.local("i32", "i");
        const acc = s.local("i32", "acc");
        return [
          forRange(i, 3, 20, [set(acc, i32.add(get(acc), get(i)))], 4), // 3 + 7 + 11 + 15 + 19
          forRange(i, 5, 6, [set(acc, i32.add(get(acc), i32.mul(get(i), i32.const(100))))]), // once, i = 5
          forRange(i, 6, 6, [set(acc, i32.const(-1))]), // never
          get(acc),
        ];
      }),
      // the index of the first row r of an n x n i32 matrix with a negative entry, else -1:
      // a branch from the inner loop out of both loops
      func("firstNegativeRow", { p: "i32", n: "i32" }, ["i32"], (s, p) => {
        const r = s.local("i32", "r");
        const c = s.local("i32", "c");
        const found = s.local("i32", "found");
        return [
          set(found, i32.const(-1)),
          block((done) => [
            if_(i32.eqz(get(p.n)), [br(done)]),
            loop((rows) => [
              set(c, i32.const(0)),
              loop((cols) => [
                if_(i32.lt_s(i32.load(i32.add(get(p.p), i32.shl(i32.add(i32.mul(get(r), get(p.n)), get(c)), i32.const(2)))), i32.const(0)), [
                  set(found, get(r)),
                  br(done),
                ]),
                brIf(cols, i32.lt_s(tee(c, i32.add(get(c), i32.const(1))), get(p.n))),
              ]),
              brIf(rows, i32.lt_s(tee(r, i32.add(get(r), i32.const(1))), get(p.n))),
            ]),
          ]),
          get(found),
        ];
      }),
      func("sign", { x: "f64" }, ["f64"], (s, p) => {
        const out = s.local("f64", "out");
        return [
          if_(f64.lt(get(p.x), f64.const(0)), [set(out, f64.const(-1))], [
            set(out, select(f64.const(1), f64.const(0), f64.gt(get(p.x), f64.const(0)))),
          ]),
          nop(),
          drop(f64.const(5)),
          seq([]),
          get(out),
        ];
      }),
    ]);
    expect((e.triangle as () => number)()).toBe(45);
    expect((e.stepped as () => number)()).toBe(3 + 7 + 11 + 15 + 19 + 500);
    const m = new Int32Array(e.memory.buffer, 0, 16);
    const first = e.firstNegativeRow as (p: number, n: number) => number;
    m.set([1, 2, 3, 4, 5, 6, 7, 8, 9, -1, 1, 1, -2, 0, 0, 0]);
    expect(first(0, 4)).toBe(2);
    expect(first(0, 2)).toBe(-1);
    expect(first(0, 0)).toBe(-1);
    m[1] = -5;
    expect(first(0, 4)).toBe(0);
    const sign = e.sign as (x: number) => number;
    expect([sign(-3), sign(0), sign(2), sign(NaN)]).toEqual([-1, 0, 1, 0]);
  });

  it("loads and stores with static offsets, memory.fill/copy/size/grow", () => {
    const e = instantiate([
      func("shift", { p: "i32" }, [], (_, p) => [f64.store(get(p.p), f64.load(get(p.p), 8), 24)]),
      func("fill", { p: "i32", n: "i32" }, [], (_, p) => [memory.fill(get(p.p), i32.const(0x01), get(p.n))]),
      func("copy", { d: "i32", s: "i32", n: "i32" }, [], (_, p) => [memory.copy(get(p.d), get(p.s), get(p.n))]),
      func("grow", { n: "i32" }, ["i32"], (_, p) => [i32.add(i32.mul(memory.grow(get(p.n)), i32.const(1000)), memory.size())]),
    ]);
    const f = new Float64Array(e.memory.buffer, 0, 8);
    f.set([1, 2, 3, 4, 5, 6, 7, 8]);
    (e.shift as (p: number) => void)(8); // f[1 + 3] = f[1 + 1]
    expect([...f]).toEqual([1, 2, 3, 4, 3, 6, 7, 8]);
    (e.copy as (d: number, s: number, n: number) => void)(0, 8, 24); // overlapping: f[0..3) = f[1..4)
    expect([...new Float64Array(e.memory.buffer, 0, 5)]).toEqual([2, 3, 4, 4, 3]);
    (e.fill as (p: number, n: number) => void)(100, 3);
    expect([...new Uint8Array(e.memory.buffer, 99, 5)]).toEqual([0, 1, 1, 1, 0]);
    expect((e.grow as (n: number) => number)(2)).toBe(1000 + 3);
    expect(e.memory.buffer.byteLength).toBe(3 * PAGE_BYTES);
  });
});

describe("builder errors name the op", () => {
  it("rejects operands of the wrong type, bad immediates and misplaced values", () => {
    expect(() => f64x2.add(f64.const(1) as unknown as Expr<"v128">, f64x2.splat(f64.const(1)))).toThrow(/f64x2\.add: operand 1 is f64, expected v128/);
    expect(() => i32.const(2 ** 32)).toThrow(/i32\.const/);
    expect(() => f64.load(i32.const(0), -8)).toThrow(/offset/);
    expect(() => block(() => [f64.const(1) as unknown as Stmt])).toThrow(/block: item 1 leaves a f64/);
    expect(() => func("f", {}, ["f64"], () => [i32.const(1)])).toThrow(/f: the result is i32, expected f64/);
    expect(() => func("f", {}, [], () => [i32.const(1)])).toThrow(/statement 1 is i32, expected none/);
    expect(() => func("f", { 0: "i32" }, [], () => [])).toThrow(/reorder/);
    const x: Local<"f64"> = { index: 0, type: "f64", name: "x" };
    expect(() => set(x, i32.const(1) as unknown as Expr<"f64">)).toThrow(/local\.set x: operand 1 is i32, expected f64/);
  });

  it("rejects a branch to a label that does not enclose it", () => {
    let escaped: Stmt | null = null;
    const inner = loop((l) => {
      escaped = br(l);
      return [];
    });
    expect(() => func("f", {}, [], () => [inner, escaped!])).toThrow(/does not enclose/);
  });
});
