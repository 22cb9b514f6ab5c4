// Lowering loops. A loop carries every outer variable its body assigns: they become the
// loop's block parameters, yielded at the end of each iteration (as MLIR's scf dialect).
//
// - A counted `for (let i = A; i < B; i += k)` (k a constant, B read once: nothing the body
//   assigns) is a `for` op over any integer bounds (`j < i`, `i < n`, `i < x.length - 1`).
// - Every other loop (while, do-while, a for with any other header, or one a break or a
//   return leaves) is a `while` op: a condition block and a body block over the carried
//   values, its trip count known only at run time.
// - break, continue (also labelled) and return inside loops lower to carried flags: a flag
//   set by a jump makes the rest of the iteration skip (statements.ts guards them) and, for
//   break and return, the loop's condition false; after a loop a return left, the function
//   returns the value the loop carried out.

import ts, { type TS } from "./ts.js";
import { makeBlock, makeFor, makeIf, makeWhile } from "../ir/builder.js";
import { BOOL, F64, Type, Value, showType, typeEquals } from "../ir/types.js";
import { Env, FunctionFrame, LoopFrame, Lowering } from "./context.js";
import { lowerCondition, lowerExpr } from "./expressions.js";
import { lowerAssignment, lowerBranches, lowerStatements, stmtsOf } from "./statements.js";
import { isAssignmentOperator, skipParens } from "./source.js";

type Loop = TS.ForStatement | TS.WhileStatement | TS.DoStatement;

const FLIP: Partial<Record<TS.SyntaxKind, TS.SyntaxKind>> = {
  [ts.SyntaxKind.LessThanToken]: ts.SyntaxKind.GreaterThanToken,
  [ts.SyntaxKind.GreaterThanToken]: ts.SyntaxKind.LessThanToken,
  [ts.SyntaxKind.LessThanEqualsToken]: ts.SyntaxKind.GreaterThanEqualsToken,
  [ts.SyntaxKind.GreaterThanEqualsToken]: ts.SyntaxKind.LessThanEqualsToken,
};

/** A synthetic variable of the lowering (a flag, a loop's counter): a key of the environment. */
export function syntheticSymbol(name: string): TS.Symbol {
  return { name, escapedName: name, flags: 0, declarations: [] } as unknown as TS.Symbol;
}

// ------------------------------------------------------------------------- jumps

interface Jumps {
  /** break / continue statements that leave `node` for an enclosing loop, by that loop. */
  readonly breaks: Set<Loop>;
  readonly continues: Set<Loop>;
  /** A return inside a loop. */
  readonly returns: boolean;
}

/**
 * The jumps inside `node` that leave it: breaks and continues to enclosing loops (`loops`,
 * innermost last), and returns. Jumps to loops inside `node` stay inside.
 */
export function jumpsOut(cx: Lowering, node: TS.Node, loops: readonly LoopFrame[]): Jumps {
  const out: Jumps = { breaks: new Set(), continues: new Set(), returns: false };
  const inner: { loop: TS.Node; label?: string }[] = [];
  const target = (label: TS.Identifier | undefined): Loop | "inner" | undefined => {
    if (label) {
      if (inner.some((l) => l.label === label.text)) return "inner";
      return [...loops].reverse().find((l) => l.label === label.text)?.node;
    }
    return inner.length ? "inner" : loops[loops.length - 1]?.node;
  };
  const visit = (n: TS.Node): void => {
    if (ts.isFunctionLike(n)) return;
    if (ts.isBreakStatement(n) || ts.isContinueStatement(n)) {
      const t = target(n.label);
      if (t && t !== "inner") (ts.isBreakStatement(n) ? out.breaks : out.continues).add(t);
      return;
    }
    if (ts.isReturnStatement(n)) {
      (out as { returns: boolean }).returns = true;
      return;
    }
    if (isLoop(n)) {
      inner.push({ loop: n, ...(ts.isLabeledStatement(n.parent) ? { label: n.parent.label.text } : {}) });
      ts.forEachChild(n, visit);
      inner.pop();
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
  void cx;
  return out;
}

export function isLoop(n: TS.Node): n is Loop {
  return ts.isForStatement(n) || ts.isWhileStatement(n) || ts.isDoStatement(n);
}

// ------------------------------------------------------------------------- counted for

interface ForHeader {
  readonly ivName: string;
  readonly ivSym: TS.Symbol;
  readonly start: TS.Expression;
  readonly bound: TS.Expression;
  /** The comparison, with the counter on the left. */
  readonly op: TS.SyntaxKind;
  readonly step: number;
}

/** The counter, bounds and step of `for (let i = A; i < B; i += k)`, or undefined for another form. */
function countedHeader(cx: Lowering, s: TS.ForStatement, env: Env): ForHeader | undefined {
  const init = s.initializer;
  if (!init || !ts.isVariableDeclarationList(init) || init.declarations.length !== 1 || !(init.flags & ts.NodeFlags.Let)) return undefined;
  const decl = init.declarations[0]!;
  if (!ts.isIdentifier(decl.name) || !decl.initializer) return undefined;
  const ivSym = cx.symbolOf(decl.name)!;
  const isIv = (e: TS.Expression): boolean => ts.isIdentifier(skipParens(e)) && cx.symbolOf(skipParens(e)) === ivSym;
  const inc = s.incrementor ? skipParens(s.incrementor) : undefined;
  let step: number | undefined;
  if (inc && (ts.isPrefixUnaryExpression(inc) || ts.isPostfixUnaryExpression(inc)) && isIv(inc.operand)) {
    if (inc.operator === ts.SyntaxKind.PlusPlusToken) step = 1;
    if (inc.operator === ts.SyntaxKind.MinusMinusToken) step = -1;
  } else if (inc && ts.isBinaryExpression(inc) && isIv(inc.left)) {
    const k = staticNumber(cx, inc.right, env);
    if (k !== undefined && Number.isInteger(k)) {
      if (inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken) step = k;
      if (inc.operatorToken.kind === ts.SyntaxKind.MinusEqualsToken) step = -k;
    }
  }
  if (step === undefined || step === 0) return undefined;
  const cond = s.condition ? skipParens(s.condition) : undefined;
  if (!cond || !ts.isBinaryExpression(cond)) return undefined;
  let op: TS.SyntaxKind = cond.operatorToken.kind;
  let bound: TS.Expression;
  if (isIv(cond.left)) bound = cond.right;
  else if (isIv(cond.right)) {
    bound = cond.left;
    op = FLIP[op] ?? op;
  } else return undefined;
  const up = op === ts.SyntaxKind.LessThanToken || op === ts.SyntaxKind.LessThanEqualsToken;
  const down = op === ts.SyntaxKind.GreaterThanToken || op === ts.SyntaxKind.GreaterThanEqualsToken;
  if (!(step > 0 ? up : down)) return undefined;
  // the bound is read once: nothing the body (or the counter) changes may appear in it
  const changed = new Set([...assignedIn(cx, s.statement, env), ivSym]);
  if (mentions(cx, bound, changed)) return undefined;
  return { ivName: decl.name.text, ivSym, start: decl.initializer, bound, op, step };
}

/** A number known at compile time (a loop step), lowered into a block that is thrown away. */
function staticNumber(cx: Lowering, e: TS.Expression, env: Env): number | undefined {
  let k: number | undefined;
  cx.b.block(() => void (k = cx.known(lowerExpr(cx, e, env))));
  return k;
}

/** Does `e` read any of the variables `syms`? */
function mentions(cx: Lowering, e: TS.Node, syms: ReadonlySet<TS.Symbol>): boolean {
  let found = false;
  const visit = (n: TS.Node): void => {
    if (found) return;
    if (ts.isIdentifier(n)) {
      const sym = cx.symbolOf(n);
      if (sym && syms.has(sym)) found = true;
    }
    ts.forEachChild(n, visit);
  };
  visit(e);
  return found;
}

/** The outer variables a loop body assigns (they become loop-carried values), in order. */
export function assignedIn(cx: Lowering, body: TS.Node, env: Env): TS.Symbol[] {
  const assigned: TS.Symbol[] = [];
  const stack: TS.Node[] = [body];
  const targets: TS.Expression[] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (ts.isBinaryExpression(n) && isAssignmentOperator(n.operatorToken.kind)) {
      // [h, c] = cell(...) assigns each name it lists
      const left = skipParens(n.left);
      if (ts.isArrayLiteralExpression(left)) targets.push(...left.elements.filter((el) => !ts.isOmittedExpression(el)));
      else targets.push(n.left);
    }
    else if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
      (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) targets.push(n.operand);
    const children: TS.Node[] = [];
    ts.forEachChild(n, (c) => void children.push(c));
    for (let k = children.length - 1; k >= 0; k--) stack.push(children[k]!);
  }
  for (const target of targets) {
    let base = skipParens(target);
    while (ts.isElementAccessExpression(base)) base = skipParens(base.expression);
    if (!ts.isIdentifier(base)) continue;
    const sym = cx.symbolOf(base);
    if (sym && env.has(sym) && !assigned.includes(sym)) assigned.push(sym);
  }
  return assigned;
}

// ------------------------------------------------------------------------- lowering

export function lowerLoop(cx: Lowering, s: Loop, env: Env): void {
  const label = ts.isLabeledStatement(s.parent) ? s.parent.label.text : undefined;
  const frame: LoopFrame = { node: s, ...(label ? { label } : {}), broke: syntheticSymbol("broke"), skip: syntheticSymbol("skip") };
  const jumps = jumpsOut(cx, s.statement, [...cx.loops, frame]);
  const fn = cx.frames[cx.frames.length - 1]!;
  if (jumps.returns) prepareReturn(cx, s, fn, env);
  if (ts.isForStatement(s)) {
    const header = countedHeader(cx, s, env);
    const leaves = jumps.breaks.size > 0 || jumps.returns || [...jumps.continues].some((l) => l !== s);
    if (header && !leaves) return lowerCounted(cx, s, header, frame, env);
  }
  lowerGeneral(cx, s, frame, jumps, env);
}

/**
 * The frame of a function being lowered. A return inside a loop needs the function's type
 * before the loop: the declared return type, or number when TypeScript infers number.
 */
export function functionFrame(cx: Lowering, fn: TS.FunctionDeclaration, declared: Type | null): FunctionFrame {
  let type = declared;
  if (!type) {
    const sig = cx.src.checker.getSignatureFromDeclaration(fn);
    const ret = sig ? cx.src.checker.getReturnTypeOfSignature(sig) : undefined;
    if (ret && ret.flags & ts.TypeFlags.NumberLike) type = F64;
  }
  return { returned: syntheticSymbol("returned"), value: syntheticSymbol("result"), type, loopDepth: cx.loops.length };
}

/** Before a loop with a return inside: the function's flag and value, carried out of the loop. */
function prepareReturn(cx: Lowering, s: Loop, fn: FunctionFrame, env: Env): void {
  if (env.has(fn.returned)) return;
  env.set(fn.returned, cx.constant(0));
  if (!fn.type) {
    cx.fail(s, "ADG1007", "A return inside a loop needs the function's return type.",
      "Declare the return type, e.g. function f(x: Tensor<[N]>): Tensor<[N]> { ... }.");
  }
  env.set(fn.value, fn.type!.kind === "tensor" ? cx.b.emit("zeros", [], { shape: fn.type!.shape }) : cx.constant(0));
}

/** The body of a loop iteration, with its continue flag; returns nothing (returns inside set flags). */
function lowerBody(cx: Lowering, s: Loop, frame: LoopFrame, env: Env): void {
  env.set(frame.skip, cx.constant(0));
  cx.loops.push(frame);
  try {
    lowerStatements(cx, stmtsOf(s.statement), env);
  } finally {
    cx.loops.pop();
  }
}

function lowerCounted(cx: Lowering, s: TS.ForStatement, h: ForHeader, frame: LoopFrame, env: Env): void {
  const { b } = cx;
  const start = lowerExpr(cx, h.start, env, h.ivName);
  const bound = lowerExpr(cx, h.bound, env);
  for (const [v, node] of [[start, h.start], [bound, h.bound]] as const) {
    if (v.type.kind !== "f64") cx.fail(node, "ADG1018", "A loop bound must be a number.", "Compare the counter with a number: i < n.");
  }
  // i <= B runs to B + 1 (i >= B down to B - 1)
  const end = h.op === ts.SyntaxKind.LessThanEqualsToken ? cx.emit("add", [bound, cx.constant(1)], {}, h.bound)
    : h.op === ts.SyntaxKind.GreaterThanEqualsToken ? cx.emit("sub", [bound, cx.constant(1)], {}, h.bound) : bound;
  const iv = b.value(F64, h.ivName);
  carry(cx, s, frame, env, [], (bodyEnv) => {
    bodyEnv.set(h.ivSym, iv);
    lowerBody(cx, s, frame, bodyEnv);
  }, (results, init, params, instrs, yields) =>
    makeFor(results, start, end, h.step, init, makeBlock([iv, ...params], instrs, yields), cx.src.locOf(s)));
}

/**
 * A loop as a while op: for (init; cond; incr) { body }, while (cond) { body } and
 * do { body } while (cond), with break, continue and return as flags.
 */
function lowerGeneral(cx: Lowering, s: Loop, frame: LoopFrame, jumps: Jumps, env: Env): void {
  const { b } = cx;
  const fn = cx.frames[cx.frames.length - 1]!;
  // a for loop's own variables (its initializer) live in the loop: carried from the start
  const own: TS.Symbol[] = [];
  if (ts.isForStatement(s) && s.initializer) {
    const init = s.initializer;
    if (ts.isVariableDeclarationList(init)) {
      if (!(init.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const))) cx.fail(init, "ADG1002", "`var` declarations are not supported.", "Declare the loop variable with let: for (let i = 0; ...).");
      for (const d of init.declarations) {
        if (!ts.isIdentifier(d.name) || !d.initializer) cx.fail(d, "ADG1018", "A loop variable needs a name and a start value.", "Write for (let i = 0; ...).");
        const sym = cx.symbolOf(d.name)!;
        env.set(sym, lowerExpr(cx, d.initializer!, env, (d.name as TS.Identifier).text));
        own.push(sym);
      }
    } else {
      lowerExpressionAsStatement(cx, init, env);
    }
  }
  const first = ts.isDoStatement(s) ? syntheticSymbol("first") : undefined;
  if (first) env.set(first, cx.constant(1));
  const breaks = jumps.breaks.has(s);
  if (breaks) env.set(frame.broke, cx.constant(0));
  // flags this loop's body may set for enclosing loops: this loop stops for them too
  const outer = cx.loops.flatMap((f) => [...(jumps.breaks.has(f.node) ? [f.broke] : []), ...(jumps.continues.has(f.node) ? [f.skip] : [])]);
  const stops = [...(breaks ? [frame.broke] : []), ...outer, ...(jumps.returns ? [fn.returned] : [])];
  const extra = [...own, ...(first ? [first] : []), ...stops, ...(jumps.returns ? [fn.value] : [])];
  const condExpr = ts.isForStatement(s) ? s.condition : s.expression;
  const loc = cx.src.locOf(s);
  let condBlock: ReturnType<typeof makeBlock> | undefined;
  carry(cx, s, frame, env, extra, (bodyEnv) => {
    if (first) bodyEnv.set(first, cx.constant(0));
    lowerBody(cx, s, frame, bodyEnv);
    if (ts.isForStatement(s) && s.incrementor) {
      // the increment runs after a continue, not after a break or a return
      const incr = s.incrementor;
      const set = stops.filter((f) => bodyEnv.get(f) !== undefined)
        .map((f) => cx.emit("ne", [bodyEnv.get(f)!, cx.constant(0)], {}, incr));
      if (set.length === 0) lowerExpressionAsStatement(cx, incr, bodyEnv);
      else {
        const stopped = set.reduce((a, c) => cx.emit("or", [a, c], {}, incr));
        lowerBranches(cx, incr, stopped, bodyEnv, () => {}, (e) => lowerExpressionAsStatement(cx, incr, e));
      }
    }
  }, (results, init, params, instrs, yields, keys) => {
    const condParams = params.map((p) => b.value(p.type, p.name));
    const condEnv: Env = new Map(env);
    keys.forEach((k, n) => condEnv.set(k, condParams[n]));
    const condInstrs = b.block(() => {
      const go = loopCondition(cx, condExpr, condEnv, stops, first);
      condBlock = makeBlock(condParams, [], [go]);
    });
    condBlock = makeBlock(condParams, condInstrs, condBlock!.yields);
    if (!jumps.breaks.size && !jumps.returns && !outer.length) {
      // the variables an iteration changes (a carried value the body yields unchanged is not)
      checkConditionChanges(cx, s, condExpr, keys.filter((_, n) => yields[n] !== params[n]));
    }
    return makeWhile(results, init, condBlock, makeBlock(params, instrs, yields), loc);
  });
  for (const sym of own) env.delete(sym);
  if (first) env.delete(first);
  env.delete(frame.broke);
}

/** `!stopped && cond` with cond evaluated only when the loop has not stopped (a do-while's first round: true). */
function loopCondition(cx: Lowering, condExpr: TS.Expression | undefined, env: Env, stops: readonly TS.Symbol[], first: TS.Symbol | undefined): Value {
  const { b } = cx;
  const at = condExpr ?? cx.src.sourceFile;
  const truthy = (): Value => cx.emit("eq", [cx.constant(0), cx.constant(0)], {}, at);
  const falsy = (): Value => cx.emit("ne", [cx.constant(0), cx.constant(0)], {}, at);
  const user = (): Value => (condExpr ? lowerCondition(cx, condExpr, env) : truthy());
  const isSet = (flag: TS.Symbol): Value | undefined => {
    const f = env.get(flag);
    return f ? cx.emit("ne", [f, cx.constant(0)], {}, at) : undefined;
  };
  /** c ? then() : otherwise(), each side evaluated in its own branch. */
  const choose = (c: Value, then: () => Value, otherwise: () => Value): Value => {
    let tv: Value | undefined;
    let ev: Value | undefined;
    const t = b.block(() => void (tv = then()));
    const e = b.block(() => void (ev = otherwise()));
    const r = b.value(BOOL);
    b.push(makeIf([r], c, makeBlock([], t, [tv!]), makeBlock([], e, [ev!]), b.loc));
    return r;
  };
  // stopped ? false : (first ? true : cond)
  const firstRound = first ? isSet(first) : undefined;
  const running = (): Value => (firstRound ? choose(firstRound, truthy, user) : user());
  const anyStop = stops.reduce<Value | undefined>((acc, flag) => {
    const set = isSet(flag);
    if (!set) return acc;
    return acc ? cx.emit("or", [acc, set], {}, at) : set;
  }, undefined);
  return anyStop ? choose(anyStop, falsy, running) : running();
}

/**
 * A loop without break or return whose condition reads nothing an iteration changes never
 * ends (or never starts); so does one without a condition, or whose step is 0.
 */
function checkConditionChanges(cx: Lowering, s: Loop, cond: TS.Expression | undefined, changed: readonly TS.Symbol[]): void {
  if (!cond) {
    cx.fail(s, "ADG1026", "This loop has no condition and no break or return, so it never ends.",
      "Give the loop a condition, or leave it with break.");
  }
  const step = ts.isForStatement(s) && s.incrementor ? skipParens(s.incrementor) : undefined;
  if (step && ts.isBinaryExpression(step) && ts.isNumericLiteral(skipParens(step.right)) && Number((skipParens(step.right) as TS.NumericLiteral).text) === 0 &&
    (step.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken || step.operatorToken.kind === ts.SyntaxKind.MinusEqualsToken)) {
    cx.fail(step, "ADG1026", "This loop's step is 0, so its counter never changes and the loop never ends (or never runs).",
      "Step the counter by a non-zero amount: i++, i += 2.");
  }
  if (mentions(cx, cond!, new Set(changed))) return;
  cx.fail(cond!, "ADG1026", "This loop's condition reads nothing the loop changes, so the loop never ends (or never runs).",
    "Change a variable the condition reads in the loop body, or leave the loop with break.");
}

/** An expression used as a statement: a for loop's initializer or increment (i++, i *= 2, i++, j--). */
function lowerExpressionAsStatement(cx: Lowering, e: TS.Expression, env: Env): void {
  e = skipParens(e);
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.CommaToken) {
    lowerExpressionAsStatement(cx, e.left, env);
    lowerExpressionAsStatement(cx, e.right, env);
  } else if (ts.isBinaryExpression(e) && isAssignmentOperator(e.operatorToken.kind)) {
    lowerAssignment(cx, e.left, e.operatorToken.kind, e.right, e, env);
  } else if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) &&
    (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
    lowerAssignment(cx, e.operand, e.operator === ts.SyntaxKind.PlusPlusToken ? ts.SyntaxKind.PlusEqualsToken : ts.SyntaxKind.MinusEqualsToken, undefined, e, env);
  } else {
    cx.fail(e, "ADG1018", "This part of a for loop header has no effect.", "Assign or increment a variable: i++, i += 2.");
  }
}

/**
 * The carried values of a loop: the outer variables the body assigns plus `extra` keys
 * (flags, the loop's own variables). Lowers the body with them bound to block parameters,
 * checks what it yields, then builds the loop with `make` and rebinds the results.
 */
function carry(
  cx: Lowering, s: Loop, frame: LoopFrame, env: Env, extra: readonly TS.Symbol[],
  body: (bodyEnv: Env) => void,
  make: (results: Value[], init: Value[], params: Value[], instrs: ReturnType<Lowering["b"]["block"]>, yields: Value[], keys: TS.Symbol[]) =>
    ReturnType<typeof makeFor> | ReturnType<typeof makeWhile>,
): void {
  void frame;
  const { b } = cx;
  const keys = [...assignedIn(cx, s, env).filter((k) => !extra.includes(k)), ...extra.filter((k) => env.has(k))];
  for (const sym of keys) {
    if (env.get(sym) === undefined) {
      cx.fail(s, "ADG1017", `'${sym.name}' is assigned in this loop but has no value before it.`, `Initialise '${sym.name}' before the loop.`);
    }
  }
  const init = keys.map((k) => env.get(k)!);
  const params = init.map((v, k) => b.value(v.type, keys[k]!.name));
  params.forEach((p, k) => cx.aliases.merge(p, [init[k]!]));
  const firstInBody = b.nextId;
  const bodyEnv: Env = new Map(env);
  keys.forEach((k, n) => bodyEnv.set(k, params[n]));
  const writesBefore = cx.aliases.writes;
  const instrs = b.block(() => body(bodyEnv));
  keys.forEach((sym, k) => {
    const v = bodyEnv.get(sym);
    if (v) cx.aliases.checkCarried(s, sym.name, params[k]!, v, writesBefore, firstInBody);
  });
  const yields = keys.map((sym, k) => {
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
  const results = init.map((v, k) => b.value(v.type, keys[k]!.name));
  results.forEach((r, k) => cx.aliases.merge(r, [params[k]!, yields[k]!]));
  const loc = cx.src.locOf(s);
  b.loc = loc;
  const loop = make(results, init, params, instrs, yields, keys);
  b.push(loop);
  keys.forEach((k, n) => env.set(k, results[n]));
}

export type { Type };
