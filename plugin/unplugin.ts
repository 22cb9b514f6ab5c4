// The bundler plugin: one implementation (unplugin) for Vite, Rollup, esbuild and webpack.
// `import { lossGrad } from "./model.ts?grad"` resolves to the DSL file with a `?grad`
// query; loading that id compiles the file with adgen and hands the bundler the generated
// module as JavaScript. A diagnostic becomes the bundler's own error, with file, line,
// column and code frame (Vite shows it in its overlay); the DSL file is watched, so the
// module rebuilds when it changes; a generated module is cached by the content it came from.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { createUnplugin, type UnpluginContext, type UnpluginFactory, type UnpluginMessage } from "unplugin";
import { formatDiagnostic, type Diagnostic } from "../compiler/frontend/diagnostics.js";
import { VERSION } from "../compiler/version.js";

export interface AdgenPluginOptions {
  /** Element type of the generated code (default "float64"), as the CLI's --dtype. */
  readonly dtype?: "float64" | "float32";
  /** Run constant folding, algebraic simplification and CSE (default true), as --no-simplify. */
  readonly simplify?: boolean;
  /** The query that marks an import as "compile this DSL file" (default "grad": `./model.ts?grad`). */
  readonly query?: string;
  /** Directory diagnostics name files relative to (default: the current directory). */
  readonly root?: string;
}

/** What a load of one `?grad` id produced: JavaScript, or the diagnostics that stopped it. */
type Compiled = { readonly js: string } | { readonly diagnostics: readonly Diagnostic[] };

/**
 * Generated modules by the hash of everything they depend on (adgen's version, the options,
 * the file's name and its text): an unchanged file is not compiled again, whichever plugin
 * instance or bundler asks. Bounded, oldest first out.
 */
const CACHE = new Map<string, Compiled>();
const CACHE_LIMIT = 200;

/** How many times the compiler actually ran (the tests read it to see the cache work). */
export const stats = { compiles: 0 };

const pipeline = () => import("../compiler/pipeline.js");
const typescript = () => import("typescript").then((m) => m.default);

/** `/abs/model.ts?grad` -> `/abs/model.ts` when the query is the plugin's, else undefined. */
function sourceOf(id: string, query: string): string | undefined {
  const q = id.indexOf("?");
  if (q < 0) return undefined;
  const params = new URLSearchParams(id.slice(q + 1));
  return params.has(query) ? id.slice(0, q) : undefined;
}

async function compileToJs(source: string, fileName: string, options: AdgenPluginOptions): Promise<Compiled> {
  const dtype = options.dtype ?? "float64";
  const simplify = options.simplify ?? true;
  const key = createHash("sha256").update(JSON.stringify([VERSION, dtype, simplify, fileName, source])).digest("hex");
  const hit = CACHE.get(key);
  if (hit) return hit;
  const { compile } = await pipeline();
  stats.compiles++;
  const result = await compile(source, { fileName, dtype, simplify });
  let compiled: Compiled;
  if (result.diagnostics.length || result.code === undefined) {
    compiled = { diagnostics: result.diagnostics };
  } else {
    // the generated module is TypeScript whose types only annotate: stripping them is all a
    // bundler needs (Rollup and webpack read no TypeScript by themselves)
    const ts = await typescript();
    const js = ts.transpileModule(result.code, {
      fileName: fileName.replace(/\.(m|c)?tsx?$/, ".grad.ts"),
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    compiled = { js };
  }
  if (CACHE.size >= CACHE_LIMIT) CACHE.delete(CACHE.keys().next().value!);
  CACHE.set(key, compiled);
  return compiled;
}

/** A module that stands in for one that failed (esbuild and webpack go on to report the error). */
const FAILED_MODULE = (file: string): string =>
  `throw new Error(${JSON.stringify(`adgen: ${file} has errors (see the build output)`)});\n`;

export const adgenFactory: UnpluginFactory<AdgenPluginOptions | undefined> = (rawOptions, meta) => {
  const options = rawOptions ?? {};
  const query = options.query ?? "grad";
  const root = () => options.root ?? process.cwd();
  return {
    name: "adgen",
    // before other plugins: `model.ts?grad` must not be read as the DSL file itself
    enforce: "pre",

    resolveId(id, importer) {
      const file = sourceOf(id, query);
      if (file === undefined) return null;
      if (file.startsWith("\0")) return null;
      const base = importer ? dirname(sourceOf(importer, query) ?? importer.split("?")[0]!) : root();
      const absolute = isAbsolute(file) ? file : resolve(base, file);
      // a missing file is left to the bundler, which reports the import it cannot resolve
      if (!existsSync(absolute)) return null;
      return `${absolute}?${query}`;
    },

    loadInclude(id) {
      return sourceOf(id, query) !== undefined;
    },

    async load(id) {
      const file = sourceOf(id, query);
      if (file === undefined) return null;
      this.addWatchFile(file);
      const source = await readFile(file, "utf8");
      const display = relative(root(), file) || file;
      const compiled = await compileToJs(source, display, options);
      if ("js" in compiled) return { code: compiled.js, map: null };
      for (const d of compiled.diagnostics.slice(1)) this.warn(formatDiagnostic(d, source));
      return report(this, meta.framework, file, compiled.diagnostics[0]!, source);
    },
  };
};

/**
 * Reports a diagnostic as the bundler's error. Rollup and Vite take a location and a code
 * frame (the overlay shows both) and throw; esbuild collects the error with its location and
 * needs a module back; webpack reports a thrown error's message, which names file:line:col.
 */
function report(ctx: UnpluginContext, framework: string, file: string, d: Diagnostic, source: string): string {
  const text = formatDiagnostic(d, source);
  const loc = d.line > 0 ? { file, line: d.line, column: d.col - 1 } : undefined;
  if (framework === "webpack" || framework === "rspack") throw new Error(text);
  if (framework === "esbuild") {
    ctx.error({ message: `${d.code}: ${d.message}${d.hint ? `\n  hint: ${d.hint}` : ""}`, id: file, loc });
    return FAILED_MODULE(file);
  }
  // Rollup's error: message, location and frame (the frame is formatDiagnostic's code frame)
  // (Rollup's RollupError has `frame`; unplugin passes the object through unchanged)
  const frame = text.split("\n").slice(1).join("\n").replace(/^\n+|\n+$/g, "");
  const error: UnpluginMessage & { frame: string } = { message: `${d.code}: ${d.message}`, id: file, loc, frame };
  ctx.error(error);
  // rollup, vite and rolldown throw from ctx.error; a framework that does not still fails the build
  throw new Error(text);
}

export const adgen = createUnplugin(adgenFactory);
export default adgen;
