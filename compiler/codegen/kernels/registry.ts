// Layer primitives (conv2d and its adjoints, pooling, linear, softmax, ...) become
// module-level kernel functions, one per distinct op, attributes and shapes, shared by
// every call site. Small functions keep each one within what the JavaScript JIT optimizes
// whole, and the entry functions read as a sequence of layer calls.

import { Dim, SimpleInstr, Type, showType } from "../../ir/types.js";
import { jsDim, symbolsOf } from "../../ir/dims.js";
import { OPS } from "../../ops/index.js";
import { OpEmitContext, OpEmitter } from "./context.js";
import { NameScope } from "../names.js";
import { simdPlanFor } from "../wasm/plan.js";
import { reluKernel } from "../wasm/kernels/relu.js";
import { sigmoidKernel } from "../wasm/kernels/sigmoid.js";
import type { EncodedFunction } from "../wasm/encoder.js";
import { PlacedKernel, RuntimeNames, kernelPrologue, place, residentBytes, runtimeLines } from "../wasm/runtime.js";

export interface Kernel {
  readonly name: string;
  /** The size symbols the kernel takes after its arguments (and result buffer), in order. */
  readonly sizes: readonly string[];
}

export interface KernelRegistry {
  /** The kernel computing instr (created on first use), named after its layer if given. */
  kernelFor(instr: SimpleInstr, layer?: string): Kernel;
  /**
   * `--target wasm`: the expression allocating a workspace buffer of `elements` (a literal
   * size) in the Wasm kernels' memory, so that they use it in place; undefined on the
   * default target (then: `new Float64Array(n)`).
   */
  residentBuffer(elements: number): string | undefined;
  /**
   * `--target wasm`: a function computing the elementwise instr (relu, reluGrad, sigmoid) over whole
   * buffers, `f(...args, out)`, as WebAssembly SIMD where its buffers are in the kernels'
   * memory (else its TypeScript loop); undefined for other ops and on the default target.
   */
  elementwiseKernel(instr: SimpleInstr): string | undefined;
  /** The kernel functions, in order of creation. */
  /** The kernels' declarations, one piece per function (the Wasm runtime, if any, one piece). */
  emit(): string[][];
}

/** `--target wasm`: kernels that have a WebAssembly SIMD version start with a call of it. */
export interface SimdTarget {
  readonly dtype: "float64" | "float32";
}

/** The elementwise ops with a Wasm kernel over whole buffers: its parameters (the result last) and what it does. */
const WHOLE: Record<"relu" | "reluGrad" | "sigmoid", {
  readonly params: readonly string[];
  readonly kernel: (name: string, dtype: "float64" | "float32") => EncodedFunction;
  readonly what: (lanes: string) => string;
}> = {
  relu: { params: ["x", "y"], kernel: (name, dtype) => reluKernel(name, dtype, false), what: (lanes) => `${lanes}.max(x, 0)` },
  reluGrad: { params: ["x", "dy", "dx"], kernel: (name, dtype) => reluKernel(name, dtype, true), what: (lanes) => `dy where x > 0, by a ${lanes} mask` },
  sigmoid: {
    params: ["x", "y"], kernel: sigmoidKernel,
    what: (lanes) => `1 / (1 + e) or e / (1 + e), e = exp(-|x|) by its series, ${lanes}`,
  },
};

export function createKernelRegistry(moduleNames: NameScope, arrayType: string, simd?: SimdTarget): KernelRegistry {
  const byKey = new Map<string, Kernel>();
  const functions: string[][] = [];
  const simdKernels: PlacedKernel[] = [];
  let runtime: RuntimeNames | undefined;
  const runtimeNames = (): RuntimeNames => (runtime ??= {
    kernels: moduleNames.fresh("simdKernels"), useSimd: moduleNames.fresh("useSimd"), bytes: moduleNames.fresh("simdModule"),
    state: moduleNames.fresh("simdState"), enabled: moduleNames.fresh("simdEnabled"), instantiate: moduleNames.fresh("instantiateSimd"),
    bind: moduleNames.fresh("bindSimd"), decode: moduleNames.fresh("decodeBase64"), exportsType: moduleNames.fresh("SimdKernels"),
    apiType: moduleNames.fresh("WasmApi"), resident: moduleNames.fresh("residentArray"), arenaTop: moduleNames.fresh("arenaTop"),
    place: moduleNames.fresh("placeBuffers"),
  });
  const elementBytes = simd?.dtype === "float32" ? 4 : 8;
  /** relu, reluGrad and sigmoid over whole buffers (one function each, for every size). */
  const elementwise = new Map<string, string>();
  let arenaBytes = 0;
  const jsType = (t: Type): string => (t.kind === "tensor" ? arrayType : "number");
  return {
    kernelFor(instr, layer) {
      const op = instr.op;
      const em = OPS[op].emit;
      if (em === "structural" || !("kernel" in em)) throw new Error(`internal: ${op} has no kernel`);
      const key = JSON.stringify([op, instr.attrs, instr.args.map((a) => a.type), instr.result.type]);
      const known = byKey.get(key);
      if (known) return known;
      // named after its layer and direction (conv1GradInput), else after the op
      const direction = op.includes("Grad") ? op.slice(op.indexOf("Grad")) : "";
      const name = moduleNames.fresh(layer ? `${layer}${direction}` : op);
      // the sizes its types name (a batch N): parameters after the arguments
      const attrShapes = Object.values(instr.attrs as Record<string, unknown>).filter(Array.isArray).flat() as Dim[];
      const sizes = [...new Set([...instr.args.map((a) => a.type), instr.result.type]
        .flatMap((t) => (t.kind === "tensor" ? t.shape : [])).concat(attrShapes.filter((d) => typeof d === "object"))
        .flatMap(symbolsOf))].sort();
      const kernel: Kernel = { name, sizes };
      byKey.set(key, kernel);
      const scope = moduleNames.child();
      const params = instr.args.map((_, k) => scope.fresh(em.params[k] ?? `a${k}`));
      const tensorResult = instr.result.type.kind === "tensor";
      const result = scope.fresh(tensorResult ? "out" : "result");
      const sizeParams = new Map(sizes.map((s) => [s, scope.fresh(s)]));
      const scratchDecls: string[] = [];
      const ctx: OpEmitContext = {
        instr,
        args: params,
        argTypes: instr.args.map((a) => a.type),
        result,
        resultType: instr.result.type,
        fresh: (hint) => scope.fresh(hint),
        dim: (d) => (typeof d === "number" ? d : jsDim(d, (s) => sizeParams.get(s)!)),
        scratch: (size, hint, kind = "float") => {
          const v = moduleNames.fresh(`${name}${hint.charAt(0).toUpperCase()}${hint.slice(1)}`);
          const t = kind === "int32" ? "Int32Array" : arrayType;
          scratchDecls.push(`let ${v}: ${t} | undefined;`);
          return `(${v} ??= new ${t}(${size}))`;
        },
      };
      const body = (em.kernel as OpEmitter)(ctx);
      const plan = simd && tensorResult ? simdPlanFor(instr, name, simd.dtype) : null;
      if (plan) {
        const placed = place(plan, elementBytes);
        simdKernels.push(placed);
        const batch = plan.batch === undefined ? undefined : String(ctx.dim(plan.batch));
        body.unshift(...kernelPrologue(placed, runtimeNames(), params, result, elementBytes, (hint) => scope.fresh(hint), batch));
      }
      const attrs = Object.entries(instr.attrs as Record<string, unknown>)
        .filter(([k]) => k !== "inputShape" && k !== "weightShape")
        .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
        .join(", ");
      const what = OPS[op].doc;
      const sig = instr.args.map((a, k) => `${params[k]} ${showType(a.type)}`).join(", ");
      const lines = [
        `/** ${what}: (${sig})${attrs ? `, ${attrs}` : ""} -> ${showType(instr.result.type)}. */`,
        `function ${name}(${[
          ...params.map((p, k) => `${p}: ${jsType(instr.args[k]!.type)}`), ...(tensorResult ? [`${result}: ${arrayType}`] : []),
          ...[...sizeParams.values()].map((p) => `${p}: number`),
        ].join(", ")}): ${tensorResult ? "void" : "number"} {`,
        ...(tensorResult ? [] : [`let ${result} = 0;`]),
        ...body,
        ...(tensorResult ? [] : [`return ${result};`]),
        "}",
        "",
      ];
      functions.push([...scratchDecls, ...lines]);
      return kernel;
    },
    elementwiseKernel(instr) {
      const spec = Object.hasOwn(WHOLE, instr.op) ? WHOLE[instr.op as keyof typeof WHOLE] : undefined;
      if (!simd || spec === undefined) return undefined;
      if (instr.result.type.kind !== "tensor" || instr.args.some((a) => a.type.kind !== "tensor")) return undefined;
      const known = elementwise.get(instr.op);
      if (known) return known;
      const name = moduleNames.fresh(`${instr.op}Layer`);
      elementwise.set(instr.op, name);
      const lanes = simd.dtype === "float64" ? "f64x2" : "f32x4";
      const what = spec.what(lanes);
      simdKernels.push(place({ fn: spec.kernel(name, simd.dtype), buffers: [], what }, elementBytes));
      const js = (OPS[instr.op].emit as { js: (a: string[]) => string }).js;
      const R = runtimeNames();
      const { params } = spec;
      const out = params[params.length - 1]!;
      const inMemory = params.map((q) => `${q}.buffer === simd.memory.buffer`).join(" && ");
      const unary = params.length === 2;
      functions.push([
        `/** ${OPS[instr.op].doc}, elementwise over whole buffers (${params.join(", ")}: the same length). */`,
        `function ${name}(${params.map((q) => `${q}: ${arrayType}`).join(", ")}): void {`,
        `const simd = ${R.kernels}();`,
        `if (simd !== null && ${inMemory}) {`,
        `// WebAssembly SIMD (${what}) on the buffers in its memory, in place`,
        `simd.${name}(${params.map((q) => `${q}.byteOffset`).join(", ")}, ${out}.length);`,
        "return;",
        "}",
        unary
          ? `for (let k = 0; k < ${out}.length; k++) {`
          : `for (let k = 0; k < ${out}.length; k++) ${out}[k] = ${js(["x[k]", "dy[k]"])};`,
        ...(unary ? ["const v = x[k];", `${out}[k] = ${js(["v"])};`, "}"] : []),
        "}",
        "",
      ]);
      return name;
    },
    residentBuffer(elements) {
      // at most 1 GiB of resident buffers (a wasm32 memory has 4); beyond, ordinary arrays
      // (only once some kernel has a Wasm version: the forms print their bodies first)
      if (!simd || simdKernels.length === 0 || arenaBytes + residentBytes(elements, elementBytes) > 2 ** 30) return undefined;
      arenaBytes += residentBytes(elements, elementBytes);
      return `${runtimeNames().resident}(${elements})`;
    },
    emit: () => {
      if (simdKernels.length === 0 && arenaBytes === 0) return [...functions];
      return [...functions, runtimeLines(simdKernels, runtimeNames(), arrayType, arenaBytes, arenaBytes > 0)];
    },
  };
}
