// The command line: help, version, outputs, several inputs, -o, --emit, --check, --graph,
// --watch; and the programmatic compile() API.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../compiler/index.js";
import { checkGradients } from "../compiler/tools/check.js";

const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;
const QUIZ = readFileSync(new URL("../examples/quiz/model.ts", import.meta.url), "utf8");
const adgen = (args: string[], cwd?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd });

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
});

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "adgen-cli-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("adgen CLI", () => {
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

  it("prints IR, adjoint IR, code and tape statistics with --emit", () => {
    const dir = tmp({ "m.ts": QUIZ });
    expect(adgen(["--emit", "ir", "m.ts"], dir).stdout).toContain("func quiz(%x.0: f64, %z.1: f64) {");
    const adj = adgen(["--emit", "adjoint", "m.ts"], dir).stdout;
    expect(adj).toContain("grad quiz(");
    expect(adj).toContain("; --- backward ---");
    expect(adgen(["--emit", "ts", "m.ts"], dir).stdout).toContain("export function quizBackward(");
    expect(adgen(["--emit", "stats", "m.ts"], dir).stdout).toMatch(/^quiz: the tape keeps \d+ intermediate values, \d+ bytes/);
    expect(existsSync(join(dir, "m.grad.ts"))).toBe(false);
  });

  it("--print-ir-after shows a pass's output on stderr", () => {
    const r = adgen(["--print-ir-after", "reverseMode", "--emit", "ts", "m.ts"], tmp({ "m.ts": QUIZ }));
    expect(r.stderr).toContain("; after reverseMode (quiz)");
  });

  it("--check reports the worst relative error per entry and parameter", () => {
    const r = adgen(["--check", "m.ts"], tmp({ "m.ts": QUIZ }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/quiz:\n {2}x .* per element .* worst relative error \d\.\d+e-\d+ {2}ok/);
    expect(r.stdout).toContain("gradients agree");
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
