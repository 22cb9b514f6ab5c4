// Prints IR as text, one instruction per line:
//   %z.4: f64 = mul %x.0, %y.1                          ; line 3
// Values are renumbered in definition order before printing, so that diffs of golden
// files stay small when a pass adds or removes values elsewhere.

import {
  Block, Func, GradFunc, Instr, SimpleInstr, Value, ValueId, showType,
} from "./types.js";
import { regionsOf } from "./walk.js";
import { SymDim, showDim } from "./dims.js";
import type { Type } from "./types.js";

function fmtNumber(n: number): string {
  if (Object.is(n, -0)) return "-0";
  return String(n);
}

function fmtAttr(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(fmtAttr).join(",")}]`;
  if (typeof v === "number") return fmtNumber(v);
  if (v && typeof v === "object" && "terms" in v) return showDim(v as SymDim); // a symbolic dimension
  if (v && typeof v === "object" && "kind" in v) return showType(v as Type); // a type (a stack's element)
  return String(v);
}

export function printFunc(fn: Func | GradFunc): string {
  const numbers = new Map<ValueId, number>();
  let counter = 0;
  const number = (v: Value): void => {
    if (!numbers.has(v.id)) numbers.set(v.id, counter++);
  };
  const ref = (v: Value): string => {
    const n = numbers.get(v.id);
    const num = n === undefined ? `?${v.id}` : String(n);
    return v.name ? `%${v.name}.${num}` : `%${num}`;
  };
  const typed = (v: Value): string => `${ref(v)}: ${showType(v.type)}`;
  // loop bounds that are constants print as numbers
  const constants = new Map<ValueId, number>();
  const collect = (block: Block): void => {
    for (const instr of block.instrs) {
      if (instr.op === "const") constants.set(instr.result.id, (instr.attrs as { value: number }).value);
      regionsOf(instr).forEach(collect);
    }
  };
  collect(fn.body);
  const bound = (v: Value): string => (constants.has(v.id) ? fmtNumber(constants.get(v.id)!) : ref(v));
  const lines: string[] = [];

  const printBlock = (block: Block, indent: string): void => {
    for (const instr of block.instrs) printInstr(instr, indent);
  };

  const simple = (instr: SimpleInstr): string => {
    const attrs = Object.entries(instr.attrs as Record<string, unknown>)
      .map(([k, v]) => `${k}=${fmtAttr(v)}`)
      .join(", ");
    if (instr.op === "const") return `const ${fmtNumber((instr.attrs as { value: number }).value)}`;
    const args = instr.args.map(ref).join(", ");
    return `${instr.op}${args ? " " + args : ""}${attrs ? ` {${attrs}}` : ""}`;
  };

  const printInstr = (instr: Instr, indent: string): void => {
    const where = instr.loc.line > 0 ? `  ; line ${instr.loc.line}` : "";
    switch (instr.op) {
      case "if": {
        instr.results.forEach(number);
        const res = instr.results.length ? instr.results.map(typed).join(", ") + " = " : "";
        lines.push(`${indent}${res}if${instr.guard ? " guard" : ""} ${ref(instr.cond)} {${where}`);
        printBlock(instr.then, indent + "  ");
        lines.push(`${indent}  yield ${instr.then.yields.map(ref).join(", ")}`.trimEnd());
        lines.push(`${indent}} else {`);
        printBlock(instr.else, indent + "  ");
        lines.push(`${indent}  yield ${instr.else.yields.map(ref).join(", ")}`.trimEnd());
        lines.push(`${indent}}`);
        return;
      }
      case "for": {
        instr.results.forEach(number);
        const [iv, ...carried] = instr.body.params;
        number(iv!);
        carried.forEach(number);
        const res = instr.results.length ? instr.results.map(typed).join(", ") + " = " : "";
        const carry = carried.map((p, k) => `${typed(p)} = ${ref(instr.init[k]!)}`).join(", ");
        lines.push(
          `${indent}${res}for ${ref(iv!)} = ${bound(instr.start)} to ${bound(instr.end)} step ${instr.step}` +
            `${carry ? ` carry(${carry})` : ""} {${where}`,
        );
        printBlock(instr.body, indent + "  ");
        lines.push(`${indent}  yield ${instr.body.yields.map(ref).join(", ")}`.trimEnd());
        lines.push(`${indent}}`);
        return;
      }
      case "while": {
        instr.results.forEach(number);
        instr.cond.params.forEach(number);
        const res = instr.results.length ? instr.results.map(typed).join(", ") + " = " : "";
        const carry = instr.cond.params.map((p, k) => `${typed(p)} = ${ref(instr.init[k]!)}`).join(", ");
        lines.push(`${indent}${res}while${carry ? ` carry(${carry})` : ""} {${where}`);
        printBlock(instr.cond, indent + "  ");
        lines.push(`${indent}  test ${instr.cond.yields.map(ref).join(", ")}`);
        instr.body.params.forEach(number);
        lines.push(`${indent}} do (${instr.body.params.map(ref).join(", ")}) {`);
        printBlock(instr.body, indent + "  ");
        lines.push(`${indent}  yield ${instr.body.yields.map(ref).join(", ")}`.trimEnd());
        lines.push(`${indent}}`);
        return;
      }
      default: {
        number(instr.result);
        lines.push(`${indent}${typed(instr.result)} = ${simple(instr)}${where}`);
        return;
      }
    }
  };

  fn.body.params.forEach(number);
  const sizes = fn.sizes?.length ? `<${fn.sizes.join(", ")}>` : "";
  const integers = fn.integers?.length ? ` integers(${fn.integers.join(", ")})` : "";
  const header =
    "splitAt" in fn
      ? `grad ${fn.name}${sizes}(${fn.body.params.map(typed).join(", ")}) wrt(${fn.wrt.join(", ")})${integers} {`
      : `func ${fn.name}${sizes}(${fn.body.params.map(typed).join(", ")})${integers} {`;
  lines.push(header);
  fn.body.instrs.forEach((instr, i) => {
    if ("splitAt" in fn && i === fn.splitAt) lines.push("  ; --- backward ---");
    printInstr(instr, "  ");
  });
  if ("splitAt" in fn && fn.splitAt === fn.body.instrs.length) lines.push("  ; --- backward ---");
  lines.push(`  return ${fn.body.yields.map(ref).join(", ")}`);
  lines.push("}");
  // the derivative rules that custom instructions name: rule 0, 1, ...
  const rules = (fn.rules ?? []).map((r, k) => `; rule ${k} of ${fn.name}\n` + printFunc({ ...r, rules: undefined }));
  return [lines.join("\n") + "\n", ...rules].join("");
}
