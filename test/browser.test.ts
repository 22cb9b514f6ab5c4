// The browser demo in real Chromium (Debian's chromium package, driven by playwright-core;
// .ci/run installs it): Vite serves examples/browser as `npm run demo:browser` does, with
// adgen's plugin compiling the worker's `./model.ts?grad` import. The page loads, trains a
// few hundred steps in its Web Worker while the page's own thread stays responsive, the loss
// falls and the held-out accuracy rises, a digit drawn with the mouse gets a prediction, and
// nothing is logged as an error. A screenshot is saved to test/.output/browser-demo.png.
// A second test builds the demo as a static site (vite build) and looks at what it emitted.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import type { ViteDevServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env.ADGEN_CHROMIUM ?? "/usr/bin/chromium";
const OUTPUT = fileURLToPath(new URL("./.output/", import.meta.url));
const STEPS = 300;

/** What the page publishes as window.adgenDemo (examples/browser/main.ts). */
interface DemoState {
  ready: boolean;
  training: boolean;
  step: number;
  losses: { step: number; loss: number }[];
  accuracies: { step: number; accuracy: number }[];
  digitsPerSecond: number;
  prediction: { digit: number; probabilities: number[]; step: number } | undefined;
  errors: string[];
}
declare global {
  interface Window {
    adgenDemo: DemoState;
    longestGap: number;
  }
}

let server: ViteDevServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  // the browser is Debian's: no test tool downloads one here
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`).toBe(true);
  const { createServer } = await import("vite");
  server = await createServer({
    configFile: `${ROOT}examples/browser/vite.config.ts`, logLevel: "error",
    server: { port: 0, strictPort: false, host: "127.0.0.1", hmr: false },
  });
  await server.listen();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // the flags the machine's notes give for root and a closed network
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the browser demo in headless Chromium", () => {
  it(`loads, trains ${STEPS} steps in its worker (the loss falls, the page stays responsive), and predicts a drawn digit`, { timeout: 150_000 }, async () => {
    const { port } = server.httpServer!.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => window.adgenDemo?.ready, null, { timeout: 60_000 });

    // the longest gap between ticks of a 20 ms timer on the page's thread while it trains
    await page.evaluate(() => {
      window.longestGap = 0;
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        window.longestGap = Math.max(window.longestGap, now - last);
        last = now;
      }, 20);
    });
    await page.click("#train");
    await page.waitForFunction((steps) => window.adgenDemo.step >= steps, STEPS, { timeout: 120_000 });
    await page.click("#train"); // pause, and wait for the worker to stop
    await page.waitForFunction(() => !window.adgenDemo.training, null, { timeout: 30_000 });
    const state = await page.evaluate(() => window.adgenDemo);
    const longestGap = await page.evaluate(() => window.longestGap);

    const mean = (xs: { loss: number }[]) => xs.reduce((s, x) => s + x.loss, 0) / xs.length;
    const first = mean(state.losses.slice(0, 4));
    const last = mean(state.losses.slice(-4));
    const accuracy = state.accuracies[state.accuracies.length - 1]!.accuracy;
    console.log(`browser demo: ${state.step} steps, loss ${first.toFixed(3)} -> ${last.toFixed(3)}, held-out accuracy ` +
      `${state.accuracies[0]!.accuracy} -> ${accuracy}, ${Math.round(state.digitsPerSecond)} digits/s, longest main-thread gap ${longestGap.toFixed(0)} ms`);
    expect(first).toBeGreaterThan(1.8); // about ln 10 at the start
    expect(last).toBeLessThan(first / 2);
    expect(accuracy).toBeGreaterThan(0.7);
    expect(state.digitsPerSecond).toBeGreaterThan(0);
    // training happens in the worker: the page's thread is never blocked for long
    expect(longestGap).toBeLessThan(1000);

    // draw a "1": one vertical stroke down the middle of the pad
    const pad = (await page.locator("#pad").boundingBox())!;
    await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height * 0.18);
    await page.mouse.down();
    for (let i = 1; i <= 20; i++) await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height * (0.18 + (0.64 * i) / 20));
    await page.mouse.up();
    await page.waitForFunction(() => window.adgenDemo.prediction !== undefined, null, { timeout: 30_000 });
    const prediction = (await page.evaluate(() => window.adgenDemo.prediction))!;
    expect(prediction.probabilities).toHaveLength(10);
    expect(prediction.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(prediction.digit).toBe(prediction.probabilities.indexOf(Math.max(...prediction.probabilities)));
    expect(prediction.step).toBe(state.step);
    expect(prediction.digit).toBe(1);
    expect(await page.locator("#prediction").textContent()).toContain("Prediction: 1");

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: `${OUTPUT}browser-demo.png`, fullPage: true });
    expect(state.errors).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("builds as a static site: the worker bundle holds the generated step, and the digits are emitted", { timeout: 60_000 }, async () => {
    const { build } = await import("vite");
    const out = mkdtempSync(join(tmpdir(), "adgen-browser-build-"));
    try {
      await build({ configFile: `${ROOT}examples/browser/vite.config.ts`, logLevel: "error", build: { outDir: out, emptyOutDir: true } });
      const assets = readdirSync(join(out, "assets"));
      const worker = assets.find((f) => f.startsWith("worker-") && f.endsWith(".js"));
      expect(worker, `a worker chunk among ${assets.join(", ")}`).toBeDefined();
      const code = readFileSync(join(out, "assets", worker!), "utf8");
      expect(code).toContain("lossGradInto");
      expect(code).not.toContain("?grad");
      expect(readFileSync(join(out, "digits.bin")).length).toBe(8 + 10_000 * (1 + 784));
      expect(readFileSync(join(out, "index.html"), "utf8")).toContain("LeNet-5 trains in your browser");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
