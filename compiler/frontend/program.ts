// Type-checks a DSL file with the TypeScript compiler, resolving `import ... from "adgen"`
// to adgen's own runtime declarations (wherever the user's file lives), and turns
// TypeScript's errors into adgen diagnostics (ADG1001).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts, { type TS } from "./ts.js";
import { Diagnostic } from "./diagnostics.js";
import { DSL_LIB } from "./dslLib.generated.js";

const here = dirname(fileURLToPath(import.meta.url));

/** The runtime's declarations: dist/runtime/index.d.ts when built, runtime/index.ts in source. */
function runtimeDeclarations(): string {
  for (const candidate of ["../../runtime/index.d.ts", "../../runtime/index.ts"]) {
    const p = join(here, candidate);
    if (existsSync(p)) return p;
  }
  throw new Error("adgen runtime declarations not found (run `npm run build`)");
}

const OPTIONS: TS.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
  lib: ["lib.es2020.d.ts"],
  allowImportingTsExtensions: true,
};

/**
 * The first check runs against DSL_LIB instead of lib.es2020: the declarations of it a DSL
 * file can use (dslLibGen.ts), a tenth of its size, which TypeScript parses and binds in a
 * tenth of the time (about 0.1 s of a LeNet-5 compile). Any error there, in the file or
 * global (a missing global type), and the file is checked again against the whole library,
 * whose diagnostics and checker are the ones used: every kept declaration is whole, so a file
 * that checks against the trimmed library checks against the whole one as the same program.
 */
const TRIMMED_OPTIONS: TS.CompilerOptions = { ...OPTIONS, lib: undefined, noLib: true };
const TRIMMED_LIB_NAME = "/__adgen__/lib.dsl.d.ts";
let trimmedLibFile: TS.SourceFile | undefined;

/** Files longer than this are not type-checked by TypeScript (see createCheckedProgram). */
export const TYPE_CHECK_LINES = 8000;

export interface CheckedProgram {
  readonly program: TS.Program;
  readonly checker: TS.TypeChecker;
  readonly sourceFile: TS.SourceFile;
  readonly diagnostics: readonly Diagnostic[];
  /** Whether the file checked against the trimmed library (no second check was needed). */
  readonly trimmedLib: boolean;
}

export function createCheckedProgram(fileName: string, sourceText: string, displayName: string): CheckedProgram {
  const trimmed = check(fileName, sourceText, true);
  const errors = (ds: readonly TS.Diagnostic[]) => ds.some((d) => d.category === ts.DiagnosticCategory.Error);
  const checked = errors(trimmed.all) || errors(trimmed.program.getGlobalDiagnostics()) ? check(fileName, sourceText, false) : trimmed;
  const { program, sourceFile, all } = checked;
  const diagnostics: Diagnostic[] = [];
  for (const d of all) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    let line = 0;
    let col = 0;
    if (d.file && d.start !== undefined) {
      const pos = d.file.getLineAndCharacterOfPosition(d.start);
      line = pos.line + 1;
      col = pos.character + 1;
    }
    diagnostics.push({
      code: "ADG1001",
      message: `${ts.flattenDiagnosticMessageText(d.messageText, "\n")} (TS${d.code})`,
      hint: "A DSL file must type-check as ordinary TypeScript against adgen's declarations.",
      file: displayName,
      line,
      col,
      length: d.length ?? 1,
    });
  }
  return { program, checker: program.getTypeChecker(), sourceFile, diagnostics, trimmedLib: checked === trimmed };
}

/** One TypeScript program of the file, against the trimmed library or the whole one. */
function check(fileName: string, sourceText: string, trimmed: boolean): { program: TS.Program; sourceFile: TS.SourceFile; all: readonly TS.Diagnostic[] } {
  const runtimePath = runtimeDeclarations();
  const options = trimmed ? TRIMMED_OPTIONS : OPTIONS;
  const host = ts.createCompilerHost(options, true);
  const originalGetSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (name === fileName) return ts.createSourceFile(name, sourceText, languageVersion, true, ts.ScriptKind.TS);
    if (name === TRIMMED_LIB_NAME) {
      trimmedLibFile ??= ts.createSourceFile(name, DSL_LIB, languageVersion, false, ts.ScriptKind.TS);
      return trimmedLibFile;
    }
    return originalGetSourceFile(name, languageVersion, onError, shouldCreate);
  };
  const originalFileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || name === TRIMMED_LIB_NAME || originalFileExists(name);
  const originalReadFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? sourceText : name === TRIMMED_LIB_NAME ? DSL_LIB : originalReadFile(name));
  host.resolveModuleNameLiterals = (literals, containingFile, _redirect, options) =>
    literals.map((lit) => {
      if (lit.text === "adgen") {
        return {
          resolvedModule: {
            resolvedFileName: runtimePath,
            extension: runtimePath.endsWith(".d.ts") ? ts.Extension.Dts : ts.Extension.Ts,
            isExternalLibraryImport: false,
          },
        };
      }
      return ts.resolveModuleName(lit.text, containingFile, options, host);
    });

  const rootNames = trimmed ? [TRIMMED_LIB_NAME, fileName] : [fileName];
  const program = ts.createProgram({ rootNames, options, host });
  const sourceFile = program.getSourceFile(fileName)!;
  // TypeScript's type check of a very long function grows with the square of its length (its
  // flow analysis walks back over every assignment for each variable read: 70 s for 60,000
  // statements). Past TYPE_CHECK_LINES lines only the syntax is checked by TypeScript;
  // adgen's own lowering still checks names, types and shapes.
  const typeCheck = sourceFile.getLineStarts().length <= TYPE_CHECK_LINES;
  const all = [...program.getSyntacticDiagnostics(sourceFile), ...(typeCheck ? program.getSemanticDiagnostics(sourceFile) : [])];
  return { program, sourceFile, all };
}

export function readRuntimeDeclarations(): string {
  return readFileSync(runtimeDeclarations(), "utf8");
}
