// The bundler plugin (adgen/plugin, one unplugin implementation): a small project that
// imports `./model.ts?grad` is bundled by Vite, Rollup, esbuild and webpack, and each bundle
// runs under Node and prints a gradient that must match the closed form; a DSL error fails
// each build with the bundler's own error, naming file, line and column; Rollup's watch mode
// and Vite's dev server rebuild when the DSL file changes; an unchanged file is not
// compiled twice.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// the built plugin, through the package's own exports (as a user's bundler config imports it)
import adgen from "adgen/plugin";
import { stats } from "../dist/plugin/unplugin.js";

// softplus(w . x + b): dL/dw = sigmoid(w . x + b) x, dL/db = sigmoid(w . x + b)
const MODEL = `import { type Tensor, dot } from "adgen";

/** @wrt w, b */
export function loss(x: Tensor<[3]>, w: Tensor<[3]>, b: number): number {
  const z = dot(w, x) + b;
  return Math.log(1 + Math.exp(z));
}
`;

// line 5, column 3: a switch statement is not in the DSL (ADG1002)
const BAD_MODEL = `import { type Tensor } from "adgen";

export function loss(x: Tensor<[3]>, w: Tensor<[3]>, b: number): number {
  let y = b;
  switch (y > 1 ? 1 : 0) {
    case 1:
      y = y * 2;
  }
  return y;
}
`;

const MAIN = `import { loss, lossGrad, lossShapes } from "./model.ts?grad";

const x = Float64Array.from([0.5, -1, 2]);
const w = Float64Array.from([0.3, 0.2, -0.1]);
const { value, grads } = lossGrad(x, w, 0.4);
console.log(JSON.stringify({ value, forward: loss(x, w, 0.4), w: Array.from(grads.w), b: grads.b, shapes: lossShapes }));
`;

function expected() {
  const x = [0.5, -1, 2];
  const w = [0.3, 0.2, -0.1];
  const z = w.reduce((s, wi, i) => s + wi * x[i]!, 0.4);
  const s = 1 / (1 + Math.exp(-z));
  return { value: Math.log(1 + Math.exp(z)), w: x.map((xi) => s * xi), b: s };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "adgen-plugin-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh project folder under the test's temporary directory. */
function project(name: string, model = MODEL): string {
  const root = join(dir, name);
  spawnSync("mkdir", ["-p", root]);
  writeFileSync(join(root, "model.ts"), model);
  writeFileSync(join(root, "main.js"), MAIN);
  return root;
}

/** Runs a bundle under Node and checks what it prints against the closed form. */
function runBundle(file: string): void {
  const run = spawnSync(process.execPath, [file], { encoding: "utf8" });
  expect(run.status, run.stderr).toBe(0);
  const out = JSON.parse(run.stdout) as { value: number; forward: number; w: number[]; b: number; shapes: Record<string, number[]> };
  const want = expected();
  expect(out.value).toBeCloseTo(want.value, 14);
  expect(out.forward).toBeCloseTo(want.value, 14);
  out.w.forEach((g, i) => expect(g).toBeCloseTo(want.w[i]!, 14));
  expect(out.b).toBeCloseTo(want.b, 14);
  expect(out.shapes).toEqual({ x: [3], w: [3], b: [] });
}

async function viteBuild(root: string) {
  const { build } = await import("vite");
  return build({
    root, configFile: false, logLevel: "silent", plugins: [adgen.vite()],
    build: { ssr: join(root, "main.js"), outDir: join(root, "out"), write: true, minify: false },
  });
}

async function rollupBuild(root: string) {
  const { rollup } = await import("rollup");
  const bundle = await rollup({ input: join(root, "main.js"), plugins: [adgen.rollup()], onwarn: () => {} });
  await bundle.write({ file: join(root, "out/main.mjs"), format: "es" });
  await bundle.close();
}

async function esbuildBuild(root: string) {
  const esbuild = await import("esbuild");
  return esbuild.build({
    entryPoints: [join(root, "main.js")], bundle: true, platform: "node", format: "esm",
    outfile: join(root, "out/main.mjs"), plugins: [adgen.esbuild()], logLevel: "silent",
  });
}

async function webpackBuild(root: string) {
  const webpack = (await import("webpack")).default;
  return new Promise<import("webpack").Stats>((resolve, reject) => {
    webpack({
      mode: "production", target: "node", context: root, entry: "./main.js", devtool: false,
      output: { path: join(root, "out"), filename: "main.cjs" }, optimization: { minimize: false },
      plugins: [adgen.webpack()],
    }, (err, result) => (err || !result ? reject(err ?? new Error("no stats")) : resolve(result)));
  });
}

describe("the bundler plugin builds and runs", () => {
  it("Vite (build)", { timeout: 60_000 }, async () => {
    const root = project("vite");
    await viteBuild(root);
    runBundle(join(root, "out/main.mjs"));
  });

  it("Rollup", { timeout: 60_000 }, async () => {
    const root = project("rollup");
    await rollupBuild(root);
    runBundle(join(root, "out/main.mjs"));
  });

  it("esbuild", { timeout: 60_000 }, async () => {
    const root = project("esbuild");
    const result = await esbuildBuild(root);
    expect(result.errors).toEqual([]);
    runBundle(join(root, "out/main.mjs"));
  });

  it("webpack", { timeout: 60_000 }, async () => {
    const root = project("webpack");
    const result = await webpackBuild(root);
    expect(result.hasErrors(), result.toString({ all: false, errors: true })).toBe(false);
    runBundle(join(root, "out/main.cjs"));
  });

  it("caches by content: the same file is compiled once, a changed one again", { timeout: 60_000 }, async () => {
    const root = project("cache", MODEL.replace("1 + Math.exp(z)", "1 + Math.exp(z) + 0"));
    const before = stats.compiles;
    await rollupBuild(root);
    expect(stats.compiles).toBe(before + 1);
    await esbuildBuild(root); // another bundler, the same content: no compile
    await rollupBuild(root);
    expect(stats.compiles).toBe(before + 1);
    writeFileSync(join(root, "model.ts"), MODEL.replace("1 + Math.exp(z)", "1 + Math.exp(z) + 1e-300"));
    await rollupBuild(root);
    expect(stats.compiles).toBe(before + 2);
  });
});

describe("a DSL error is the bundler's error, with file, line and column", () => {
  const where = (root: string) => join(root, "model.ts");

  it("Rollup: a RollupError with loc and the code frame", { timeout: 60_000 }, async () => {
    const root = project("rollup-bad", BAD_MODEL);
    const err = await rollupBuild(root).then(() => undefined, (e: unknown) => e as { message: string; loc?: { file: string; line: number; column: number }; frame?: string; plugin?: string });
    expect(err, "the build must fail").toBeDefined();
    expect(err!.plugin).toBe("adgen");
    expect(err!.message).toContain("ADG1002: Unsupported statement: switch statement.");
    expect(err!.loc).toEqual({ file: where(root), line: 5, column: 2 });
    expect(err!.frame).toContain("5   switch (y > 1 ? 1 : 0) {");
    expect(err!.frame).toContain("hint: Use if/else.");
  });

  it("Vite (build): the same error", { timeout: 60_000 }, async () => {
    const root = project("vite-bad", BAD_MODEL);
    type ViteError = { message: string; loc?: { file: string; line: number; column: number }; frame?: string };
    const failure = await viteBuild(root).then(() => undefined, (e: unknown) => e as ViteError & { errors?: ViteError[] });
    expect(failure, "the build must fail").toBeDefined();
    // Vite 8 builds with Rolldown, which gathers the plugins' errors in `errors`
    const err = failure!.errors?.[0] ?? failure;
    expect(err!.message).toContain("ADG1002");
    expect(err!.loc).toMatchObject({ file: where(root), line: 5, column: 2 });
  });

  it("esbuild: an error message with its location", { timeout: 60_000 }, async () => {
    const root = project("esbuild-bad", BAD_MODEL);
    const err = await esbuildBuild(root).then(() => undefined, (e: unknown) => e as { errors: { text: string; location: { file: string; line: number; column: number } | null }[] });
    expect(err, "the build must fail").toBeDefined();
    expect(err!.errors).toHaveLength(1);
    expect(err!.errors[0]!.text).toContain("ADG1002: Unsupported statement: switch statement.");
    const location = err!.errors[0]!.location!;
    // esbuild names files relative to the working directory
    expect(join(process.cwd(), location.file)).toBe(where(root));
    expect(location).toMatchObject({ line: 5, column: 2 });
  });

  it("webpack: a module build error naming model.ts:5:3", { timeout: 60_000 }, async () => {
    const root = project("webpack-bad", BAD_MODEL);
    const result = await webpackBuild(root);
    expect(result.hasErrors()).toBe(true);
    const text = result.toString({ all: false, errors: true });
    expect(text).toContain("model.ts:5:3 - error ADG1002: Unsupported statement: switch statement.");
    expect(text).toContain("5   switch (y > 1 ? 1 : 0) {");
  });
});

describe("rebuilds when the DSL file changes", () => {
  it("Rollup watch mode: an edit rebuilds the bundle with the new gradient", { timeout: 60_000 }, async () => {
    const { watch } = await import("rollup");
    const root = project("rollup-watch");
    const out = join(root, "out/main.mjs");
    const watcher = watch({ input: join(root, "main.js"), plugins: [adgen.rollup()], output: { file: out, format: "es" }, watch: { buildDelay: 50 }, onwarn: () => {} });
    const builds: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.on("event", (e) => {
          if (e.code === "ERROR") reject(e.error);
          if (e.code === "BUNDLE_END") e.result.close();
          if (e.code !== "END") return;
          builds.push(readFileSync(out, "utf8"));
          // the first build is done: change the model (the loss doubles)
          if (builds.length === 1) setTimeout(() => writeFileSync(join(root, "model.ts"), MODEL.replace("return Math.log", "return 2 * Math.log")), 100);
          if (builds.length === 2) resolve();
        });
      });
    } finally {
      await watcher.close();
    }
    const run = spawnSync(process.execPath, [out], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).b).toBeCloseTo(2 * expected().b, 14);
  });

  it("Vite dev server: the module is rebuilt on change, and errors carry what the overlay shows", { timeout: 60_000 }, async () => {
    const { createServer } = await import("vite");
    const root = project("vite-dev");
    const server = await createServer({
      root, configFile: false, logLevel: "silent", plugins: [adgen.vite()],
      server: { middlewareMode: true, hmr: false, watch: { usePolling: true, interval: 50 } },
    });
    try {
      const first = await server.transformRequest("/model.ts?grad");
      expect(first?.code).toContain("export function lossGrad");
      expect(first?.code).toContain("// line 6: return Math.log(1 + Math.exp(z));");

      // Vite invalidates a changed file's modules just after its watcher reports the change:
      // ask again until the module is rebuilt (the test's timeout bounds the wait)
      const reload = async (edit: string, rebuilt: (r: Awaited<ReturnType<typeof load>>) => boolean) => {
        writeFileSync(join(root, "model.ts"), edit);
        for (;;) {
          const r = await load();
          if (rebuilt(r)) return r;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      type OverlayError = { message: string; plugin?: string; loc?: { file: string; line: number; column: number }; frame?: string; id?: string };
      const load = () => server.transformRequest("/model.ts?grad").then((r) => ({ code: r?.code }), (e: unknown) => ({ error: e as OverlayError }));

      const { error: err } = await reload(BAD_MODEL, (r) => "error" in r) as { error: OverlayError };
      // Vite's overlay shows plugin, message, id, loc and frame
      expect(err, "the broken file must fail to load").toBeDefined();
      expect(err!.plugin).toBe("adgen");
      expect(err!.message).toContain("ADG1002");
      expect(err!.loc).toMatchObject({ file: join(root, "model.ts"), line: 5, column: 2 });
      expect(err!.frame).toContain("switch (y > 1 ? 1 : 0)");

      const again = await reload(MODEL.replace("return Math.log", "return 2 * Math.log"), (r) => "code" in r) as { code?: string };
      expect(again?.code).toContain("export function lossGrad");
      expect(again?.code).toContain("// line 6: return 2 * Math.log(1 + Math.exp(z));");
    } finally {
      await server.close();
    }
  });
});
