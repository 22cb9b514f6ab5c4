// The WebAssembly binary format: LEB128 numbers, value and function types, and a module of
// functions, one memory and data segments, encoded to bytes (builder.ts makes the function
// bodies; kernels/ generates kernels with it).
//
// adgen has its own encoder rather than a dependency (binaryen, wabt, a WAT assembler):
// - small: the whole format we emit is this file and builder.ts, well under a thousand lines,
//   where binaryen.js is megabytes of compiled C++ loaded at build time;
// - deterministic: the bytes depend only on the kernel generators' input (types are numbered
//   in order of first use, sections and functions in the order given), so generated modules
//   are reproducible and can be golden-tested;
// - exactly the subset we need: numeric MVP ops on i32/f32/f64, structured control flow,
//   loads and stores with static offsets, bulk memory fill/copy, and the fixed-width SIMD
//   ops of f64x2/f32x4/i32x4 kernels; no tables, globals, imports or exceptions;
// - no toolchain: adgen runs wherever TypeScript runs and emits the bytes itself.
//
// A module imports nothing: it defines its own memory and exports it (the generated
// TypeScript reads and writes its typed arrays through that export), and exports its
// functions by name.

/** Value types (the binary format's one-byte codes below). i64 is encoded but has no ops here. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

export const VALTYPE_CODE: { readonly [T in ValType]: number } = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

/** Byte size of one value of each type (for loads, stores and alignment). */
export const VALTYPE_BYTES: { readonly [T in ValType]: number } = { i32: 4, i64: 8, f32: 4, f64: 8, v128: 16 };

/** The empty block type (a block, loop or if that leaves nothing on the stack). */
export const BLOCKTYPE_EMPTY = 0x40;

/** 64 KiB: the unit of memory sizes. */
export const PAGE_BYTES = 65536;

// ---------------------------------------------------------------------------------------
// Numbers

/** Appends n (an integer in [0, 2^32)) as unsigned LEB128. */
export function uleb(n: number, out: number[]): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uleb: not a u32: ${n}`);
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
}

/** Appends n (an integer in [-2^31, 2^31)) as signed LEB128. */
export function sleb(n: number, out: number[]): void {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`sleb: not an i32: ${n}`);
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7; // arithmetic shift: the sign propagates
    // done when the rest is all sign bits and the byte's top bit has the same sign
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

const scratch = new DataView(new ArrayBuffer(8));

/** Appends x as IEEE 754 binary32, little-endian (rounded to the nearest float32). */
export function f32Bytes(x: number, out: number[]): void {
  scratch.setFloat32(0, x, true);
  for (let i = 0; i < 4; i++) out.push(scratch.getUint8(i));
}

/** Appends x as IEEE 754 binary64, little-endian. */
export function f64Bytes(x: number, out: number[]): void {
  scratch.setFloat64(0, x, true);
  for (let i = 0; i < 8; i++) out.push(scratch.getUint8(i));
}

/** Appends a UTF-8 name with its length. */
function name(s: string, out: number[]): void {
  const bytes = new TextEncoder().encode(s);
  uleb(bytes.length, out);
  for (const b of bytes) out.push(b);
}

/** Appends a vector: its length, then each element. */
function vec<T>(items: readonly T[], each: (item: T, out: number[]) => void, out: number[]): void {
  uleb(items.length, out);
  for (const item of items) each(item, out);
}

// ---------------------------------------------------------------------------------------
// Modules

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** A function whose body is already encoded (builder.ts's `func` makes them). */
export interface EncodedFunction {
  /** The export name (and the name in the name section). */
  readonly name: string;
  readonly type: FuncType;
  /** The declared locals after the parameters, in index order. */
  readonly locals: readonly ValType[];
  /** Names of the parameters and locals, by index (for the name section; may be partial). */
  readonly localNames: readonly string[];
  /** The instructions, including the final `end`. */
  readonly body: readonly number[];
}

export interface WasmModule {
  /** The module's own memory, exported: its initial size in pages, and its maximum if any. */
  readonly memory: { readonly pages: number; readonly maxPages?: number; readonly exportAs: string };
  /** Each function is exported under its name. */
  readonly functions: readonly EncodedFunction[];
  /** Active data segments: bytes copied into memory at `offset` when the module is instantiated. */
  readonly data?: readonly { readonly offset: number; readonly bytes: Uint8Array }[];
  /** Write a name section (function and local names, for stack traces and disassembly). */
  readonly names?: boolean;
}

const SECTION = { custom: 0, type: 1, function: 3, memory: 5, export: 7, code: 10, data: 11 } as const;
const EXPORT_KIND = { func: 0x00, memory: 0x02 } as const;
const OP_END = 0x0b;
const OP_I32_CONST = 0x41;

/** Appends bytes one by one (a spread would overflow the call stack for big bodies). */
export function append(out: number[], bytes: readonly number[] | Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
}

function section(id: number, content: number[], out: number[]): void {
  out.push(id);
  uleb(content.length, out);
  append(out, content);
}

function funcTypeKey(t: FuncType): string {
  return `${t.params.join(",")}->${t.results.join(",")}`;
}

/** The module's bytes. The same module value always gives the same bytes. */
export function encodeModule(m: WasmModule): Uint8Array<ArrayBuffer> {
  const names = new Set<string>([m.memory.exportAs]);
  for (const f of m.functions) {
    if (names.has(f.name)) throw new Error(`wasm module: two exports named ${f.name}`);
    names.add(f.name);
    if (f.body[f.body.length - 1] !== OP_END) throw new Error(`wasm module: the body of ${f.name} does not end with 'end'`);
  }
  if (m.memory.maxPages !== undefined && m.memory.maxPages < m.memory.pages) {
    throw new RangeError(`wasm module: maximum memory ${m.memory.maxPages} below its initial ${m.memory.pages} pages`);
  }

  // function types, numbered in order of first use
  const typeIndex = new Map<string, number>();
  const types: FuncType[] = [];
  for (const f of m.functions) {
    const key = funcTypeKey(f.type);
    if (!typeIndex.has(key)) {
      typeIndex.set(key, types.length);
      types.push(f.type);
    }
  }

  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
  const s: number[] = [];
  vec(types, (t, o) => {
    o.push(0x60);
    vec(t.params, (p, oo) => oo.push(VALTYPE_CODE[p]), o);
    vec(t.results, (r, oo) => oo.push(VALTYPE_CODE[r]), o);
  }, s);
  section(SECTION.type, s.splice(0), out);

  vec(m.functions, (f, o) => uleb(typeIndex.get(funcTypeKey(f.type))!, o), s);
  section(SECTION.function, s.splice(0), out);

  uleb(1, s);
  if (m.memory.maxPages === undefined) {
    s.push(0x00);
    uleb(m.memory.pages, s);
  } else {
    s.push(0x01);
    uleb(m.memory.pages, s);
    uleb(m.memory.maxPages, s);
  }
  section(SECTION.memory, s.splice(0), out);

  uleb(m.functions.length + 1, s);
  name(m.memory.exportAs, s);
  s.push(EXPORT_KIND.memory);
  uleb(0, s);
  m.functions.forEach((f, i) => {
    name(f.name, s);
    s.push(EXPORT_KIND.func);
    uleb(i, s);
  });
  section(SECTION.export, s.splice(0), out);

  vec(m.functions, (f, o) => {
    const body: number[] = [];
    // locals as runs of one type
    const runs: [ValType, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[0] === t) last[1]++;
      else runs.push([t, 1]);
    }
    vec(runs, ([t, n], oo) => {
      uleb(n, oo);
      oo.push(VALTYPE_CODE[t]);
    }, body);
    append(body, f.body);
    uleb(body.length, o);
    append(o, body);
  }, s);
  section(SECTION.code, s.splice(0), out);

  const data = m.data ?? [];
  if (data.length > 0) {
    const end = m.memory.pages * PAGE_BYTES;
    vec(data, (d, o) => {
      if (d.offset < 0 || d.offset + d.bytes.length > end) throw new RangeError(`wasm module: a data segment at ${d.offset} overruns the memory`);
      o.push(0x00); // active, memory 0, offset expression
      o.push(OP_I32_CONST);
      sleb(d.offset | 0, o);
      o.push(OP_END);
      uleb(d.bytes.length, o);
      append(o, d.bytes);
    }, s);
    section(SECTION.data, s.splice(0), out);
  }

  if (m.names === true) {
    name("name", s);
    const fnNames: number[] = [];
    vec(m.functions.map((f, i) => [i, f.name] as const), ([i, n], o) => {
      uleb(i, o);
      name(n, o);
    }, fnNames);
    s.push(1);
    uleb(fnNames.length, s);
    append(s, fnNames);
    const localNames: number[] = [];
    vec(m.functions.map((f, i) => [i, f.localNames] as const), ([i, ls], o) => {
      uleb(i, o);
      const named = ls.map((n, k) => [k, n] as const).filter(([, n]) => n !== "");
      vec(named, ([k, n], oo) => {
        uleb(k, oo);
        name(n, oo);
      }, o);
    }, localNames);
    s.push(2);
    uleb(localNames.length, s);
    append(s, localNames);
    section(SECTION.custom, s.splice(0), out);
  }
  return Uint8Array.from(out);
}
