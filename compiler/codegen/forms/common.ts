// What every exported form of an entry shares: the module's names and kernels, the entry's
// IR, its export names, and small helpers for signatures, comments and size checks.

import { Block, Func, GradFunc, SimpleInstr, Type, Value, ValueId, sizeOf } from "../../ir/types.js";
import { jsDim } from "../../ir/dims.js";
import { LoweredEntry } from "../../frontend/lowerModule.js";
import { BodyPrinter, commentText, createBodyPrinter } from "../body/printer.js";
import { BodySettings } from "../body/settings.js";
import { StoragePlan, planStorage } from "../body/storage.js";
import { analyzeUses } from "../body/uses.js";
import { KernelRegistry } from "../kernels/registry.js";
import { ModuleHelpers } from "../helpers.js";
import { Dim, showDim } from "../../ir/dims.js";
import type { SizedArray } from "./sizes.js";
import { NameScope, createNameScope } from "../names.js";

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
  /** The module's helpers (size checks, stacks). */
  readonly helpers: ModuleHelpers;
  readonly layerOf: (instr: SimpleInstr) => string | undefined;
}

export const jsType = (t: Type, arrayType: string, helpers?: ModuleHelpers): string =>
  t.kind === "tensor" ? arrayType : t.kind === "bool" ? "boolean" : t.kind === "tape" ? helpers!.nameOf("Stack") : "number";
export const shapeOf = (t: Type): readonly Dim[] => (t.kind === "tensor" ? t.shape : []);

/** `// line N: source` (or `// adjoint of line N: ...`) for the statements that come from line N. */
export function lineComment(cx: FormContext, prefix: string): (line: number) => string {
  return (line) => `// ${prefix}line ${line}: ${commentText(cx.sourceLines[line - 1] ?? "")}`;
}

/** The tensor parameters as arrays whose sizes a function binds and checks. */
export function paramArrays(params: readonly Value[], nameOf: (v: Value) => string): SizedArray[] {
  return params.flatMap((p) => (p.type.kind === "tensor" ? [{ js: nameOf(p), label: p.name ?? nameOf(p), shape: p.type.shape }] : []));
}

/** The entry's integer parameters, by name, with their JavaScript names. */
export function integerNames(cx: FormContext, params: readonly Value[], nameOf: (v: Value) => string): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of cx.primal.integers ?? []) {
    const p = params.find((q) => q.name === n);
    if (p) out.set(n, nameOf(p));
  }
  return out;
}

/** One size check per tensor parameter, through the module's checkSize helper. */
export function sizeChecks(cx: FormContext, params: readonly Value[], nameOf: (v: Value) => string, fn: string): string[] {
  return params.flatMap((p) => (p.type.kind === "tensor" ? [sizeCheck(cx, nameOf(p), `${fn}: ${p.name ?? nameOf(p)}`, p.type.shape)] : []));
}

export function sizeCheck(cx: FormContext, expr: string, label: string, shape: readonly Dim[]): string {
  const n = sizeOf(shape);
  return `${cx.helpers.use("checkSize")}(${expr}, ${jsDim(n, (s) => s)}, ${JSON.stringify(label)}, "[${shape.map(showDim).join(", ")}]");`;
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
    arrayType: cx.arrayType, kernels: cx.kernels, helpers: cx.helpers, dimName: (s) => s, layerOf: cx.layerOf,
    ...(adjoints ? { adjoints } : {}), ...extra,
  });
}

/** The workspace of an allocation-free form: its buffers and stacks, allocated on the first call. */
export class Workspace {
  private readonly slots: { name: string; size: string }[] = [];
  private readonly stacks: string[] = [];
  private readonly names = createNameScope();
  constructor(private readonly cx: FormContext, readonly variable: string) {}

  readonly settings = {
    slot: (size: string, hint: string): string => {
      const name = this.names.fresh(hint);
      this.slots.push({ name, size });
      return `${this.variable}.${name}`;
    },
    stack: (hint: string): string => {
      const name = this.names.fresh(hint);
      this.stacks.push(name);
      return `${this.variable}.${name}`;
    },
  };

  get empty(): boolean {
    return this.slots.length === 0 && this.stacks.length === 0;
  }

  /** The size variables the buffers' lengths depend on (the workspace is made again when one changes). */
  private keys(sizeVars: readonly string[]): string[] {
    return sizeVars.filter((v) => this.slots.some((s) => new RegExp(`(^|[^\\w$])${v.replace(/\$/g, "\\$")}($|[^\\w$])`).test(s.size)));
  }

  /** A slot's buffer: resident in the Wasm kernels' memory (`--target wasm`) where its size is a literal. */
  private alloc(size: string, keyed: boolean): string {
    const resident = !keyed && /^\d+$/.test(size) ? this.cx.kernels.residentBuffer(Number(size)) : undefined;
    return resident ?? `new ${this.cx.arrayType}(${size})`;
  }

  /** `let fWorkspace: { ... } | undefined;` at module level. */
  declaration(global: string, fn: string, sizeVars: readonly string[] = []): string[] {
    if (this.empty) return [];
    const stack = this.stacks.length ? this.cx.helpers.use("Stack") : "";
    const keys = this.keys(sizeVars);
    const fields = [
      ...keys.map((k) => `${k}: number`),
      ...this.slots.map((s) => `${s.name}: ${this.cx.arrayType}`), ...this.stacks.map((n) => `${n}: ${stack}`),
    ];
    const when = keys.length ? `, and again when ${keys.join(" or ")} change${keys.length === 1 ? "s" : ""}` : "";
    return [`/** Buffers of ${fn}, allocated on its first call and reused by every later call${when}. */`, `let ${global}: { ${fields.join("; ")} } | undefined;`, ""];
  }

  /** `const ws = (fWorkspace ??= { ... });` at the top of the function (after the sizes are bound). */
  binding(global: string, sizeVars: readonly string[] = []): string[] {
    if (this.empty) return [];
    const keys = this.keys(sizeVars);
    const init = [
      ...keys,
      ...this.slots.map((s) => `${s.name}: ${this.alloc(s.size, keys.length > 0)}`),
      ...this.stacks.map((n) => `${n}: ${this.cx.helpers.use("newStack")}()`),
    ];
    if (keys.length === 0) return [`const ${this.variable} = (${global} ??= { ${init.join(", ")} });`];
    const stale = keys.map((k) => `${this.variable}.${k} !== ${k}`).join(" || ");
    return [
      `let ${this.variable} = ${global};`,
      `if (${this.variable} === undefined || ${stale}) ${this.variable} = ${global} = { ${init.join(", ")} };`,
    ];
  }
}
