// Lowers a type-checked DSL file to the IR: one Func per exported function, with helper
// functions inlined at their call sites (gradients flow through them).
//
// SSA construction works on the TypeScript checker's symbols, so scoping and shadowing
// are exactly TypeScript's. An environment maps each variable's symbol to its current
// Value. `if` forks the environment and merges the variables that differ into the if's
// results; `for` carries every outer variable its body assigns; an `if` containing a
// `return` takes the statements after it into both branches (the continuation), so every
// path ends in exactly one return.

import ts, { type TS } from "./ts.js";
import { IRError, createBuilder, makeBlock, makeFor, makeIf } from "../ir/builder.js";
import { evaluate, familyOf, inferType } from "../ops/index.js";
import {
  AttrsOf, BinaryOp, CompareOp, F64, Func, Loc, ScalarBinaryOp, SimpleOp, Type, UnaryOp, Value,
  ValueId, showType, tensorType, typeEquals,
} from "../ir/types.js";
import { CompileError, Diagnostic, DiagnosticCode } from "./diagnostics.js";
import { CheckedProgram } from "./program.js";

export interface EntryParam {
  readonly name: string;
  readonly type: Type;
}

export interface LoweredEntry {
  readonly name: string;
  readonly params: readonly EntryParam[];
  readonly result: Type;
  /** Parameter names from a `@wrt` JSDoc tag, or null when there is none. */
  readonly wrt: readonly string[] | null;
  readonly func: Func;
  readonly loc: Loc;
}

export interface LoweredModule {
  readonly entries: readonly LoweredEntry[];
}

type Env = Map<TS.Symbol, Value | undefined>;

const MATH_UNARY: Record<string, UnaryOp> = {
  exp: "exp", log: "log", sin: "sin", cos: "cos", tan: "tan", tanh: "tanh", sqrt: "sqrt", abs: "abs",
  asin: "asin", acos: "acos", atan: "atan", sinh: "sinh", cosh: "cosh", asinh: "asinh", acosh: "acosh",
  atanh: "atanh", log1p: "log1p", expm1: "expm1", log2: "log2", log10: "log10", cbrt: "cbrt",
  sign: "sign", floor: "floor", ceil: "ceil", round: "round", trunc: "trunc",
};
const MATH_CONSTANTS: Record<string, number> = {
  PI: Math.PI, E: Math.E, LN2: Math.LN2, LN10: Math.LN10, LOG2E: Math.LOG2E, LOG10E: Math.LOG10E,
  SQRT2: Math.SQRT2, SQRT1_2: Math.SQRT1_2,
};
const NONDETERMINISTIC = new Set(["random"]);

/** The functions `import ... from "adgen"` provides (besides the Tensor type). */
export const BUILTINS = [
  "linear", "conv2d", "maxpool2d", "avgpool2d", "relu", "sigmoid", "tanh", "exp", "log", "softmax",
  "logSoftmax", "crossEntropy", "flatten", "sum", "mean", "dot", "add", "sub", "mul", "div", "zeros",
] as const;
type Builtin = (typeof BUILTINS)[number];
const BUILTIN_SET = new Set<string>(BUILTINS);

/**
 * Imports from anywhere but "adgen", reported before TypeScript's own errors (which would
 * only say that the module cannot be found).
 */
export function checkImports(sourceFile: TS.SourceFile, displayName: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const stmt of sourceFile.statements) {
    if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier) || stmt.moduleSpecifier.text === "adgen") continue;
    const start = stmt.moduleSpecifier.getStart(sourceFile);
    const pos = sourceFile.getLineAndCharacterOfPosition(start);
    out.push({
      code: "ADG1013", message: `Imports from '${stmt.moduleSpecifier.text}' are not supported.`,
      hint: `A DSL file imports only from "adgen"; move other code into this file as helper functions.`,
      file: displayName, line: pos.line + 1, col: pos.character + 1, length: stmt.moduleSpecifier.getWidth(sourceFile),
    });
  }
  return out;
}

export function lowerModule(checked: CheckedProgram, displayName: string): LoweredModule {
  const { checker, sourceFile } = checked;

  // ---------------------------------------------------------------- diagnostics helpers
  const diag = (node: TS.Node, code: DiagnosticCode, message: string, hint: string): Diagnostic => {
    const start = node.getStart(sourceFile);
    const pos = sourceFile.getLineAndCharacterOfPosition(start);
    const end = node.getEnd();
    const endLine = sourceFile.getLineAndCharacterOfPosition(end).line;
    const length = endLine === pos.line ? end - start : sourceFile.text.indexOf("\n", start) - start;
    return { code, message, hint, file: displayName, line: pos.line + 1, col: pos.character + 1, length: Math.max(1, length) };
  };
  const fail = (node: TS.Node, code: DiagnosticCode, message: string, hint: string): never => {
    throw new CompileError([diag(node, code, message, hint)]);
  };
  const locOf = (node: TS.Node): Loc => {
    const pos = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
    return { line: pos.line + 1, col: pos.character + 1 };
  };
  const kindName = (node: TS.Node): string =>
    ts.SyntaxKind[node.kind]!.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();

  // ---------------------------------------------------------------- module level
  const moduleConsts = new Map<TS.Symbol, number>();
  const builtinOf = new Map<TS.Symbol, Builtin>();
  const helpers = new Map<TS.Symbol, TS.FunctionDeclaration>();
  const entries: TS.FunctionDeclaration[] = [];
  let tensorTypeSymbols = new Set<TS.Symbol>();

  const symbolOf = (node: TS.Node): TS.Symbol | undefined => checker.getSymbolAtLocation(node);
  const isExported = (node: TS.Node): boolean =>
    ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

  for (const stmt of sourceFile.statements) {
    if (ts.isImportDeclaration(stmt)) {
      const spec = (stmt.moduleSpecifier as TS.StringLiteral).text;
      if (spec !== "adgen") {
        fail(stmt.moduleSpecifier, "ADG1013", `Imports from '${spec}' are not supported.`,
          `A DSL file imports only from "adgen"; move other code into this file as helper functions.`);
      }
      const bindings = stmt.importClause?.namedBindings;
      if (stmt.importClause?.name || (bindings && !ts.isNamedImports(bindings))) {
        fail(stmt, "ADG1013", "Only named imports from \"adgen\" are supported.",
          `Write import { type Tensor, relu, ... } from "adgen".`);
      }
      for (const el of bindings && ts.isNamedImports(bindings) ? bindings.elements : []) {
        const imported = (el.propertyName ?? el.name).text;
        const sym = symbolOf(el.name);
        if (!sym) continue;
        if (imported === "Tensor") tensorTypeSymbols.add(sym);
        else if (BUILTIN_SET.has(imported)) builtinOf.set(sym, imported as Builtin);
        else if (el.isTypeOnly || stmt.importClause?.isTypeOnly) continue; // other types: only type-checking sees them
        else {
          fail(el, "ADG1013", `"adgen" has no export '${imported}'.`, `Available: Tensor, ${BUILTINS.join(", ")}.`);
        }
      }
    } else if (ts.isFunctionDeclaration(stmt)) {
      if (!stmt.name) fail(stmt, "ADG1022", "A function needs a name.", "Give the function a name.");
      if (!stmt.body) {
        fail(stmt, "ADG1022", `Function '${stmt.name!.text}' is declared without a body.`,
          "Every function in a DSL file needs a body that adgen can differentiate.");
      }
      if (stmt.asteriskToken || (ts.getModifiers(stmt) ?? []).some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) {
        fail(stmt, "ADG1022", `Function '${stmt.name!.text}' is async or a generator.`, "DSL functions are plain, synchronous functions.");
      }
      if (stmt.typeParameters?.length) {
        fail(stmt.typeParameters[0]!, "ADG1022", `Function '${stmt.name!.text}' is generic.`, "DSL functions take numbers and tensors of fixed shapes.");
      }
      if ((ts.getModifiers(stmt) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) {
        fail(stmt, "ADG1022", "Default exports are not supported.", "Export the function by name: export function loss(...).");
      }
      const sym = symbolOf(stmt.name!);
      if (isExported(stmt)) entries.push(stmt);
      if (sym) helpers.set(sym, stmt);
    } else if (ts.isVariableStatement(stmt)) {
      if (!(stmt.declarationList.flags & ts.NodeFlags.Const)) {
        fail(stmt, "ADG1013", "Module-level variables must be const numbers.", "Use `const N = 4;` for a constant; a mutable global has no derivative.");
      }
      for (const decl of stmt.declarationList.declarations) {
        if (!ts.isIdentifier(decl.name) || !decl.initializer) {
          fail(decl, "ADG1013", "A module-level constant needs a name and a value.", "Write `const N = 4;`.");
        }
        const value = evalConst(decl.initializer!);
        const sym = symbolOf(decl.name);
        if (sym) moduleConsts.set(sym, value);
      }
    } else if (ts.isTypeAliasDeclaration(stmt) || ts.isInterfaceDeclaration(stmt) || ts.isEmptyStatement(stmt)) {
      // types only: nothing to lower
    } else {
      fail(stmt, "ADG1013", `Unsupported module-level statement: ${kindName(stmt)}.`,
        "A DSL file holds imports from \"adgen\", numeric constants, type aliases and functions.");
    }
  }
  if (entries.length === 0) {
    throw new CompileError([{
      code: "ADG1021", message: "The file exports no function.", file: displayName, line: 0, col: 0, length: 1,
      hint: "Export the functions to differentiate: export function loss(...): number { ... }",
    }]);
  }

  /** Evaluates a module-level constant expression. */
  function evalConst(e: TS.Expression): number {
    if (ts.isNumericLiteral(e)) return Number(e.text.replace(/_/g, ""));
    if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) return evalConst(e.expression);
    if (ts.isPrefixUnaryExpression(e)) {
      const v = evalConst(e.operand);
      if (e.operator === ts.SyntaxKind.MinusToken) return -v;
      if (e.operator === ts.SyntaxKind.PlusToken) return v;
    }
    if (ts.isIdentifier(e)) {
      if (e.text === "Infinity") return Infinity;
      if (e.text === "NaN") return NaN;
      const sym = symbolOf(e);
      if (sym && moduleConsts.has(sym)) return moduleConsts.get(sym)!;
    }
    if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === "Math" && e.name.text in MATH_CONSTANTS) {
      return MATH_CONSTANTS[e.name.text]!;
    }
    if (ts.isBinaryExpression(e)) {
      const ops: Partial<Record<TS.SyntaxKind, (a: number, b: number) => number>> = {
        [ts.SyntaxKind.PlusToken]: (a, b) => a + b,
        [ts.SyntaxKind.MinusToken]: (a, b) => a - b,
        [ts.SyntaxKind.AsteriskToken]: (a, b) => a * b,
        [ts.SyntaxKind.SlashToken]: (a, b) => a / b,
        [ts.SyntaxKind.AsteriskAsteriskToken]: (a, b) => a ** b,
        [ts.SyntaxKind.PercentToken]: (a, b) => a % b,
      };
      const f = ops[e.operatorToken.kind];
      if (f) return f(evalConst(e.left), evalConst(e.right));
    }
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && ts.isIdentifier(e.expression.expression) &&
      e.expression.expression.text === "Math") {
      const name = e.expression.name.text;
      const args = e.arguments.map(evalConst);
      const fn = (Math as unknown as Record<string, (...a: number[]) => number>)[name];
      if (name !== "random" && typeof fn === "function") return fn(...args);
    }
    return fail(e, "ADG1023", "A module-level constant must be a number computed from literals and other constants.",
      "Move computations on inputs into a function.");
  }

  // ---------------------------------------------------------------- types of parameters
  function typeFromNode(node: TS.TypeNode | undefined, what: string, at: TS.Node, code: DiagnosticCode = "ADG1010"): Type {
    if (!node) {
      return fail(at, code, `${what} has no type annotation.`, "Annotate it as number or Tensor<[d0, d1, ...]>.");
    }
    if (node.kind === ts.SyntaxKind.NumberKeyword) return F64;
    if (ts.isTypeReferenceNode(node)) {
      const sym = symbolOf(node.typeName);
      if (sym && tensorTypeSymbols.has(sym)) {
        const arg = node.typeArguments?.[0];
        if (!arg || !ts.isTupleTypeNode(arg)) {
          return fail(node, "ADG1010", `${what}: Tensor needs a tuple of dimensions.`, "Write Tensor<[3, 28, 28]>.");
        }
        const dims = arg.elements.map((el) => {
          const lit = ts.isLiteralTypeNode(el) ? el.literal : undefined;
          const v = lit && ts.isNumericLiteral(lit) ? Number(lit.text) : NaN;
          if (!Number.isInteger(v) || v < 1) {
            fail(el, "ADG1010", `${what}: a tensor dimension must be a positive integer literal.`, "Write Tensor<[3, 28, 28]> with literal sizes.");
          }
          return v;
        });
        if (dims.length === 0) return fail(node, "ADG1010", `${what}: a tensor needs at least one dimension.`, "Use number for a scalar.");
        return tensorType(dims);
      }
      // a local type alias: follow it
      const decl = sym?.declarations?.[0];
      if (decl && ts.isTypeAliasDeclaration(decl) && decl.getSourceFile() === sourceFile) return typeFromNode(decl.type, what, at, code);
    }
    return fail(node, code, `${what} is '${node.getText(sourceFile)}', which the DSL does not support.`,
      code === "ADG1011"
        ? "DSL functions return number or Tensor<[d0, d1, ...]> with literal dimensions."
        : "Parameters are number or Tensor<[d0, d1, ...]> with literal dimensions.");
  }

  // ---------------------------------------------------------------- function bodies
  function lowerEntry(fn: TS.FunctionDeclaration): LoweredEntry {
    const b = createBuilder(0, locOf(fn));
    const consts = new Map<ValueId, number>();
    /** Partial-index results: the tensor they are a view of in JavaScript. */
    const viewOf = new Map<ValueId, Value>();
    /** Values bound to the entry's parameters, which must never be written into. */
    const paramValues = new Set<ValueId>();
    /**
     * Tensor values that may be the same JavaScript array as other values (an if result
     * that is one of two arrays, a loop variable, a view): the arrays they may be. A value
     * missing here is its own array.
     */
    const aliasRoots = new Map<ValueId, ReadonlySet<ValueId>>();
    const rootsOfId = (id: ValueId): ReadonlySet<ValueId> => aliasRoots.get(id) ?? new Set([id]);
    const rootsOf = (v: Value): ReadonlySet<ValueId> => rootsOfId(v.id);
    const mergeRoots = (r: Value, from: readonly Value[]): void => {
      if (r.type.kind !== "tensor") return;
      const all = new Set<ValueId>();
      for (const v of from) rootsOf(v).forEach((x) => all.add(x));
      aliasRoots.set(r.id, all);
    };
    /** Each inlined helper's parameters: symbol -> the caller's value bound to it. */
    const helperParams: Map<TS.Symbol, Value>[] = [];
    /** Integer ranges of index-like values (loop counters and affine arithmetic on them). */
    let ranges = new Map<ValueId, readonly [number, number]>();
    /** Tensor values written into (the old versions of store/accum). */
    const written = new Set<ValueId>();
    /** Constraints a condition puts on values when it holds (x >= 0 && x < 7). */
    const constraints = new Map<ValueId, readonly { v: ValueId; lo: number; hi: number }[]>();
    const callStack: TS.FunctionDeclaration[] = [fn];
    const name = fn.name!.text;

    const env: Env = new Map();
    const params: EntryParam[] = [];
    const paramValuesList: Value[] = [];
    for (const p of fn.parameters) {
      if (!ts.isIdentifier(p.name)) fail(p, "ADG1010", "Destructured parameters are not supported.", "Take each input as its own parameter.");
      if (p.dotDotDotToken) fail(p, "ADG1010", "Rest parameters are not supported.", "Take each input as its own parameter.");
      if (p.questionToken || p.initializer) fail(p, "ADG1010", "Entry point parameters cannot be optional.", "Every input of an entry point is required.");
      const pname = (p.name as TS.Identifier).text;
      const type = typeFromNode(p.type, `Parameter '${pname}'`, p);
      const v = b.value(type, pname);
      paramValues.add(v.id);
      paramValuesList.push(v);
      params.push({ name: pname, type });
      env.set(symbolOf(p.name)!, v);
    }
    let declaredResult: Type | null = null;
    if (fn.type) {
      declaredResult = typeFromNode(fn.type, `The return type of '${name}'`, fn.type, "ADG1011");
    }

    // --------------------------------------------------------------- emission helpers
    const constant = (value: number): Value => {
      const v = b.const(value);
      consts.set(v.id, value);
      return v;
    };
    const known = (v: Value): number | undefined => consts.get(v.id);

    /** Emits a simple op, folding scalar ops on constants. */
    const emit = <K extends SimpleOp>(op: K, args: readonly Value[], attrs: AttrsOf<K>, at: TS.Node, vname?: string): Value => {
      const t = inferType(op, args.map((a) => a.type), attrs);
      if (typeof t === "string") return fail(at, "ADG1008", t + ".", shapeHint(op));
      if (t.kind === "f64" && args.length > 0 && args.every((a) => known(a) !== undefined)) {
        const folded = evaluate(op, args.map((a) => known(a)!));
        if (typeof folded === "number") return constant(folded);
      }
      if (t.kind === "bool" && familyOf(op) === "compare") {
        const [x, y] = args.map(known);
        if (x !== undefined && y !== undefined) {
          // a constant condition: keep it as a constant comparison the folder will fold
          const r = b.emit(op, args, attrs, vname);
          staticConds.set(r.id, evaluate(op, [x, y]) as boolean);
          return r;
        }
      }
      let r: Value;
      try {
        r = b.emit(op, args, attrs, vname);
      } catch (e) {
        if (e instanceof IRError) return fail(at, "ADG1008", e.message, shapeHint(op));
        throw e;
      }
      trackRanges(op, args, r);
      return r;
    };
    const rangeOf = (v: Value): readonly [number, number] | undefined => {
      const k = known(v);
      return k !== undefined ? [k, k] : ranges.get(v.id);
    };
    /** Interval arithmetic for index expressions, and the constraints comparisons imply. */
    const trackRanges = (op: SimpleOp, args: readonly Value[], r: Value): void => {
      const [a, c] = args.map(rangeOf);
      const empty = (r: readonly [number, number] | undefined): boolean => r !== undefined && r[0] > r[1];
      if (empty(a) || empty(c)) {
        ranges.set(r.id, [Infinity, -Infinity]); // code no value reaches: nothing to check
        return;
      }
      if (op === "neg" && a) ranges.set(r.id, [-a[1], -a[0]]);
      if (a && c) {
        if (op === "add") ranges.set(r.id, [a[0] + c[0], a[1] + c[1]]);
        if (op === "sub") ranges.set(r.id, [a[0] - c[1], a[1] - c[0]]);
        if (op === "mul") {
          const p = [a[0] * c[0], a[0] * c[1], a[1] * c[0], a[1] * c[1]].map((x) => (Number.isNaN(x) ? 0 : x));
          ranges.set(r.id, [Math.min(...p), Math.max(...p)]);
        }
      }
      if (familyOf(op) === "compare") {
        // v OP k, or k OP v: bounds on v when the comparison holds (indices are integers)
        const [x, y] = args as [Value, Value];
        const kx = known(x);
        const ky = known(y);
        const flip: Record<string, string> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };
        const [v, k, cmp] = ky !== undefined && kx === undefined ? [x, ky, op] : kx !== undefined && ky === undefined ? [y, kx, flip[op]!] : [];
        if (v && k !== undefined) {
          const bound = {
            lt: { lo: -Infinity, hi: Math.ceil(k) - 1 }, le: { lo: -Infinity, hi: Math.floor(k) },
            gt: { lo: Math.floor(k) + 1, hi: Infinity }, ge: { lo: Math.ceil(k), hi: Infinity },
            eq: { lo: k, hi: k }, ne: undefined,
          }[cmp as CompareOp];
          if (bound) constraints.set(r.id, [{ v: v.id, ...bound }]);
        }
      }
      if (op === "and") constraints.set(r.id, [...(constraints.get(args[0]!.id) ?? []), ...(constraints.get(args[1]!.id) ?? [])]);
    };
    /** Runs fill with the ranges that hold where cond is true; restores them afterwards. */
    const whereTrue = <T>(cond: Value, fill: () => T): T => {
      const saved = ranges;
      ranges = new Map(ranges);
      for (const { v, lo, hi } of constraints.get(cond.id) ?? []) {
        const cur = ranges.get(v) ?? (consts.has(v) ? [consts.get(v)!, consts.get(v)!] as const : [-Infinity, Infinity] as const);
        ranges.set(v, [Math.max(cur[0], lo), Math.min(cur[1], hi)]);
      }
      try {
        return fill();
      } finally {
        ranges = saved;
      }
    };
    const staticConds = new Map<ValueId, boolean>();
    const staticBool = (v: Value): boolean | undefined => {
      if (staticConds.has(v.id)) return staticConds.get(v.id);
      return undefined;
    };

    const requireStatic = (e: TS.Expression, env: Env, what: string): number => {
      const v = lowerExpr(e, env);
      const k = known(v);
      if (k === undefined) {
        return fail(e, "ADG1006", `${what} must be known at compile time.`,
          "Use literals, module-level constants or tensor dimensions (x.length).");
      }
      return k;
    };
    const requireInt = (e: TS.Expression, env: Env, what: string): number => {
      const k = requireStatic(e, env, what);
      if (!Number.isInteger(k)) fail(e, "ADG1006", `${what} must be an integer, got ${k}.`, "Loop bounds and steps are integers.");
      return k;
    };

    // --------------------------------------------------------------- statements
    const stmtsOf = (s: TS.Statement | undefined): readonly TS.Statement[] =>
      s === undefined ? [] : ts.isBlock(s) ? s.statements : [s];

    const containsReturn = (node: TS.Node): boolean => {
      let found = false;
      const visit = (n: TS.Node): void => {
        if (found || ts.isFunctionLike(n)) return;
        if (ts.isReturnStatement(n)) found = true;
        else ts.forEachChild(n, visit);
      };
      visit(node);
      return found;
    };

    /** Lowers statements; returns the returned value, or null if control falls off the end. */
    function lowerStatements(stmts: readonly TS.Statement[], env: Env): Value | null {
      for (let k = 0; k < stmts.length; k++) {
        const s = stmts[k]!;
        b.loc = locOf(s);
        if (ts.isReturnStatement(s)) {
          if (!s.expression) return fail(s, "ADG1011", "A DSL function must return a number or a tensor.", "Write return <expression>.");
          return lowerExpr(s.expression, env);
        }
        if (ts.isBlock(s) && containsReturn(s)) {
          return lowerStatements([...s.statements, ...stmts.slice(k + 1)], env);
        }
        if (ts.isIfStatement(s) && containsReturn(s)) {
          const rest = stmts.slice(k + 1);
          const cond = lowerCondition(s.expression, env);
          const fixed = staticBool(cond);
          if (fixed !== undefined) {
            return lowerStatements([...stmtsOf(fixed ? s.thenStatement : s.elseStatement), ...rest], env);
          }
          let tv: Value | null = null;
          let ev: Value | null = null;
          const thenInstrs = b.block(() => whereTrue(cond, () => {
            tv = lowerStatements([...stmtsOf(s.thenStatement), ...rest], new Map(env));
          }));
          const elseInstrs = b.block(() => {
            ev = lowerStatements([...stmtsOf(s.elseStatement), ...rest], new Map(env));
          });
          if (!tv || !ev) {
            return fail(s, "ADG1012", "Not every path through this if statement returns a value.",
              "Make sure the function ends with a return statement.");
          }
          const tval = tv as Value;
          const eval_ = ev as Value;
          if (!typeEquals(tval.type, eval_.type)) {
            return fail(s, "ADG1011", `The branches return different types: ${showType(tval.type)} and ${showType(eval_.type)}.`,
              "Both paths must return values of one type and shape.");
          }
          const result = b.value(tval.type);
          mergeRoots(result, [tval, eval_]);
          b.loc = locOf(s);
          b.push(makeIf([result], cond, makeBlock([], thenInstrs, [tval]), makeBlock([], elseInstrs, [eval_]), locOf(s)));
          return result;
        }
        lowerStatement(s, env);
      }
      return null;
    }

    function lowerStatement(s: TS.Statement, env: Env): void {
      if (ts.isVariableStatement(s)) {
        const list = s.declarationList;
        if (!(list.flags & (ts.NodeFlags.Const | ts.NodeFlags.Let))) {
          fail(s, "ADG1002", "`var` declarations are not supported.", "Use let or const.");
        }
        for (const decl of list.declarations) {
          if (!ts.isIdentifier(decl.name)) {
            fail(decl.name, "ADG1002", "Destructuring is not supported.", "Declare one variable at a time.");
          }
          const sym = symbolOf(decl.name)!;
          if (!decl.initializer) {
            env.set(sym, undefined);
            continue;
          }
          const v = lowerExpr(decl.initializer, env, (decl.name as TS.Identifier).text);
          env.set(sym, v);
        }
        return;
      }
      if (ts.isExpressionStatement(s)) {
        const e = skipParens(s.expression);
        if (ts.isBinaryExpression(e) && isAssignmentOperator(e.operatorToken.kind)) {
          lowerAssignment(e.left, e.operatorToken.kind, e.right, e, env);
          return;
        }
        if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) &&
          (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
          lowerAssignment(e.operand, e.operator === ts.SyntaxKind.PlusPlusToken ? ts.SyntaxKind.PlusEqualsToken : ts.SyntaxKind.MinusEqualsToken,
            undefined, e, env);
          return;
        }
        if (ts.isCallExpression(e)) {
          // still diagnose what the call is, so that e.g. Math.random() or push() get their own codes
          lowerExpr(e, env);
          fail(s, "ADG1002", "This call's result is not used, so it has no effect.", "DSL functions have no side effects: assign the result to a variable.");
        }
        fail(s, "ADG1002", "This expression statement has no effect.", "Assign the value to a variable.");
      }
      if (ts.isIfStatement(s)) {
        const cond = lowerCondition(s.expression, env);
        const fixed = staticBool(cond);
        if (fixed !== undefined) {
          lowerStatements(stmtsOf(fixed ? s.thenStatement : s.elseStatement), env);
          return;
        }
        const thenEnv: Env = new Map(env);
        const elseEnv: Env = new Map(env);
        const thenInstrs = b.block(() => whereTrue(cond, () => void lowerStatements(stmtsOf(s.thenStatement), thenEnv)));
        const elseInstrs = b.block(() => void lowerStatements(stmtsOf(s.elseStatement), elseEnv));
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
            fail(s, "ADG1008", `'${sym.name}' has type ${showType(tv.type)} after one branch and ${showType(ev.type)} after the other.`,
              "A variable must keep one shape across the branches of an if.");
          }
          merged.push(sym);
        }
        const results = merged.map((sym) => b.value(thenEnv.get(sym)!.type, sym.name));
        merged.forEach((sym, k) => mergeRoots(results[k]!, [thenEnv.get(sym)!, elseEnv.get(sym)!]));
        b.loc = locOf(s);
        b.push(makeIf(results, cond,
          makeBlock([], thenInstrs, merged.map((sym) => thenEnv.get(sym)!)),
          makeBlock([], elseInstrs, merged.map((sym) => elseEnv.get(sym)!)), locOf(s)));
        merged.forEach((sym, i) => env.set(sym, results[i]));
        return;
      }
      if (ts.isForStatement(s)) {
        lowerFor(s, env);
        return;
      }
      if (ts.isBlock(s)) {
        lowerStatements(s.statements, env);
        return;
      }
      if (ts.isEmptyStatement(s)) return;
      const hints: Partial<Record<TS.SyntaxKind, string>> = {
        [ts.SyntaxKind.WhileStatement]: "Use a for loop with static bounds: for (let i = 0; i < N; i++).",
        [ts.SyntaxKind.DoStatement]: "Use a for loop with static bounds: for (let i = 0; i < N; i++).",
        [ts.SyntaxKind.ForOfStatement]: "Use an indexed for loop with static bounds: for (let i = 0; i < N; i++).",
        [ts.SyntaxKind.ForInStatement]: "Use an indexed for loop with static bounds: for (let i = 0; i < N; i++).",
        [ts.SyntaxKind.TryStatement]: "DSL code cannot throw; remove try/catch.",
        [ts.SyntaxKind.ThrowStatement]: "DSL code cannot throw.",
        [ts.SyntaxKind.SwitchStatement]: "Use if/else.",
        [ts.SyntaxKind.BreakStatement]: "Loops run their full static count; use an if inside the loop instead.",
        [ts.SyntaxKind.ContinueStatement]: "Use an if around the rest of the loop body instead.",
        [ts.SyntaxKind.FunctionDeclaration]: "Declare helper functions at the top level of the file, not inside another function.",
        [ts.SyntaxKind.ClassDeclaration]: "Classes are not part of the DSL; use functions.",
      };
      fail(s, "ADG1002", `Unsupported statement: ${kindName(s)}.`,
        hints[s.kind] ?? "The DSL supports let/const, assignments, if/else, for loops with static bounds and return.");
    }

    function lowerFor(s: TS.ForStatement, env: Env): void {
      const bad = (node: TS.Node, what: string): never =>
        fail(node, "ADG1018", `Unsupported for loop: ${what}.`, "Write for (let i = START; i < END; i++) with static START and END.");
      const init = s.initializer;
      if (!init || !ts.isVariableDeclarationList(init) || init.declarations.length !== 1 || !(init.flags & ts.NodeFlags.Let)) {
        return bad(init ?? s, "the loop must declare one counter with let");
      }
      const decl = init.declarations[0]!;
      if (!ts.isIdentifier(decl.name) || !decl.initializer) return bad(decl, "the counter needs a name and a start value");
      const ivName = (decl.name as TS.Identifier).text;
      const ivSym = symbolOf(decl.name)!;
      const start = requireInt(decl.initializer!, env, "The loop start");
      // step
      const inc = s.incrementor ? skipParens(s.incrementor) : undefined;
      let step: number | undefined;
      const isIv = (e: TS.Expression): boolean => ts.isIdentifier(skipParens(e)) && symbolOf(skipParens(e)) === ivSym;
      if (inc && (ts.isPrefixUnaryExpression(inc) || ts.isPostfixUnaryExpression(inc)) && isIv(inc.operand)) {
        if (inc.operator === ts.SyntaxKind.PlusPlusToken) step = 1;
        if (inc.operator === ts.SyntaxKind.MinusMinusToken) step = -1;
      } else if (inc && ts.isBinaryExpression(inc) && isIv(inc.left)) {
        if (inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken) step = requireInt(inc.right, env, "The loop step");
        if (inc.operatorToken.kind === ts.SyntaxKind.MinusEqualsToken) step = -requireInt(inc.right, env, "The loop step");
      }
      if (step === undefined || step === 0) return bad(inc ?? s, "the counter must change by a non-zero constant (i++, i--, i += 2)");
      // bound
      const cond = s.condition ? skipParens(s.condition) : undefined;
      if (!cond || !ts.isBinaryExpression(cond)) return bad(cond ?? s, "the condition must compare the counter with a static bound");
      let op: TS.SyntaxKind = cond.operatorToken.kind;
      let boundExpr: TS.Expression;
      if (isIv(cond.left)) boundExpr = cond.right;
      else if (isIv(cond.right)) {
        boundExpr = cond.left;
        const flip: Partial<Record<TS.SyntaxKind, TS.SyntaxKind>> = {
          [ts.SyntaxKind.LessThanToken]: ts.SyntaxKind.GreaterThanToken,
          [ts.SyntaxKind.GreaterThanToken]: ts.SyntaxKind.LessThanToken,
          [ts.SyntaxKind.LessThanEqualsToken]: ts.SyntaxKind.GreaterThanEqualsToken,
          [ts.SyntaxKind.GreaterThanEqualsToken]: ts.SyntaxKind.LessThanEqualsToken,
        };
        op = flip[op] ?? op;
      } else return bad(cond, "the condition must compare the counter with a static bound");
      const bound = requireInt(boundExpr!, env, "The loop bound");
      let end: number;
      if (step > 0 && op === ts.SyntaxKind.LessThanToken) end = bound;
      else if (step > 0 && op === ts.SyntaxKind.LessThanEqualsToken) end = bound + 1;
      else if (step < 0 && op === ts.SyntaxKind.GreaterThanToken) end = bound;
      else if (step < 0 && op === ts.SyntaxKind.GreaterThanEqualsToken) end = bound - 1;
      else return bad(cond, step > 0 ? "a counting-up loop must test i < N or i <= N" : "a counting-down loop must test i > N or i >= N");

      if (containsReturn(s.statement)) {
        fail(s, "ADG1007", "A return inside a loop is not supported.", "Assign the result to a variable declared before the loop and return it after the loop.");
      }
      // which outer variables does the body assign? They become loop-carried values.
      const assigned: TS.Symbol[] = [];
      const visit = (n: TS.Node): void => {
        let target: TS.Expression | undefined;
        if (ts.isBinaryExpression(n) && isAssignmentOperator(n.operatorToken.kind)) target = n.left;
        else if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
          (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) target = n.operand;
        if (target) {
          let base = skipParens(target);
          while (ts.isElementAccessExpression(base)) base = skipParens(base.expression);
          if (ts.isIdentifier(base)) {
            const sym = symbolOf(base);
            if (sym === ivSym) fail(n, "ADG1018", `The loop body assigns the counter '${ivName}'.`, "The counter changes only in the loop header.");
            if (sym && env.has(sym) && !assigned.includes(sym)) assigned.push(sym);
          }
        }
        ts.forEachChild(n, visit);
      };
      visit(s.statement);
      for (const sym of assigned) {
        if (env.get(sym) === undefined) {
          fail(s, "ADG1017", `'${sym.name}' is assigned in this loop but has no value before it.`,
            `Initialise '${sym.name}' before the loop.`);
        }
      }
      const loc = locOf(s);
      const iv = b.value(F64, ivName);
      const last = start + (Math.max(1, Math.ceil((end - start) / step)) - 1) * step;
      ranges.set(iv.id, [Math.min(start, last), Math.max(start, last)]);
      const params = assigned.map((sym) => b.value(env.get(sym)!.type, sym.name));
      params.forEach((p, k) => mergeRoots(p, [env.get(assigned[k]!)!]));
      const firstInBody = b.nextId;
      const bodyEnv: Env = new Map(env);
      bodyEnv.set(ivSym, iv);
      assigned.forEach((sym, k) => bodyEnv.set(sym, params[k]));
      const writesBefore = written.size;
      const instrs = b.block(() => void lowerStatements(stmtsOf(s.statement), bodyEnv));
      // A loop variable that the body writes into must not become, at the end of an
      // iteration, an array that another variable also holds (the next iteration would
      // write into it).
      const bodyWrites = [...written].slice(writesBefore); // sets keep insertion order
      if (bodyWrites.length) {
        assigned.forEach((sym, k) => {
          const y = bodyEnv.get(sym);
          if (!y || y.type.kind !== "tensor") return;
          const own = rootsOf(params[k]!);
          const foreign = [...rootsOf(y)].filter((r) => r < firstInBody && !own.has(r));
          const writesIntoIt = bodyWrites.some((w) => [...rootsOfId(w)].some((r) => own.has(r) || rootsOf(y).has(r)));
          if (foreign.length && writesIntoIt) {
            fail(s, "ADG1016", `'${sym.name}' becomes another variable's array in this loop, and the loop writes into it.`,
              "Copy into a fresh tensor made with zeros([...]) instead of assigning one tensor variable to another.");
          }
        });
      }
      const yields = assigned.map((sym, k) => {
        const v = bodyEnv.get(sym);
        if (v === undefined) {
          return fail(s, "ADG1017", `'${sym.name}' may be unassigned at the end of the loop body.`, `Assign '${sym.name}' on every path.`);
        }
        if (!typeEquals(v.type, params[k]!.type)) {
          return fail(s, "ADG1008", `'${sym.name}' changes type in the loop, from ${showType(params[k]!.type)} to ${showType(v.type)}.`,
            "A variable carried from one iteration to the next keeps its shape.");
        }
        return v;
      });
      const results = assigned.map((sym) => b.value(env.get(sym)!.type, sym.name));
      results.forEach((r, k) => mergeRoots(r, [params[k]!, yields[k]!]));
      b.loc = loc;
      b.push(makeFor(results, start, end, step, assigned.map((sym) => env.get(sym)!), makeBlock([iv, ...params], instrs, yields), loc));
      assigned.forEach((sym, k) => env.set(sym, results[k]));
    }

    function lowerAssignment(target: TS.Expression, op: TS.SyntaxKind, rhs: TS.Expression | undefined, node: TS.Node, env: Env): void {
      target = skipParens(target);
      const rhsValue = (): Value => (rhs ? lowerExpr(rhs, env) : constant(1));
      const binop: Partial<Record<TS.SyntaxKind, BinaryOp | "pow">> = {
        [ts.SyntaxKind.PlusEqualsToken]: "add",
        [ts.SyntaxKind.MinusEqualsToken]: "sub",
        [ts.SyntaxKind.AsteriskEqualsToken]: "mul",
        [ts.SyntaxKind.SlashEqualsToken]: "div",
        [ts.SyntaxKind.AsteriskAsteriskEqualsToken]: "pow",
      };
      if (op !== ts.SyntaxKind.EqualsToken && !binop[op]) {
        fail(node, "ADG1003", `The operator '${ts.tokenToString(op)}' is not supported.`, "Use =, +=, -=, *=, /= or **=.");
      }
      if (ts.isIdentifier(target)) {
        const sym = symbolOf(target);
        if (!sym || !env.has(sym)) {
          fail(target, "ADG1024", `Cannot assign to '${target.text}' here.`, "Assign only to variables declared in this function.");
        }
        const vname = target.text;
        if (op === ts.SyntaxKind.EqualsToken) {
          env.set(sym!, lowerExpr(rhs!, env, vname));
        } else {
          const cur = read(target, env);
          env.set(sym!, emit(binop[op]!, [cur, rhsValue()], {}, node, vname));
        }
        return;
      }
      if (ts.isElementAccessExpression(target)) {
        const { base, indices } = indexChain(target);
        if (!ts.isIdentifier(base)) {
          fail(target, "ADG1016", "Only elements of a local tensor variable can be assigned.", "Write y[i][j] = v where y = zeros([...]).");
        }
        const sym = symbolOf(base)!;
        const cur = read(base as TS.Identifier, env);
        checkWritable(base as TS.Identifier, cur, env);
        const idx = indexValues(indices, cur, env);
        const vname = (base as TS.Identifier).text;
        let next: Value;
        if (op === ts.SyntaxKind.EqualsToken) next = emit("store", [cur, ...idx, rhsValue()], {}, node, vname);
        else if (op === ts.SyntaxKind.PlusEqualsToken) next = emit("accum", [cur, ...idx, rhsValue()], {}, node, vname);
        else if (op === ts.SyntaxKind.MinusEqualsToken) next = emit("accum", [cur, ...idx, emit("neg", [rhsValue()], {}, node)], {}, node, vname);
        else {
          const old = emit("index", [cur, ...idx], {}, node);
          next = emit("store", [cur, ...idx, emit(binop[op]!, [old, rhsValue()], {}, node)], {}, node, vname);
        }
        mergeRoots(next, [cur]); // the same array, updated
        written.add(cur.id);
        env.set(sym, next);
        return;
      }
      fail(target, "ADG1003", "Unsupported assignment target.", "Assign to a variable or to a tensor element y[i][j].");
    }

    /** Element writes must go into a fresh local tensor that nothing else refers to. */
    function checkWritable(base: TS.Identifier, cur: Value, env: Env): void {
      const baseSym = symbolOf(base);
      const helper = helperParams[helperParams.length - 1];
      const roots = rootsOf(cur);
      if (paramValues.has(cur.id) || (baseSym && helper?.get(baseSym) === cur)) {
        fail(base, "ADG1016", `'${base.text}' is a parameter; writing into it would change the caller's array.`,
          `Make a new tensor: const out = zeros([...]) and write into out.`);
      }
      if (viewOf.has(cur.id)) {
        fail(base, "ADG1016", `'${base.text}' is part of another tensor; writing into it would change that tensor too.`,
          "Write into the whole tensor with all indices: y[t][i] = v.");
      }
      const callerArrays = new Set<ValueId>();
      for (const h of helperParams) for (const v of h.values()) rootsOf(v).forEach((r) => callerArrays.add(r));
      if ([...roots].some((r) => paramValues.has(r) || callerArrays.has(r))) {
        fail(base, "ADG1016", `'${base.text}' may be a parameter's array; writing into it would change the caller's array.`,
          `Make a new tensor: const out = zeros([...]) and write into out.`);
      }
      for (const [sym, v] of env) {
        if (sym === baseSym || v === undefined || v.type.kind !== "tensor") continue;
        const other = rootsOf(viewOf.get(v.id) ?? v);
        if ([...other].some((r) => roots.has(r))) {
          fail(base, "ADG1016", `'${base.text}' and '${sym.name}' may refer to the same array, so writing into one changes the other.`,
            `Copy into a fresh tensor instead of assigning one tensor variable to another.`);
        }
      }
    }

    function indexChain(e: TS.ElementAccessExpression): { base: TS.Expression; indices: TS.Expression[] } {
      const indices: TS.Expression[] = [];
      let cur: TS.Expression = e;
      while (ts.isElementAccessExpression(cur)) {
        indices.unshift(cur.argumentExpression);
        cur = skipParens(cur.expression);
      }
      return { base: cur, indices };
    }

    function indexValues(indices: readonly TS.Expression[], tensor: Value, env: Env): Value[] {
      if (tensor.type.kind !== "tensor") {
        return fail(indices[0]!.parent, "ADG1003", "Only tensors can be indexed.", "This value is a number.");
      }
      const shape = tensor.type.shape;
      if (indices.length > shape.length) {
        return fail(indices[shape.length]!.parent, "ADG1009",
          `Too many indices: a tensor of shape [${shape.join(", ")}] takes at most ${shape.length}.`, "Remove the extra index.");
      }
      return indices.map((ie, d) => {
        const v = lowerExpr(ie, env);
        if (v.type.kind !== "f64") fail(ie, "ADG1003", "An index must be a number.", "Index with a loop counter or an integer.");
        const k = known(v);
        if (k !== undefined && !Number.isInteger(k)) {
          fail(ie, "ADG1009", `Index ${k} is not an integer.`, `Valid indices are the integers 0 to ${shape[d]! - 1}.`);
        }
        if (k !== undefined && (k < 0 || k >= shape[d]!)) {
          fail(ie, "ADG1009", `Index ${k} is out of range for dimension ${d} of size ${shape[d]} (shape [${shape.join(", ")}]).`,
            `Valid indices are 0 to ${shape[d]! - 1}.`);
        }
        const r = rangeOf(v);
        // (an empty range means no iteration reaches this code, as in a branch whose condition never holds)
        if (k === undefined && r && r[0] <= r[1] && ((Number.isFinite(r[0]) && r[0] < 0) || (Number.isFinite(r[1]) && r[1] >= shape[d]!))) {
          fail(ie, "ADG1009",
            `Index out of range: '${ie.getText(sourceFile)}' takes values from ${r[0]} to ${r[1]}, but dimension ${d} has size ${shape[d]} (shape [${shape.join(", ")}]).`,
            `Valid indices are 0 to ${shape[d]! - 1}; guard the access with an if (for example i >= 0 && i < ${shape[d]}) or change the loop bounds.`);
        }
        return v;
      });
    }

    function read(id: TS.Identifier, env: Env): Value {
      const sym = symbolOf(id);
      if (sym && env.has(sym)) {
        const v = env.get(sym);
        if (v === undefined) {
          return fail(id, "ADG1017", `'${id.text}' is used before it is assigned.`, `Assign '${id.text}' on every path before this use.`);
        }
        return v;
      }
      if (sym && moduleConsts.has(sym)) return constant(moduleConsts.get(sym)!);
      if (id.text === "Infinity") return constant(Infinity);
      if (id.text === "NaN") return constant(NaN);
      if (id.text === "undefined") return fail(id, "ADG1003", "undefined is not a number.", "Use a number.");
      if (sym && (builtinOf.has(sym) || helpers.has(sym))) {
        return fail(id, "ADG1022", `'${id.text}' is a function; functions are not values in the DSL.`, "Call the function instead.");
      }
      return fail(id, "ADG1024", `'${id.text}' is not a variable of this function.`,
        "DSL functions read their parameters, local variables and module-level numeric constants.");
    }

    // --------------------------------------------------------------- expressions
    function lowerCondition(e: TS.Expression, env: Env): Value {
      const v = lowerExpr(e, env);
      if (v.type.kind !== "bool") {
        return fail(e, "ADG1003", "A condition must be a comparison (x > 0) or a combination of comparisons with && || !.",
          "Compare explicitly, e.g. x !== 0.");
      }
      return v;
    }

    function lowerExpr(e: TS.Expression, env: Env, vname?: string): Value {
      if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) ||
        ts.isSatisfiesExpression(e) || ts.isTypeAssertionExpression(e)) {
        return lowerExpr(e.expression, env, vname);
      }
      if (ts.isNumericLiteral(e)) return constant(Number(e.text.replace(/_/g, "")));
      if (ts.isIdentifier(e)) return read(e, env);
      if (ts.isPrefixUnaryExpression(e)) {
        switch (e.operator) {
          case ts.SyntaxKind.MinusToken: {
            const x = lowerExpr(e.operand, env);
            return emit("neg", [x], {}, e, vname);
          }
          case ts.SyntaxKind.PlusToken:
            return lowerExpr(e.operand, env, vname);
          case ts.SyntaxKind.ExclamationToken: {
            const x = lowerCondition(e.operand, env);
            const r = emit("not", [x], {}, e, vname);
            const k = staticBool(x);
            if (k !== undefined) staticConds.set(r.id, !k);
            return r;
          }
          default:
            return fail(e, "ADG1003", `The operator '${ts.tokenToString(e.operator)}' is not supported in an expression.`,
              "Increment and decrement only as statements: i++; or x += 1;.");
        }
      }
      if (ts.isPostfixUnaryExpression(e)) {
        return fail(e, "ADG1003", "Increment and decrement are supported only as statements.", "Write x += 1; on its own line.");
      }
      if (ts.isBinaryExpression(e)) return lowerBinary(e, env, vname);
      if (ts.isConditionalExpression(e)) {
        const cond = lowerCondition(e.condition, env);
        const fixed = staticBool(cond);
        if (fixed !== undefined) return lowerExpr(fixed ? e.whenTrue : e.whenFalse, env, vname);
        let tv: Value | undefined;
        let fv: Value | undefined;
        const thenInstrs = b.block(() => whereTrue(cond, () => void (tv = lowerExpr(e.whenTrue, new Map(env)))));
        const elseInstrs = b.block(() => void (fv = lowerExpr(e.whenFalse, new Map(env))));
        if (!typeEquals(tv!.type, fv!.type)) {
          return fail(e, "ADG1008", `The two sides of ?: have types ${showType(tv!.type)} and ${showType(fv!.type)}.`,
            "Both sides must be numbers, or tensors of one shape.");
        }
        const r = b.value(tv!.type, vname);
        mergeRoots(r, [tv!, fv!]);
        b.push(makeIf([r], cond, makeBlock([], thenInstrs, [tv!]), makeBlock([], elseInstrs, [fv!]), locOf(e)));
        return r;
      }
      if (ts.isCallExpression(e)) return lowerCall(e, env, vname);
      if (ts.isElementAccessExpression(e)) {
        const { base, indices } = indexChain(e);
        const t = lowerExpr(base, env);
        const idx = indexValues(indices, t, env);
        const r = emit("index", [t, ...idx], {}, e, vname);
        if (r.type.kind === "tensor") {
          viewOf.set(r.id, viewOf.get(t.id) ?? t);
          mergeRoots(r, [t]);
        }
        return r;
      }
      if (ts.isPropertyAccessExpression(e)) {
        if (ts.isIdentifier(e.expression) && e.expression.text === "Math" && isGlobalMath(e.expression)) {
          const c = MATH_CONSTANTS[e.name.text];
          if (c !== undefined) return constant(c);
          return fail(e, "ADG1004", `Math.${e.name.text} is not supported here.`, "Call Math functions, e.g. Math.exp(x).");
        }
        const obj = lowerExpr(e.expression, env);
        if (obj.type.kind === "tensor" && e.name.text === "length") return constant(obj.type.shape[0]!);
        return fail(e.name, "ADG1015", `The property '${e.name.text}' is not supported.`,
          obj.type.kind === "tensor" ? "Tensors support indexing and .length only." : "Numbers have no properties in the DSL.");
      }
      if (e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword) {
        return fail(e, "ADG1003", "Boolean values are supported only as conditions.", "Write the comparison inside the if or ?: condition.");
      }
      if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isTemplateExpression(e)) {
        return fail(e, "ADG1003", "Strings are not supported.", "The DSL computes with numbers and tensors only.");
      }
      if (ts.isArrayLiteralExpression(e)) {
        return fail(e, "ADG1003", "Array literals are supported only as the shape of zeros([...]).", "Create tensors with zeros([d0, d1]) and fill them in a loop.");
      }
      if (ts.isObjectLiteralExpression(e)) {
        return fail(e, "ADG1003", "Object literals are supported only as options of conv2d and the pooling layers.", "Compute with numbers and tensors.");
      }
      if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) {
        return fail(e, "ADG1022", "Functions created at run time (closures) are not supported.", "Declare a helper function at the top level of the file.");
      }
      if (ts.isNewExpression(e)) {
        return fail(e, "ADG1003", "`new` is not supported.", "Create tensors with zeros([...]).");
      }
      if (ts.isAwaitExpression(e)) return fail(e, "ADG1003", "await is not supported.", "DSL functions are synchronous.");
      return fail(e, "ADG1003", `Unsupported expression: ${kindName(e)}.`, "The DSL supports arithmetic, comparisons, Math functions, calls, indexing and ?:.");
    }

    function lowerBinary(e: TS.BinaryExpression, env: Env, vname?: string): Value {
      const k = e.operatorToken.kind;
      const arith: Partial<Record<TS.SyntaxKind, BinaryOp | "pow">> = {
        [ts.SyntaxKind.PlusToken]: "add",
        [ts.SyntaxKind.MinusToken]: "sub",
        [ts.SyntaxKind.AsteriskToken]: "mul",
        [ts.SyntaxKind.SlashToken]: "div",
        [ts.SyntaxKind.AsteriskAsteriskToken]: "pow",
      };
      const cmp: Partial<Record<TS.SyntaxKind, CompareOp>> = {
        [ts.SyntaxKind.LessThanToken]: "lt",
        [ts.SyntaxKind.LessThanEqualsToken]: "le",
        [ts.SyntaxKind.GreaterThanToken]: "gt",
        [ts.SyntaxKind.GreaterThanEqualsToken]: "ge",
        [ts.SyntaxKind.EqualsEqualsEqualsToken]: "eq",
        [ts.SyntaxKind.EqualsEqualsToken]: "eq",
        [ts.SyntaxKind.ExclamationEqualsEqualsToken]: "ne",
        [ts.SyntaxKind.ExclamationEqualsToken]: "ne",
      };
      if (arith[k]) {
        const a = lowerExpr(e.left, env);
        const c = lowerExpr(e.right, env);
        for (const [v, side] of [[a, e.left], [c, e.right]] as const) {
          if (v.type.kind !== "f64") {
            fail(side, "ADG1003", `The operator '${ts.tokenToString(k)}' takes numbers; this operand is a ${v.type.kind === "bool" ? "condition" : "tensor"}.`,
              v.type.kind === "tensor" ? "Use add, sub, mul or div from \"adgen\" for tensors." : "Use ?: to choose a number.");
          }
        }
        return emit(arith[k]!, [a, c], {}, e, vname);
      }
      if (cmp[k]) {
        const a = lowerExpr(e.left, env);
        const c = lowerExpr(e.right, env);
        if (a.type.kind !== "f64" || c.type.kind !== "f64") {
          return fail(e, "ADG1003", "Comparisons take two numbers.", "Compare tensor elements, e.g. x[i] > 0.");
        }
        return emit(cmp[k]!, [a, c], {}, e, vname);
      }
      if (k === ts.SyntaxKind.AmpersandAmpersandToken || k === ts.SyntaxKind.BarBarToken) {
        const a = lowerCondition(e.left, env);
        const c = lowerCondition(e.right, env);
        const r = emit(k === ts.SyntaxKind.AmpersandAmpersandToken ? "and" : "or", [a, c], {}, e, vname);
        const [x, y] = [staticBool(a), staticBool(c)];
        if (x !== undefined && y !== undefined) staticConds.set(r.id, k === ts.SyntaxKind.AmpersandAmpersandToken ? x && y : x || y);
        return r;
      }
      if (isAssignmentOperator(k)) {
        return fail(e, "ADG1003", "An assignment cannot be used as a value.", "Assign in a statement of its own.");
      }
      if (k === ts.SyntaxKind.PercentToken) {
        return fail(e.operatorToken, "ADG1003", "The remainder operator % is not supported.", "Restructure the loop so that indices need no remainder.");
      }
      return fail(e.operatorToken, "ADG1003", `The operator '${ts.tokenToString(k)}' is not supported.`,
        "The DSL supports + - * / ** on numbers, comparisons and && || !.");
    }

    function isGlobalMath(id: TS.Identifier): boolean {
      const sym = symbolOf(id);
      return !sym || !!sym.declarations?.some((d) => d.getSourceFile().isDeclarationFile);
    }

    function lowerCall(e: TS.CallExpression, env: Env, vname?: string): Value {
      if (e.arguments.some(ts.isSpreadElement)) {
        return fail(e, "ADG1003", "Spread arguments are not supported.", "Pass each argument explicitly.");
      }
      const callee = skipParens(e.expression);
      if (ts.isPropertyAccessExpression(callee)) {
        const obj = callee.expression;
        const member = callee.name.text;
        if (ts.isIdentifier(obj) && obj.text === "Math" && isGlobalMath(obj)) return lowerMath(e, member, env, vname);
        if (ts.isIdentifier(obj) && ["Date", "performance", "crypto"].includes(obj.text)) {
          return fail(e, "ADG1014", `${obj.text}.${member}() is not deterministic.`, "A differentiable function must give the same result for the same inputs.");
        }
        if (ts.isIdentifier(obj) && obj.text === "console") {
          return fail(e, "ADG1003", "console output is not supported in DSL functions.", "Print results in the script that calls the generated module.");
        }
        return fail(callee.name, "ADG1015", `The method '${member}' is not supported.`,
          "Array methods (push, map, reduce, ...) are not part of the DSL: use for loops over tensors made with zeros([...]).");
      }
      if (!ts.isIdentifier(callee)) {
        return fail(callee, "ADG1004", "Only named functions can be called.", "Call a Math function, a function from \"adgen\" or a helper declared in this file.");
      }
      if (callee.text === "eval" || callee.text === "Function") {
        return fail(callee, "ADG1003", `${callee.text} is not supported.`, "Write the computation directly.");
      }
      const sym = symbolOf(callee);
      const builtin = sym && builtinOf.get(sym);
      if (builtin) return lowerBuiltin(builtin, e, env, vname);
      const helper = sym && helpers.get(sym);
      if (helper) return inlineHelper(helper, e, env);
      return fail(callee, "ADG1004", `Unknown function '${callee.text}'.`,
        `Call Math functions, functions imported from "adgen" (${BUILTINS.slice(0, 6).join(", ")}, ...) or functions declared in this file.`);
    }

    function lowerMath(e: TS.CallExpression, member: string, env: Env, vname?: string): Value {
      if (NONDETERMINISTIC.has(member)) {
        return fail(e, "ADG1014", `Math.${member}() is not deterministic.`, "Pass random values in as parameters instead.");
      }
      const args = e.arguments.map((a) => lowerExpr(a, env));
      for (const [i, a] of args.entries()) {
        if (a.type.kind !== "f64") fail(e.arguments[i]!, "ADG1025", `Math.${member} takes numbers.`, "Use the elementwise functions from \"adgen\" for tensors.");
      }
      const arity = (n: number): void => {
        if (args.length !== n) fail(e, "ADG1025", `Math.${member} takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}.`, "Check the call.");
      };
      const unary = MATH_UNARY[member];
      if (unary) {
        arity(1);
        return emit(unary, args, {}, e, vname);
      }
      switch (member) {
        case "pow":
          arity(2);
          return emit("pow", args, {}, e, vname);
        case "atan2":
          arity(2);
          return emit("atan2", args, {}, e, vname);
        case "hypot":
        case "max":
        case "min": {
          if (args.length === 0) return constant(member === "hypot" ? 0 : member === "max" ? -Infinity : Infinity);
          if (args.length === 1) return member === "hypot" ? emit("abs", args, {}, e, vname) : args[0]!;
          let acc = args[0]!;
          for (let i = 1; i < args.length; i++) acc = emit(member, [acc, args[i]!], {}, e, i === args.length - 1 ? vname : undefined);
          return acc;
        }
        default:
          return fail(e, "ADG1004", `Math.${member} is not supported.`,
            "Supported: exp log sin cos tan tanh sqrt abs pow max min asin acos atan atan2 sinh cosh asinh acosh atanh log1p expm1 log2 log10 hypot cbrt sign floor ceil round trunc.");
      }
    }

    /** Reads an options object literal of static numbers or [h, w] pairs. */
    function options(node: TS.Expression | undefined, allowed: readonly string[], env: Env): Map<string, [number, number]> {
      const out = new Map<string, [number, number]>();
      if (!node || node.kind === ts.SyntaxKind.UndefinedKeyword) return out;
      const n = skipParens(node);
      if (!ts.isObjectLiteralExpression(n)) {
        return fail(node, "ADG1025", "Options must be an object literal.", `Write { ${allowed.map((a) => `${a}: 2`).join(", ")} }.`);
      }
      for (const p of n.properties) {
        if (!ts.isPropertyAssignment(p) || !ts.isIdentifier(p.name) || !allowed.includes(p.name.text)) {
          fail(p, "ADG1025", `Unknown option${p.name ? ` '${p.name.getText(sourceFile)}'` : ""}.`, `Options are ${allowed.join(", ")}.`);
        }
        const pa = p as TS.PropertyAssignment;
        const init = skipParens(pa.initializer);
        let pair: [number, number];
        if (ts.isArrayLiteralExpression(init)) {
          if (init.elements.length !== 2) fail(init, "ADG1025", "A pair option takes two numbers [h, w].", "Write [2, 2] or a single number.");
          pair = [requireInt(init.elements[0]!, env, "An option"), requireInt(init.elements[1]!, env, "An option")];
        } else {
          const v = requireInt(init, env, "An option");
          pair = [v, v];
        }
        out.set((pa.name as TS.Identifier).text, pair);
      }
      return out;
    }

    function lowerBuiltin(fnName: Builtin, e: TS.CallExpression, env: Env, vname?: string): Value {
      const argNodes = e.arguments;
      const count = (min: number, max = min): void => {
        if (argNodes.length < min || argNodes.length > max) {
          fail(e, "ADG1025", `${fnName} takes ${min === max ? min : `${min} to ${max}`} arguments, got ${argNodes.length}.`, "Check the call against SPEC.md.");
        }
      };
      const isUndefined = (n: TS.Expression | undefined): boolean => !n || (ts.isIdentifier(n) && n.text === "undefined");
      const arg = (i: number): Value => lowerExpr(argNodes[i]!, env);
      switch (fnName) {
        case "relu":
        case "sigmoid":
        case "tanh":
        case "exp":
        case "log":
          count(1);
          return emit(fnName, [arg(0)], {}, e, vname);
        case "add":
        case "sub":
        case "mul":
        case "div":
          count(2);
          return emit(fnName, [arg(0), arg(1)], {}, e, vname);
        case "softmax":
        case "logSoftmax":
        case "sum":
        case "mean":
          count(1);
          return emit(fnName, [arg(0)], {}, e, vname);
        case "dot":
        case "crossEntropy":
          count(2);
          return emit(fnName, [arg(0), arg(1)], {}, e, vname);
        case "linear": {
          count(2, 3);
          const args = [arg(0), arg(1)];
          if (!isUndefined(argNodes[2])) args.push(arg(2));
          return emit("linear", args, {}, e, vname);
        }
        case "conv2d": {
          count(2, 4);
          const args = [arg(0), arg(1)];
          let optNode = argNodes[3];
          if (argNodes[2] && ts.isObjectLiteralExpression(skipParens(argNodes[2]))) optNode = argNodes[2];
          else if (!isUndefined(argNodes[2])) args.push(arg(2));
          const o = options(optNode, ["stride", "padding"], env);
          return emit("conv2d", args, { stride: o.get("stride") ?? [1, 1], padding: o.get("padding") ?? [0, 0] }, e, vname);
        }
        case "maxpool2d":
        case "avgpool2d": {
          count(2);
          const x = arg(0);
          const o = options(argNodes[1], ["size", "stride"], env);
          const size = o.get("size");
          if (!size) return fail(argNodes[1]!, "ADG1025", `${fnName} needs a size.`, "Write { size: 2 } or { size: 2, stride: 1 }.");
          return emit(fnName, [x], { size, stride: o.get("stride") ?? size }, e, vname);
        }
        case "flatten": {
          count(1, 2);
          const x = arg(0);
          if (x.type.kind !== "tensor") return fail(argNodes[0]!, "ADG1025", "flatten takes a tensor.", "Pass a tensor.");
          const shape = x.type.shape;
          let start = argNodes[1] ? requireInt(argNodes[1], env, "flatten's startDim") : 0;
          if (start < 0) start += shape.length;
          if (start < 0 || start >= shape.length) {
            return fail(argNodes[1]!, "ADG1009", `startDim is out of range for a tensor of shape [${shape.join(", ")}].`, `Use 0 to ${shape.length - 1}.`);
          }
          const merged = shape.slice(start).reduce((p, d) => p * d, 1);
          return emit("reshape", [x], { shape: [...shape.slice(0, start), merged] }, e, vname);
        }
        case "zeros": {
          count(1);
          const shapeNode = skipParens(argNodes[0]!);
          if (!ts.isArrayLiteralExpression(shapeNode) || shapeNode.elements.length === 0) {
            return fail(argNodes[0]!, "ADG1025", "zeros takes a literal shape.", "Write zeros([2, 3]).");
          }
          const shape = shapeNode.elements.map((el) => {
            const d = requireInt(el, env, "A dimension");
            if (d < 1) fail(el, "ADG1025", `A dimension must be positive, got ${d}.`, "Dimensions are positive integers.");
            return d;
          });
          return emit("zeros", [], { shape }, e, vname);
        }
      }
    }

    function inlineHelper(fnDecl: TS.FunctionDeclaration, call: TS.CallExpression, env: Env): Value {
      if (callStack.includes(fnDecl)) {
        return fail(call, "ADG1005", `'${fnDecl.name!.text}' calls itself (recursion).`, "Write the recursion as a for loop with a static count.");
      }
      const args = call.arguments.map((a) => lowerExpr(a, env));
      const calleeEnv: Env = new Map();
      const bound = new Map<TS.Symbol, Value>();
      const savedLoc = b.loc;
      fnDecl.parameters.forEach((p, i) => {
        if (!ts.isIdentifier(p.name) || p.dotDotDotToken) {
          fail(p, "ADG1010", "Helper parameters must be plain names.", "Take each input as its own parameter.");
        }
        const pname = (p.name as TS.Identifier).text;
        const want = typeFromNode(p.type, `Parameter '${pname}' of '${fnDecl.name!.text}'`, p);
        let v = args[i];
        if (!v) {
          if (!p.initializer) return fail(call, "ADG1025", `Missing argument '${pname}'.`, "Pass every argument.");
          v = lowerExpr(p.initializer, calleeEnv);
        }
        if (!typeEquals(want, v.type)) {
          fail(call.arguments[i] ?? call, "ADG1008", `Argument '${pname}' of '${fnDecl.name!.text}' has type ${showType(v.type)}, expected ${showType(want)}.`,
            "Pass a value of the declared shape.");
        }
        // A helper's parameters are read-only, like an entry point's.
        bound.set(symbolOf(p.name)!, v);
        calleeEnv.set(symbolOf(p.name)!, v);
      });
      callStack.push(fnDecl);
      helperParams.push(bound);
      const ret = lowerStatements(fnDecl.body!.statements, calleeEnv);
      helperParams.pop();
      callStack.pop();
      b.loc = savedLoc;
      if (!ret) {
        return fail(fnDecl.name!, "ADG1012", `'${fnDecl.name!.text}' does not return a value on every path.`, "End the function with a return statement.");
      }
      if (fnDecl.type) {
        const want = typeFromNode(fnDecl.type, `The return type of '${fnDecl.name!.text}'`, fnDecl.type, "ADG1011");
        if (!typeEquals(want, ret.type)) {
          fail(fnDecl.type, "ADG1008", `'${fnDecl.name!.text}' returns ${showType(ret.type)}, but its return type says ${showType(want)}.`, "Fix the declared shape.");
        }
      }
      return ret;
    }

    // --------------------------------------------------------------- the entry itself
    const result = lowerStatements(fn.body!.statements, env);
    if (!result) {
      fail(fn.name!, "ADG1012", `'${name}' does not return a value on every path.`, "End the function with a return statement.");
    }
    if (result!.type.kind === "bool") {
      fail(fn.name!, "ADG1011", `'${name}' returns a boolean.`, "An entry point returns a number or a tensor.");
    }
    if (declaredResult && !typeEquals(declaredResult, result!.type)) {
      fail(fn.type!, "ADG1008", `'${name}' returns ${showType(result!.type)}, but its return type says ${showType(declaredResult)}.`,
        "Fix the declared shape.");
    }
    const wrt = wrtTag(fn, params);
    const func: Func = { name, body: makeBlock(paramValuesList, b.root(), [result!]), loc: locOf(fn) };
    return { name, params, result: result!.type, wrt, func, loc: locOf(fn) };
  }

  function wrtTag(fn: TS.FunctionDeclaration, params: readonly EntryParam[]): string[] | null {
    const tags = ts.getJSDocTags(fn).filter((t) => t.tagName.text === "wrt");
    if (tags.length === 0) return null;
    const names: string[] = [];
    for (const tag of tags) {
      const text = typeof tag.comment === "string" ? tag.comment : ts.getTextOfJSDocComment(tag.comment) ?? "";
      for (const n of text.split(/[\s,]+/).filter(Boolean)) {
        const p = params.find((q) => q.name === n);
        if (!p) {
          fail(tag, "ADG1019", `@wrt names '${n}', which is not a parameter of '${fn.name!.text}'.`,
            `Parameters: ${params.map((q) => q.name).join(", ")}.`);
        }
        if (!names.includes(n)) names.push(n);
      }
    }
    if (names.length === 0) fail(tags[0]!, "ADG1019", "@wrt lists no parameters.", "Write /** @wrt w, b */.");
    return names;
  }

  const lowered: LoweredEntry[] = [];
  for (const fn of entries) lowered.push(lowerEntry(fn));
  return { entries: lowered };
}

function skipParens(e: TS.Expression): TS.Expression {
  while (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
  return e;
}

function isAssignmentOperator(k: TS.SyntaxKind): boolean {
  return k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
}


function shapeHint(op: string): string {
  switch (op) {
    case "conv2d":
      return "conv2d takes x [C, H, W] or [N, C, H, W] and w [O, C, KH, KW]; C must agree.";
    case "linear":
      return "linear takes x [in] or [N, in] and w [out, in] (y = W x + b).";
    case "add":
    case "sub":
    case "mul":
    case "div":
      return "Elementwise operations take two tensors of one shape, or a tensor and a number.";
    default:
      return "Check the shapes of the arguments.";
  }
}
