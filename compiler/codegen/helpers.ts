// The module-level helpers a generated module may need, each declared once after the
// entries and only if some function uses it: the size check of a parameter, and the stack
// (Tapenade's push/pop) that a loop's forward pass pushes its values onto for the backward
// pass. A stack grows geometrically and keeps its buffer, so the allocation-free forms
// reuse it from call to call. Also the derivative rules that the code calls (a rule of
// numbers, SPEC 6): each declared once, as a plain function, by forms/rule.ts.

import { Func } from "../ir/types.js";
import { NameScope } from "./names.js";

export type HelperName = "checkSize" | "Stack" | "newStack" | "push" | "pushAll" | "grow";

/** What each helper needs declared too. */
const NEEDS: Record<HelperName, readonly HelperName[]> = {
  checkSize: [],
  Stack: [],
  newStack: ["Stack"],
  push: ["Stack", "grow"],
  pushAll: ["Stack", "grow"],
  grow: ["Stack"],
};

const ORDER: readonly HelperName[] = ["checkSize", "Stack", "newStack", "push", "pushAll", "grow"];

export class ModuleHelpers {
  private readonly used = new Set<HelperName>();
  private readonly names = new Map<HelperName, string>();

  /** The rules code may call, by their name in the DSL file; those called, with their names in the module. */
  private readonly rules = new Map<string, Func>();
  private readonly called = new Map<string, string>();

  constructor(private readonly moduleNames: NameScope) {}

  /**
   * Rules a function may call (Func.rules). A rule is lowered at each call of its helper, but
   * one of numbers only is the same function at each: the first stands for all.
   */
  addRules(rules: readonly Func[] | undefined): void {
    for (const r of rules ?? []) if (!this.rules.has(r.name)) this.rules.set(r.name, r);
  }

  /** The module's name of the rule `name` (the DSL's), which the module will now declare. */
  rule(name: string): string {
    let js = this.called.get(name);
    if (js === undefined) {
      if (!this.rules.has(name)) throw new Error(`internal: a call of the rule ${name}, which no function has`);
      js = this.moduleNames.fresh(name);
      this.called.set(name, js);
    }
    return js;
  }

  /** The rules called, with their names in the module, in the order first called. */
  calledRules(): { readonly rule: Func; readonly js: string }[] {
    return [...this.called].map(([name, js]) => ({ rule: this.rules.get(name)!, js }));
  }

  /** The name of helper h, which the module will now declare. */
  use(h: HelperName): string {
    const stack = [h];
    while (stack.length) {
      const x = stack.pop()!;
      if (this.used.has(x)) continue;
      this.used.add(x);
      stack.push(...NEEDS[x]);
    }
    return this.nameOf(h);
  }

  /** The name of h (taken on first mention) without declaring it: a type in a signature is declared by what uses it. */
  nameOf(h: HelperName): string {
    let n = this.names.get(h);
    if (n === undefined) {
      n = this.moduleNames.fresh(h);
      this.names.set(h, n);
    }
    return n;
  }

  get any(): boolean {
    return this.used.size > 0;
  }

  /** The declarations of the helpers in use. */
  emit(): string[] {
    const n = (h: HelperName): string => this.nameOf(h);
    const out: string[] = [];
    for (const h of ORDER) {
      if (!this.used.has(h)) continue;
      switch (h) {
        case "checkSize":
          out.push(
            "/** Throws a RangeError unless a buffer has the number of elements of its shape. */",
            `function ${n(h)}(buffer: ArrayLike<number>, size: number, what: string, shape: string): void {`,
            "if (buffer.length !== size) throw new RangeError(`${what} must have ${size} elements (shape ${shape}), got ${buffer.length}`);",
            "}",
            "",
          );
          break;
        case "Stack":
          out.push(
            "/** A stack of numbers: what a loop's forward pass keeps for its backward pass, in push order. */",
            `export interface ${n(h)} {`,
            "data: Float64Array;",
            "top: number;",
            "}",
            "",
          );
          break;
        case "newStack":
          out.push(
            `function ${n(h)}(): ${n("Stack")} {`,
            "return { data: new Float64Array(64), top: 0 };",
            "}",
            "",
          );
          break;
        case "push":
          out.push(
            `function ${n(h)}(stack: ${n("Stack")}, v: number): void {`,
            `if (stack.top === stack.data.length) ${n("grow")}(stack, 1);`,
            "stack.data[stack.top++] = v;",
            "}",
            "",
          );
          break;
        case "pushAll":
          out.push(
            `function ${n(h)}(stack: ${n("Stack")}, v: ArrayLike<number>): void {`,
            `if (stack.top + v.length > stack.data.length) ${n("grow")}(stack, v.length);`,
            "for (let k = 0; k < v.length; k++) stack.data[stack.top + k] = v[k]!;",
            "stack.top += v.length;",
            "}",
            "",
          );
          break;
        case "grow":
          out.push(
            "/** Makes room for n more numbers: at least doubles the buffer (amortised O(1) per push). */",
            `function ${n(h)}(stack: ${n("Stack")}, n: number): void {`,
            "const data = new Float64Array(Math.max(2 * stack.data.length, stack.top + n));",
            "data.set(stack.data.subarray(0, stack.top));",
            "stack.data = data;",
            "}",
            "",
          );
          break;
      }
    }
    return out;
  }
}
