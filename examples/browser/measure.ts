// Training throughput of the browser demo's LeNet-5 step (batch 16), in digits per second:
// adgen's generated step in headless Chromium (the demo page, its worker), the same step
// under Node, and TensorFlow.js's cpu backend in the same Chromium (tfjs.html).
//
//   npm run build && npx tsx examples/browser/measure.ts [--steps 600] [--tfjs-steps 12]
//
// Needs Debian's chromium (/usr/bin/chromium, or ADGEN_CHROMIUM). Prints one line per figure.

import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { createServer } from "vite";
import { makeRng } from "../mnist/data.js";
import { digitsFile } from "./digits.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const STEPS = flag("--steps", 600);
const TFJS_STEPS = flag("--tfjs-steps", 12);
const IMAGE = 784;
const NAMES = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b"] as const;

/** The worker's loop under Node: the generated lossGradInto on the demo's digits, SGD with momentum. */
async function nodeThroughput(): Promise<number> {
  const out = `${here}.measure.grad.ts`;
  const cli = spawnSync(process.execPath, [fileURLToPath(new URL("../../dist/compiler/cli.js", import.meta.url)), `${here}model.ts`, "-o", out], { encoding: "utf8" });
  if (cli.status !== 0) throw new Error(cli.stderr);
  try {
    const m = (await import(pathToFileURL(out).href)) as {
      lossShapes: Record<string, number[]>;
      lossGradInto: (...a: unknown[]) => number;
    };
    const bytes = digitsFile();
    const count = new DataView(bytes.buffer).getUint32(0, true);
    const total = count + new DataView(bytes.buffer).getUint32(4, true);
    const batch = m.lossShapes.x![0]!;
    // the worker's initialisation: He normal (LeCun for the output layer), biases zero
    const rng = makeRng(1);
    const params = NAMES.map((n) => {
      const shape = m.lossShapes[n]!;
      const std = Math.sqrt((n === "f3w" ? 1 : 2) / shape.slice(1).reduce((a, b) => a * b, 1));
      return Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () =>
        shape.length > 1 ? std * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()) : 0);
    });
    const velocity = params.map((p) => new Float64Array(p.length));
    const grads = Object.fromEntries(NAMES.map((n, i) => [n, new Float64Array(params[i]!.length)])) as Record<string, Float64Array>;
    const x = new Float64Array(batch * IMAGE);
    const labels = new Float64Array(batch);
    let ms = 0;
    for (let s = 0; s < STEPS; s++) {
      for (let r = 0; r < batch; r++) {
        const id = (s * batch + r) % count;
        labels[r] = bytes[8 + id]!;
        for (let p = 0; p < IMAGE; p++) x[r * IMAGE + p] = (bytes[8 + total + id * IMAGE + p]! / 255 - 0.1307) / 0.3081;
      }
      const t0 = performance.now();
      m.lossGradInto(x, labels, ...params, grads);
      NAMES.forEach((n, i) => {
        const p = params[i]!, v = velocity[i]!, g = grads[n]!;
        for (let k = 0; k < p.length; k++) {
          v[k] = 0.9 * v[k]! + g[k]!;
          p[k]! -= 0.03 * v[k]!;
        }
      });
      ms += performance.now() - t0;
    }
    return (STEPS * batch * 1000) / ms;
  } finally {
    rmSync(out, { force: true });
  }
}

async function main(): Promise<void> {
  const node = await nodeThroughput();
  console.log(`node ${process.versions.node}: adgen lossGradInto, batch 16: ${Math.round(node)} digits/s over ${STEPS} steps`);

  const server = await createServer({ configFile: `${here}vite.config.ts`, logLevel: "error", server: { port: 0, host: "127.0.0.1", hmr: false } });
  await server.listen();
  const { port } = server.httpServer!.address() as AddressInfo;
  const browser = await chromium.launch({
    executablePath: process.env.ADGEN_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (window as any).adgenDemo?.ready, null, { timeout: 60_000 });
    await page.click("#train");
    await page.waitForFunction((n) => (window as any).adgenDemo.step >= n, STEPS, { timeout: 600_000 });
    const demo = await page.evaluate(() => (window as any).adgenDemo as { step: number; digitsPerSecond: number });
    console.log(`chromium ${browser.version()}: adgen lossGradInto in a Web Worker, batch 16: ${Math.round(demo.digitsPerSecond)} digits/s over ${demo.step} steps`);
    await page.close();

    const tfPage = await browser.newPage();
    tfPage.on("console", (m) => m.type() === "error" && console.error(`tfjs page: ${m.text()}`));
    await tfPage.goto(`http://127.0.0.1:${port}/tfjs.html?steps=${TFJS_STEPS}`);
    await tfPage.waitForFunction(() => (window as any).tfjsResult, null, { timeout: 900_000, polling: 500 });
    const tf = await tfPage.evaluate(() => (window as any).tfjsResult as { backend: string; steps: number; digitsPerSecond: number });
    console.log(`chromium ${browser.version()}: TensorFlow.js ${tf.backend} backend (trainOnBatch), batch 16: ${tf.digitsPerSecond.toFixed(1)} digits/s over ${tf.steps - 1} steps`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
