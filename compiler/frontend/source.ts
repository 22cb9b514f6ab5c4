// The DSL file as the front end sees it: the TypeScript checker and source file, and the
// helpers that turn a syntax node into a position or a diagnostic.

import ts, { type TS } from "./ts.js";
import { Loc } from "../ir/types.js";
import { CompileError, Diagnostic, DiagnosticCode } from "./diagnostics.js";

export interface Source {
  readonly checker: TS.TypeChecker;
  readonly sourceFile: TS.SourceFile;
  /** The file's name in diagnostics. */
  readonly displayName: string;
  symbolOf(node: TS.Node): TS.Symbol | undefined;
  /** A diagnostic underlining `node` (to the end of its first line). */
  diag(node: TS.Node, code: DiagnosticCode, message: string, hint: string): Diagnostic;
  /** Stops lowering with one diagnostic. */
  fail(node: TS.Node, code: DiagnosticCode, message: string, hint: string): never;
  locOf(node: TS.Node): Loc;
  /** The node's source text. */
  text(node: TS.Node): string;
}

export function createSource(checker: TS.TypeChecker, sourceFile: TS.SourceFile, displayName: string): Source {
  const src: Source = {
    checker,
    sourceFile,
    displayName,
    symbolOf: (node) => checker.getSymbolAtLocation(node),
    diag(node, code, message, hint) {
      const start = node.getStart(sourceFile);
      const pos = sourceFile.getLineAndCharacterOfPosition(start);
      const end = node.getEnd();
      const endLine = sourceFile.getLineAndCharacterOfPosition(end).line;
      const length = endLine === pos.line ? end - start : sourceFile.text.indexOf("\n", start) - start;
      return { code, message, hint, file: displayName, line: pos.line + 1, col: pos.character + 1, length: Math.max(1, length) };
    },
    fail(node, code, message, hint) {
      throw new CompileError([src.diag(node, code, message, hint)]);
    },
    locOf(node) {
      const pos = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
      return { line: pos.line + 1, col: pos.character + 1 };
    },
    text: (node) => node.getText(sourceFile),
  };
  return src;
}

/** A syntax kind as words: "while statement". */
export function kindName(node: TS.Node): string {
  return ts.SyntaxKind[node.kind]!.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Strips parentheses, `!`, `as` and `satisfies` around an expression. */
export function skipParens(e: TS.Expression): TS.Expression {
  while (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
  return e;
}

export function isAssignmentOperator(k: TS.SyntaxKind): boolean {
  return k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
}

export function isExported(node: TS.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}
