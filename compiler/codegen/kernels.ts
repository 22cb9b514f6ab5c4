// Layer primitives (conv2d and its adjoints, pooling, linear, softmax, ...) become
// module-level kernel functions, one per distinct op, attributes and shapes, shared by
// every call site. Small functions keep each one within what the JavaScript JIT optimizes
// whole, and the entry functions read as a sequence of layer calls.

import { SimpleInstr, Type, showType } from "../ir/types.js";
import { OpEmitContext } from "./context.js";
import { NameScope } from "./names.js";
import { TENSOR_OP_EMITTERS, TensorPrimitive } from "./tensorOps.js";

const PARAMS: Record<TensorPrimitive, readonly string[]> = {
  sum: ["x"], mean: ["x"], dot: ["a", "b"],
  linear: ["x", "w", "b"], linearGradInput: ["dy", "w"], linearGradWeight: ["dy", "x"], linearGradBias: ["dy"],
  conv2d: ["x", "w", "b"], conv2dGradInput: ["dy", "w"], conv2dGradWeight: ["dy", "x"], conv2dGradBias: ["dy"],
  maxpool2d: ["x"], maxpool2dGrad: ["x", "dy"], avgpool2d: ["x"], avgpool2dGrad: ["dy"],
  softmax: ["x"], logSoftmax: ["x"], softmaxGrad: ["y", "dy"], logSoftmaxGrad: ["y", "dy"],
  crossEntropy: ["logits", "label"], crossEntropyGrad: ["logits", "label", "dy"], reluGrad: ["x", "dy"],
};

const SUMMARY: Partial<Record<TensorPrimitive, string>> = {
  linearGradInput: "the input adjoint of linear: dx = dyᵀ W",
  linearGradWeight: "the weight adjoint of linear: dW = Σ_n dy ⊗ x",
  linearGradBias: "the bias adjoint of linear: db = Σ_n dy",
  conv2dGradInput: "the input adjoint of conv2d: a transposed convolution of dy with w",
  conv2dGradWeight: "the filter adjoint of conv2d: the correlation of x with dy",
  conv2dGradBias: "the bias adjoint of conv2d: dy summed over batch and space",
  maxpool2dGrad: "the adjoint of maxpool2d: each window's dy goes to its first maximum (row-major)",
  avgpool2dGrad: "the adjoint of avgpool2d: each window's dy spread evenly over it",
  softmaxGrad: "the adjoint of softmax: dx = y (dy - Σ dy y) per row",
  logSoftmaxGrad: "the adjoint of logSoftmax: dx = dy - exp(y) Σ dy per row",
  crossEntropyGrad: "the adjoint of crossEntropy: dlogits = dy (softmax(logits) - onehot(label)) (/ N)",
  reluGrad: "the adjoint of relu: dy where x > 0, else 0",
};

export interface KernelRegistry {
  /** The name of the kernel computing instr (created on first use). */
  kernelFor(instr: SimpleInstr): string;
  /** The kernel functions, in order of creation. */
  emit(): string[];
}

export function isKernelOp(op: string): op is TensorPrimitive {
  return op in PARAMS;
}

export function createKernelRegistry(moduleNames: NameScope, arrayType: string): KernelRegistry {
  const byKey = new Map<string, string>();
  const functions: string[][] = [];
  const jsType = (t: Type): string => (t.kind === "tensor" ? arrayType : "number");
  return {
    kernelFor(instr) {
      const op = instr.op as TensorPrimitive;
      const key = JSON.stringify([op, instr.attrs, instr.args.map((a) => a.type), instr.result.type]);
      const known = byKey.get(key);
      if (known) return known;
      const name = moduleNames.fresh(op);
      byKey.set(key, name);
      const scope = moduleNames.child();
      const params = instr.args.map((_, k) => scope.fresh(PARAMS[op][k] ?? `a${k}`));
      const tensorResult = instr.result.type.kind === "tensor";
      const result = scope.fresh(tensorResult ? "out" : "result");
      const scratchDecls: string[] = [];
      const ctx: OpEmitContext = {
        instr,
        args: params,
        argTypes: instr.args.map((a) => a.type),
        result,
        resultType: instr.result.type,
        fresh: (hint) => scope.fresh(hint),
        scratch: (size, hint, kind = "float") => {
          const v = moduleNames.fresh(`${name}${hint.charAt(0).toUpperCase()}${hint.slice(1)}`);
          const t = kind === "int32" ? "Int32Array" : arrayType;
          scratchDecls.push(`let ${v}: ${t} | undefined;`);
          return `(${v} ??= new ${t}(${size}))`;
        },
      };
      const body = TENSOR_OP_EMITTERS[op](ctx);
      const attrs = Object.entries(instr.attrs as Record<string, unknown>)
        .filter(([k]) => k !== "inputShape" && k !== "weightShape")
        .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
        .join(", ");
      const what = SUMMARY[op] ?? op;
      const sig = instr.args.map((a, k) => `${params[k]} ${showType(a.type)}`).join(", ");
      const lines = [
        `/** ${what}: (${sig})${attrs ? `, ${attrs}` : ""} -> ${showType(instr.result.type)}. */`,
        `function ${name}(${[...params.map((p, k) => `${p}: ${jsType(instr.args[k]!.type)}`), ...(tensorResult ? [`${result}: ${arrayType}`] : [])].join(", ")}): ${tensorResult ? "void" : "number"} {`,
        ...(tensorResult ? [] : [`let ${result} = 0;`]),
        ...body,
        ...(tensorResult ? [] : [`return ${result};`]),
        "}",
        "",
      ];
      functions.push([...scratchDecls, ...lines]);
      return name;
    },
    emit: () => functions.flat(),
  };
}
