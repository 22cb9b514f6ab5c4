// adgen/parallel in real Chromium (Debian's chromium, driven by playwright-core, as
// test/browser.test.ts): a small static server sends the package's files with the two
// cross-origin isolation headers; a page imports the built entry (dist/runtime/parallel.js)
// and the MLP written for any batch (compiled and transpiled here), and runs the pool on
// module Web Workers: the pool's own worker script importing the module's URL, and a worker
// script of the page's own calling serveGradients; atomics and message signalling, and the
// page's thread computing a shard too (local). Every gradient is compared in the page with
// the module's single-thread lossGradInto (max|pool - single| / max|single| <= 1e-12). A
// page served without the headers has no SharedArrayBuffer: createGradPool says so.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mlp } from "../bench/models.js";
import { compileOrThrow } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env.ADGEN_CHROMIUM ?? "/usr/bin/chromium";
const DIR = join(ROOT, "test/.generated/browser-parallel");
const BASE = "/test/.generated/browser-parallel";

const PAGE = `<!doctype html><meta charset="utf-8"><title>adgen/parallel</title><script type="module" src="./main.mjs"></script>`;

// runs in the page: window.runParallel() resolves to one row per configuration
const MAIN = `import { createGradPool } from "/dist/runtime/parallel.js";
import * as model from "./mlp.grad.mjs";

function inputs(n, seed) {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const x = Float64Array.from({ length: n * 784 }, random);
  const labels = Float64Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
  const p = [128 * 784, 128, 10 * 128, 10].map((len) => Float64Array.from({ length: len }, () => 0.2 * random()));
  return [x, labels, ...p];
}
const grads = () => ({ w1: new Float64Array(128 * 784), b1: new Float64Array(128), w2: new Float64Array(1280), b2: new Float64Array(10) });
function worst(a, b) {
  let w = 0;
  for (const k of Object.keys(b)) {
    let d = 0, m = 0;
    for (let i = 0; i < b[k].length; i++) { d = Math.max(d, Math.abs(a[k][i] - b[k][i])); m = Math.max(m, Math.abs(b[k][i])); }
    w = Math.max(w, d / m);
  }
  return w;
}

window.runParallel = async () => {
  if (typeof SharedArrayBuffer === "undefined") {
    try {
      await createGradPool({ module: new URL("./mlp.grad.mjs", import.meta.url), entry: "loss", workers: 2, reduction: "mean" });
      return { isolated: false, error: "no error" };
    } catch (e) {
      return { isolated: false, error: String(e.message) };
    }
  }
  const configs = [
    ["module, atomics", { module: new URL("./mlp.grad.mjs", import.meta.url), workers: 2, signal: "atomics" }],
    ["module, message", { module: new URL("./mlp.grad.mjs", import.meta.url).href, workers: 3, signal: "message" }],
    ["own worker", { worker: () => new Worker(new URL("./grad.worker.mjs", import.meta.url), { type: "module" }), workers: 2 }],
    ["local + 1 worker", { module: new URL("./mlp.grad.mjs", import.meta.url), workers: 1, local: model }],
  ];
  const rows = [];
  for (const [name, options] of configs) {
    const pool = await createGradPool({ entry: "loss", reduction: "mean", ...options });
    for (const n of [32, 17, 1]) {
      const args = inputs(n, n + rows.length);
      const single = grads(), got = grads();
      const want = model.lossGradInto(...args, single);
      const value = await pool.gradInto(...args, got);
      rows.push({ name, n, value, want, worst: worst(got, single) });
    }
    await pool.close();
  }
  // gradIntoSync may not block a page's thread: it says so before any worker runs
  const pool = await createGradPool({ module: new URL("./mlp.grad.mjs", import.meta.url), entry: "loss", reduction: "mean", workers: 1, signal: "atomics" });
  let syncError = "no error";
  try {
    pool.gradIntoSync(...inputs(4, 1), grads());
  } catch (e) {
    syncError = e.message;
  }
  await pool.close();
  return { isolated: crossOriginIsolated, defaultSignalAtomics: typeof Atomics.waitAsync === "function", rows, syncError };
};
window.parallelReady = true;
`;

const WORKER = `import { serveGradients } from "/dist/runtime/parallel.js";
import * as model from "./mlp.grad.mjs";
serveGradients(model);
`;

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript" };

let server: Server;
let browser: Browser;
let origin = "";
const problems: string[] = [];

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`).toBe(true);
  expect(existsSync(join(ROOT, "dist/runtime/parallel.js")), "run npm run build first").toBe(true);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const r = await compileOrThrow(mlp(32, true).source, { fileName: "mlp.ts" });
  writeFileSync(join(DIR, "mlp.grad.mjs"), ts.transpileModule(r.code!, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
  writeFileSync(join(DIR, "index.html"), PAGE);
  writeFileSync(join(DIR, "main.mjs"), MAIN);
  writeFileSync(join(DIR, "grad.worker.mjs"), WORKER);
  // files under the package root; /plain/... is the same file without the isolation headers
  server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const plain = path.startsWith("/plain/");
    if (plain) path = path.slice("/plain".length);
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const file = normalize(join(ROOT, path));
    if (!file.startsWith(ROOT) || !existsSync(file) || !(extname(file) in TYPES)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": TYPES[extname(file)]!,
      ...(plain ? {} : { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }),
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

async function run(path: string): Promise<any> {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
  });
  await page.goto(`${origin}${path}`);
  await page.waitForFunction(() => (window as unknown as { parallelReady?: boolean }).parallelReady, null, { timeout: 30_000 });
  const result = await page.evaluate(() => (window as unknown as { runParallel: () => Promise<unknown> }).runParallel());
  await page.close();
  return result;
}

describe("adgen/parallel in headless Chromium", () => {
  it("a cross-origin isolated page: module Web Workers give the single-thread gradient", { timeout: 120_000 }, async () => {
    const r = await run(`${BASE}/index.html`);
    expect(r.isolated).toBe(true);
    expect(r.rows).toHaveLength(12);
    for (const row of r.rows) {
      expect(Math.abs(row.value - row.want) / row.want, `${row.name} at N = ${row.n}`).toBeLessThanOrEqual(1e-12);
      expect(row.worst, `${row.name} at N = ${row.n}`).toBeLessThanOrEqual(1e-12);
    }
    console.log(`adgen/parallel in Chromium: ${r.rows.length} pool steps, worst relative difference ${Math.max(...r.rows.map((x: { worst: number }) => x.worst)).toExponential(1)}, Atomics.waitAsync ${r.defaultSignalAtomics ? "present" : "missing"}`);
    expect(r.syncError).toMatch(/gradIntoSync cannot block this thread .* await gradInto instead/);
    expect(problems).toEqual([]);
  });

  it("a page without the isolation headers: createGradPool names them", { timeout: 60_000 }, async () => {
    const r = await run(`/plain${BASE}/index.html`);
    expect(r.isolated).toBe(false);
    expect(r.error).toMatch(/SharedArrayBuffer is not available.*Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
  });
});
