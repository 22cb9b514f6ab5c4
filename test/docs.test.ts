// Every ```ts sample in the user docs is compiled and run, so the docs stay true:
//
// - a DSL file (its imports, if any, are from "adgen", and it has an `export function`) is
//   compiled with adgen without a diagnostic, its gradients are checked against finite
//   differences (as `adgen --check` does), and the file itself runs as-is, its
//   `import ... from "adgen"` resolving to adgen's runtime through the package's own
//   exports: each entry's value equals the generated forward function's at random inputs;
// - a DSL file followed by a ```text block that starts like a diagnostic
//   (`model.ts:3:3 - error ADG1002: ...`) is a deliberate error: it must fail to compile,
//   and what adgen prints must be that block, word for word;
// - any other sample is a program (it imports a generated `./NAME.grad.js`, adgen/compiler,
//   adgen/plugin, ...): it is type-checked under --strict with the doc's other samples and
//   run under Node; when a ```text block follows it, that is what it must print. A program
//   that imports a `?grad` module (docs/bundlers.md) runs only inside a bundle, so it is
//   type-checked and not run: the doc's build samples bundle and run it; likewise a worker's
//   script (one that calls adgen/parallel's `serveGradients`, docs/parallel.md) runs only
//   in the worker that a later sample starts.
//
// A sample whose first line is a comment naming a file (`// model.ts`) is written under that
// name, so that a later program can import `./model.grad.js`; the others get numbered names.
// The samples of docs/parallel.md are also transpiled to .js beside them, as a project
// compiled with tsc has them: its worker threads import `./model.grad.js` and run
// `./grad.worker.js`, and tsx does not load TypeScript in a worker thread under Node 20.
// The samples of one doc live in test/.generated/docs/<doc>/ (inside the package, whose
// package.json is the nearest, so that "adgen" resolves to it) and run in the doc's order.

import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "../compiler/frontend/diagnostics.js";
import { evalDim } from "../compiler/ir/dims.js";
import { compile } from "../compiler/pipeline.js";
import { checkGradients } from "../compiler/tools/check.js";
import { maxRelErr, rng, unflatten } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOCS = (process.env.ADGEN_DOCS ?? "dsl.md,generated-module.md,conventions.md,bundlers.md,parallel.md").split(",");
/**
 * Samples' parameters whose gradient is 0 everywhere by design ("file entry.param"), and
 * entries whose JVP or HVP is ("file entry.jvp"): piecewise-linear entries have a Hessian
 * that is 0 everywhere.
 */
const IDENTICALLY_ZERO = new Set([
  "stable.ts times0.x",
  "stable.ts times0.jvp",
  "stable.ts times0.hvp",
  ...["reluAt", "pool", "larger", "absAt", "steps"].map((e) => `kinks.ts ${e}.hvp`),
]);
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/esm/index.mjs")).href;

interface Block {
  readonly lang: string;
  readonly text: string;
  /** 1-based lines of the opening and the closing fence. */
  readonly line: number;
  readonly end: number;
}

type Sample =
  | { readonly kind: "dsl"; readonly file: string; readonly text: string; readonly line: number }
  | { readonly kind: "error"; readonly file: string; readonly text: string; readonly line: number; readonly expected: string }
  | { readonly kind: "program"; readonly file: string; readonly text: string; readonly line: number; readonly expected?: string };

/** The fenced code blocks of a markdown text, in order. */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, text: body.join("\n") + "\n", line: start + 1, end: i + 1 });
  }
  return blocks;
}

const DIAGNOSTIC_LINE = /^\S+\.ts(:\d+:\d+)? - error ADG\d{4}: /;

function isDsl(text: string): boolean {
  const imports = [...text.matchAll(/^import\b[^;]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]);
  return imports.every((m) => m === "adgen") && /^export function /m.test(text);
}

/** The samples of a doc: each ```ts block with its role, and what follows it. */
function samplesOf(markdown: string): Sample[] {
  const lines = markdown.split("\n");
  const blocks = fencedBlocks(markdown);
  // a ```text block belongs to the sample before it when only blank lines are between them
  const adjacent = (a: Block, b: Block) => lines.slice(a.end, b.line - 1).every((l) => l.trim() === "");
  const samples: Sample[] = [];
  blocks.forEach((b, k) => {
    if (b.lang !== "ts") return;
    const named = /^\/\/ ([\w.-]+\.ts)\s*$/m.exec(b.text.split("\n")[0]!);
    // an erroneous sample is compiled as model.ts (and not written), as its printed diagnostic says
    const file = named ? named[1]! : `sample${b.line}.ts`;
    const next = blocks[k + 1];
    const following = next && next.lang === "text" && adjacent(b, next) ? next.text : undefined;
    if (isDsl(b.text)) {
      if (following !== undefined && DIAGNOSTIC_LINE.test(following)) samples.push({ kind: "error", file: named ? named[1]! : "model.ts", text: b.text, line: b.line, expected: following });
      else samples.push({ kind: "dsl", file, text: b.text, line: b.line });
    } else {
      samples.push({ kind: "program", file, text: b.text, line: b.line, ...(following !== undefined ? { expected: following } : {}) });
    }
  });
  return samples;
}

const trimLines = (s: string): string => s.split("\n").map((l) => l.trimEnd()).join("\n").trim();

/** Type-checks the doc's files under --strict as a user's project would (NodeNext, the package's own exports). */
function typecheck(dir: string, files: readonly string[]): string[] {
  // `/// <reference types="adgen/client" />` resolves in a project that installed adgen
  // (test/package.test.ts checks it), but TypeScript does not resolve a type reference
  // through the package's own exports as it does an import: here the file it names is a
  // root of the program instead, and only that reference's TS2688 is set aside
  const roots = [...files.map((f) => join(dir, f)), join(ROOT, "plugin/client.d.ts")];
  const program = ts.createProgram(roots, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: ["node"],
    allowImportingTsExtensions: true,
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => !(d.code === 2688 && String(d.messageText).includes("'adgen/client'"))).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    return `${d.file?.fileName ?? "?"}:${(where?.line ?? -1) + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

/** Writes `file`'s JavaScript beside it (docs/parallel.md: worker threads run plain JavaScript). */
function writeJs(dir: string, doc: string, file: string, text: string): void {
  if (doc !== "parallel.md") return;
  const js = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  writeFileSync(join(dir, file.replace(/\.ts$/, ".js")), js);
}

describe.each(DOCS)("docs/%s", (doc) => {
  const markdown = readFileSync(join(ROOT, "docs", doc), "utf8");
  const samples = samplesOf(markdown);
  const dir = join(ROOT, "test/.generated/docs", doc.replace(/\.md$/, ""));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  it("has samples", () => {
    expect(samples.length).toBeGreaterThan(0);
  });

  for (const s of samples) {
    it(`line ${s.line}: ${s.kind} ${s.file}`, { timeout: 60_000 }, async () => {
      if (s.kind !== "error") writeFileSync(join(dir, s.file), s.text);
      if (s.kind === "program") writeJs(dir, doc, s.file, s.text);
      if (s.kind === "error") {
        const r = await compile(s.text, { fileName: s.file });
        expect(r.diagnostics.length, "a deliberately erroneous sample must fail to compile").toBeGreaterThan(0);
        const printed = r.diagnostics.map((d) => formatDiagnostic(d, s.text)).join("\n");
        expect(trimLines(printed)).toBe(trimLines(s.expected));
        return;
      }
      if (s.kind === "dsl") {
        const r = await compile(s.text, { fileName: s.file });
        expect(r.diagnostics.map((d) => formatDiagnostic(d, s.text))).toEqual([]);
        writeFileSync(join(dir, s.file.replace(/\.ts$/, ".grad.ts")), r.code!);
        writeJs(dir, doc, s.file.replace(/\.ts$/, ".grad.ts"), r.code!);
        const report = await checkGradients(r, { seed: 3 });
        // every parameter agrees, except those whose gradient is identically 0 by design
        // (conventions.md: `x * 0` is not folded), which must be reported as not exercised
        for (const p of report.params) {
          const zero = IDENTICALLY_ZERO.has(`${s.file} ${p.entry}.${p.param}`);
          expect(p.status, `${p.entry}.${p.param}: worst ${p.worst}`).toBe(zero ? "not exercised" : "ok");
        }
        expect(report.params.length).toBeGreaterThan(0);
        // and each entry's JVP and HVP (--check's lines `jvp` and `hvp`), likewise
        for (const m of report.modes) {
          const zero = IDENTICALLY_ZERO.has(`${s.file} ${m.entry}.${m.mode}`);
          expect(m.status, `${m.entry}.${m.mode}: worst ${m.worst}`).toBe(zero ? "not exercised" : "ok");
        }
        // the file as-is (nested arrays) against the generated forward functions (flat)
        const asIs = (await import(/* @vite-ignore */ pathToFileURL(join(dir, s.file)).href)) as Record<string, (...a: unknown[]) => unknown>;
        const generated = (await import(/* @vite-ignore */ pathToFileURL(join(dir, s.file.replace(/\.ts$/, ".grad.ts"))).href)) as Record<string, (...a: unknown[]) => unknown>;
        const random = rng(5);
        for (const { entry, grad } of r.entries) {
          const wrt = new Set(grad.wrt);
          // differentiated parameters random, the others (labels, indices) 0: always valid
          // sizes known at run time are 3; integer parameters (bounds, labels, indices) 0
          const shapeOf = (t: (typeof entry.params)[number]["type"]): number[] =>
            t.kind === "tensor" ? t.shape.map((d) => evalDim(d, () => 3)!) : [];
          const flat = entry.params.map((p) => {
            const n = shapeOf(p.type).reduce((a, b) => a * b, 1);
            const v = Float64Array.from({ length: n }, () => (wrt.has(p.name) ? 0.5 + random() : 0));
            return p.type.kind === "tensor" ? v : v[0]!;
          });
          const nested = flat.map((a, i) => {
            const t = entry.params[i]!.type;
            return typeof a === "number" || t.kind !== "tensor" ? a : unflatten(a, shapeOf(t));
          });
          const want = generated[entry.name]!(...flat) as number | Float64Array;
          const got = asIs[entry.name]!(...nested) as number | unknown[];
          const gotFlat = typeof got === "number" ? got : Float64Array.from((got as unknown[]).flat(Infinity as 1) as number[]);
          expect(maxRelErr(gotFlat, want), `${entry.name}: the file as-is and the generated forward function`).toBeLessThan(1e-12);
        }
        return;
      }
      // a program: type-check it with every file of the doc so far, then run it
      const files = samples.filter((o) => o.kind !== "error" && o.line <= s.line).map((o) => o.file);
      expect(typecheck(dir, files).filter((e) => e.includes(s.file))).toEqual([]);
      if (/from\s+["'][^"']+\?grad["']/.test(s.text)) return;
      if (/^serveGradients\(/m.test(s.text)) return;
      // (killed after 50 s: a sample that hangs fails here, with what it printed, rather than
      // holding the whole run)
      const run = spawnSync(process.execPath, ["--import", TSX, join(dir, s.file)], { cwd: dir, encoding: "utf8", timeout: 50_000, killSignal: "SIGKILL" });
      expect(run.status, `${run.error ? `${run.error.message}\n` : ""}${run.stdout}${run.stderr}`).toBe(0);
      if (s.expected !== undefined) expect(trimLines(run.stdout)).toBe(trimLines(s.expected));
    });
  }
});
