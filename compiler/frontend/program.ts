// Type-checks a DSL file with the TypeScript compiler, resolving `import ... from "adgen"`
// to adgen's own runtime declarations (wherever the user's file lives), and turns
// TypeScript's errors into adgen diagnostics (ADG1001).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts, { type TS } from "./ts.js";
import { Diagnostic } from "./diagnostics.js";

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

/** Files longer than this are not type-checked by TypeScript (see createCheckedProgram). */
export const TYPE_CHECK_LINES = 8000;

export interface CheckedProgram {
  readonly program: TS.Program;
  readonly checker: TS.TypeChecker;
  readonly sourceFile: TS.SourceFile;
  readonly diagnostics: readonly Diagnostic[];
}

export function createCheckedProgram(fileName: string, sourceText: string, displayName: string): CheckedProgram {
  const runtimePath = runtimeDeclarations();
  const host = ts.createCompilerHost(OPTIONS, true);
  const originalGetSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (name === fileName) return ts.createSourceFile(name, sourceText, languageVersion, true, ts.ScriptKind.TS);
    return originalGetSourceFile(name, languageVersion, onError, shouldCreate);
  };
  const originalFileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || originalFileExists(name);
  const originalReadFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? sourceText : originalReadFile(name));
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

  const program = ts.createProgram({ rootNames: [fileName], options: OPTIONS, host });
  const sourceFile = program.getSourceFile(fileName)!;
  const diagnostics: Diagnostic[] = [];
  // TypeScript's type check of a very long function grows with the square of its length (its
  // flow analysis walks back over every assignment for each variable read: 70 s for 60,000
  // statements). Past TYPE_CHECK_LINES lines only the syntax is checked by TypeScript;
  // adgen's own lowering still checks names, types and shapes.
  const typeCheck = sourceFile.getLineStarts().length <= TYPE_CHECK_LINES;
  const all = [...program.getSyntacticDiagnostics(sourceFile), ...(typeCheck ? program.getSemanticDiagnostics(sourceFile) : [])];
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
  return { program, checker: program.getTypeChecker(), sourceFile, diagnostics };
}

export function readRuntimeDeclarations(): string {
  return readFileSync(runtimeDeclarations(), "utf8");
}
