// adgen's programmatic API: compile a DSL source text without a process.

export { compile, VERSION } from "./pipeline.js";
export type { CompileOptions, CompileResult, CompiledEntry } from "./pipeline.js";
export { formatDiagnostic, DIAGNOSTICS } from "./frontend/diagnostics.js";
export type { Diagnostic, DiagnosticCode } from "./frontend/diagnostics.js";
export { printFunc } from "./ir/printer.js";
