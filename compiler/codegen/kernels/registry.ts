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
  /** The kernel functions, in order of creation. */
  emit(): string[];
}

/** `--target wasm`: kernels that have a WebAssembly SIMD version start with a call of it. */
export interface SimdTarget {
  readonly dtype: "float64" | "float32";
}

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
    residentBuffer(elements) {
      // at most 1 GiB of resident buffers (a wasm32 memory has 4); beyond, ordinary arrays
      // (only once some kernel has a Wasm version: the forms print their bodies first)
      if (!simd || simdKernels.length === 0 || arenaBytes + residentBytes(elements, elementBytes) > 2 ** 30) return undefined;
      arenaBytes += residentBytes(elements, elementBytes);
      return `${runtimeNames().resident}(${elements})`;
    },
    emit: () => {
      if (simdKernels.length === 0 && arenaBytes === 0) return functions.flat();
      return [...functions.flat(), ...runtimeLines(simdKernels, runtimeNames(), arrayType, arenaBytes, arenaBytes > 0)];
    },
  };
}
