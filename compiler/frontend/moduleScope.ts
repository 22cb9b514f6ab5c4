// The top level of a DSL file: what it imports from "adgen", its helper functions, its
// numeric constants and its entry points (the exported functions).

import ts, { type TS } from "./ts.js";
import { CompileError, Diagnostic } from "./diagnostics.js";
import { BUILTIN_NAMES, BuiltinName } from "./builtins.js";
import { evalConst } from "./constants.js";
import { Source, isExported, kindName } from "./source.js";
import { sizeParams } from "./signatures.js";

/** A module-level array of numbers: its shape (rectangular nesting) and its row-major values. */
export interface ConstArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: readonly number[];
  readonly node: TS.Node;
}

export interface ModuleScope {
  readonly src: Source;
  /** Module-level numeric constants. */
  readonly constants: ReadonlyMap<TS.Symbol, number>;
  /** Module-level constant arrays of numbers (`const C = [0.5, -1, 2]`), as tensors. */
  readonly arrays: ReadonlyMap<TS.Symbol, ConstArray>;
  /** The local symbols of the functions imported from "adgen". */
  readonly builtins: ReadonlyMap<TS.Symbol, BuiltinName>;
  /** Every function declared in the file (entries are helpers too: one entry may call another). */
  readonly functions: ReadonlyMap<TS.Symbol, TS.FunctionDeclaration>;
  readonly entries: readonly TS.FunctionDeclaration[];
  /** The local symbols of `Tensor` imported from "adgen". */
  readonly tensorTypes: ReadonlySet<TS.Symbol>;
}

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

export function scanModule(src: Source): ModuleScope {
  const constants = new Map<TS.Symbol, number>();
  const arrays = new Map<TS.Symbol, ConstArray>();
  const builtins = new Map<TS.Symbol, BuiltinName>();
  const functions = new Map<TS.Symbol, TS.FunctionDeclaration>();
  const entries: TS.FunctionDeclaration[] = [];
  const tensorTypes = new Set<TS.Symbol>();
  const builtinSet = new Set<string>(BUILTIN_NAMES);

  for (const stmt of src.sourceFile.statements) {
    if (ts.isImportDeclaration(stmt)) {
      // (imports from other modules are reported by checkImports, before type-checking)
      const bindings = stmt.importClause?.namedBindings;
      if (stmt.importClause?.name || (bindings && !ts.isNamedImports(bindings))) {
        src.fail(stmt, "ADG1013", "Only named imports from \"adgen\" are supported.", `Write import { type Tensor, relu, ... } from "adgen".`);
      }
      for (const el of bindings && ts.isNamedImports(bindings) ? bindings.elements : []) {
        const imported = (el.propertyName ?? el.name).text;
        const sym = src.symbolOf(el.name);
        if (!sym) continue;
        if (imported === "Tensor") tensorTypes.add(sym);
        else if (builtinSet.has(imported)) builtins.set(sym, imported as BuiltinName);
        else if (el.isTypeOnly || stmt.importClause?.isTypeOnly) continue; // other types: only type-checking sees them
        else src.fail(el, "ADG1013", `"adgen" has no export '${imported}'.`, `Available: Tensor, ${BUILTIN_NAMES.join(", ")}.`);
      }
    } else if (ts.isFunctionDeclaration(stmt)) {
      const name = stmt.name?.text ?? "";
      if (!stmt.name) src.fail(stmt, "ADG1022", "A function needs a name.", "Give the function a name.");
      if (!stmt.body) {
        src.fail(stmt, "ADG1022", `Function '${name}' is declared without a body.`,
          "Every function in a DSL file needs a body that adgen can differentiate.");
      }
      if (stmt.asteriskToken || (ts.getModifiers(stmt) ?? []).some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) {
        src.fail(stmt, "ADG1022", `Function '${name}' is async or a generator.`, "DSL functions are plain, synchronous functions.");
      }
      sizeParams(src, stmt); // (type parameters are sizes: <N extends number>)
      if ((ts.getModifiers(stmt) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) {
        src.fail(stmt, "ADG1022", "Default exports are not supported.", "Export the function by name: export function loss(...).");
      }
      const sym = src.symbolOf(stmt.name!);
      if (isExported(stmt)) entries.push(stmt);
      if (sym) functions.set(sym, stmt);
    } else if (ts.isVariableStatement(stmt)) {
      scanConstants(src, stmt, constants, arrays);
    } else if (ts.isTypeAliasDeclaration(stmt) || ts.isInterfaceDeclaration(stmt) || ts.isEmptyStatement(stmt)) {
      // types only: nothing to lower
    } else {
      src.fail(stmt, "ADG1013", `Unsupported module-level statement: ${kindName(stmt)}.`,
        "A DSL file holds imports from \"adgen\", numeric constants, type aliases and functions.");
    }
  }
  if (entries.length === 0) {
    throw new CompileError([{
      code: "ADG1021", message: "The file exports no function.", file: src.displayName, line: 0, col: 0, length: 1,
      hint: "Export the functions to differentiate: export function loss(...): number { ... }",
    }]);
  }
  return { src, constants, arrays, builtins, functions, entries, tensorTypes };
}

function scanConstants(src: Source, stmt: TS.VariableStatement, constants: Map<TS.Symbol, number>, arrays: Map<TS.Symbol, ConstArray>): void {
  const exported = isExported(stmt);
  for (const decl of stmt.declarationList.declarations) {
    const init = decl.initializer;
    if (init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init))) {
      const name = ts.isIdentifier(decl.name) ? decl.name.text : "f";
      src.fail(decl, "ADG1022", `'${name}' is a function expression; adgen differentiates function declarations.`,
        `Write it as ${exported ? "export " : ""}function ${name}(...) { ... }.`);
    }
  }
  if (!(stmt.declarationList.flags & ts.NodeFlags.Const)) {
    src.fail(stmt, "ADG1013", "Module-level variables must be const numbers.", "Use `const N = 4;` for a constant; a mutable global has no derivative.");
  }
  for (const decl of stmt.declarationList.declarations) {
    if (!ts.isIdentifier(decl.name) || !decl.initializer) {
      src.fail(decl, "ADG1013", "A module-level constant needs a name and a value.", "Write `const N = 4;`.");
    }
    const sym = src.symbolOf(decl.name);
    const init = unwrap(decl.initializer!);
    if (ts.isArrayLiteralExpression(init)) {
      const { shape, values } = constArray(src, init, constants);
      if (sym) arrays.set(sym, { name: (decl.name as TS.Identifier).text, shape, values, node: decl });
      continue;
    }
    const value = evalConst(decl.initializer!, src, constants);
    if (sym) constants.set(sym, value);
  }
}

/** An initializer without `as const`, `satisfies` or parentheses around it. */
function unwrap(e: TS.Expression): TS.Expression {
  while (ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isParenthesizedExpression(e)) e = e.expression;
  return e;
}

/**
 * The shape and row-major values of a constant array literal: numbers, or equally long
 * arrays of them (`[[1, 0], [0, 1]]`). Walked level by level, without recursion.
 */
function constArray(src: Source, literal: TS.ArrayLiteralExpression, constants: ReadonlyMap<TS.Symbol, number>): { shape: number[]; values: number[] } {
  const shape: number[] = [];
  let level: TS.Expression[] = [literal];
  for (;;) {
    const arraysHere = level.map(unwrap);
    if (!arraysHere.every(ts.isArrayLiteralExpression)) {
      if (arraysHere.some(ts.isArrayLiteralExpression)) {
        src.fail(literal, "ADG1023", "A constant array must be rectangular: numbers, or arrays of one length.", "Write const C = [1, 2, 3] or [[1, 0], [0, 1]].");
      }
      return { shape, values: level.map((e) => evalConst(e, src, constants)) };
    }
    const lists = arraysHere as TS.ArrayLiteralExpression[];
    const n = lists[0]!.elements.length;
    if (n === 0) src.fail(literal, "ADG1023", "A constant array must not be empty.", "Give it at least one number.");
    const ragged = lists.find((l) => l.elements.length !== n);
    if (ragged) {
      src.fail(ragged, "ADG1023", `A constant array must be rectangular: this row has ${ragged.elements.length} elements, the first ${n}.`,
        "Give every row the same length.");
    }
    const spread = lists.flatMap((l) => l.elements).find(ts.isSpreadElement);
    if (spread) src.fail(spread, "ADG1023", "A constant array lists its numbers (no spread).", "Write the numbers out.");
    shape.push(n);
    level = lists.flatMap((l) => [...l.elements]);
  }
}
