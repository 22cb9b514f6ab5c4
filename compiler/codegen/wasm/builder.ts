// A small structured builder for WebAssembly function bodies, so that kernel generators read
// as the loops they emit: `set(acc, f64x2.add(get(acc), f64x2.mul(a, b)))`.
//
// Code is a tree of plain data: an instruction with its operands, a block, a loop, an if or
// a branch. Each node knows the type it leaves on the stack ("none" for a statement), and
// every constructor checks its operands' types, both statically (Expr<"v128"> is not an
// Expr<"f64">) and when it runs, so a generator bug fails where it is made, with the op's
// name, rather than as an invalid module. Branches name their target Label; the encoder
// turns it into a relative depth and rejects a label that does not enclose the branch.
//
// The ops are the binary format's, grouped by type as in the text format: i32.add,
// f64.load, v128.load64_splat, f64x2.mul, f32x4.extract_lane, ... Loads and stores take a
// byte address (Expr<"i32">) and a static byte offset, which the encoder puts in the
// instruction (no address arithmetic at run time); the alignment hint is the natural one
// (a hint only: unaligned addresses work, and V8 ignores it).

import { type EncodedFunction, type ValType, BLOCKTYPE_EMPTY, append, f32Bytes, f64Bytes, sleb, uleb } from "./encoder.js";

export type { ValType } from "./encoder.js";

/** What a piece of code leaves on the stack: one value, or nothing. */
export type Result = ValType | "none";

export interface Label {
  readonly kind: "block" | "loop" | "if";
}

type Node =
  | { readonly kind: "op"; readonly name: string; readonly code: readonly number[]; readonly args: readonly Code[] }
  | { readonly kind: "seq"; readonly body: readonly Code[] }
  | { readonly kind: "block" | "loop"; readonly label: Label; readonly body: readonly Code[] }
  | { readonly kind: "if"; readonly label: Label; readonly cond: Code; readonly then: readonly Code[]; readonly else: readonly Code[] }
  | { readonly kind: "br"; readonly label: Label; readonly cond: Code | null };

/** Code that leaves `result` on the stack. */
export interface Code<T extends Result = Result> {
  readonly result: T;
  readonly node: Node;
}

/** An expression: code that leaves one value of type T. */
export type Expr<T extends ValType = ValType> = Code<T>;
/** A statement: code that leaves nothing. */
export type Stmt = Code<"none">;

/** A parameter or local of a function (its index in the function's locals). */
export interface Local<T extends ValType = ValType> {
  readonly index: number;
  readonly type: T;
  readonly name: string;
}

// ---------------------------------------------------------------------------------------
// Instructions

function op<T extends Result>(name: string, result: T, params: readonly ValType[], args: readonly Code[], code: readonly number[]): Code<T> {
  if (args.length !== params.length) throw new Error(`wasm builder: ${name} takes ${params.length} operands, got ${args.length}`);
  args.forEach((a, i) => {
    if (a.result !== params[i]) throw new Error(`wasm builder: ${name}: operand ${i + 1} is ${a.result}, expected ${params[i]}`);
  });
  return { result, node: { kind: "op", name, code, args } };
}

const SIMD_PREFIX = 0xfd;
const BULK_PREFIX = 0xfc;

function simd(opcode: number, ...imm: number[]): number[] {
  const out = [SIMD_PREFIX];
  uleb(opcode, out);
  return [...out, ...imm];
}

function memarg(bytes: number, offset: number): number[] {
  const out: number[] = [];
  uleb(Math.log2(bytes), out);
  uleb(offset, out);
  return out;
}

function checkOffset(name: string, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) throw new RangeError(`wasm builder: ${name}: bad offset ${offset}`);
}

function checkLane(name: string, lane: number, lanes: number): void {
  if (!Number.isInteger(lane) || lane < 0 || lane >= lanes) throw new RangeError(`wasm builder: ${name}: lane ${lane} out of [0, ${lanes})`);
}

const unary = <A extends ValType, R extends ValType>(name: string, a: A, r: R, code: readonly number[]) =>
  (x: Expr<A>): Expr<R> => op(name, r, [a], [x], code);
const binary = <A extends ValType, R extends ValType>(name: string, a: A, r: R, code: readonly number[]) =>
  (x: Expr<A>, y: Expr<A>): Expr<R> => op(name, r, [a, a], [x, y], code);

const load = <T extends ValType>(name: string, t: T, bytes: number, code: readonly number[]) =>
  (addr: Expr<"i32">, offset = 0): Expr<T> => {
    checkOffset(name, offset);
    return op(name, t, ["i32"], [addr], [...code, ...memarg(bytes, offset)]);
  };
const store = <T extends ValType>(name: string, t: T, bytes: number, code: readonly number[]) =>
  (addr: Expr<"i32">, value: Expr<T>, offset = 0): Stmt => {
    checkOffset(name, offset);
    return op(name, "none", ["i32", t], [addr, value], [...code, ...memarg(bytes, offset)]);
  };

/** The numeric ops shared by f32 and f64 (opcodes from `base`: abs, the first unary one). */
function floatOps<T extends "f32" | "f64">(t: T, base: number, cmp: number) {
  const p = t;
  return {
    abs: unary(`${p}.abs`, t, t, [base]),
    neg: unary(`${p}.neg`, t, t, [base + 1]),
    ceil: unary(`${p}.ceil`, t, t, [base + 2]),
    floor: unary(`${p}.floor`, t, t, [base + 3]),
    trunc: unary(`${p}.trunc`, t, t, [base + 4]),
    nearest: unary(`${p}.nearest`, t, t, [base + 5]),
    sqrt: unary(`${p}.sqrt`, t, t, [base + 6]),
    add: binary(`${p}.add`, t, t, [base + 7]),
    sub: binary(`${p}.sub`, t, t, [base + 8]),
    mul: binary(`${p}.mul`, t, t, [base + 9]),
    div: binary(`${p}.div`, t, t, [base + 10]),
    min: binary(`${p}.min`, t, t, [base + 11]),
    max: binary(`${p}.max`, t, t, [base + 12]),
    copysign: binary(`${p}.copysign`, t, t, [base + 13]),
    eq: binary(`${p}.eq`, t, "i32", [cmp]),
    ne: binary(`${p}.ne`, t, "i32", [cmp + 1]),
    lt: binary(`${p}.lt`, t, "i32", [cmp + 2]),
    gt: binary(`${p}.gt`, t, "i32", [cmp + 3]),
    le: binary(`${p}.le`, t, "i32", [cmp + 4]),
    ge: binary(`${p}.ge`, t, "i32", [cmp + 5]),
  };
}

export const i32 = {
  /** n in [-2^31, 2^32): an unsigned value above 2^31 - 1 is the same bits as a negative one. */
  const(n: number): Expr<"i32"> {
    if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw new RangeError(`wasm builder: i32.const: not an i32: ${n}`);
    const code = [0x41];
    sleb(n > 0x7fffffff ? n - 0x100000000 : n, code);
    return op("i32.const", "i32", [], [], code);
  },
  load: load("i32.load", "i32", 4, [0x28]),
  store: store("i32.store", "i32", 4, [0x36]),
  eqz: unary("i32.eqz", "i32", "i32", [0x45]),
  eq: binary("i32.eq", "i32", "i32", [0x46]),
  ne: binary("i32.ne", "i32", "i32", [0x47]),
  lt_s: binary("i32.lt_s", "i32", "i32", [0x48]),
  lt_u: binary("i32.lt_u", "i32", "i32", [0x49]),
  gt_s: binary("i32.gt_s", "i32", "i32", [0x4a]),
  gt_u: binary("i32.gt_u", "i32", "i32", [0x4b]),
  le_s: binary("i32.le_s", "i32", "i32", [0x4c]),
  le_u: binary("i32.le_u", "i32", "i32", [0x4d]),
  ge_s: binary("i32.ge_s", "i32", "i32", [0x4e]),
  ge_u: binary("i32.ge_u", "i32", "i32", [0x4f]),
  clz: unary("i32.clz", "i32", "i32", [0x67]),
  ctz: unary("i32.ctz", "i32", "i32", [0x68]),
  popcnt: unary("i32.popcnt", "i32", "i32", [0x69]),
  add: binary("i32.add", "i32", "i32", [0x6a]),
  sub: binary("i32.sub", "i32", "i32", [0x6b]),
  mul: binary("i32.mul", "i32", "i32", [0x6c]),
  div_s: binary("i32.div_s", "i32", "i32", [0x6d]),
  div_u: binary("i32.div_u", "i32", "i32", [0x6e]),
  rem_s: binary("i32.rem_s", "i32", "i32", [0x6f]),
  rem_u: binary("i32.rem_u", "i32", "i32", [0x70]),
  and: binary("i32.and", "i32", "i32", [0x71]),
  or: binary("i32.or", "i32", "i32", [0x72]),
  xor: binary("i32.xor", "i32", "i32", [0x73]),
  shl: binary("i32.shl", "i32", "i32", [0x74]),
  shr_s: binary("i32.shr_s", "i32", "i32", [0x75]),
  shr_u: binary("i32.shr_u", "i32", "i32", [0x76]),
  rotl: binary("i32.rotl", "i32", "i32", [0x77]),
  rotr: binary("i32.rotr", "i32", "i32", [0x78]),
  trunc_f32_s: unary("i32.trunc_f32_s", "f32", "i32", [0xa8]),
  trunc_f64_s: unary("i32.trunc_f64_s", "f64", "i32", [0xaa]),
  /** Saturating (never traps): NaN is 0, out-of-range values clamp. */
  trunc_sat_f64_s: unary("i32.trunc_sat_f64_s", "f64", "i32", [BULK_PREFIX, 2]),
};

export const f32 = {
  const(x: number): Expr<"f32"> {
    const code = [0x43];
    f32Bytes(x, code);
    return op("f32.const", "f32", [], [], code);
  },
  load: load("f32.load", "f32", 4, [0x2a]),
  store: store("f32.store", "f32", 4, [0x38]),
  ...floatOps("f32", 0x8b, 0x5b),
  convert_i32_s: unary("f32.convert_i32_s", "i32", "f32", [0xb2]),
  demote_f64: unary("f32.demote_f64", "f64", "f32", [0xb6]),
};

export const f64 = {
  const(x: number): Expr<"f64"> {
    const code = [0x44];
    f64Bytes(x, code);
    return op("f64.const", "f64", [], [], code);
  },
  load: load("f64.load", "f64", 8, [0x2b]),
  store: store("f64.store", "f64", 8, [0x39]),
  ...floatOps("f64", 0x99, 0x61),
  convert_i32_s: unary("f64.convert_i32_s", "i32", "f64", [0xb7]),
  promote_f32: unary("f64.promote_f32", "f32", "f64", [0xbb]),
};

export const v128 = {
  /** 16 bytes, little-endian lane order. */
  const(bytes: readonly number[]): Expr<"v128"> {
    if (bytes.length !== 16 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
      throw new RangeError("wasm builder: v128.const takes 16 bytes");
    }
    return op("v128.const", "v128", [], [], [...simd(0x0c), ...bytes]);
  },
  load: load("v128.load", "v128", 16, simd(0x00)),
  /** One f32 (4 bytes) in every lane. */
  load32_splat: load("v128.load32_splat", "v128", 4, simd(0x09)),
  /** One f64 (8 bytes) in both lanes. */
  load64_splat: load("v128.load64_splat", "v128", 8, simd(0x0a)),
  store: store("v128.store", "v128", 16, simd(0x0b)),
  /** 4 bytes into lane 0, zeros above. */
  load32_zero: load("v128.load32_zero", "v128", 4, simd(0x5c)),
  /** 8 bytes into the low half, zeros above. */
  load64_zero: load("v128.load64_zero", "v128", 8, simd(0x5d)),
  not: unary("v128.not", "v128", "v128", simd(0x4d)),
  and: binary("v128.and", "v128", "v128", simd(0x4e)),
  andnot: binary("v128.andnot", "v128", "v128", simd(0x4f)),
  or: binary("v128.or", "v128", "v128", simd(0x50)),
  xor: binary("v128.xor", "v128", "v128", simd(0x51)),
  /** Bits of a where mask is 1, of b where it is 0. */
  bitselect: (a: Expr<"v128">, b: Expr<"v128">, mask: Expr<"v128">): Expr<"v128"> =>
    op("v128.bitselect", "v128", ["v128", "v128", "v128"], [a, b, mask], simd(0x52)),
  any_true: unary("v128.any_true", "v128", "i32", simd(0x53)),
};

export const i8x16 = {
  /** Bytes of a (0-15) and b (16-31), picked by the 16 lane indices. */
  shuffle(a: Expr<"v128">, b: Expr<"v128">, lanes: readonly number[]): Expr<"v128"> {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
      throw new RangeError("wasm builder: i8x16.shuffle takes 16 lane indices in [0, 32)");
    }
    return op("i8x16.shuffle", "v128", ["v128", "v128"], [a, b], simd(0x0d, ...lanes));
  },
};

/** The lane ops and lanewise float arithmetic of f32x4 and f64x2 (the opcodes differ). */
function floatVectorOps<S extends "f32" | "f64">(
  shape: string, scalar: S, lanes: number,
  o: { splat: number; extract: number; replace: number; cmp: number; abs: number; ceil: number; floor: number; trunc: number; nearest: number },
) {
  const v = "v128" as const;
  return {
    splat: unary(`${shape}.splat`, scalar, v, simd(o.splat)),
    extract_lane(x: Expr<"v128">, lane: number): Expr<S> {
      checkLane(`${shape}.extract_lane`, lane, lanes);
      return op(`${shape}.extract_lane`, scalar, [v], [x], simd(o.extract, lane));
    },
    replace_lane(x: Expr<"v128">, lane: number, value: Expr<S>): Expr<"v128"> {
      checkLane(`${shape}.replace_lane`, lane, lanes);
      return op(`${shape}.replace_lane`, v, [v, scalar], [x, value], simd(o.replace, lane));
    },
    eq: binary(`${shape}.eq`, v, v, simd(o.cmp)),
    ne: binary(`${shape}.ne`, v, v, simd(o.cmp + 1)),
    lt: binary(`${shape}.lt`, v, v, simd(o.cmp + 2)),
    gt: binary(`${shape}.gt`, v, v, simd(o.cmp + 3)),
    le: binary(`${shape}.le`, v, v, simd(o.cmp + 4)),
    ge: binary(`${shape}.ge`, v, v, simd(o.cmp + 5)),
    ceil: unary(`${shape}.ceil`, v, v, simd(o.ceil)),
    floor: unary(`${shape}.floor`, v, v, simd(o.floor)),
    trunc: unary(`${shape}.trunc`, v, v, simd(o.trunc)),
    nearest: unary(`${shape}.nearest`, v, v, simd(o.nearest)),
    abs: unary(`${shape}.abs`, v, v, simd(o.abs)),
    neg: unary(`${shape}.neg`, v, v, simd(o.abs + 1)),
    sqrt: unary(`${shape}.sqrt`, v, v, simd(o.abs + 3)),
    add: binary(`${shape}.add`, v, v, simd(o.abs + 4)),
    sub: binary(`${shape}.sub`, v, v, simd(o.abs + 5)),
    mul: binary(`${shape}.mul`, v, v, simd(o.abs + 6)),
    div: binary(`${shape}.div`, v, v, simd(o.abs + 7)),
    /** NaN if either is NaN; -0 below +0 (Math.min). */
    min: binary(`${shape}.min`, v, v, simd(o.abs + 8)),
    max: binary(`${shape}.max`, v, v, simd(o.abs + 9)),
    /** b < a ? b : a (the first operand on NaN and ties). */
    pmin: binary(`${shape}.pmin`, v, v, simd(o.abs + 10)),
    /** a < b ? b : a. */
    pmax: binary(`${shape}.pmax`, v, v, simd(o.abs + 11)),
  };
}

export const f32x4 = {
  ...floatVectorOps("f32x4", "f32", 4, { splat: 0x13, extract: 0x1f, replace: 0x20, cmp: 0x41, abs: 0xe0, ceil: 0x67, floor: 0x68, trunc: 0x69, nearest: 0x6a }),
  /** The two f64 lanes rounded to f32 in lanes 0 and 1, zeros above. */
  demote_f64x2_zero: unary("f32x4.demote_f64x2_zero", "v128", "v128", simd(0x5e)),
  convert_i32x4_s: unary("f32x4.convert_i32x4_s", "v128", "v128", simd(0xfa)),
};

export const f64x2 = {
  ...floatVectorOps("f64x2", "f64", 2, { splat: 0x14, extract: 0x21, replace: 0x22, cmp: 0x47, abs: 0xec, ceil: 0x74, floor: 0x75, trunc: 0x7a, nearest: 0x94 }),
  /** Lanes 0 and 1 of an f32x4, widened. */
  promote_low_f32x4: unary("f64x2.promote_low_f32x4", "v128", "v128", simd(0x5f)),
  convert_low_i32x4_s: unary("f64x2.convert_low_i32x4_s", "v128", "v128", simd(0xfe)),
};

export const i32x4 = {
  splat: unary("i32x4.splat", "i32", "v128", simd(0x11)),
  extract_lane(x: Expr<"v128">, lane: number): Expr<"i32"> {
    checkLane("i32x4.extract_lane", lane, 4);
    return op("i32x4.extract_lane", "i32", ["v128"], [x], simd(0x1b, lane));
  },
  replace_lane(x: Expr<"v128">, lane: number, value: Expr<"i32">): Expr<"v128"> {
    checkLane("i32x4.replace_lane", lane, 4);
    return op("i32x4.replace_lane", "v128", ["v128", "i32"], [x, value], simd(0x1c, lane));
  },
  eq: binary("i32x4.eq", "v128", "v128", simd(0x37)),
  ne: binary("i32x4.ne", "v128", "v128", simd(0x38)),
  lt_s: binary("i32x4.lt_s", "v128", "v128", simd(0x39)),
  gt_s: binary("i32x4.gt_s", "v128", "v128", simd(0x3b)),
  le_s: binary("i32x4.le_s", "v128", "v128", simd(0x3d)),
  ge_s: binary("i32x4.ge_s", "v128", "v128", simd(0x3f)),
  abs: unary("i32x4.abs", "v128", "v128", simd(0xa0)),
  neg: unary("i32x4.neg", "v128", "v128", simd(0xa1)),
  all_true: unary("i32x4.all_true", "v128", "i32", simd(0xa3)),
  bitmask: unary("i32x4.bitmask", "v128", "i32", simd(0xa4)),
  shl: (x: Expr<"v128">, n: Expr<"i32">): Expr<"v128"> => op("i32x4.shl", "v128", ["v128", "i32"], [x, n], simd(0xab)),
  shr_s: (x: Expr<"v128">, n: Expr<"i32">): Expr<"v128"> => op("i32x4.shr_s", "v128", ["v128", "i32"], [x, n], simd(0xac)),
  shr_u: (x: Expr<"v128">, n: Expr<"i32">): Expr<"v128"> => op("i32x4.shr_u", "v128", ["v128", "i32"], [x, n], simd(0xad)),
  add: binary("i32x4.add", "v128", "v128", simd(0xae)),
  sub: binary("i32x4.sub", "v128", "v128", simd(0xb1)),
  mul: binary("i32x4.mul", "v128", "v128", simd(0xb5)),
  min_s: binary("i32x4.min_s", "v128", "v128", simd(0xb6)),
  max_s: binary("i32x4.max_s", "v128", "v128", simd(0xb8)),
  trunc_sat_f32x4_s: unary("i32x4.trunc_sat_f32x4_s", "v128", "v128", simd(0xf8)),
};

/** The integer lanes of an f64x2's bits (the exponent arithmetic of a vector exp). */
export const i64x2 = {
  /** Each 64-bit lane shifted left by n mod 64. */
  shl: (x: Expr<"v128">, n: Expr<"i32">): Expr<"v128"> => op("i64x2.shl", "v128", ["v128", "i32"], [x, n], simd(0xcb)),
  add: binary("i64x2.add", "v128", "v128", simd(0xce)),
  sub: binary("i64x2.sub", "v128", "v128", simd(0xd1)),
};

export const memory = {
  /** The memory's size in pages. */
  size: (): Expr<"i32"> => op("memory.size", "i32", [], [], [0x3f, 0x00]),
  /** Grows by n pages: the old size, or -1 when it cannot. */
  grow: (pages: Expr<"i32">): Expr<"i32"> => op("memory.grow", "i32", ["i32"], [pages], [0x40, 0x00]),
  /** bytes [dst, dst + n) = the low byte of value. */
  fill: (dst: Expr<"i32">, value: Expr<"i32">, n: Expr<"i32">): Stmt =>
    op("memory.fill", "none", ["i32", "i32", "i32"], [dst, value, n], [BULK_PREFIX, 11, 0x00]),
  /** bytes [dst, dst + n) = bytes [src, src + n) (overlapping ranges are fine). */
  copy: (dst: Expr<"i32">, src: Expr<"i32">, n: Expr<"i32">): Stmt =>
    op("memory.copy", "none", ["i32", "i32", "i32"], [dst, src, n], [BULK_PREFIX, 10, 0x00, 0x00]),
};

// ---------------------------------------------------------------------------------------
// Locals, parametric ops and control flow

export function get<T extends ValType>(l: Local<T>): Expr<T> {
  const code = [0x20];
  uleb(l.index, code);
  return op(`local.get ${l.name}`, l.type, [], [], code);
}

export function set<T extends ValType>(l: Local<T>, value: Expr<T>): Stmt {
  const code = [0x21];
  uleb(l.index, code);
  return op(`local.set ${l.name}`, "none", [l.type], [value], code);
}

/** Sets the local and leaves the value on the stack. */
export function tee<T extends ValType>(l: Local<T>, value: Expr<T>): Expr<T> {
  const code = [0x22];
  uleb(l.index, code);
  return op(`local.tee ${l.name}`, l.type, [l.type], [value], code);
}

/** cond ? a : b, evaluating both. */
export function select<T extends ValType>(a: Expr<T>, b: Expr<T>, cond: Expr<"i32">): Expr<T> {
  return op("select", a.result, [a.result, a.result, "i32"], [a, b, cond], [0x1b]);
}

export function drop(x: Expr): Stmt {
  return op("drop", "none", [x.result as ValType], [x], [0x1a]);
}

export const nop = (): Stmt => op("nop", "none", [], [], [0x01]);
export const unreachable = (): Stmt => op("unreachable", "none", [], [], [0x00]);

function statements(what: string, body: readonly Code[]): readonly Code[] {
  body.forEach((s, i) => {
    if (s.result !== "none") throw new Error(`wasm builder: ${what}: item ${i + 1} leaves a ${s.result} on the stack`);
  });
  return body;
}

/** Statements in sequence, with no block around them. */
export function seq(body: readonly Stmt[]): Stmt {
  return { result: "none", node: { kind: "seq", body: statements("seq", body) } };
}

/** A block: a branch to its label jumps past its end. */
export function block(body: (exit: Label) => readonly Stmt[]): Stmt {
  const label: Label = { kind: "block" };
  return { result: "none", node: { kind: "block", label, body: statements("block", body(label)) } };
}

/** A loop: a branch to its label jumps back to its start; falling off the end leaves it. */
export function loop(body: (repeat: Label) => readonly Stmt[]): Stmt {
  const label: Label = { kind: "loop" };
  return { result: "none", node: { kind: "loop", label, body: statements("loop", body(label)) } };
}

export function if_(cond: Expr<"i32">, then: readonly Stmt[], otherwise: readonly Stmt[] = []): Stmt {
  if (cond.result !== "i32") throw new Error(`wasm builder: if: the condition is ${cond.result}, expected i32`);
  const label: Label = { kind: "if" };
  return { result: "none", node: { kind: "if", label, cond, then: statements("if", then), else: statements("else", otherwise) } };
}

export function br(label: Label): Stmt {
  return { result: "none", node: { kind: "br", label, cond: null } };
}

export function brIf(label: Label, cond: Expr<"i32">): Stmt {
  if (cond.result !== "i32") throw new Error(`wasm builder: br_if: the condition is ${cond.result}, expected i32`);
  return { result: "none", node: { kind: "br", label, cond } };
}

/**
 * `for (i = from; i < to; i += step) body` with static bounds: nothing when it runs no
 * times, the body once (i = from) when it runs once, else a loop that tests at its end (no
 * test before the first iteration: the trip count is known to be positive).
 */
export function forRange(i: Local<"i32">, from: number, to: number | Local<"i32">, body: readonly Stmt[], step = 1): Stmt {
  if (!(step > 0) || !Number.isInteger(step)) throw new RangeError(`wasm builder: forRange: bad step ${step}`);
  if (typeof to !== "number") {
    // a bound known at run time (a local): no iteration when it is at most \`from\`
    return seq([
      set(i, i32.const(from)),
      if_(i32.lt_s(get(i), get(to)), [
        loop((repeat) => [
          ...body,
          set(i, i32.add(get(i), i32.const(step))),
          brIf(repeat, i32.lt_s(get(i), get(to))),
        ]),
      ]),
    ]);
  }
  const count = Math.max(0, Math.ceil((to - from) / step));
  if (count === 0) return seq([]);
  if (count === 1) return seq([set(i, i32.const(from)), ...body]);
  return seq([
    set(i, i32.const(from)),
    loop((repeat) => [
      ...body,
      set(i, i32.add(get(i), i32.const(step))),
      brIf(repeat, i32.lt_s(get(i), i32.const(to))),
    ]),
  ]);
}

/** `body; while (cond)`: the body at least once. */
export function doWhile(body: readonly Stmt[], cond: () => Expr<"i32">): Stmt {
  return loop((repeat) => [...body, brIf(repeat, cond())]);
}

// ---------------------------------------------------------------------------------------
// Functions

export interface FuncScope {
  /** A new local of the function (zero-initialised, as every Wasm local). */
  local<T extends ValType>(type: T, name?: string): Local<T>;
}

/** Encodes a tree, resolving branch labels against the enclosing blocks (innermost last). */
function encode(c: Code, labels: Label[], out: number[]): void {
  const n = c.node;
  switch (n.kind) {
    case "op":
      for (const a of n.args) encode(a, labels, out);
      append(out, n.code);
      return;
    case "seq":
      for (const s of n.body) encode(s, labels, out);
      return;
    case "block":
    case "loop":
      out.push(n.kind === "block" ? 0x02 : 0x03, BLOCKTYPE_EMPTY);
      labels.push(n.label);
      for (const s of n.body) encode(s, labels, out);
      labels.pop();
      out.push(0x0b);
      return;
    case "if":
      encode(n.cond, labels, out);
      out.push(0x04, BLOCKTYPE_EMPTY);
      labels.push(n.label);
      for (const s of n.then) encode(s, labels, out);
      if (n.else.length > 0) {
        out.push(0x05);
        for (const s of n.else) encode(s, labels, out);
      }
      labels.pop();
      out.push(0x0b);
      return;
    case "br": {
      const at = labels.lastIndexOf(n.label);
      if (at < 0) throw new Error(`wasm builder: a branch to a ${n.label.kind} that does not enclose it`);
      if (n.cond !== null) encode(n.cond, labels, out);
      out.push(n.cond === null ? 0x0c : 0x0d);
      uleb(labels.length - 1 - at, out);
      return;
    }
  }
}

const INTEGER_KEY = /^(0|[1-9]\d*)$/;

/**
 * A function exported as `name`, with named parameters (in the order given) and at most one
 * result. `body` gets a scope for declaring locals and the parameters as locals, and returns
 * the statements, the last of which is an expression of the result type when there is one.
 */
export function func<P extends Record<string, ValType>>(
  name: string,
  params: P,
  results: readonly ValType[],
  body: (scope: FuncScope, params: { readonly [K in keyof P]: Local<P[K]> }) => readonly Code[],
): EncodedFunction {
  if (results.length > 1) throw new Error(`wasm builder: ${name}: at most one result`);
  const names = Object.keys(params);
  const bad = names.find((k) => INTEGER_KEY.test(k));
  if (bad !== undefined) throw new Error(`wasm builder: ${name}: parameter name ${bad} would reorder the parameters`);
  const paramLocals = {} as { [K in keyof P]: Local<P[K]> };
  names.forEach((k, index) => {
    (paramLocals as Record<string, Local>)[k] = { index, type: params[k]!, name: k };
  });
  const locals: ValType[] = [];
  const localNames = [...names];
  const scope: FuncScope = {
    local(type, localName = "") {
      const l = { index: names.length + locals.length, type, name: localName || `l${locals.length}` };
      locals.push(type);
      localNames.push(l.name);
      return l;
    },
  };
  const code = body(scope, paramLocals);
  code.forEach((s, i) => {
    const last = i === code.length - 1;
    const expected = last && results.length === 1 ? results[0]! : "none";
    if (s.result !== expected) {
      throw new Error(`wasm builder: ${name}: ${last && results.length === 1 ? "the result" : `statement ${i + 1}`} is ${s.result}, expected ${expected}`);
    }
  });
  if (results.length === 1 && code.length === 0) throw new Error(`wasm builder: ${name}: no result`);
  const out: number[] = [];
  const labels: Label[] = [];
  for (const s of code) encode(s, labels, out);
  out.push(0x0b);
  return { name, type: { params: names.map((k) => params[k]!), results }, locals, localNames, body: out };
}
