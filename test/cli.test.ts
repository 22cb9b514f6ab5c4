// The command line: help, version, outputs, several inputs, -o, --emit, --check, --graph,
// --watch; options that do not apply are refused; output into a slow pipe arrives whole;
// code frames of tab-indented lines as tsc prints them; and the programmatic compile() API.
// (Files, read and write errors and temporary files: cliFiles.test.ts.)

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Diagnostic, formatDiagnostic } from "../compiler/frontend/diagnostics.js";
import { compile } from "../compiler/index.js";
import { PASS_NAMES } from "../compiler/pipeline.js";
import { checkGradients, formatCheckReport } from "../compiler/tools/check.js";

const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;
const QUIZ = readFileSync(new URL("../examples/quiz/model.ts", import.meta.url), "utf8");
const adgen = (args: string[], cwd?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd });

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
});

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "adgen-cli-"));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("adgen CLI", () => {
  it("keeps V8's code cache and formatted pieces in ADGEN_CACHE_DIR, used by the next run; ADGEN_CODE_CACHE=0 keeps none", () => {
    const dir = tmp({ "m.ts": QUIZ });
    const cache = join(dir, "cache");
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [CLI, "m.ts"], { encoding: "utf8", cwd: dir, env: { ...process.env, ADGEN_CODE_CACHE: "", ...env } });
    expect(run({ ADGEN_CACHE_DIR: cache }).status).toBe(0);
    const first = readFileSync(join(dir, "m.grad.ts"), "utf8");
    const pieces = readdirSync(join(cache, "format"));
    expect(pieces.length).toBeGreaterThan(0);
    expect(pieces.every((f) => f.endsWith(".ts"))).toBe(true);
    expect(readdirSync(cache).some((f) => f.endsWith(".v8cache"))).toBe(true);
    // the next run gives the same module from the cache: a piece changed on disk shows up in it
    expect(run({ ADGEN_CACHE_DIR: cache }).status).toBe(0);
    expect(readFileSync(join(dir, "m.grad.ts"), "utf8")).toBe(first);
    const piece = join(cache, "format", pieces[0]!);
    const text = readFileSync(piece, "utf8");
    writeFileSync(piece, `// from the cache\n${text}`);
    expect(run({ ADGEN_CACHE_DIR: cache }).status).toBe(0);
    expect(readFileSync(join(dir, "m.grad.ts"), "utf8")).toContain("// from the cache\n");
    // off: nothing written, and the module is formatted as before
    const none = join(dir, "none");
    expect(run({ ADGEN_CACHE_DIR: none, ADGEN_CODE_CACHE: "0" }).status).toBe(0);
    expect(existsSync(none)).toBe(false);
    expect(readFileSync(join(dir, "m.grad.ts"), "utf8")).toBe(first);
  });

  it("prints help and version", () => {
    const help = adgen(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: adgen [options] FILE.ts");
    for (const flag of ["--check", "--graph", "--watch", "--emit", "-o", "--dtype"]) expect(help.stdout).toContain(flag);
    const version = adgen(["--version"]);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version);
  });

  it("rejects bad usage with status 2 and no stack trace", () => {
    const r = adgen(["--emit", "bogus", "x.ts"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--emit takes");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(adgen([]).status).toBe(2);
  });

  it("writes model.grad.ts beside each input, or to -o", () => {
    const dir = tmp({ "a.ts": QUIZ, "b.ts": QUIZ.replace(/quiz/g, "other") });
    const r = adgen(["a.ts", "b.ts"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "a.grad.ts"), "utf8")).toContain("export function quizGrad(");
    expect(readFileSync(join(dir, "b.grad.ts"), "utf8")).toContain("export function otherGrad(");
    const o = adgen(["a.ts", "-o", "out/../custom.ts"], dir);
    expect(o.status, o.stderr).toBe(0);
    expect(readFileSync(join(dir, "custom.ts"), "utf8")).toEqual(readFileSync(join(dir, "a.grad.ts"), "utf8"));
    expect(adgen(["a.ts", "b.ts", "-o", "x.ts"], dir).status).toBe(2);
  });

  it("a missing input file is an error, not a crash", () => {
    const r = adgen(["nope.ts"], tmp({}));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot read 'nope.ts'");
  });

  it("takes '--' as the end of options: after it, -x.ts is a file", () => {
    const dir = tmp({ "-x.ts": QUIZ });
    const r = adgen(["--", "-x.ts"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "-x.grad.ts"), "utf8")).toContain("export function quizGrad(");
    const without = adgen(["-x.ts"], dir);
    expect(without.status).toBe(2);
    expect(without.stderr).toContain("unknown option '-x.ts' (an input file whose name starts with '-' goes after '--')");
  });

  it("refuses options that the chosen mode would ignore, with status 2, writing nothing", () => {
    const dir = tmp({ "m.ts": QUIZ });
    const refused: [string[], string][] = [
      [["--emit", "ts", "-o", "f.ts", "m.ts"], "-o cannot be combined with --emit"],
      [["--check", "-o", "f.ts", "m.ts"], "-o cannot be combined with --check"],
      [["--graph", "--out=f.ts", "m.ts"], "-o cannot be combined with --graph"],
      [["--check", "--graph", "m.ts"], "--check and --graph cannot be combined"],
      [["--emit", "ir", "--check", "m.ts"], "--emit and --check cannot be combined"],
      [["--seed", "3", "m.ts"], "--seed applies only to --check"],
      [["--entry", "quiz", "m.ts"], "--entry applies only to --graph"],
      [["--check=yes", "m.ts"], "--check takes no value"],
    ];
    for (const [args, message] of refused) {
      const r = adgen(args, dir);
      expect(r.stderr, args.join(" ")).toContain(`adgen: ${message}`);
      expect(r.status, args.join(" ")).toBe(2);
    }
    expect(readdirSync(dir)).toEqual(["m.ts"]);
  });

  it("prints IR, adjoint IR, code and tape statistics with --emit", () => {
    const dir = tmp({ "m.ts": QUIZ });
    expect(adgen(["--emit", "ir", "m.ts"], dir).stdout).toContain("func quiz(%x.0: f64, %z.1: f64) {");
    const adj = adgen(["--emit", "adjoint", "m.ts"], dir).stdout;
    expect(adj).toContain("grad quiz(");
    expect(adj).toContain("; --- backward ---");
    const jvp = adgen(["--emit", "jvp", "m.ts"], dir).stdout;
    // the tangent parameters after the parameters, the value and its tangent yielded
    expect(jvp).toMatch(/func quiz\(%x\.0: f64, %z\.1: f64, %xd\.\d+: f64, %zd\.\d+: f64\)/);
    expect(jvp).toMatch(/return %\w+(\.\d+)?, %\w+(\.\d+)?/);
    const ts = adgen(["--emit", "ts", "m.ts"], dir).stdout;
    expect(ts).toContain("export function quizBackward(");
    expect(ts).toMatch(/export function quizJvp\(\s*x: number,\s*z: number,\s*tangents: QuizGrads,?\s*\)/);
    expect(ts).toMatch(/export function quizHvp\(\s*x: number,\s*z: number,\s*direction: QuizGrads,?\s*\)/);
    expect(adgen(["--emit", "stats", "m.ts"], dir).stdout).toMatch(/^quiz: the tape keeps \d+ intermediate values, \d+ bytes/);
    expect(existsSync(join(dir, "m.grad.ts"))).toBe(false);
  });

  it("--print-ir-after shows a pass's output on stderr", () => {
    const r = adgen(["--print-ir-after", "reverseMode", "--emit", "ts", "m.ts"], tmp({ "m.ts": QUIZ }));
    expect(r.stderr).toContain("; after reverseMode (quiz)");
  });

  it("--print-ir-after refuses a name that is not a pass, naming the passes", () => {
    const dir = tmp({ "m.ts": QUIZ });
    const r = adgen(["--print-ir-after", "nosuchpass", "m.ts"], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--print-ir-after takes a pass name (${PASS_NAMES.join(", ")}) or all, not 'nosuchpass'`);
    expect(readdirSync(dir)).toEqual(["m.ts"]);
    const all = adgen(["--print-ir-after", "all", "--emit", "ir", "m.ts"], dir);
    expect(all.status, all.stderr).toBe(0);
    for (const pass of PASS_NAMES) expect(all.stderr).toContain(`; after ${pass} (quiz)`);
  });

  it("PASS_NAMES are exactly the passes the pipeline reports", async () => {
    const seen = new Set<string>();
    await compile(QUIZ, { printIrAfter: "all", onIr: (pass) => seen.add(pass) });
    expect([...seen].sort()).toEqual([...PASS_NAMES].sort());
  });

  it("--check reports the worst relative error per entry and parameter", () => {
    const r = adgen(["--check", "m.ts"], tmp({ "m.ts": QUIZ }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/quiz:\n {2}x .* per element .* worst relative error \d\.\d+e-\d+ {2}ok/);
    // and a line for the entry's JVP and one for its HVP
    expect(r.stdout).toMatch(/\n {2}jvp +value \[\] +directions \(\d+\) +worst relative error \d\.\d+e-\d+ {2}ok\n {2}hvp +gradient +directions \(\d+\) +worst relative error \d\.\d+e-\d+ {2}ok\n/);
    expect(r.stdout).toContain("gradients agree, and so do JVPs and HVPs");
  });

  it("--check recognises finite differences straddling a kink", () => {
    // |x - round(x·1e6)/1e6| has a kink within every finite-difference step
    const saw = `export function saw(x: number): number {\n  return Math.abs(x - Math.round(x * 1e6) / 1e6) + x * x;\n}\n`;
    const r = adgen(["--check", "m.ts"], tmp({ "m.ts": saw }));
    expect(r.stdout).toContain("straddled a kink");
    expect(r.status).toBe(0);
  });

  it("--check fails on a wrong gradient", async () => {
    const result = await compile(QUIZ);
    // sabotage the generated backward pass: the gradient of z is off by 0.1%
    const broken = { ...result, code: result.code!.replace(/return \{ x: dx, z: (.*?) \};/, "return { x: dx, z: ($1) * 1.001 };") };
    expect(broken.code).not.toEqual(result.code);
    const report = await checkGradients(broken);
    expect(report.ok).toBe(false);
    expect(report.params.find((p) => p.param === "z")!.ok).toBe(false);
    expect(report.params.find((p) => p.param === "x")!.ok).toBe(true);
  });

  it("--check fails on a wrong JVP or HVP, naming it", async () => {
    const result = await compile(QUIZ);
    // sabotage the generated forward mode: the tangent off by 0.1%, then the HVP of z
    for (const [pattern, replacement, name] of [
      [/return \{ value: (\w+), tangent: (\w+) \};/, "return { value: $1, tangent: $2 * 1.001 };", "quiz.jvp"],
      [/hvp: \{ x: (\w+), z: (\w+) \} \};/, "hvp: { x: $1, z: $2 * 1.001 } };", "quiz.hvp"],
    ] as const) {
      const broken = { ...result, code: result.code!.replace(pattern, replacement) };
      expect(broken.code).not.toEqual(result.code);
      const report = await checkGradients(broken);
      expect(report.ok).toBe(false);
      expect(report.params.every((p) => p.ok)).toBe(true);
      expect(formatCheckReport(report, 1e-5)).toMatch(new RegExp(`GRADIENT MISMATCH \\(${name.replace(".", "\\.")}\\)\n$`));
    }
  });

  it("--graph prints Graphviz DOT with forward and adjoint nodes", () => {
    const r = adgen(["--graph", "m.ts"], tmp({ "m.ts": QUIZ }));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^digraph "quiz" \{/);
    expect(r.stdout).toContain('label="xz = mul"');
    expect(r.stdout).toContain('label="dx"');
    expect(r.stdout.trim().endsWith("}")).toBe(true);
    expect(adgen(["--graph", "--entry", "nope", "m.ts"], tmp({ "m.ts": QUIZ })).status).toBe(1);
  });

  it("--watch recompiles on change and keeps the last good output on errors", async () => {
    const dir = tmp({ "m.ts": QUIZ });
    const child = spawn(process.execPath, [CLI, "--watch", "m.ts"], { cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const until = async (cond: () => boolean, what: string) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
      if (!cond()) throw new Error(`timed out waiting for ${what}; stdout: ${stdout}; stderr: ${stderr}`);
    };
    try {
      await until(() => stdout.includes("Watching"), "the first compile");
      const first = readFileSync(join(dir, "m.grad.ts"), "utf8");
      await new Promise((r) => setTimeout(r, 150));
      writeFileSync(join(dir, "m.ts"), QUIZ.replace("Math.exp(xz)", "Math.exp(2 * xz)"));
      await until(() => readFileSync(join(dir, "m.grad.ts"), "utf8") !== first, "a recompile");
      const second = readFileSync(join(dir, "m.grad.ts"), "utf8");
      expect(second).toContain("Math.exp(2 * xz)");
      await new Promise((r) => setTimeout(r, 150));
      writeFileSync(join(dir, "m.ts"), QUIZ.replace("Math.exp(xz)", "Math.random()"));
      await until(() => stderr.includes("ADG1014"), "the error");
      expect(readFileSync(join(dir, "m.grad.ts"), "utf8")).toEqual(second);
    } finally {
      child.kill();
    }
  }, 30_000);
});

describe("output into pipes", () => {
  // a module of about 200 KB, more than a pipe holds (64 KB)
  const BIG = "export function big(x: number): number {\n  let y = x;\n" +
    Array.from({ length: 300 }, (_, i) => `  y = y * Math.sin(y + ${i});\n`).join("") + "  return y;\n}\n";
  // 1500 type errors, about 350 KB of diagnostics
  const ERRORS = "export function bad(x: number): number {\n" +
    Array.from({ length: 1500 }, (_, i) => `  const s${i}: number = "a${i}";\n`).join("") + "  return x;\n}\n";
  const sh = (script: string, dir: string) =>
    spawnSync("sh", ["-c", script], { cwd: dir, encoding: "utf8", env: { ...process.env, NODE: process.execPath, CLI, NO_COLOR: "1" } });

  it("a reader that starts late still receives all of stdout", async () => {
    const dir = tmp({ "big.ts": BIG });
    const r = sh(`{ "$NODE" "$CLI" --emit ts big.ts; echo $? > status; } | (sleep 1; cat > piped.ts)`, dir);
    expect(r.stderr).toBe("");
    expect(readFileSync(join(dir, "status"), "utf8")).toBe("0\n");
    const expected = (await compile(BIG, { fileName: "big.ts" })).code!;
    expect(expected.length).toBeGreaterThan(150_000);
    const piped = readFileSync(join(dir, "piped.ts"), "utf8");
    expect(piped.length).toBe(expected.length);
    expect(piped).toEqual(expected);
  }, 60_000);

  it("a reader that starts late still receives every diagnostic and the summary", () => {
    const dir = tmp({ "errs.ts": ERRORS });
    const r = sh(`{ "$NODE" "$CLI" errs.ts 2>&1 >/dev/null; echo $? > status; } | (sleep 1; cat > piped.txt)`, dir);
    expect(r.stderr).toBe("");
    expect(readFileSync(join(dir, "status"), "utf8")).toBe("1\n");
    const piped = readFileSync(join(dir, "piped.txt"), "utf8");
    expect(piped.match(/^errs\.ts:\d+:\d+ - error ADG1001: /gm)).toHaveLength(1500);
    expect(piped.endsWith("Found 1500 errors in errs.ts.\n")).toBe(true);
  }, 60_000);

  it("a reader that stops early (| head) gets no stack trace", () => {
    const dir = tmp({ "big.ts": BIG });
    const r = sh(`"$NODE" "$CLI" --emit ts big.ts 2> err.txt | head -c 100 > head.txt`, dir);
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, "head.txt"), "utf8")).toMatch(/^\/\/ Generated by adgen/);
    expect(readFileSync(join(dir, "err.txt"), "utf8")).toBe("");
  }, 60_000);
});

describe("--watch", () => {
  it("with no input it can read, reports the cause and exits 1 at once", () => {
    const r = spawnSync(process.execPath, [CLI, "--watch", "nope.ts"], { cwd: tmp({}), encoding: "utf8", timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error ADG0001: cannot read 'nope.ts': no such file (ENOENT)\n");
    expect(r.stdout).not.toContain("Watching");
  });

  it("watches the inputs it can read and says how many", async () => {
    const child = spawn(process.execPath, [CLI, "--watch", "m.ts", "nope.ts"], { cwd: tmp({ "m.ts": QUIZ }) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    try {
      for (let i = 0; i < 200 && !stdout.includes("Watching"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(stdout).toContain("Watching 1 of 2 files for changes");
      expect(stderr).toContain("cannot read 'nope.ts': no such file (ENOENT)");
      // still running: the watcher keeps it alive
      await new Promise((r) => setTimeout(r, 300));
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill();
    }
  }, 30_000);
});

describe("code frames of tab-indented lines", () => {
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

  /** The two code-frame lines (source, ~) tsc --pretty prints for a span of `source`. */
  function tscFrame(source: string, start: number, length: number): string[] {
    const file = ts.createSourceFile("t.ts", source, ts.ScriptTarget.Latest);
    const diag: ts.Diagnostic = { file, start, length, messageText: "m", category: ts.DiagnosticCategory.Error, code: 1 };
    const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => "/", getNewLine: () => "\n" };
    const lines = strip(ts.formatDiagnosticsWithColorAndContext([diag], host)).split("\n");
    return [lines[2]!, lines[3]!];
  }

  function ourFrame(source: string, start: number, length: number): string[] {
    const before = source.slice(0, start).split("\n");
    const d: Diagnostic = { code: "ADG1003", message: "m", hint: "", file: "t.ts", line: before.length, col: before.at(-1)!.length + 1, length };
    return formatDiagnostic(d, source).split("\n").slice(2, 4);
  }

  it.each([
    ["a tab-indented line", 'export function f(x: number): number {\n\treturn x + "a";\n}\n', '"a"'],
    ["tabs inside the line", "export function f(x: number): number {\n\t\tconst\ty =\t\tMath.random();\n\treturn y;\n}\n", "Math.random()"],
    ["a tab after the span", "export function f(x: number): number {\n\treturn\tx;\t\t\n}\n", "return"],
  ])("matches tsc --pretty for %s", (_, source, span) => {
    const start = source.indexOf(span);
    const ours = ourFrame(source, start, span.length);
    expect(ours).toEqual(tscFrame(source, start, span.length));
    // and the ~ sits under the span as shown
    const [line, carets] = ours as [string, string];
    expect(line.slice(carets.indexOf("~"), carets.lastIndexOf("~") + 1)).toBe(span.replace(/\t/g, " "));
  });
});

describe("compile() API", () => {
  it("returns the generated code and no diagnostics for a good file", async () => {
    const r = await compile(QUIZ, { fileName: "quiz.ts" });
    expect(r.diagnostics).toEqual([]);
    expect(r.code).toContain("export function quiz(x: number, z: number): number {");
    expect(r.entries.map((e) => e.entry.name)).toEqual(["quiz"]);
  });

  it("returns structured diagnostics for a bad file", async () => {
    const r = await compile("export function f(x: number): number {\n  return Math.random() * x;\n}\n", { fileName: "bad.ts" });
    expect(r.code).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "ADG1014", file: "bad.ts", line: 2, col: 10 });
    expect(r.diagnostics[0]!.hint).not.toEqual("");
  });

  it("is deterministic: the same input gives byte-identical output", async () => {
    const a = await compile(QUIZ, { fileName: "quiz.ts" });
    const b = await compile(QUIZ, { fileName: "quiz.ts" });
    expect(a.code).toEqual(b.code);
  });
});
