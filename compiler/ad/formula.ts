// Derivative rules written as one line of math, as Tangent writes its templates:
//
//   asin:  dx = "dy / sqrt(1 - x*x)"
//
// A formula is parsed once, when the op table is loaded, into a small tree; applying it
// emits IR through the builder, operands left to right, so `dy / sqrt(1 - x*x)` becomes
// const 1, mul x x, sub, sqrt, div — the instructions a hand-written builder call would
// emit, in the same order.
//
// Grammar (usual precedence, all operators left-associative except **):
//   expr   := or
//   or     := and ("||" and)*
//   and    := cmp ("&&" cmp)*
//   cmp    := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
//   sum    := term (("+" | "-") term)*
//   term   := unary (("*" | "/") unary)*
//   unary  := "-" unary | power
//   power  := atom ("**" unary)?
//   atom   := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
// Names are the rule's variables (x, y, dy, a, b, ... as the rule binds them) or the
// constants ln2 and ln10; calls name an op of the IR (sqrt, sign, pow, select, ...).

import { Builder } from "../ir/builder.js";
import { SimpleOp, Value } from "../ir/types.js";
import { evaluate } from "../ops/index.js";

type Node =
  | { readonly k: "num"; readonly v: number }
  | { readonly k: "var"; readonly name: string }
  | { readonly k: "op"; readonly op: SimpleOp; readonly args: readonly Node[] };

const CONSTANTS: Record<string, number> = { ln2: Math.LN2, ln10: Math.LN10 };
const INFIX: Record<string, SimpleOp> = {
  "+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow",
  "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne", "&&": "and", "||": "or",
};

/** A parsed formula: emits its value given the rule's variables. */
export interface Formula {
  readonly text: string;
  emit(b: Builder, vars: Readonly<Record<string, Value>>): Value;
}

export function formula(text: string): Formula {
  const tokens = text.match(/\d+(\.\d+)?(e-?\d+)?|[A-Za-z_]\w*|\*\*|<=|>=|==|!=|&&|\|\||\S/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`formula '${text}': unexpected end`);
    return t;
  };
  const expect = (t: string): void => {
    const got = next();
    if (got !== t) throw new Error(`formula '${text}': expected '${t}', got '${got}'`);
  };
  const binary = (ops: readonly string[], operand: () => Node) => (): Node => {
    let left = operand();
    while (ops.includes(peek() ?? "")) {
      const op = INFIX[next()]!;
      left = { k: "op", op, args: [left, operand()] };
    }
    return left;
  };
  const atom = (): Node => {
    const t = next();
    if (t === "(") {
      const e = expr();
      expect(")");
      return e;
    }
    if (/^\d/.test(t)) return { k: "num", v: Number(t) };
    if (!/^[A-Za-z_]/.test(t)) throw new Error(`formula '${text}': unexpected '${t}'`);
    if (peek() !== "(") return t in CONSTANTS ? { k: "num", v: CONSTANTS[t]! } : { k: "var", name: t };
    next();
    const args = [expr()];
    while (peek() === ",") {
      next();
      args.push(expr());
    }
    expect(")");
    return { k: "op", op: t as SimpleOp, args };
  };
  const power = (): Node => {
    const base = atom();
    if (peek() !== "**") return base;
    next();
    return { k: "op", op: "pow", args: [base, unary()] };
  };
  const unary = (): Node => {
    if (peek() !== "-") return power();
    next();
    return { k: "op", op: "neg", args: [unary()] };
  };
  const term = binary(["*", "/"], unary);
  const sum = binary(["+", "-"], term);
  const cmp = (): Node => {
    const left = sum();
    const t = peek();
    if (t === undefined || !["<", "<=", ">", ">=", "==", "!="].includes(t)) return left;
    next();
    return { k: "op", op: INFIX[t]!, args: [left, sum()] };
  };
  const and = binary(["&&"], cmp);
  const or = binary(["||"], and);
  const expr = or;
  const tree = expr();
  if (pos !== tokens.length) throw new Error(`formula '${text}': unexpected '${tokens[pos]}'`);

  // Ops on constants are computed here, and a select on a known condition emits only the
  // side it takes: `select(b == 0, 0, ...)` for pow with the literal exponent 2 is just the
  // second side, also when the simplifier does not run (--no-simplify).
  const emitNode = (b: Builder, vars: Readonly<Record<string, Value>>, n: Node, known: Map<Value, number | boolean>): Value => {
    switch (n.k) {
      case "num": {
        const v = b.const(n.v);
        known.set(v, n.v);
        return v;
      }
      case "var": {
        const v = vars[n.name];
        if (!v) throw new Error(`formula '${text}': no variable '${n.name}'`);
        const k = b.constantOf(v);
        if (k !== undefined) known.set(v, k);
        return v;
      }
      case "op": {
        if (n.op === "select") {
          const c = emitNode(b, vars, n.args[0]!, known);
          const k = known.get(c);
          if (typeof k === "boolean") return emitNode(b, vars, n.args[k ? 1 : 2]!, known);
          const [x, y] = [emitNode(b, vars, n.args[1]!, known), emitNode(b, vars, n.args[2]!, known)];
          return b.emit("select", [c, x, y], {});
        }
        const args = n.args.map((a) => emitNode(b, vars, a, known));
        const consts = args.map((a) => known.get(a));
        if (consts.length && consts.every((k) => k !== undefined) && n.op !== "and" && n.op !== "or") {
          const v = evaluate(n.op, consts as number[]);
          if (typeof v === "boolean") {
            const r = b.emit(n.op, args, {} as never);
            known.set(r, v);
            return r;
          }
        }
        if ((n.op === "and" || n.op === "or") && consts.every((k) => typeof k === "boolean")) {
          const r = b.emit(n.op, args, {} as never);
          known.set(r, n.op === "and" ? (consts[0] as boolean) && (consts[1] as boolean) : (consts[0] as boolean) || (consts[1] as boolean));
          return r;
        }
        return b.emit(n.op, args, {} as never);
      }
    }
  };
  return { text, emit: (b, vars) => emitNode(b, vars, tree, new Map()) };
}
