// Integer parameters: a `number` parameter of an entry that is used as a loop bound, a size
// or an index (SPEC section 5). Such a parameter gets no gradient, and the generated code
// checks that it is a non-negative integer on entry (an index also gets its range check).
//
// A value is "used as an integer" when it is a loop's start or end, an index operand, a
// class label, or a size symbol in a tensor's shape (zeros([n, 3]) has shape [n, 3]); the
// use flows backwards through the integer-preserving arithmetic that computes it (+ - *,
// negation, %, min, max, abs), through loop-carried values (a counter that starts at n)
// and if results. It stops at floor, ceil, round, trunc and division: Math.floor(a * 2.5)
// is an integer whatever a is.

import { Block, Func, SimpleInstr, Value, ValueId, isSimple } from "../ir/types.js";
import { symbolsOf } from "../ir/dims.js";
import { forEachDefinition, regionsOf } from "../ir/walk.js";

const PRESERVING = new Set(["add", "sub", "mul", "neg", "mod", "min", "max", "abs", "checkIndex", "select"]);

/** The names of fn's integer parameters, in parameter order. */
export function integerParams(fn: Func): string[] {
  const params = fn.body.params.filter((p) => p.type.kind === "f64");
  if (params.length === 0) return [];
  const demanded = new Set<ValueId>();
  const stack: Value[] = [];
  const demand = (v: Value | undefined): void => {
    if (v && v.type.kind === "f64" && !demanded.has(v.id)) {
      demanded.add(v.id);
      stack.push(v);
    }
  };
  const names = new Set(params.map((p) => p.name));
  const inShapes = new Set<string>();
  forEachDefinition(fn.body, (v) => {
    if (v.type.kind === "tensor") for (const d of v.type.shape) for (const s of symbolsOf(d)) inShapes.add(s);
  });

  // what defines each value, and where block parameters get their values from
  const def = new Map<ValueId, SimpleInstr>();
  const sources = new Map<ValueId, Value[]>();
  const addSource = (p: Value, v: Value): void => {
    const list = sources.get(p.id);
    if (list) list.push(v);
    else sources.set(p.id, [v]);
  };
  const blocks: Block[] = [fn.body];
  for (let n = 0; n < blocks.length; n++) {
    for (const instr of blocks[n]!.instrs) {
      if (isSimple(instr)) {
        def.set(instr.result.id, instr);
        switch (instr.op) {
          case "index":
            instr.args.slice(1).forEach(demand);
            break;
          case "store":
          case "accum":
            instr.args.slice(1, -1).forEach(demand);
            break;
          case "checkIndex":
            demand(instr.args[0]);
            break;
          case "crossEntropy":
          case "crossEntropyGrad":
            demand(instr.args[1]);
            break;
        }
      } else if (instr.op === "for") {
        demand(instr.start);
        demand(instr.end);
        instr.body.params.slice(1).forEach((p, k) => {
          addSource(p, instr.init[k]!);
          addSource(p, instr.body.yields[k]!);
          addSource(instr.results[k]!, instr.init[k]!);
          addSource(instr.results[k]!, instr.body.yields[k]!);
        });
      } else if (instr.op === "while") {
        instr.body.params.forEach((p, k) => {
          for (const q of [p, instr.cond.params[k]!, instr.results[k]!]) {
            addSource(q, instr.init[k]!);
            addSource(q, instr.body.yields[k]!);
          }
        });
      } else {
        instr.results.forEach((r, k) => {
          addSource(r, instr.then.yields[k]!);
          addSource(r, instr.else.yields[k]!);
        });
      }
      blocks.push(...regionsOf(instr));
    }
  }
  while (stack.length) {
    const v = stack.pop()!;
    for (const s of sources.get(v.id) ?? []) demand(s);
    const d = def.get(v.id);
    if (d && PRESERVING.has(d.op)) d.args.forEach((a, k) => (d.op !== "select" || k > 0) && demand(a));
  }
  return params.filter((p) => demanded.has(p.id) || inShapes.has(p.name!)).map((p) => p.name!);
}
