// Lowering statements to SSA. `if` forks the environment and merges the variables that
// differ into the if's results; an `if` containing a `return` takes the statements after it
// into both branches (the continuation), so every path ends in exactly one return.

import ts, { type TS } from "./ts.js";
import { makeBlock, makeIf } from "../ir/builder.js";
import { BinaryOp, Dim, Value, showType, typeEquals } from "../ir/types.js";
import { Env, Lowering } from "./context.js";
import { indexChain, indexValues, lowerCondition, lowerExpr, read } from "./expressions.js";
import { isLoop, jumpsOut, lowerLoop } from "./loops.js";
import { isAssignmentOperator, kindName, skipParens } from "./source.js";

const COMPOUND: Partial<Record<TS.SyntaxKind, BinaryOp | "pow" | "mod">> = {
  [ts.SyntaxKind.PlusEqualsToken]: "add",
  [ts.SyntaxKind.MinusEqualsToken]: "sub",
  [ts.SyntaxKind.AsteriskEqualsToken]: "mul",
  [ts.SyntaxKind.SlashEqualsToken]: "div",
  [ts.SyntaxKind.AsteriskAsteriskEqualsToken]: "pow",
  [ts.SyntaxKind.PercentEqualsToken]: "mod",
};

export const stmtsOf = (s: TS.Statement | undefined): readonly TS.Statement[] =>
  s === undefined ? [] : ts.isBlock(s) ? s.statements : [s];

export function containsReturn(node: TS.Node): boolean {
  // an explicit stack: statements nest as deeply as the program does
  const stack: TS.Node[] = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if (ts.isFunctionLike(n)) continue;
    if (ts.isReturnStatement(n)) return true;
    ts.forEachChild(n, (c) => void stack.push(c));
  }
  return false;
}

/**
 * Lowers statements; returns the returned value, or null if control falls off the end.
 *
 * Inside a loop, break, continue and return set flags (loops.ts): after a statement that
 * may have jumped, the rest of the block runs only if no flag it may have set is set. At
 * the function's own level, a loop a return left continues as `returned ? value : rest`.
 */
export function lowerStatements(cx: Lowering, stmts: readonly TS.Statement[], env: Env): Value | null {
  for (let k = 0; k < stmts.length; k++) {
    const s = stmts[k]!;
    cx.b.loc = cx.src.locOf(s);
    // (the statements after s, copied only where they are needed: a copy per statement
    // would make a long function quadratic)
    const rest = (): TS.Statement[] => stmts.slice(k + 1);
    if (ts.isReturnStatement(s)) {
      if (!s.expression) return cx.fail(s, "ADG1011", "A DSL function must return a number or a tensor.", "Write return <expression>.");
      if (cx.inLoop()) {
        lowerReturnInLoop(cx, s, env);
        return null;
      }
      return lowerExpr(cx, s.expression, env);
    }
    if (ts.isBreakStatement(s) || ts.isContinueStatement(s)) {
      lowerJump(cx, s, env);
      return null; // the rest of the block is unreachable
    }
    if (!cx.inLoop()) {
      if (ts.isBlock(s) && containsReturn(s)) return lowerStatements(cx, [...s.statements, ...rest()], env);
      if (ts.isIfStatement(s) && containsReturn(s)) return lowerReturningIf(cx, s, rest(), env);
    }
    const loop = loopOf(s);
    if (loop) {
      lowerLoop(cx, loop, env);
      if (!cx.inLoop() && containsReturn(loop)) return afterReturningLoop(cx, loop, rest(), env);
    } else {
      lowerStatement(cx, s, env);
    }
    if (cx.inLoop() && k + 1 < stmts.length) {
      const flags = jumpFlags(cx, s);
      if (flags.length > 0) {
        lowerUnlessJumped(cx, s, flags, rest(), env);
        return null;
      }
    }
  }
  return null;
}

/** The loop a statement is (through labels), if it is one. */
function loopOf(s: TS.Statement): ReturnType<typeof asLoop> {
  while (ts.isLabeledStatement(s)) s = s.statement;
  return asLoop(s);
}

function asLoop(s: TS.Statement): TS.ForStatement | TS.WhileStatement | TS.DoStatement | undefined {
  return isLoop(s) ? s : undefined;
}

/** The flags that a jump inside `s` may set (its breaks, continues and returns that leave it). */
function jumpFlags(cx: Lowering, s: TS.Node): TS.Symbol[] {
  const jumps = jumpsOut(cx, s, cx.loops);
  const flags: TS.Symbol[] = [];
  for (const f of cx.loops) {
    if (jumps.breaks.has(f.node)) flags.push(f.broke);
    if (jumps.continues.has(f.node)) flags.push(f.skip);
  }
  if (jumps.returns) flags.push(cx.frames[cx.frames.length - 1]!.returned);
  return flags;
}

/** break and continue: set the target loop's flag (and skip the rest of this iteration). */
function lowerJump(cx: Lowering, s: TS.BreakStatement | TS.ContinueStatement, env: Env): void {
  const label = s.label?.text;
  const target = label ? [...cx.loops].reverse().find((l) => l.label === label) : cx.loops[cx.loops.length - 1];
  if (!target || !cx.inLoop()) {
    cx.fail(s, "ADG1002", `This ${ts.isBreakStatement(s) ? "break" : "continue"} is not inside a loop of this function.`,
      "break and continue leave loops; use if/else elsewhere.");
  }
  const one = cx.constant(1);
  if (ts.isBreakStatement(s)) env.set(target!.broke, one);
  else env.set(target!.skip, one);
}

/** return inside a loop: the function's flag and value, then the loops stop. */
function lowerReturnInLoop(cx: Lowering, s: TS.ReturnStatement, env: Env): void {
  const fn = cx.frames[cx.frames.length - 1]!;
  const v = lowerExpr(cx, s.expression!, env);
  const want = env.get(fn.value)!;
  if (!typeEquals(v.type, want.type)) {
    cx.fail(s, "ADG1011", `This return gives ${showType(v.type)}, but the function returns ${showType(want.type)}.`,
      "Every return of a function gives a value of one type and shape.");
  }
  env.set(fn.value, v);
  env.set(fn.returned, cx.constant(1));
}

/** The rest of a block after a statement that may have jumped: it runs unless a flag is set. */
function lowerUnlessJumped(cx: Lowering, s: TS.Statement, flags: readonly TS.Symbol[], rest: readonly TS.Statement[], env: Env): void {
  const jumped = flags.map((f) => cx.emit("ne", [env.get(f)!, cx.constant(0)], {}, s))
    .reduce((a, c) => cx.emit("or", [a, c], {}, s));
  lowerBranches(cx, s, jumped, env, () => {}, (elseEnv) => void lowerStatements(cx, rest, elseEnv));
}

/** After a loop at the function's level that a return may have left: `returned ? value : rest`. */
function afterReturningLoop(cx: Lowering, loop: TS.Statement, rest: readonly TS.Statement[], env: Env): Value | null {
  const fn = cx.frames[cx.frames.length - 1]!;
  const returned = env.get(fn.returned)!;
  const value = env.get(fn.value)!;
  env.delete(fn.returned);
  env.delete(fn.value);
  const cond = cx.emit("ne", [returned, cx.constant(0)], {}, loop);
  let ev: Value | null = null;
  const elseInstrs = cx.b.block(() => void (ev = lowerStatements(cx, rest, new Map(env))));
  if (!ev) {
    return cx.fail(loop, "ADG1012", "Not every path after this loop returns a value.", "End the function with a return statement after the loop.");
  }
  const e = ev as Value;
  if (!typeEquals(value.type, e.type)) {
    return cx.fail(loop, "ADG1011", `The function returns ${showType(value.type)} inside this loop and ${showType(e.type)} after it.`,
      "Every return of a function gives a value of one type and shape.");
  }
  const result = cx.b.value(e.type);
  cx.aliases.merge(result, [value, e]);
  cx.b.loc = cx.src.locOf(loop);
  cx.b.push(makeIf([result], cond, makeBlock([], [], [value]), makeBlock([], elseInstrs, [e]), cx.src.locOf(loop)));
  return result;
}

/** An if with a return inside: both branches continue with the rest of the block. */
function lowerReturningIf(cx: Lowering, s: TS.IfStatement, rest: readonly TS.Statement[], env: Env): Value | null {
  const cond = lowerCondition(cx, s.expression, env);
  const fixed = cx.staticBool(cond);
  if (fixed !== undefined) return lowerStatements(cx, [...stmtsOf(fixed ? s.thenStatement : s.elseStatement), ...rest], env);
  let tv: Value | null = null;
  let ev: Value | null = null;
  const thenInstrs = cx.b.block(() => void (tv = lowerStatements(cx, [...stmtsOf(s.thenStatement), ...rest], new Map(env))));
  const elseInstrs = cx.b.block(() => void (ev = lowerStatements(cx, [...stmtsOf(s.elseStatement), ...rest], new Map(env))));
  if (!tv || !ev) {
    return cx.fail(s, "ADG1012", "Not every path through this if statement returns a value.", "Make sure the function ends with a return statement.");
  }
  const [t, e] = [tv as Value, ev as Value];
  if (!typeEquals(t.type, e.type)) {
    return cx.fail(s, "ADG1011", `The branches return different types: ${showType(t.type)} and ${showType(e.type)}.`,
      "Both paths must return values of one type and shape.");
  }
  const result = cx.b.value(t.type);
  cx.aliases.merge(result, [t, e]);
  cx.b.loc = cx.src.locOf(s);
  cx.b.push(makeIf([result], cond, makeBlock([], thenInstrs, [t]), makeBlock([], elseInstrs, [e]), cx.src.locOf(s)));
  return result;
}

const UNSUPPORTED_HINTS: Partial<Record<TS.SyntaxKind, string>> = {
  [ts.SyntaxKind.ForOfStatement]: "Use an indexed for loop: for (let i = 0; i < x.length; i++).",
  [ts.SyntaxKind.ForInStatement]: "Use an indexed for loop: for (let i = 0; i < x.length; i++).",
  [ts.SyntaxKind.TryStatement]: "DSL code cannot throw; remove try/catch.",
  [ts.SyntaxKind.ThrowStatement]: "DSL code cannot throw.",
  [ts.SyntaxKind.SwitchStatement]: "Use if/else.",
  [ts.SyntaxKind.FunctionDeclaration]: "Declare helper functions at the top level of the file, not inside another function.",
  [ts.SyntaxKind.ClassDeclaration]: "Classes are not part of the DSL; use functions.",
};

export function lowerStatement(cx: Lowering, s: TS.Statement, env: Env): void {
  if (ts.isVariableStatement(s)) return lowerDeclarations(cx, s, env);
  if (ts.isExpressionStatement(s)) return lowerExpressionStatement(cx, s, env);
  if (ts.isIfStatement(s)) return lowerIf(cx, s, env);
  const loop = loopOf(s);
  if (loop) return lowerLoop(cx, loop, env);
  if (ts.isBlock(s)) {
    lowerStatements(cx, s.statements, env);
    return;
  }
  if (ts.isEmptyStatement(s)) return;
  cx.fail(s, "ADG1002", `Unsupported statement: ${kindName(s)}.`,
    UNSUPPORTED_HINTS[s.kind] ?? "The DSL supports let/const, assignments, if/else, for, while and do-while loops, break, continue and return.");
}

function lowerDeclarations(cx: Lowering, s: TS.VariableStatement, env: Env): void {
  const list = s.declarationList;
  if (!(list.flags & (ts.NodeFlags.Const | ts.NodeFlags.Let))) cx.fail(s, "ADG1002", "`var` declarations are not supported.", "Use let or const.");
  for (const decl of list.declarations) {
    if (ts.isArrayBindingPattern(decl.name) && decl.initializer) {
      const packed = lowerExpr(cx, decl.initializer, env);
      destructure(cx, decl.name.elements.map((el) => (ts.isOmittedExpression(el) ? undefined : el)), packed, decl.name, env);
      continue;
    }
    if (!ts.isIdentifier(decl.name)) cx.fail(decl.name, "ADG1002", "Destructuring is supported only for arrays: const [h, c] = cell(...).", "Declare one variable at a time.");
    const sym = cx.symbolOf(decl.name)!;
    env.set(sym, decl.initializer ? lowerExpr(cx, decl.initializer, env, (decl.name as TS.Identifier).text) : undefined);
  }
}

function lowerExpressionStatement(cx: Lowering, s: TS.ExpressionStatement, env: Env): void {
  const e = skipParens(s.expression);
  if (ts.isBinaryExpression(e) && isAssignmentOperator(e.operatorToken.kind)) {
    lowerAssignment(cx, e.left, e.operatorToken.kind, e.right, e, env);
    return;
  }
  if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) &&
    (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
    const op = e.operator === ts.SyntaxKind.PlusPlusToken ? ts.SyntaxKind.PlusEqualsToken : ts.SyntaxKind.MinusEqualsToken;
    lowerAssignment(cx, e.operand, op, undefined, e, env);
    return;
  }
  if (ts.isCallExpression(e)) {
    // still diagnose what the call is, so that e.g. Math.random() or push() get their own codes
    lowerExpr(cx, e, env);
    cx.fail(s, "ADG1002", "This call's result is not used, so it has no effect.", "DSL functions have no side effects: assign the result to a variable.");
  }
  cx.fail(s, "ADG1002", "This expression statement has no effect.", "Assign the value to a variable.");
}

function lowerIf(cx: Lowering, s: TS.IfStatement, env: Env): void {
  const cond = lowerCondition(cx, s.expression, env);
  const fixed = cx.staticBool(cond);
  if (fixed !== undefined) {
    lowerStatements(cx, stmtsOf(fixed ? s.thenStatement : s.elseStatement), env);
    return;
  }
  lowerBranches(cx, s, cond, env,
    (thenEnv) => void lowerStatements(cx, stmtsOf(s.thenStatement), thenEnv),
    (elseEnv) => void lowerStatements(cx, stmtsOf(s.elseStatement), elseEnv));
}

/** An if over `cond`: each branch lowered in its own environment, the variables that differ merged. */
export function lowerBranches(cx: Lowering, s: TS.Node, cond: Value, env: Env, lowerThen: (e: Env) => void, lowerElse: (e: Env) => void): void {
  const thenEnv: Env = new Map(env);
  const elseEnv: Env = new Map(env);
  const thenInstrs = cx.b.block(() => lowerThen(thenEnv));
  const elseInstrs = cx.b.block(() => lowerElse(elseEnv));
  const merged: TS.Symbol[] = [];
  for (const sym of env.keys()) {
    const tv = thenEnv.get(sym);
    const ev = elseEnv.get(sym);
    if (tv === ev) {
      env.set(sym, tv); // both branches leave the same value (perhaps a new one)
      continue;
    }
    if (tv === undefined || ev === undefined) {
      env.set(sym, undefined); // assigned on one path only: unassigned afterwards
      continue;
    }
    if (!typeEquals(tv.type, ev.type)) {
      cx.fail(s, "ADG1008", `'${sym.name}' has type ${showType(tv.type)} after one branch and ${showType(ev.type)} after the other.`,
        "A variable must keep one shape across the branches of an if.");
    }
    merged.push(sym);
  }
  const results = merged.map((sym) => cx.b.value(thenEnv.get(sym)!.type, sym.name));
  merged.forEach((sym, k) => cx.aliases.merge(results[k]!, [thenEnv.get(sym)!, elseEnv.get(sym)!]));
  cx.b.loc = cx.src.locOf(s);
  cx.b.push(makeIf(results, cond,
    makeBlock([], thenInstrs, merged.map((sym) => thenEnv.get(sym)!)),
    makeBlock([], elseInstrs, merged.map((sym) => elseEnv.get(sym)!)), cx.src.locOf(s)));
  merged.forEach((sym, i) => env.set(sym, results[i]));
}

export function lowerAssignment(cx: Lowering, target: TS.Expression, op: TS.SyntaxKind, rhs: TS.Expression | undefined, node: TS.Node, env: Env): void {
  target = skipParens(target);
  const rhsValue = (): Value => (rhs ? lowerExpr(cx, rhs, env) : cx.constant(1));
  const compound = COMPOUND[op];
  if (op !== ts.SyntaxKind.EqualsToken && !compound) {
    cx.fail(node, "ADG1003", `The operator '${ts.tokenToString(op)}' is not supported.`, "Use =, +=, -=, *=, /= or **=.");
  }
  if (ts.isArrayLiteralExpression(target) && op === ts.SyntaxKind.EqualsToken) {
    const packed = lowerExpr(cx, rhs!, env);
    destructure(cx, target.elements.map((el) => (ts.isOmittedExpression(el) ? undefined : el)), packed, target, env);
    return;
  }
  if (ts.isIdentifier(target)) {
    const sym = cx.symbolOf(target);
    if (!sym || !env.has(sym)) cx.fail(target, "ADG1024", `Cannot assign to '${target.text}' here.`, "Assign only to variables declared in this function.");
    const vname = target.text;
    if (op === ts.SyntaxKind.EqualsToken) env.set(sym!, lowerExpr(cx, rhs!, env, vname));
    else env.set(sym!, cx.emit(compound!, [read(cx, target, env), rhsValue()], {}, node, vname));
    return;
  }
  if (ts.isElementAccessExpression(target)) {
    const { base, indices } = indexChain(target);
    if (!ts.isIdentifier(base)) {
      cx.fail(target, "ADG1016", "Only elements of a local tensor variable can be assigned.", "Write y[i][j] = v where y = zeros([...]).");
    }
    const id = base as TS.Identifier;
    const cur = read(cx, id, env);
    cx.aliases.checkWritable(id, cur, env);
    const idx = indexValues(cx, indices, cur, env);
    const vname = id.text;
    const site = { tensor: base, indices };
    const at = (r: Value): Value => (cx.sites.set(r.id, site), r);
    let next: Value;
    if (op === ts.SyntaxKind.EqualsToken) next = at(cx.emit("store", [cur, ...idx, rhsValue()], {}, node, vname));
    else if (op === ts.SyntaxKind.PlusEqualsToken) next = at(cx.emit("accum", [cur, ...idx, rhsValue()], {}, node, vname));
    else if (op === ts.SyntaxKind.MinusEqualsToken) next = at(cx.emit("accum", [cur, ...idx, cx.emit("neg", [rhsValue()], {}, node)], {}, node, vname));
    else {
      const old = at(cx.emit("index", [cur, ...idx], {}, node));
      next = at(cx.emit("store", [cur, ...idx, cx.emit(compound!, [old, rhsValue()], {}, node)], {}, node, vname));
    }
    cx.aliases.write(next, cur);
    env.set(cx.symbolOf(id)!, next);
    return;
  }
  cx.fail(target, "ADG1003", "Unsupported assignment target.", "Assign to a variable or to a tensor element y[i][j].");
}

/**
 * `const [h, c] = pair` and `[h, c] = pair`: each name takes its element of a packed tensor
 * (a helper's tuple, an array literal): pair[0], pair[1], ... (a number, or a row).
 */
function destructure(cx: Lowering, targets: readonly (TS.Node | undefined)[], packed: Value, at: TS.Node, env: Env): void {
  if (packed.type.kind !== "tensor") {
    cx.fail(at, "ADG1003", "Only a tuple or a tensor can be destructured.", "Return [a, b] from the helper, or index the tensor.");
  }
  const shape = (packed.type as { shape: readonly Dim[] }).shape;
  const n = shape[0]!;
  if (typeof n !== "number" || targets.length > n) {
    cx.fail(at, "ADG1008", `This destructures ${targets.length} values from a tensor of shape ${showType(packed.type)}.`,
      "Destructure at most as many names as the tuple holds.");
  }
  targets.forEach((el, k) => {
    if (el === undefined) return;
    const name = ts.isBindingElement(el) ? el.name : el;
    if (ts.isBindingElement(el) && (el.dotDotDotToken || el.initializer)) {
      cx.fail(el, "ADG1002", "Rest elements and defaults are not supported in destructuring.", "Name each element: const [h, c] = ...");
    }
    if (!ts.isIdentifier(name)) cx.fail(name, "ADG1002", "Nested destructuring is not supported.", "Name each element: const [h, c] = ...");
    const id = name as TS.Identifier;
    const v = cx.emit("index", [packed, cx.constant(k)], {}, id, id.text);
    if (v.type.kind === "tensor") cx.aliases.view(v, packed);
    const sym = cx.symbolOf(id);
    if (!sym || (!ts.isBindingElement(el) && !env.has(sym))) cx.fail(id, "ADG1024", `Cannot assign to '${id.text}' here.`, "Assign only to variables declared in this function.");
    env.set(sym!, v);
  });
}
