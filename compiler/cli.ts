#!/usr/bin/env node
// The adgen command line. Compiles DSL files to standalone TypeScript modules, prints IR,
// and reports diagnostics in TypeScript's style. Never prints a stack trace: an unexpected
// failure is reported as an internal error.

import { existsSync, mkdirSync, readFileSync, renameSync, watchFile, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { formatDiagnostic } from "./frontend/diagnostics.js";
import type { CompileResult } from "./pipeline.js";
import { VERSION } from "./version.js";

// The compiler (TypeScript, prettier) loads only when there is something to compile, so
// --help and --version answer at once.
const pipeline = () => import("./pipeline.js");

const HELP = `adgen ${VERSION}: reverse-mode automatic differentiation for a TypeScript DSL

Usage: adgen [options] FILE.ts [FILE.ts ...]

Writes FILE.grad.ts beside each input: standalone forward and gradient functions.

Options:
  -o, --out FILE        write the generated module to FILE (one input only)
  --emit KIND           print instead of writing: ir (lowered IR), adjoint (reverse-mode IR),
                        ts (generated code), stats (what each entry's tape keeps)
  --check               compile, then compare every gradient with centered finite differences
                        at random points (exit status 1 on a mismatch); --seed N picks the points
  --graph               print each entry's computation graph, forward and adjoint, as Graphviz
                        DOT (render with: dot -Tsvg); --entry NAME picks one entry
  --print-ir-after P    print the IR after pass P (or "all") to stderr while compiling
  --dtype float32       generate Float32Array code instead of Float64Array
  --no-simplify         skip constant folding, algebraic simplification and CSE
  --watch               recompile when an input changes (keeps the last good output on errors)
  -h, --help            show this help
  -v, --version         show the version

Exit status: 0 on success, 1 when a file has errors (its previous output is left untouched).
`;

interface Args {
  files: string[];
  out?: string;
  emit?: "ir" | "adjoint" | "ts" | "stats";
  check: boolean;
  graph: boolean;
  entry?: string;
  seed: number;
  printIrAfter?: string;
  dtype: "float64" | "float32";
  simplify: boolean;
  watch: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args | "help" | "version" {
  const args: Args = { files: [], dtype: "float64", simplify: true, watch: false, check: false, graph: false, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const eq = a.indexOf("=");
      if (a.startsWith("--") && eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const flag = a.startsWith("--") && a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "-v":
      case "--version":
        return "version";
      case "-o":
      case "--out":
        args.out = value();
        break;
      case "--emit": {
        const v = value();
        if (v !== "ir" && v !== "adjoint" && v !== "ts" && v !== "stats") {
          throw new UsageError(`--emit takes ir, adjoint, ts or stats, not '${v}'`);
        }
        args.emit = v;
        break;
      }
      case "--check":
        args.check = true;
        break;
      case "--graph":
        args.graph = true;
        break;
      case "--entry":
        args.entry = value();
        break;
      case "--seed": {
        const v = Number(value());
        if (!Number.isInteger(v)) throw new UsageError("--seed takes an integer");
        args.seed = v;
        break;
      }
      case "--print-ir-after":
        args.printIrAfter = value();
        break;
      case "--dtype": {
        const v = value();
        if (v !== "float64" && v !== "float32") throw new UsageError(`--dtype takes float64 or float32, not '${v}'`);
        args.dtype = v;
        break;
      }
      case "--no-simplify":
        args.simplify = false;
        break;
      case "--watch":
        args.watch = true;
        break;
      default:
        if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option '${a}'`);
        args.files.push(a);
    }
  }
  if (args.files.length === 0) throw new UsageError("no input file");
  if (args.out && args.files.length > 1) throw new UsageError("-o takes one input file");
  return args;
}

/** model.ts -> model.grad.ts */
export function defaultOutput(file: string): string {
  const dir = dirname(file);
  const base = basename(file).replace(/\.(m|c)?tsx?$/, "");
  return join(dir, `${base}.grad.ts`);
}

async function compileFile(file: string, args: Args, color: boolean): Promise<boolean> {
  const display = relative(process.cwd(), resolve(file)) || file;
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    process.stderr.write(`error ADG0001: cannot read '${display}': no such file\n`);
    return false;
  }
  const { compile } = await pipeline();
  const result: CompileResult = await compile(source, {
    fileName: display,
    simplify: args.simplify,
    dtype: args.dtype,
    printIrAfter: args.printIrAfter,
    onIr: (pass, entry, text) => process.stderr.write(`; after ${pass} (${entry})\n${text}\n`),
  });
  if (result.diagnostics.length) {
    for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d, source, color) + "\n");
    const n = result.diagnostics.length;
    process.stderr.write(`Found ${n} error${n === 1 ? "" : "s"} in ${display}.\n`);
    return false;
  }
  if (args.check) {
    const tolerance = 1e-5;
    const { checkGradients, formatCheckReport } = await import("./tools/check.js");
    const report = await checkGradients(result, { seed: args.seed, tolerance });
    process.stdout.write(formatCheckReport(report, tolerance));
    return report.ok;
  }
  if (args.graph) {
    const chosen = result.entries.filter((e) => !args.entry || e.entry.name === args.entry);
    if (chosen.length === 0) {
      process.stderr.write(`adgen: ${display} has no entry '${args.entry}'\n`);
      return false;
    }
    const { graphOf } = await import("./tools/graph.js");
    for (const e of chosen) process.stdout.write(graphOf(e.grad, e.entry.params.length));
    return true;
  }
  if (args.emit === "stats") {
    const { savedBytes, savedValues } = await import("./ad/savedValues.js");
    const bytesPer = args.dtype === "float32" ? 4 : 8;
    for (const e of result.entries) {
      const saved = savedValues(e.grad, e.entry.params.length).filter((v) => !e.grad.body.params.includes(v));
      const bytes = savedBytes(e.grad, e.entry.params.length, bytesPer);
      process.stdout.write(`${e.entry.name}: the tape keeps ${saved.length} intermediate value${saved.length === 1 ? "" : "s"}, ${bytes} bytes (besides the parameters)\n`);
    }
    return true;
  }
  if (args.emit === "ir") process.stdout.write(result.ir);
  else if (args.emit === "adjoint") process.stdout.write(result.adjointIr);
  else if (args.emit === "ts") process.stdout.write(result.code!);
  else {
    const out = args.out ?? defaultOutput(file);
    const outPath = resolve(out);
    // write atomically: a reader never sees a half-written file
    const tmp = `${outPath}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(outPath), { recursive: true });
      writeFileSync(tmp, result.code!);
      renameSync(tmp, outPath);
    } catch (e) {
      const why = e instanceof Error && "code" in e ? String((e as NodeJS.ErrnoException).code) : "an I/O error";
      process.stderr.write(`error ADG0002: cannot write '${out}' (${why})\n`);
      return false;
    }
    if (!args.watch) process.stdout.write(`${display} -> ${relative(process.cwd(), resolve(out)) || out}\n`);
    else process.stdout.write(`[${new Date().toLocaleTimeString()}] ${display} -> ${out}\n`);
  }
  return true;
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`adgen: ${e.message}\nRun 'adgen --help' for usage.\n`);
      return 2;
    }
    throw e;
  }
  if (parsed === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed === "version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const args = parsed;
  const color = process.stderr.isTTY === true && !process.env.NO_COLOR;
  let ok = true;
  for (const f of args.files) ok = (await compileFile(f, args, color)) && ok;
  if (!args.watch) return ok ? 0 : 1;

  // watch mode: recompile a file when it changes; errors keep the last good output
  process.stdout.write("Watching for changes (Ctrl-C to stop).\n");
  for (const f of args.files) {
    if (!existsSync(f)) continue;
    // polling survives editors that save by replacing the file
    let running = Promise.resolve();
    watchFile(f, { interval: 100 }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
      running = running.then(() => compileFile(f, args, color).then(() => undefined));
    });
  }
  return new Promise<number>(() => {});
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error ADG9001: internal compiler error: ${msg}\n  hint: This is a bug in adgen, not in your code.\n`);
    process.exit(1);
  },
);
