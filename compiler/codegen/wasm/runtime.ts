// The TypeScript side of `--target wasm`: what a generated module adds to run its layer
// kernels as WebAssembly SIMD.
//
// - Each kernel with a Wasm version (plan.ts) starts with a call of it: the kernel's
//   arguments are copied into the Wasm module's memory at static offsets, the Wasm function
//   runs, and the result is copied out into the kernel's result buffer; the TypeScript loops
//   that follow are the fallback.
// - Once per module: the Wasm module's bytes as a base64 constant (encoded here, decoded by
//   a small decoder in the module: no `atob` or `Buffer` needed), and `simdKernels()`, which
//   instantiates it on first use and returns its exports, or null where WebAssembly or its
//   SIMD is unavailable (`WebAssembly.validate` fails) or compiling fails; then every kernel
//   runs its TypeScript loops. A browser's main thread may refuse to compile a module of more
//   than 4 KB synchronously (older Chromium): then the module is compiled asynchronously and
//   the kernels switch over when it is ready (the two agree to rounding).
// - `useSimd(enabled)` turns the Wasm kernels off (and on again) and says whether they are in
//   use: the TypeScript kernels can be checked against them in one process.
//
// Memory: every kernel's copies and scratch start at address 0 (kernels run one at a time, so
// they share one area, sized for the largest kernel); after it, an arena for the buffers of
// the workspaces (the allocation-free forms' intermediates, sized at compile time): those are
// views on the memory, so the kernels read and write them in place, and only the caller's
// arrays (parameters, inputs, gradients) are copied. The memory never grows (growing would
// detach the views).

import { PAGE_BYTES, type EncodedFunction, encodeModule } from "./encoder.js";
import type { SimdBuffer, SimdKernelPlan } from "./plan.js";

/** Buffers start at multiples of 64 bytes (a cache line). */
const ALIGN = 64;

export interface PlacedKernel {
  readonly plan: SimdKernelPlan;
  /** Byte address of each buffer (plan.buffers' order). */
  readonly addresses: readonly number[];
  /** Bytes of memory the kernel uses. */
  readonly bytes: number;
}

/**
 * Lays out a kernel's buffers from address 0. With a batch known only at run time the
 * addresses are placed by the generated code at each call; these are for one image (and
 * `bytes` is the memory the module starts with for it).
 */
export function place(plan: SimdKernelPlan, elementBytes: number): PlacedKernel {
  const addresses: number[] = [];
  let end = 0;
  for (const b of plan.buffers) {
    addresses.push(end);
    end += Math.ceil((b.elements * elementBytes) / ALIGN) * ALIGN;
  }
  return { plan, addresses, bytes: end };
}

/** Names the generated code uses for the runtime (module-level, collision-free). */
export interface RuntimeNames {
  /** The function returning the instantiated kernels or null. */
  readonly kernels: string;
  readonly useSimd: string;
  readonly bytes: string;
  readonly state: string;
  readonly enabled: string;
  readonly instantiate: string;
  readonly bind: string;
  readonly decode: string;
  readonly exportsType: string;
  readonly apiType: string;
  /** The allocator of resident buffers, and its next free byte. */
  readonly resident: string;
  readonly arenaTop: string;
  /** Places a call's buffers when the batch is known only at run time. */
  readonly place: string;
}

/**
 * The statements that start a kernel: the Wasm call and `return`, when the Wasm kernels are
 * in use. `args` and `result` are the kernel's parameter names; `fresh` gives local names.
 */
export function kernelPrologue(
  k: PlacedKernel, names: RuntimeNames, args: readonly string[], result: string, elementBytes: number,
  fresh: (hint: string) => string, batch?: string,
): string[] {
  if (k.plan.batch !== undefined) return dynamicPrologue(k, names, args, result, elementBytes, fresh, batch!);
  const simd = fresh("simd");
  const mem = fresh("memory");
  const lines = [
    `const ${simd} = ${names.kernels}();`,
    `if (${simd} !== null) {`,
    `// WebAssembly SIMD (${k.plan.what}): buffers in its memory are used in place, others copied in (and the result out)`,
    `const ${mem} = ${simd}.memory;`,
  ];
  const addresses: string[] = [];
  let resultSlot = -1;
  k.plan.buffers.forEach((b: SimdBuffer, slot) => {
    const byte = k.addresses[slot]!;
    const at = byte / elementBytes;
    if (b.kind === "arg") {
      const a = args[b.arg]!;
      const address = fresh(`${a}At`);
      lines.push(`const ${address} = ${a}.buffer === ${mem}.buffer ? ${a}.byteOffset : (${mem}.set(${a}, ${at}), ${byte});`);
      addresses.push(address);
      return;
    }
    if (b.kind === "flipped") lines.push(...flippedCopy(b, args[b.arg]!, mem, at, fresh));
    if (b.kind === "result") resultSlot = slot;
    addresses.push(String(byte));
  });
  const call = (resultAddress: string): string => {
    const all = addresses.map((a, slot) => (slot === resultSlot ? resultAddress : a));
    return `${simd}.${k.plan.fn.name}(${all.join(", ")});`;
  };
  const resultAt = k.addresses[resultSlot]! / elementBytes;
  const resultElements = k.plan.buffers[resultSlot]!.elements;
  lines.push(
    `if (${result}.buffer === ${mem}.buffer) ${call(`${result}.byteOffset`)}`,
    "else {",
    call(String(k.addresses[resultSlot]!)),
    `${result}.set(${mem}.subarray(${resultAt}, ${resultAt + resultElements}));`,
    "}",
  );
  lines.push("return;", "}");
  return lines;
}

/**
 * The start of a kernel whose batch (`batch`, a JavaScript expression) is known only at run
 * time: the buffers' addresses are placed for it at each call (the memory grows to fit) and
 * every buffer is copied (no workspace lives in a memory that grows: see residentLines).
 */
function dynamicPrologue(
  k: PlacedKernel, names: RuntimeNames, args: readonly string[], result: string, elementBytes: number,
  fresh: (hint: string) => string, batch: string,
): string[] {
  const simd = fresh("simd");
  const at = fresh("at");
  const mem = fresh("memory");
  const counts = k.plan.buffers.map((b) => (b.batched ? `${batch} * ${b.elements}` : String(b.elements)));
  const lines = [
    `const ${simd} = ${names.kernels}();`,
    `// the buffers' byte addresses in its memory for ${batch} images (null: the memory cannot grow to fit)`,
    `const ${at} = ${simd} === null ? null : ${names.place}(${simd}, [${counts.join(", ")}]);`,
    `if (${simd} !== null && ${at} !== null) {`,
    `// WebAssembly SIMD (${k.plan.what}) on copies in its memory`,
    `const ${mem} = ${simd}.memory;`,
  ];
  const element = (slot: number): string => `${at}[${slot}]! / ${elementBytes}`;
  let resultSlot = -1;
  k.plan.buffers.forEach((b: SimdBuffer, slot) => {
    if (b.kind === "arg") lines.push(`${mem}.set(${args[b.arg]}, ${element(slot)});`);
    if (b.kind === "flipped") lines.push(...flippedCopy(b, args[b.arg]!, mem, element(slot), fresh));
    if (b.kind === "result") resultSlot = slot;
  });
  const addresses = k.plan.buffers.map((_, slot) => `${at}[${slot}]!`);
  lines.push(`${simd}.${k.plan.fn.name}(${[...addresses, batch].join(", ")});`);
  const from = fresh("from");
  lines.push(
    `const ${from} = ${element(resultSlot)};`,
    `${result}.set(${mem}.subarray(${from}, ${from} + ${result}.length));`,
    "return;",
    "}",
  );
  return lines;
}

/** Copies w [O, C, taps] into memory as [C, O, taps] with each kernel's taps reversed. */
function flippedCopy(b: Extract<SimdBuffer, { kind: "flipped" }>, w: string, mem: string, at: number | string, fresh: (hint: string) => string): string[] {
  const o = fresh("o");
  const c = fresh("c");
  const k = fresh("k");
  const from = fresh("from");
  const to = fresh("to");
  return [
    `// ${w}[o][c][k] goes to [c][o][${b.taps - 1} - k]: the kernels transposed, their taps reversed`,
    `for (let ${o} = 0; ${o} < ${b.O}; ${o}++) {`,
    `for (let ${c} = 0; ${c} < ${b.C}; ${c}++) {`,
    `const ${from} = ${o} * ${b.C * b.taps} + ${c} * ${b.taps};`,
    `const ${to} = ${typeof at === "number" ? at + b.taps - 1 : `${at} + ${b.taps - 1}`} + ${c} * ${b.O * b.taps} + ${o} * ${b.taps};`,
    `for (let ${k} = 0; ${k} < ${b.taps}; ${k}++) ${mem}[${to} - ${k}] = ${w}[${from} + ${k}];`,
    "}",
    "}",
  ];
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding (no Buffer: the compiler also runs in browsers). */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += BASE64[(n >> 18) & 63]! + BASE64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63]! : "=";
    out += i + 2 < bytes.length ? BASE64[n & 63]! : "=";
  }
  return out;
}

/** Bytes of the area every kernel's copies and scratch start at (address 0), for the largest kernel. */
export function copyAreaBytes(kernels: readonly PlacedKernel[]): number {
  return Math.max(ALIGN, ...kernels.map((k) => k.bytes));
}

/** Bytes a resident buffer of `elements` takes in the arena (whole cache lines). */
export const residentBytes = (elements: number, elementBytes: number): number => Math.ceil((elements * elementBytes) / ALIGN) * ALIGN;

/**
 * The Wasm module holding every kernel, in one memory: the copy area (sized for the largest
 * kernel), then `arenaBytes` for the workspaces' buffers (resident: used in place).
 */
export function encodeKernels(kernels: readonly PlacedKernel[], arenaBytes = 0): Uint8Array {
  const bytes = copyAreaBytes(kernels) + arenaBytes;
  const pages = Math.ceil(bytes / PAGE_BYTES);
  const functions: EncodedFunction[] = kernels.map((k) => k.plan.fn);
  // a kernel whose batch is known only at run time grows the memory to fit (no maximum)
  const grows = kernels.some((k) => k.plan.batch !== undefined);
  return encodeModule({ memory: { pages, ...(grows ? {} : { maxPages: pages }), exportAs: "memory" }, functions, names: false });
}

/** The module-level declarations: the bytes, their decoder, instantiation and `useSimd`. */
export function runtimeLines(
  kernels: readonly PlacedKernel[], names: RuntimeNames, arrayType: string, arenaBytes = 0, residentUsed = false,
): string[] {
  const grows = kernels.some((k) => k.plan.batch !== undefined);
  // growing the memory detaches every view on it, so a module that grows keeps no workspace there
  if (grows) arenaBytes = 0;
  const bytes = encodeKernels(kernels, arenaBytes);
  const arenaStart = copyAreaBytes(kernels);
  const elementBytes = arrayType === "Float32Array" ? 4 : 8;
  const text = toBase64(bytes);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += 96) pieces.push(JSON.stringify(text.slice(i, i + 96)));
  const lanes = arrayType === "Float32Array" ? "f32x4" : "f64x2";
  // every parameter is an i32: a byte address, a size, a count
  const sig = (k: PlacedKernel): string => k.plan.fn.type.params.map((_, i) => `a${i}: number`).join(", ");
  const N = names;
  return [
    "// --- WebAssembly SIMD kernels (adgen --target wasm) ---",
    "",
    `/** The WebAssembly module of the ${lanes} kernels above (${bytes.length} bytes, base64): generated by adgen, it imports nothing. */`,
    `const ${N.bytes} =`,
    `${pieces.join(" +\n")};`,
    "",
    "/** The part of the WebAssembly API used here (declared here: the module needs no DOM or Node types). */",
    `interface ${N.apiType} {`,
    "validate(bytes: Uint8Array): boolean;",
    "Module: new (bytes: Uint8Array) => object;",
    "Instance: new (module: object) => { readonly exports: Record<string, unknown> };",
    "instantiate?(bytes: Uint8Array): Promise<{ readonly instance: { readonly exports: Record<string, unknown> } }>;",
    "}",
    "",
    "/** The kernels' exports: byte addresses in and out of `memory`, a view of the module's memory. */",
    `interface ${N.exportsType} {`,
    ...(grows
      ? [
        `memory: ${arrayType};`,
        "/** The module's memory (WebAssembly.Memory): it grows for a larger batch, and `memory` is renewed. */",
        "readonly wasmMemory: { readonly buffer: ArrayBuffer; grow(pages: number): number };",
      ]
      : [`readonly memory: ${arrayType};`]),
    ...kernels.map((k) => `readonly ${k.plan.fn.name}: (${sig(k)}) => void;`),
    "}",
    "",
    "/** The instantiated kernels; null while they cannot be used; undefined before the first try. */",
    `let ${N.state}: ${N.exportsType} | null | undefined;`,
    `let ${N.enabled} = true;`,
    "",
    "/**",
    " * Turns the WebAssembly SIMD kernels on or off (they are on by default; off, every kernel",
    " * runs its TypeScript loops) and returns whether they are in use: false where the runtime",
    " * has no WebAssembly SIMD.",
    " */",
    `export function ${N.useSimd}(enabled: boolean = ${N.enabled}): boolean {`,
    `${N.enabled} = enabled;`,
    `return ${N.kernels}() !== null;`,
    "}",
    "",
    "/** The kernels, instantiated on first use, or null where they cannot run. */",
    `function ${N.kernels}(): ${N.exportsType} | null {`,
    `if (!${N.enabled}) return null;`,
    `if (${N.state} === undefined) ${N.state} = ${N.instantiate}();`,
    `return ${N.state};`,
    "}",
    "",
    `function ${N.instantiate}(): ${N.exportsType} | null {`,
    `const api = (globalThis as { WebAssembly?: ${N.apiType} }).WebAssembly;`,
    `if (typeof api !== "object" || api === null) return null;`,
    `const bytes = ${N.decode}(${N.bytes});`,
    "try {",
    "// false where WebAssembly has no SIMD",
    "if (!api.validate(bytes)) return null;",
    `return ${N.bind}(new api.Instance(new api.Module(bytes)).exports);`,
    "} catch {",
    "// a browser's main thread may refuse to compile more than 4 KB synchronously: compile in",
    "// the background and use the TypeScript kernels until it is done",
    `api.instantiate?.(bytes).then((r) => (${N.state} = ${N.bind}(r.instance.exports)), () => undefined);`,
    "return null;",
    "}",
    "}",
    "",
    `function ${N.bind}(exports: Record<string, unknown>): ${N.exportsType} {`,
    ...(grows
      ? [
        `const wasmMemory = exports.memory as ${N.exportsType}["wasmMemory"];`,
        `return { ...(exports as unknown as ${N.exportsType}), memory: new ${arrayType}(wasmMemory.buffer), wasmMemory };`,
      ]
      : [
        `const memory = new ${arrayType}((exports.memory as { readonly buffer: ArrayBuffer }).buffer);`,
        `return { ...(exports as unknown as ${N.exportsType}), memory };`,
      ]),
    "}",
    "",
    ...(grows ? [
      "/**",
      " * Byte addresses for buffers of these element counts, one after another from 0 (whole",
      " * cache lines), for a kernel whose batch is known only at run time; the memory grows to fit",
      " * (and `memory` is renewed). Null when it cannot grow that far.",
      " */",
      `function ${N.place}(simd: ${N.exportsType}, counts: readonly number[]): number[] | null {`,
      "const at: number[] = [];",
      "let end = 0;",
      "for (const n of counts) {",
      "at.push(end);",
      `end += Math.ceil((n * ${elementBytes}) / ${ALIGN}) * ${ALIGN};`,
      "}",
      "const have = simd.wasmMemory.buffer.byteLength;",
      "if (end > have) {",
      "try {",
      `simd.wasmMemory.grow(Math.ceil((end - have) / ${PAGE_BYTES}));`,
      "} catch {",
      "return null;",
      "}",
      `simd.memory = new ${arrayType}(simd.wasmMemory.buffer);`,
      "}",
      "return at;",
      "}",
      "",
    ] : []),
    ...(residentUsed && arenaBytes === 0 ? [
      "/**",
      " * A workspace buffer of n elements: an ordinary array (the kernels' memory grows for a",
      " * batch known only at run time, and growing would detach a view on it).",
      " */",
      `function ${N.resident}(n: number): ${arrayType} {`,
      `return new ${arrayType}(n);`,
      "}",
      "",
    ] : []),
    ...(arenaBytes > 0 ? [
      `/** The next free byte of the kernels' memory for resident buffers (${arenaStart} to ${arenaStart + arenaBytes}; below: the kernels' copies). */`,
      `let ${N.arenaTop} = ${arenaStart};`,
      "",
      "/**",
      " * A workspace buffer of n elements: in the kernels' memory where they run (they read and",
      " * write it in place, no copies), else an ordinary array.",
      " */",
      `function ${N.resident}(n: number): ${arrayType} {`,
      `const simd = ${N.kernels}();`,
      `const bytes = Math.ceil((n * ${elementBytes}) / ${ALIGN}) * ${ALIGN};`,
      `if (simd === null || ${N.arenaTop} + bytes > ${arenaStart + arenaBytes}) return new ${arrayType}(n);`,
      `const buffer = new ${arrayType}(simd.memory.buffer, ${N.arenaTop}, n);`,
      `${N.arenaTop} += bytes;`,
      "return buffer;",
      "}",
      "",
    ] : []),
    "/** Decodes base64 (here, not with atob or Buffer: not every runtime has them). */",
    `function ${N.decode}(text: string): Uint8Array {`,
    `const digits = "${BASE64}";`,
    "const value = new Uint8Array(128);",
    "for (let i = 0; i < 64; i++) value[digits.charCodeAt(i)] = i;",
    `const end = text.indexOf("=") < 0 ? text.length : text.indexOf("=");`,
    "const bytes = new Uint8Array((end * 3) >> 2);",
    "let bits = 0;",
    "let held = 0;",
    "let at = 0;",
    "for (let i = 0; i < end; i++) {",
    "bits = ((bits << 6) | value[text.charCodeAt(i)]!) & 0xffffff;",
    "held += 6;",
    "if (held >= 8) {",
    "held -= 8;",
    "bytes[at++] = (bits >> held) & 255;",
    "}",
    "}",
    "return bytes;",
    "}",
    "",
  ];
}
