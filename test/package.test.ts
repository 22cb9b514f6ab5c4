// The package as a user meets it: `npm pack` makes a tarball holding the compiled compiler,
// runtime and plugin, their declarations, README and docs (and nothing of the repository's
// tests or benchmarks); installed into a fresh project (one install, shared by every test
// here), `npx adgen` compiles a model, the generated module imports and its gradient agrees
// with finite differences, the DSL file runs as-is with `import ... from "adgen"` resolving
// to the installed runtime, the file type-checks against the installed declarations, and
// the installed plugin bundles a `?grad` import with esbuild and with Rollup.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
// tsx runs TypeScript files under Node 20 (the fresh project has no loader of its own)
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/esm/index.mjs")).href;

// a small CNN-flavoured model: a convolution, relu, a linear layer and cross-entropy
const MODEL = `import { type Tensor, conv2d, relu, linear, flatten, crossEntropy } from "adgen";

export function loss(x: Tensor<[1, 5, 5]>, label: number, cw: Tensor<[2, 1, 3, 3]>, cb: Tensor<[2]>, fw: Tensor<[3, 18]>, fb: Tensor<[3]>): number {
  const h = relu(conv2d(x, cw, cb));
  return crossEntropy(linear(flatten(h), fw, fb), label);
}
`;

// imports the generated module and the DSL file as-is; prints the worst relative error of
// the gradient against centered finite differences and the difference between the two
// forward values
const CHECK = `import { loss, lossGrad, lossShapes } from "./model.grad.js";
import { loss as reference } from "./model.ts";

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const x = Float64Array.from({ length: 25 }, rand);
const cw = Float64Array.from({ length: 18 }, rand);
const cb = Float64Array.from({ length: 2 }, rand);
const fw = Float64Array.from({ length: 54 }, rand);
const fb = Float64Array.from({ length: 3 }, rand);
const { value, grads } = lossGrad(x, 1, cw, cb, fw, fb);

// nested arrays for the as-is run: [1, 5, 5] and friends
const nest = (flat: Float64Array, shape: readonly number[]): any => {
  if (shape.length === 0) return flat[0];
  const [n, ...rest] = shape;
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n! }, (_, i) => nest(flat.subarray(i * size, (i + 1) * size), rest));
};
const asIs = (reference as any)(nest(x, lossShapes.x), 1, nest(cw, lossShapes.cw), nest(cb, lossShapes.cb), nest(fw, lossShapes.fw), nest(fb, lossShapes.fb));

let worst = 0;
const params = { x, cw, cb, fw, fb };
for (const [name, p] of Object.entries(params)) {
  const g = (grads as unknown as Record<string, Float64Array>)[name]!;
  for (let i = 0; i < p.length; i++) {
    const h = 1e-6;
    const keep = p[i]!;
    p[i] = keep + h;
    const up = loss(x, 1, cw, cb, fw, fb);
    p[i] = keep - h;
    const down = loss(x, 1, cw, cb, fw, fb);
    p[i] = keep;
    const fd = (up - down) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - g[i]!) / Math.max(1, Math.abs(fd)));
  }
}
console.log(JSON.stringify({ value, asIs, worst, gradCount: Object.keys(grads).length }));
`;

const MAIN = `import { lossGrad } from "./model.ts?grad";
const x = new Float64Array(25).fill(0.5);
const cw = new Float64Array(18).fill(0.1);
const { value, grads } = lossGrad(x, 2, cw, new Float64Array(2), new Float64Array(54).fill(0.01), new Float64Array(3));
console.log(JSON.stringify({ value, cb: Array.from(grads.cb) }));
`;

let work: string;
let app: string;
let files: string[];

const run = (cmd: string, args: string[], cwd = app) => spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/compiler/cli.js"))) spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  work = mkdtempSync(join(tmpdir(), "adgen-package-"));
  // dist/ is built (`npm test` builds first): skip `prepare`'s rebuild
  const pack = run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT);
  expect(pack.status, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  files = info.files.map((f) => f.path);

  app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }, null, 2));
  // the package's dependencies come from the registry (or npm's cache, which `npm ci` filled)
  const install = run("npm", ["install", "--prefer-offline", "--no-save", join(work, info.filename)]);
  expect(install.status, install.stderr).toBe(0);
  writeFileSync(join(app, "model.ts"), MODEL);
  writeFileSync(join(app, "check.ts"), CHECK);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("holds the compiled compiler, runtime and plugin with declarations, README and docs, and nothing else", () => {
    for (const f of [
      "package.json", "README.md", "dist/compiler/cli.js", "dist/compiler/index.js", "dist/compiler/index.d.ts",
      "dist/runtime/index.js", "dist/runtime/index.d.ts", "dist/runtime/parallel.js", "dist/runtime/parallel.d.ts",
      "dist/runtime/parallelWorker.js", "dist/plugin/index.js", "dist/plugin/index.d.ts",
      "dist/plugin/vite.js", "dist/plugin/rollup.js", "dist/plugin/esbuild.js", "dist/plugin/webpack.js", "plugin/client.d.ts",
      "docs/diagnostics.md", "docs/design.md", "docs/dsl.md", "docs/generated-module.md", "docs/conventions.md", "docs/bundlers.md",
      "docs/parallel.md",
    ]) expect(files, f).toContain(f);
    expect(files.filter((f) => /^(test|bench|examples|dist\/bench)\//.test(f) || f.endsWith(".test.ts"))).toEqual([]);
  });

  it("declares no dependency on itself", () => {
    expect(Object.keys(PKG.dependencies)).not.toContain("adgen");
    const installed = JSON.parse(readFileSync(join(app, "node_modules/adgen/package.json"), "utf8")) as { dependencies?: Record<string, string> };
    expect(installed.dependencies ?? {}).not.toHaveProperty("adgen");
  });
});

describe("in a fresh project", () => {
  it("npx adgen compiles a model; the generated module's gradient agrees with finite differences, and the DSL file runs as-is", { timeout: 60_000 }, () => {
    const version = run("npx", ["--no-install", "adgen", "--version"]);
    expect(version.stdout.trim()).toBe(PKG.version);
    const compile = run("npx", ["--no-install", "adgen", "model.ts"]);
    expect(compile.status, compile.stderr).toBe(0);
    expect(compile.stdout).toContain("model.ts -> model.grad.ts");
    const check = run(process.execPath, ["--import", TSX, "check.ts"]);
    expect(check.status, check.stderr).toBe(0);
    const out = JSON.parse(check.stdout) as { value: number; asIs: number; worst: number; gradCount: number };
    expect(out.gradCount).toBe(5); // every parameter but the label
    expect(out.worst).toBeLessThan(1e-7);
    expect(Math.abs(out.value - out.asIs)).toBeLessThan(1e-12);
    expect(out.value).toBeGreaterThan(0);
  });

  it("a diagnostic from the installed CLI names file, line and column", { timeout: 60_000 }, () => {
    writeFileSync(join(app, "bad.ts"), "export function f(x: number): number {\n  return x.toFixed(2).length;\n}\n");
    const bad = run("npx", ["--no-install", "adgen", "bad.ts"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^bad\.ts:2:\d+ - error ADG\d{4}: /);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(app, "bad.grad.ts"))).toBe(false);
  });

  it("the model, the generated module, a plugin config and a ?grad import type-check against the installed declarations", { timeout: 60_000 }, () => {
    if (!existsSync(join(app, "model.grad.ts"))) expect(run("npx", ["--no-install", "adgen", "model.ts"]).status).toBe(0);
    writeFileSync(join(app, "config.ts"), [
      '/// <reference types="adgen/client" />',
      'import adgen from "adgen/plugin";',
      'import vite from "adgen/plugin/vite";',
      'import { compile, formatDiagnostic } from "adgen/compiler";',
      "export const plugins = [adgen.rollup({ dtype: \"float32\" }), vite()];",
      "export const compiled = compile(\"export function f(x: number): number { return x * x; }\", { fileName: \"f.ts\" })",
      "  .then((r) => r.diagnostics.map((d) => formatDiagnostic(d, undefined)));",
      "// adgen/client declares ?grad imports",
      'export { lossGrad } from "./model.ts?grad";',
      "",
    ].join("\n"));
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true, types: [] },
      files: ["model.ts", "model.grad.ts", "check.ts", "config.ts"],
    }));
    const tsc = run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  });

  it("the installed plugin bundles a ?grad import with esbuild and with Rollup", { timeout: 60_000 }, () => {
    writeFileSync(join(app, "main.js"), MAIN);
    // the bundlers are the repository's; the plugin (and its unplugin) are the installed package's
    const esbuild = pathToFileURL(join(ROOT, "node_modules/esbuild/lib/main.js")).href;
    const rollup = pathToFileURL(join(ROOT, "node_modules/rollup/dist/es/rollup.js")).href;
    writeFileSync(join(app, "build.mjs"), [
      'import adgen from "adgen/plugin";',
      `import * as esbuild from ${JSON.stringify(esbuild)};`,
      `import { rollup } from ${JSON.stringify(rollup)};`,
      'await esbuild.build({ entryPoints: ["main.js"], bundle: true, platform: "node", format: "esm", outfile: "out/esbuild.mjs", plugins: [adgen.esbuild()], logLevel: "error" });',
      'const bundle = await rollup({ input: "main.js", plugins: [adgen.rollup()] });',
      'await bundle.write({ file: "out/rollup.mjs", format: "es" });',
      "",
    ].join("\n"));
    const build = run(process.execPath, ["build.mjs"]);
    expect(build.status, build.stderr).toBe(0);
    const outputs = ["out/esbuild.mjs", "out/rollup.mjs"].map((f) => {
      const r = run(process.execPath, [f]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { value: number; cb: number[] };
    });
    // zero linear biases and equal linear weights make the three logits equal: loss ln 3
    expect(outputs[0]!.value).toBeCloseTo(Math.log(3), 12);
    expect(outputs[1]).toEqual(outputs[0]);
  });
});
