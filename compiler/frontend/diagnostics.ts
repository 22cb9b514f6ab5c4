// Diagnostics: one catalog of codes (documented in docs/diagnostics.md), a structured
// Diagnostic, and a formatter in TypeScript's own style:
//
//   model.ts:12:5 - error ADG1003: Unsupported expression: a string literal.
//
//   12   const s = "hello";
//                  ~~~~~~~
//
//     hint: The DSL computes with numbers and tensors only.

export const DIAGNOSTICS = {
  ADG1001: "TypeScript type error",
  ADG1002: "unsupported statement",
  ADG1003: "unsupported expression",
  ADG1004: "unknown function",
  ADG1005: "recursive call",
  ADG1006: "value not known at compile time",
  ADG1007: "return inside a loop without a return type",
  ADG1008: "shape mismatch",
  ADG1009: "index out of range",
  ADG1010: "unsupported parameter type",
  ADG1011: "unsupported return type",
  ADG1012: "missing return",
  ADG1013: "unsupported import or module-level statement",
  ADG1014: "non-deterministic call",
  ADG1015: "array method or property",
  ADG1016: "write into a tensor that is not a fresh local",
  ADG1017: "variable used before it is assigned",
  ADG1018: "unsupported loop form",
  ADG1019: "bad @wrt tag",
  ADG1020: "generated name collision",
  ADG1021: "no entry point",
  ADG1022: "unsupported function form",
  ADG1023: "not a compile-time constant",
  ADG1024: "unknown variable",
  ADG1025: "wrong number or kind of arguments",
  ADG1026: "loop that never ends",
  ADG1027: "bad derivative rule (@vjp, @jvp)",
  ADG9001: "internal compiler error",
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTICS;

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly message: string;
  readonly hint: string;
  readonly file: string;
  /** 1-based; 0 when the diagnostic has no position. */
  readonly line: number;
  readonly col: number;
  /** Length of the underlined span (at least 1). */
  readonly length: number;
}

/** Thrown by the front end to stop at the first error; caught in the pipeline. */
export class CompileError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => `${d.code}: ${d.message}`).join("\n"));
  }
}

export function formatDiagnostic(d: Diagnostic, sourceText: string | undefined, color = false): string {
  const red = (s: string): string => (color ? `\x1b[91m${s}\x1b[0m` : s);
  const cyan = (s: string): string => (color ? `\x1b[96m${s}\x1b[0m` : s);
  const grey = (s: string): string => (color ? `\x1b[90m${s}\x1b[0m` : s);
  const where = d.line > 0 ? `${cyan(d.file)}:${d.line}:${d.col}` : cyan(d.file);
  const out = [`${where} - ${red("error")} ${grey(d.code + ":")} ${d.message}`];
  if (sourceText !== undefined && d.line > 0) {
    const lines = sourceText.split(/\r?\n/);
    // like tsc's code frame: each tab shown as one space, so that the column (which counts a
    // tab as one character) and the ~ under it line up whatever the terminal's tab stops
    const text = (lines[d.line - 1] ?? "").trimEnd().replace(/\t/g, " ");
    const gutter = String(d.line);
    const pad = " ".repeat(gutter.length);
    const span = Math.max(1, Math.min(d.length, text.length - (d.col - 1)));
    out.push("");
    out.push(`${grey(gutter)} ${text}`);
    out.push(`${pad} ${" ".repeat(Math.max(0, d.col - 1))}${red("~".repeat(span))}`);
  }
  if (d.hint) {
    out.push("");
    out.push(`  hint: ${d.hint}`);
  }
  return out.join("\n") + "\n";
}
