// What every exported form of an entry shares: the module's names and kernels, the entry's
// IR, its export names, and small helpers for signatures, comments and size checks.

import { Block, Func, GradFunc, SimpleInstr, Type, Value, ValueId } from "../../ir/types.js";
import { LoweredEntry } from "../../frontend/lowerModule.js";
import { BodyPrinter, commentText, createBodyPrinter } from "../body/printer.js";
import { BodySettings } from "../body/settings.js";
import { StoragePlan, planStorage } from "../body/storage.js";
import { analyzeUses } from "../body/uses.js";
import { KernelRegistry } from "../kernels/registry.js";
import { NameScope } from "../names.js";

export interface FormContext {
  readonly entry: LoweredEntry;
  readonly primal: Func;
  readonly grad: GradFunc;
  /** The names the module exports for this entry (see exportNamesOf). */
  readonly ex: Readonly<Record<string, string>>;
  readonly moduleNames: NameScope;
  readonly kernels: KernelRegistry;
  readonly arrayType: string;
  readonly sourceLines: readonly string[];
  readonly file: string;
  /** The module's size-check helper: checkSize(buffer, size, label, shape) throws a RangeError. */
  readonly checkSize: { readonly name: string; used: boolean };
  readonly layerOf: (instr: SimpleInstr) => string | undefined;
}

export const jsType = (t: Type, arrayType: string): string => (t.kind === "tensor" ? arrayType : t.kind === "bool" ? "boolean" : "number");
export const shapeOf = (t: Type): readonly number[] => (t.kind === "tensor" ? t.shape : []);

/** `// line N: source` (or `// adjoint of line N: ...`) for the statements that come from line N. */
export function lineComment(cx: FormContext, prefix: string): (line: number) => string {
  return (line) => `// ${prefix}line ${line}: ${commentText(cx.sourceLines[line - 1] ?? "")}`;
}

/** One size check per tensor parameter, through the module's checkSize helper. */
export function sizeChecks(cx: FormContext, params: readonly Value[], nameOf: (v: Value) => string, fn: string): string[] {
  return params.flatMap((p) => (p.type.kind === "tensor" ? [sizeCheck(cx, nameOf(p), `${fn}: ${p.name ?? nameOf(p)}`, p.type.shape)] : []));
}

export function sizeCheck(cx: FormContext, expr: string, label: string, shape: readonly number[]): string {
  const n = shape.reduce((a, d) => a * d, 1);
  cx.checkSize.used = true;
  return `${cx.checkSize.name}(${expr}, ${n}, ${JSON.stringify(label)}, "[${shape.join(", ")}]");`;
}

/** The analyses and printer of one function body. */
export function printerFor(
  cx: FormContext, body: Block, names: NameScope, extra: Partial<BodySettings> & { keep?: ReadonlySet<ValueId>; copyViews?: boolean },
  bindOutputs?: (plan: StoragePlan) => void,
): BodyPrinter {
  const uses = analyzeUses(body);
  const plan = planStorage(body, uses, {
    readonly: new Set(body.params.map((p) => p.id)), keep: extra.keep ?? new Set(), copyViews: extra.copyViews ?? false,
  });
  bindOutputs?.(plan);
  const adjoints = "adjoints" in cx.grad && body === cx.grad.body ? new Map(cx.grad.adjoints ?? []) : undefined;
  return createBodyPrinter(body, uses, plan, names, {
    arrayType: cx.arrayType, kernels: cx.kernels, layerOf: cx.layerOf, ...(adjoints ? { adjoints } : {}), ...extra,
  });
}
