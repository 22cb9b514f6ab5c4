// The compiler as a straight list of passes: lower, simplify, differentiate, simplify,
// emit. The verifier runs after every pass and names the pass that broke the IR.

import { hvpOf, jvpOf } from "./ad/forwardMode.js";
import { reverseMode } from "./ad/reverseMode.js";
import { EntryCode, emitModuleChunks, exportNamesOf } from "./codegen/emitModule.js";
import { formatChunks } from "./codegen/format.js";
import { compileOnDeepStack, needsDeepStack } from "./deepStack.js";
import { CompileError, Diagnostic } from "./frontend/diagnostics.js";
import { LoweredEntry, checkImports, lowerModule } from "./frontend/lowerModule.js";
import { createCheckedProgram } from "./frontend/program.js";
import { checkIndexRanges } from "./frontend/indexRanges.js";
import { integerParams } from "./frontend/integerParams.js";
import { printFunc } from "./ir/printer.js";
import { Func, GradFunc } from "./ir/types.js";
import { verifyFunc } from "./ir/verifier.js";
import { eraseCustom } from "./passes/eraseCustom.js";
import { inlineCalls } from "./passes/inlineCalls.js";
import { eliminateCommonSubexpressions } from "./passes/eliminateCommonSubexpressions.js";
import { eliminateDeadCode } from "./passes/eliminateDeadCode.js";
import { foldConstants } from "./passes/foldConstants.js";
import { hoistLoopInvariants } from "./passes/hoistLoopInvariants.js";
import { sinkStores } from "./passes/sinkStores.js";
import { skipZeroAdjoints } from "./passes/skipZeroAdjoints.js";

export { VERSION } from "./version.js";
import { VERSION } from "./version.js";

/** The passes whose IR --print-ir-after / CompileOptions.printIrAfter can show, in pipeline order. */
export const PASS_NAMES = [
  "lowerModule", "checkIndexRanges", "foldConstants", "eliminateCommonSubexpressions", "hoistLoopInvariants", "eliminateDeadCode", "sinkStores", "reverseMode", "skipZeroAdjoints", "inlineCalls", "forwardMode", "eraseCustom",
] as const;

export interface CompileOptions {
  /** The file name used in diagnostics and comments (default "model.ts"). */
  readonly fileName?: string;
  /** Run constant folding, algebraic simplification and CSE (default true). DCE always runs. */
  readonly simplify?: boolean;
  /** Element type of the generated code (default "float64"). */
  readonly dtype?: "float64" | "float32";
  /**
   * "wasm": the layer kernels (linear, conv2d and their adjoints) also as WebAssembly SIMD,
   * embedded in the module and used where the runtime supports it, the TypeScript kernels
   * otherwise (default "ts": TypeScript only).
   */
  readonly target?: "ts" | "wasm";
  /** Called with the IR after each pass ("all") or after the named pass. */
  readonly printIrAfter?: string;
  readonly onIr?: (pass: string, entry: string, text: string) => void;
}

export interface CompiledEntry {
  readonly entry: LoweredEntry;
  /** The function as code generation emits it. */
  readonly primal: Func;
  /** The function as differentiated: helper calls with their own rules still `custom` instructions, with the rules. */
  readonly differentiated: Func;
  readonly grad: GradFunc;
  /** Forward mode: the parameters, then one tangent per differentiated parameter; yields the value and its tangent. */
  readonly jvp: Func;
  /** Forward over reverse (entries returning a number): yields the value, the gradients, then their tangents (the HVP; the value's own tangent is dropped). */
  readonly hvp?: Func;
}

export interface CompileResult {
  /** The generated module (prettier-formatted), or undefined when there are errors. */
  readonly code?: string;
  readonly diagnostics: readonly Diagnostic[];
  readonly entries: readonly CompiledEntry[];
  /** The lowered IR of every entry (after simplification), as text. */
  readonly ir: string;
  /** The reverse-mode IR of every entry (after simplification), as text. */
  readonly adjointIr: string;
  /** The forward-mode (JVP) IR of every entry (after simplification), as text. */
  readonly jvpIr: string;
}

/** Globals that generated code refers to: an export of the same name would hide them. */
const GLOBALS_USED = new Set(["Math", "Float64Array", "Float32Array", "Int32Array", "Object", "RangeError", "Number", "Infinity", "NaN", "undefined"]);

const FAILED = (diagnostics: Diagnostic[]): CompileResult => ({ diagnostics, entries: [], ir: "", adjointIr: "", jvpIr: "" });

/**
 * Runs simplification passes to a fixed point, verifying after each. A pass that changes
 * nothing returns the function itself; a round in which no pass changes anything ends it.
 */
export function simplify<F extends Func | GradFunc>(fn: F, enabled: boolean, log: (pass: string, fn: F) => void): F {
  const passes: [string, (f: F) => F][] = enabled
    ? [["foldConstants", foldConstants], ["eliminateCommonSubexpressions", eliminateCommonSubexpressions],
      ["hoistLoopInvariants", hoistLoopInvariants], ["eliminateDeadCode", eliminateDeadCode]]
    : [["eliminateDeadCode", eliminateDeadCode]];
  for (let round = 0; round < 50; round++) {
    let changed = false;
    for (const [name, pass] of passes) {
      const next = pass(fn);
      if (next !== fn) {
        verifyFunc(next, name);
        changed = true;
        fn = next;
      }
      log(name, fn);
    }
    if (!changed) break;
  }
  return fn;
}

/** Compiles a DSL source (a deeply nested one on a thread with a large stack: see deepStack.ts). */
export async function compile(sourceText: string, options: CompileOptions = {}): Promise<CompileResult> {
  if (needsDeepStack(sourceText)) return compileOnDeepStack(sourceText, options);
  return compileHere(sourceText, options);
}

/** Compiles on this thread. */
export async function compileHere(sourceText: string, options: CompileOptions = {}): Promise<CompileResult> {
  const fileName = options.fileName ?? "model.ts";
  const displayName = fileName;
  const virtualPath = "/__adgen__/" + fileName.replace(/\\/g, "/").split("/").pop()!.replace(/\.tsx?$/, "") + ".ts";
  let checked;
  try {
    checked = createCheckedProgram(virtualPath, sourceText, displayName);
  } catch (e) {
    return FAILED([internal(e, displayName, 0, "reading the file")]);
  }
  const badImports = checkImports(checked.sourceFile, displayName);
  if (badImports.length) return FAILED(badImports);
  if (checked.diagnostics.length) return FAILED([...checked.diagnostics]);

  let lowered;
  try {
    lowered = lowerModule(checked, displayName);
  } catch (e) {
    if (e instanceof CompileError) return FAILED([...e.diagnostics]);
    return FAILED([internal(e, displayName, 0, "lowering the file")]);
  }

  const enabled = options.simplify ?? true;
  const log = (entry: string) => (pass: string, fn: Func | GradFunc): void => {
    if (options.onIr && (options.printIrAfter === "all" || options.printIrAfter === pass)) options.onIr(pass, entry, printFunc(fn));
  };
  const compiled: CompiledEntry[] = [];
  const shown: string[] = [];
  for (const entry of lowered.entries) {
    try {
      verifyFunc(entry.func, "lowerModule");
      log(entry.name)("lowerModule", entry.func);
      let ranged = checkIndexRanges(entry.func, entry.sites, lowered.src);
      if (ranged.rules) ranged = { ...ranged, rules: ranged.rules.map((r) => checkIndexRanges(r, entry.sites, lowered.src)) };
      verifyFunc(ranged, "checkIndexRanges");
      log(entry.name)("checkIndexRanges", ranged);
      const integers = integerParams(ranged);
      if (integers.length) ranged = { ...ranged, integers };
      const noGrad = entry.wrt?.find((w) => integers.includes(w));
      if (noGrad) {
        return FAILED([{
          code: "ADG1019", message: `@wrt names '${noGrad}', an integer parameter (a loop bound, a size or an index): it has no gradient.`,
          hint: "Differentiate with respect to the other parameters.",
          file: displayName, line: entry.loc.line, col: entry.loc.col, length: "export function".length,
        }]);
      }
      const primal = simplify(ranged, enabled, log(entry.name));
      const sunk = sinkStores(primal);
      verifyFunc(sunk, "sinkStores");
      log(entry.name)("sinkStores", sunk);
      let grad = reverseMode(sunk, entry.wrt);
      log(entry.name)("reverseMode", grad);
      verifyFunc(grad, "reverseMode");
      grad = simplify(grad, enabled, log(entry.name));
      const guarded = skipZeroAdjoints(grad);
      if (guarded !== grad) {
        verifyFunc(guarded, "skipZeroAdjoints");
        grad = guarded;
      }
      log(entry.name)("skipZeroAdjoints", grad);
      // forward mode over the function (JVP) and over its gradient (HVP: forward over reverse)
      let jvp = jvpOf(primal, grad);
      verifyFunc(jvp, "forwardMode");
      log(entry.name)("forwardMode", jvp);
      jvp = simplify(jvp, enabled, log(`${entry.name}Jvp`));
      // (forward mode does not see into a call of a rule: the HVP differentiates the rule's body)
      let hvp: Func | undefined;
      if (!grad.hasCotangent) {
        const inlined = inlineCalls(grad);
        verifyFunc(inlined, "inlineCalls");
        log(entry.name)("inlineCalls", inlined);
        hvp = hvpOf(primal, inlined);
      }
      if (hvp) {
        verifyFunc(hvp, "forwardMode");
        log(`${entry.name}Hvp`)("forwardMode", hvp);
        hvp = simplify(hvp, enabled, log(`${entry.name}Hvp`));
      }
      // differentiation done: a helper call with its own rules is its body's value
      const done = <F extends Func | GradFunc>(fn: F, name: string): F => {
        if (!fn.rules) {
          log(name)("eraseCustom", fn);
          return fn;
        }
        const erased = eraseCustom(fn);
        verifyFunc(erased, "eraseCustom");
        log(name)("eraseCustom", erased);
        const simplified = simplify(erased, enabled, log(name));
        // (the rules it still calls become plain functions of the module, simplified as code is)
        return simplified.rules ? { ...simplified, rules: simplified.rules.map((r) => simplify(r, enabled, () => {})) } : simplified;
      };
      // (--emit ir shows the helper calls with their own rules, and the rules)
      shown.push(printFunc(primal));
      compiled.push({
        entry, differentiated: primal, primal: done(primal, entry.name), grad: done(grad, entry.name), jvp: done(jvp, `${entry.name}Jvp`),
        ...(hvp ? { hvp: done(hvp, `${entry.name}Hvp`) } : {}),
      });
    } catch (e) {
      if (e instanceof CompileError) return FAILED([...e.diagnostics]);
      return FAILED([internal(e, displayName, entry.loc.line, `compiling '${entry.name}'`, entry.loc.col)]);
    }
  }

  // the names the module will export must not collide (entries `f` and `fGrad`, say)
  const owner = new Map<string, LoweredEntry>();
  for (const { entry } of compiled) {
    if (GLOBALS_USED.has(entry.name)) {
      return FAILED([{
        code: "ADG1020",
        message: `An entry point named '${entry.name}' would hide the global ${entry.name} that the generated code uses.`,
        hint: "Rename the function.",
        file: displayName, line: entry.loc.line, col: entry.loc.col, length: "export function".length,
      }]);
    }
    if (options.target === "wasm" && entry.name === "useSimd") {
      return FAILED([{
        code: "ADG1020",
        message: "An entry point named 'useSimd' would collide with the export of the same name that --target wasm adds.",
        hint: "Rename the function.",
        file: displayName, line: entry.loc.line, col: entry.loc.col, length: "export function".length,
      }]);
    }
    for (const n of Object.values(exportNamesOf(entry.name))) {
      const other = owner.get(n);
      if (other) {
        return FAILED([{
          code: "ADG1020",
          message: `The generated module would declare '${n}' for both '${other.name}' and '${entry.name}'.`,
          hint: `Rename one of the exported functions: adgen generates ${other.name}, ${other.name}Grad, ${other.name}Forward, ${other.name}Backward, ... for each entry.`,
          file: displayName, line: entry.loc.line, col: entry.loc.col, length: "export function".length,
        }]);
      }
      owner.set(n, entry);
    }
  }

  let code: string;
  try {
    // the generated code names the file without its directory: the same input gives the
    // same output wherever the compiler runs
    const sourceName = displayName.replace(/\\/g, "/").split("/").pop()!;
    const chunks = emitModuleChunks(compiled as EntryCode[], { fileName: sourceName, sourceText, dtype: options.dtype ?? "float64", version: VERSION, target: options.target ?? "ts" });
    code = await formatChunks(chunks);
  } catch (e) {
    return FAILED([internal(e, displayName, 0, "generating code")]);
  }
  return {
    code,
    diagnostics: [],
    entries: compiled,
    ir: shown.join("\n"),
    adjointIr: compiled.map((c) => printFunc(c.grad)).join("\n"),
    jvpIr: compiled.map((c) => printFunc(c.jvp)).join("\n"),
  };
}

function internal(e: unknown, file: string, line: number, what: string, col = 1): Diagnostic {
  const message = e instanceof Error ? e.message : String(e);
  return {
    code: "ADG9001",
    message: `Internal compiler error while ${what}: ${message}`,
    hint: "This is a bug in adgen, not in your code. Please report it with the input file.",
    file,
    line,
    col: line > 0 ? col : 0,
    length: 1,
  };
}
