// Lowering `for` loops. A loop carries every outer variable its body assigns: they become
// the loop's block parameters, yielded at the end of each iteration (as MLIR's scf.for).

import ts, { type TS } from "./ts.js";
import { makeBlock, makeFor } from "../ir/builder.js";
import { F64, showType, typeEquals } from "../ir/types.js";
import { Env, Lowering } from "./context.js";
import { requireInt } from "./expressions.js";
import { containsReturn, lowerStatements, stmtsOf } from "./statements.js";
import { isAssignmentOperator, skipParens } from "./source.js";

const FLIP: Partial<Record<TS.SyntaxKind, TS.SyntaxKind>> = {
  [ts.SyntaxKind.LessThanToken]: ts.SyntaxKind.GreaterThanToken,
  [ts.SyntaxKind.GreaterThanToken]: ts.SyntaxKind.LessThanToken,
  [ts.SyntaxKind.LessThanEqualsToken]: ts.SyntaxKind.GreaterThanEqualsToken,
  [ts.SyntaxKind.GreaterThanEqualsToken]: ts.SyntaxKind.LessThanEqualsToken,
};

interface ForHeader {
  readonly ivName: string;
  readonly ivSym: TS.Symbol;
  readonly start: number;
  readonly end: number;
  readonly step: number;
}

/** The counter, bounds and step of `for (let i = START; i < END; i += STEP)`. */
function forHeader(cx: Lowering, s: TS.ForStatement, env: Env): ForHeader {
  const bad = (node: TS.Node, what: string): never =>
    cx.fail(node, "ADG1018", `Unsupported for loop: ${what}.`, "Write for (let i = START; i < END; i++) with static START and END.");
  const init = s.initializer;
  if (!init || !ts.isVariableDeclarationList(init) || init.declarations.length !== 1 || !(init.flags & ts.NodeFlags.Let)) {
    return bad(init ?? s, "the loop must declare one counter with let");
  }
  const decl = init.declarations[0]!;
  if (!ts.isIdentifier(decl.name) || !decl.initializer) return bad(decl, "the counter needs a name and a start value");
  const ivName = (decl.name as TS.Identifier).text;
  const ivSym = cx.symbolOf(decl.name)!;
  const start = requireInt(cx, decl.initializer!, env, "The loop start");
  const isIv = (e: TS.Expression): boolean => ts.isIdentifier(skipParens(e)) && cx.symbolOf(skipParens(e)) === ivSym;

  const inc = s.incrementor ? skipParens(s.incrementor) : undefined;
  let step: number | undefined;
  if (inc && (ts.isPrefixUnaryExpression(inc) || ts.isPostfixUnaryExpression(inc)) && isIv(inc.operand)) {
    if (inc.operator === ts.SyntaxKind.PlusPlusToken) step = 1;
    if (inc.operator === ts.SyntaxKind.MinusMinusToken) step = -1;
  } else if (inc && ts.isBinaryExpression(inc) && isIv(inc.left)) {
    if (inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken) step = requireInt(cx, inc.right, env, "The loop step");
    if (inc.operatorToken.kind === ts.SyntaxKind.MinusEqualsToken) step = -requireInt(cx, inc.right, env, "The loop step");
  }
  if (step === undefined || step === 0) return bad(inc ?? s, "the counter must change by a non-zero constant (i++, i--, i += 2)");

  const cond = s.condition ? skipParens(s.condition) : undefined;
  if (!cond || !ts.isBinaryExpression(cond)) return bad(cond ?? s, "the condition must compare the counter with a static bound");
  let op: TS.SyntaxKind = cond.operatorToken.kind;
  let boundExpr: TS.Expression;
  if (isIv(cond.left)) boundExpr = cond.right;
  else if (isIv(cond.right)) {
    boundExpr = cond.left;
    op = FLIP[op] ?? op;
  } else return bad(cond, "the condition must compare the counter with a static bound");
  const bound = requireInt(cx, boundExpr!, env, "The loop bound");
  let end: number;
  if (step > 0 && op === ts.SyntaxKind.LessThanToken) end = bound;
  else if (step > 0 && op === ts.SyntaxKind.LessThanEqualsToken) end = bound + 1;
  else if (step < 0 && op === ts.SyntaxKind.GreaterThanToken) end = bound;
  else if (step < 0 && op === ts.SyntaxKind.GreaterThanEqualsToken) end = bound - 1;
  else return bad(cond, step > 0 ? "a counting-up loop must test i < N or i <= N" : "a counting-down loop must test i > N or i >= N");
  return { ivName, ivSym, start, end, step };
}

/** The outer variables a loop body assigns (they become loop-carried values). */
function assignedIn(cx: Lowering, body: TS.Statement, env: Env, header: ForHeader): TS.Symbol[] {
  const assigned: TS.Symbol[] = [];
  const stack: TS.Node[] = [body];
  const targets: [TS.Node, TS.Expression][] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (ts.isBinaryExpression(n) && isAssignmentOperator(n.operatorToken.kind)) targets.push([n, n.left]);
    else if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
      (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) targets.push([n, n.operand]);
    const children: TS.Node[] = [];
    ts.forEachChild(n, (c) => void children.push(c));
    for (let k = children.length - 1; k >= 0; k--) stack.push(children[k]!);
  }
  for (const [n, target] of targets) {
    let base = skipParens(target);
    while (ts.isElementAccessExpression(base)) base = skipParens(base.expression);
    if (!ts.isIdentifier(base)) continue;
    const sym = cx.symbolOf(base);
    if (sym === header.ivSym) cx.fail(n, "ADG1018", `The loop body assigns the counter '${header.ivName}'.`, "The counter changes only in the loop header.");
    if (sym && env.has(sym) && !assigned.includes(sym)) assigned.push(sym);
  }
  return assigned;
}

export function lowerFor(cx: Lowering, s: TS.ForStatement, env: Env): void {
  const header = forHeader(cx, s, env);
  if (containsReturn(s.statement)) {
    cx.fail(s, "ADG1007", "A return inside a loop is not supported.", "Assign the result to a variable declared before the loop and return it after the loop.");
  }
  const assigned = assignedIn(cx, s.statement, env, header);
  for (const sym of assigned) {
    if (env.get(sym) === undefined) {
      cx.fail(s, "ADG1017", `'${sym.name}' is assigned in this loop but has no value before it.`, `Initialise '${sym.name}' before the loop.`);
    }
  }
  const { b } = cx;
  const loc = cx.src.locOf(s);
  const iv = b.value(F64, header.ivName);
  const params = assigned.map((sym) => b.value(env.get(sym)!.type, sym.name));
  params.forEach((p, k) => cx.aliases.merge(p, [env.get(assigned[k]!)!]));
  const firstInBody = b.nextId;
  const bodyEnv: Env = new Map(env);
  bodyEnv.set(header.ivSym, iv);
  assigned.forEach((sym, k) => bodyEnv.set(sym, params[k]));
  const writesBefore = cx.aliases.writes;
  const instrs = b.block(() => void lowerStatements(cx, stmtsOf(s.statement), bodyEnv));
  assigned.forEach((sym, k) => {
    const v = bodyEnv.get(sym);
    if (v) cx.aliases.checkCarried(s, sym.name, params[k]!, v, writesBefore, firstInBody);
  });
  const yields = assigned.map((sym, k) => {
    const v = bodyEnv.get(sym);
    if (v === undefined) {
      return cx.fail(s, "ADG1017", `'${sym.name}' may be unassigned at the end of the loop body.`, `Assign '${sym.name}' on every path.`);
    }
    if (!typeEquals(v.type, params[k]!.type)) {
      return cx.fail(s, "ADG1008", `'${sym.name}' changes type in the loop, from ${showType(params[k]!.type)} to ${showType(v.type)}.`,
        "A variable carried from one iteration to the next keeps its shape.");
    }
    return v;
  });
  const results = assigned.map((sym) => b.value(env.get(sym)!.type, sym.name));
  results.forEach((r, k) => cx.aliases.merge(r, [params[k]!, yields[k]!]));
  b.loc = loc;
  b.push(makeFor(results, header.start, header.end, header.step, assigned.map((sym) => env.get(sym)!), makeBlock([iv, ...params], instrs, yields), loc));
  assigned.forEach((sym, k) => env.set(sym, results[k]));
}
