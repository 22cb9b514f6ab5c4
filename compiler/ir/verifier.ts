// Checks the IR invariants listed in types.ts. Runs after every pass; a failure names the
// pass that broke the IR, and is an internal compiler error (never the user's fault).

import { isCallableRule } from "./inline.js";
import { inferType } from "../ops/index.js";
import { Block, Func, GradFunc, Instr, Type, Value, ValueId, isSimple, showType, typeEquals } from "./types.js";

export class VerifierError extends Error {}

export function verifyFunc(fn: Func | GradFunc, afterPass: string, rules = fn.rules): void {
  const defined = new Set<ValueId>();
  const problems: string[] = [];
  const where = (instr: Instr): string => `${instr.op} at line ${instr.loc.line}`;

  const define = (v: Value, what: string): void => {
    if (defined.has(v.id)) problems.push(`value %${v.id} defined twice (${what})`);
    defined.add(v.id);
  };
  const sameTypes = (got: readonly Value[], want: readonly Type[], what: string): void => {
    if (got.length !== want.length) {
      problems.push(`${what}: ${got.length} values where ${want.length} are expected`);
      return;
    }
    got.forEach((v, i) => {
      if (!typeEquals(v.type, want[i]!)) {
        problems.push(`${what}: value %${v.id} has type ${showType(v.type)}, expected ${showType(want[i]!)}`);
      }
    });
  };

  // one set of the values in scope: a block's own are removed when it ends (no copy per block)
  const local = new Set<ValueId>();
  const checkBlock = (block: Block): void => {
    const mark: ValueId[] = [];
    const enter = (v: Value): void => {
      if (!local.has(v.id)) mark.push(v.id);
      local.add(v.id);
    };
    const use = (v: Value, what: string): void => {
      if (!local.has(v.id)) problems.push(`${what} uses %${v.id}, which is not in scope`);
    };
    for (const p of block.params) {
      define(p, "block parameter");
      enter(p);
    }
    for (const instr of block.instrs) {
      if (isSimple(instr)) {
        instr.args.forEach((a) => use(a, where(instr)));
        const t = inferType(instr.op, instr.args.map((a) => a.type), instr.attrs);
        if (typeof t === "string") problems.push(`${where(instr)}: ${t}`);
        else if (!typeEquals(t, instr.result.type)) {
          problems.push(`${where(instr)}: result has type ${showType(instr.result.type)}, expected ${showType(t)}`);
        }
        if (instr.op === "custom") {
          // rules[vjp] takes (...inputs, y, dy); rules[jvp] (...inputs, y, ...tangents)
          const { vjp, jvp } = instr.attrs as { vjp?: number; jvp?: number };
          const n = instr.args.length - 1;
          for (const [k, arity] of [[vjp, n + 2], [jvp, 2 * n + 1]] as const) {
            if (k === undefined) continue;
            const rule = rules?.[k];
            if (!rule) problems.push(`${where(instr)}: no derivative rule ${k}`);
            else if (rule.body.params.length !== arity) problems.push(`${where(instr)}: rule ${k} takes ${rule.body.params.length} parameters, not ${arity}`);
          }
        }
        if (instr.op === "call") {
          // a rule of numbers, called with one number per parameter
          const { rule: k, name } = instr.attrs as { rule: number; name: string };
          const rule = rules?.[k];
          if (!rule) problems.push(`${where(instr)}: no derivative rule ${k}`);
          else if (rule.name !== name) problems.push(`${where(instr)}: rule ${k} is ${rule.name}, not ${name}`);
          else if (rule.body.params.length !== instr.args.length) problems.push(`${where(instr)}: rule ${k} takes ${rule.body.params.length} parameters, not ${instr.args.length}`);
          else if (!isCallableRule(rule)) problems.push(`${where(instr)}: rule ${k} (${name}) is not a function of numbers`);
        }
      } else if (instr.op === "if") {
        use(instr.cond, where(instr));
        if (instr.cond.type.kind !== "bool") problems.push(`${where(instr)}: condition is not a boolean`);
        const want = instr.results.map((r) => r.type);
        checkBlock(instr.then);
        checkBlock(instr.else);
        if (instr.then.params.length || instr.else.params.length) problems.push(`${where(instr)}: branches take no parameters`);
        sameTypes(instr.then.yields, want, `${where(instr)} then-yield`);
        sameTypes(instr.else.yields, want, `${where(instr)} else-yield`);
      } else if (instr.op === "while") {
        instr.init.forEach((a) => use(a, where(instr)));
        const want = instr.results.map((r) => r.type);
        sameTypes(instr.init, want, `${where(instr)} init`);
        sameTypes(instr.cond.params, want, `${where(instr)} cond parameters`);
        sameTypes(instr.body.params, want, `${where(instr)} body parameters`);
        checkBlock(instr.cond);
        checkBlock(instr.body);
        if (instr.cond.yields.length !== 1 || instr.cond.yields[0]!.type.kind !== "bool") problems.push(`${where(instr)}: cond must yield one boolean`);
        sameTypes(instr.body.yields, want, `${where(instr)} yield`);
      } else {
        instr.init.forEach((a) => use(a, where(instr)));
        use(instr.start, where(instr));
        use(instr.end, where(instr));
        if (instr.start.type.kind !== "f64" || instr.end.type.kind !== "f64") problems.push(`${where(instr)}: bounds must be numbers`);
        if (instr.step === 0 || !Number.isInteger(instr.step)) problems.push(`${where(instr)}: the step must be a non-zero integer`);
        const [iv, ...carried] = instr.body.params;
        if (!iv || iv.type.kind !== "f64") problems.push(`${where(instr)}: the induction variable must be f64`);
        const want = instr.results.map((r) => r.type);
        sameTypes(instr.init, want, `${where(instr)} init`);
        sameTypes(carried, want, `${where(instr)} carried`);
        checkBlock(instr.body);
        sameTypes(instr.body.yields, want, `${where(instr)} yield`);
      }
      for (const r of isSimple(instr) ? [instr.result] : instr.results) {
        define(r, where(instr));
        enter(r);
      }
    }
    for (const y of block.yields) use(y, "yield");
    for (const id of mark) local.delete(id);
  };

  checkBlock(fn.body);
  // the derivative rules: closed functions (they read only their parameters)
  if (fn.rules) fn.rules.forEach((r, k) => {
    try {
      verifyFunc({ ...r, rules: undefined }, afterPass, fn.rules);
    } catch (e) {
      problems.push(`derivative rule ${k} (${r.name}): ${e instanceof Error ? e.message : e}`);
    }
  });
  if ("splitAt" in fn && (fn.splitAt < 0 || fn.splitAt > fn.body.instrs.length)) {
    problems.push(`splitAt ${fn.splitAt} is out of range`);
  }
  if (problems.length) {
    throw new VerifierError(
      `IR verification failed after pass '${afterPass}' in function '${fn.name}':\n  ` + problems.slice(0, 20).join("\n  "),
    );
  }
}
