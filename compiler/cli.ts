#!/usr/bin/env node
// The adgen command line. Compiles DSL files to standalone TypeScript modules, prints IR,
// and reports diagnostics in TypeScript's style. Never prints a stack trace: an unexpected
// failure is reported as an internal error.
//
// Nothing here ends the process early: the exit status goes to process.exitCode and the
// process ends when its work is done, so output into a slow pipe is never cut off (Node
// writes to pipes asynchronously; exiting at once would drop what is still queued).

import { readFileSync, watchFile } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { formatDiagnostic } from "./frontend/diagnostics.js";
import type { CompileResult } from "./pipeline.js";
import { describeFsError } from "./tools/fsError.js";
import { checkOutput, writeOutput, type OutputTarget } from "./tools/writeOutput.js";
import { VERSION } from "./version.js";

// The compiler (TypeScript, prettier) loads only when there is something to compile, so
// --help and --version answer at once.
const pipeline = () => import("./pipeline.js");

const HELP = `adgen ${VERSION}: reverse-mode automatic differentiation for a TypeScript DSL

Usage: adgen [options] FILE.ts [FILE.ts ...]

Writes FILE.grad.ts beside each input: standalone forward and gradient functions.

Options:
  -o, --out FILE        write the generated module to FILE (one input only; not with --emit,
                        --check or --graph, which print to stdout: redirect that instead)
  --emit KIND           print instead of writing: ir (lowered IR), adjoint (reverse-mode IR),
                        jvp (forward-mode IR), ts (generated code), stats (what each entry's
                        tape keeps, as a formula of the sizes)
  --check               compile, then compare every gradient, JVP and HVP with centered finite
                        differences at random points and sizes (exit status 1 on a mismatch);
                        --seed N picks the points
  --graph               print each entry's computation graph, forward and adjoint, as Graphviz
                        DOT (render with: dot -Tsvg); --entry NAME picks one entry
  --print-ir-after P    print the IR after pass P (or "all") to stderr while compiling
  --dtype float32       generate Float32Array code instead of Float64Array
  --target wasm         also emit the hot layer kernels (linear, conv2d, 2x2 max-pooling, relu
                        and their adjoints) as WebAssembly SIMD, embedded in the module and used
                        where the runtime supports it (default: ts, TypeScript kernels only)
  --no-simplify         skip constant folding, algebraic simplification and CSE
  --watch               recompile when an input changes (keeps the last good output on errors)
  --                    end of options: every later argument is an input file
  -h, --help            show this help
  -v, --version         show the version

Exit status: 0 on success, 1 when a file has errors (its previous output is left untouched),
2 on a usage error.
`;

/** What a run does with each compiled file; --emit, --check and --graph exclude each other. */
type Mode = "write" | "emit" | "check" | "graph";

interface Args {
  files: string[];
  mode: Mode;
  out?: string;
  emit?: "ir" | "adjoint" | "jvp" | "ts" | "stats";
  entry?: string;
  seed?: number;
  printIrAfter?: string;
  dtype: "float64" | "float32";
  target: "ts" | "wasm";
  simplify: boolean;
  watch: boolean;
}

class UsageError extends Error {}

const MODE_FLAG: Record<Exclude<Mode, "write">, string> = { emit: "--emit", check: "--check", graph: "--graph" };

function parseArgs(argv: readonly string[]): Args | "help" | "version" {
  const args: Args = { files: [], mode: "write", dtype: "float64", target: "ts", simplify: true, watch: false };
  const setMode = (mode: Exclude<Mode, "write">): void => {
    if (args.mode !== "write" && args.mode !== mode) throw new UsageError(`${MODE_FLAG[args.mode]} and ${MODE_FLAG[mode]} cannot be combined`);
    args.mode = mode;
  };
  let options = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!options || a === "-" || !a.startsWith("-")) {
      args.files.push(a);
      continue;
    }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const takesNoValue = (): void => {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
    };
    switch (flag) {
      case "--":
        options = false;
        break;
      case "-h":
      case "--help":
        return "help";
      case "-v":
      case "--version":
        return "version";
      case "-o":
      case "--out":
        args.out = value();
        if (args.out === "") throw new UsageError(`${flag} needs a file name`);
        break;
      case "--emit": {
        const v = value();
        if (v !== "ir" && v !== "adjoint" && v !== "jvp" && v !== "ts" && v !== "stats") {
          throw new UsageError(`--emit takes ir, adjoint, jvp, ts or stats, not '${v}'`);
        }
        setMode("emit");
        args.emit = v;
        break;
      }
      case "--check":
        takesNoValue();
        setMode("check");
        break;
      case "--graph":
        takesNoValue();
        setMode("graph");
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
      case "--target": {
        const v = value();
        if (v !== "ts" && v !== "wasm") throw new UsageError(`--target takes ts or wasm, not '${v}'`);
        args.target = v;
        break;
      }
      case "--no-simplify":
        takesNoValue();
        args.simplify = false;
        break;
      case "--watch":
        takesNoValue();
        args.watch = true;
        break;
      default:
        throw new UsageError(`unknown option '${a}' (an input file whose name starts with '-' goes after '--')`);
    }
  }
  if (args.files.length === 0) throw new UsageError("no input file");
  // an option that the chosen mode would ignore is a mistake, not something to ignore
  if (args.out !== undefined && args.mode !== "write") {
    throw new UsageError(`-o cannot be combined with ${MODE_FLAG[args.mode]}, which prints to stdout (redirect it to a file instead)`);
  }
  if (args.out !== undefined && args.files.length > 1) throw new UsageError("-o takes one input file");
  if (args.seed !== undefined && args.mode !== "check") throw new UsageError("--seed applies only to --check");
  if (args.entry !== undefined && args.mode !== "graph") throw new UsageError("--entry applies only to --graph");
  return args;
}

/** model.ts -> model.grad.ts */
export function defaultOutput(file: string): string {
  const dir = dirname(file);
  const base = basename(file).replace(/\.(m|c)?tsx?$/, "");
  return join(dir, `${base}.grad.ts`);
}

/** A path as messages show it: relative to the current directory, like tsc. */
function show(path: string): string {
  return relative(process.cwd(), resolve(path)) || ".";
}

/** "unreadable": the input could not be read, so there is nothing to watch. */
type FileStatus = "ok" | "failed" | "unreadable";

function readInput(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`error ADG0001: cannot read '${show(file)}': ${describeFsError(e)}\n`);
    return undefined;
  }
}

async function compileFile(file: string, args: Args, color: boolean): Promise<FileStatus> {
  const display = show(file);
  const source = readInput(file);
  if (source === undefined) return "unreadable";

  // the output is checked before compiling: a compile that cannot be written is not started
  let target: OutputTarget | undefined;
  const out = args.out ?? defaultOutput(file);
  if (args.mode === "write") {
    const checked = checkOutput(out, args.files, show);
    if (checked.kind === "problem") {
      process.stderr.write(`error ${checked.code}: ${checked.message}\n${checked.hint ? `\n  hint: ${checked.hint}\n\n` : ""}`);
      return "failed";
    }
    target = checked;
  }

  const { compile } = await pipeline();
  const result: CompileResult = await compile(source, {
    fileName: display,
    simplify: args.simplify,
    dtype: args.dtype,
    target: args.target,
    printIrAfter: args.printIrAfter,
    onIr: (pass, entry, text) => process.stderr.write(`; after ${pass} (${entry})\n${text}\n`),
  });
  if (result.diagnostics.length) {
    for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d, source, color) + "\n");
    const n = result.diagnostics.length;
    process.stderr.write(`Found ${n} error${n === 1 ? "" : "s"} in ${display}.\n`);
    return "failed";
  }
  switch (args.mode) {
    case "check": {
      const tolerance = 1e-5;
      const { checkGradients, formatCheckReport } = await import("./tools/check.js");
      const report = await checkGradients(result, { seed: args.seed ?? 1, tolerance });
      process.stdout.write(formatCheckReport(report, tolerance));
      return report.ok ? "ok" : "failed";
    }
    case "graph": {
      const chosen = result.entries.filter((e) => !args.entry || e.entry.name === args.entry);
      if (chosen.length === 0) {
        process.stderr.write(`adgen: ${display} has no entry '${args.entry}'\n`);
        return "failed";
      }
      const { graphOf } = await import("./tools/graph.js");
      for (const e of chosen) process.stdout.write(graphOf(e.grad, e.entry.params.length));
      return "ok";
    }
    case "emit":
      if (args.emit === "stats") await printStats(result, args.dtype, source);
      else process.stdout.write(args.emit === "ir" ? result.ir : args.emit === "adjoint" ? result.adjointIr : args.emit === "jvp" ? result.jvpIr : result.code!);
      return "ok";
    case "write":
      try {
        writeOutput(target!, result.code!);
      } catch (e) {
        process.stderr.write(`error ADG0002: cannot write '${show(out)}': ${describeFsError(e)}\n`);
        return "failed";
      }
      process.stdout.write(`${args.watch ? `[${new Date().toLocaleTimeString()}] ` : ""}${display} -> ${show(out)}\n`);
      return "ok";
  }
}

async function printStats(result: CompileResult, dtype: Args["dtype"], source: string): Promise<void> {
  const { formatTapeStats, tapeStats } = await import("./tools/tapeStats.js");
  const bytesPer = dtype === "float32" ? 4 : 8;
  for (const e of result.entries) process.stdout.write(formatTapeStats(tapeStats(e.grad, e.entry.params.length, bytesPer), source));
}

function usage(message: string): number {
  process.stderr.write(`adgen: ${message}\nRun 'adgen --help' for usage.\n`);
  return 2;
}

function reportInternal(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`error ADG9001: internal compiler error: ${msg}\n  hint: This is a bug in adgen, not in your code.\n`);
}

/**
 * A reader that stops reading (`adgen --emit ts m.ts | head`) is not an error of ours:
 * the rest of the output is dropped quietly, without the stack trace of an unhandled
 * EPIPE. Any other failure to write to stdout is reported and fails the run.
 */
function handleStreamErrors(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") return;
    process.stderr.write(`adgen: cannot write to stdout: ${describeFsError(e)}\n`);
    process.exitCode = 1;
  });
  process.stderr.on("error", () => {
    // nowhere left to say it
  });
}

/** Runs the command; resolves to the exit status. In watch mode it returns once the watchers are set up. */
async function main(argv: readonly string[]): Promise<number> {
  handleStreamErrors();
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
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
  if (args.printIrAfter !== undefined && args.printIrAfter !== "all") {
    const { PASS_NAMES } = await pipeline();
    if (!(PASS_NAMES as readonly string[]).includes(args.printIrAfter)) {
      return usage(`--print-ir-after takes a pass name (${PASS_NAMES.join(", ")}) or all, not '${args.printIrAfter}'`);
    }
  }
  const color = process.stderr.isTTY === true && !process.env.NO_COLOR;
  const status: FileStatus[] = [];
  for (const f of args.files) status.push(await compileFile(f, args, color));
  const code = status.every((s) => s === "ok") ? 0 : 1;
  if (!args.watch) return code;

  // watch mode: recompile a file when it changes; errors keep the last good output. The
  // watchers keep the process alive; an input that could not be read is not watched.
  const watched = args.files.filter((_, i) => status[i] !== "unreadable");
  if (watched.length === 0) return 1;
  process.stdout.write(
    watched.length === args.files.length
      ? "Watching for changes (Ctrl-C to stop).\n"
      : `Watching ${watched.length} of ${args.files.length} files for changes (Ctrl-C to stop).\n`,
  );
  for (const f of watched) {
    // polling survives editors that save by replacing the file
    let running = Promise.resolve();
    watchFile(f, { interval: 100 }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
      running = running.then(() => compileFile(f, args, color)).then(() => undefined, reportInternal);
    });
  }
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    reportInternal(e);
    process.exitCode = 1;
  },
);
