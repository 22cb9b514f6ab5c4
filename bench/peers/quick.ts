// Quick timing of the benchmark peers: ms per training step, median of 30
// timed runs after 10 warm-up runs.
//
//   npx tsc -p tsconfig.build.json && node dist/bench/peers/quick.js

import { createLeNetHandwritten, createMlpHandwritten } from "./handwritten.js";
import { LENET_SHAPES, MLP_SHAPES, allocBuffers, initParams, randomBatch, sizeOf } from "./shapes.js";
import { createLeNetTfjs, createMlpTfjs, initTfjs } from "./tfjs.js";

const WARMUP = 10;
const RUNS = 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time (user + system) of this process, in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Timing {
  /** Median wall-clock ms of one step. */
  median: number;
  /** CPU ms per step over the timed runs (robust to other processes competing for the cores). */
  cpu: number;
}

function time(fn: () => number): Timing {
  let sink = 0;
  for (let i = 0; i < WARMUP; i++) sink += fn();
  const ts: number[] = [];
  const c0 = cpuMs();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    sink += fn();
    ts.push(performance.now() - t0);
  }
  const cpu = (cpuMs() - c0) / RUNS;
  if (!Number.isFinite(sink)) throw new Error("non-finite loss");
  return { median: median(ts), cpu };
}

function report(name: string, t: Timing): void {
  console.log(`${name.padEnd(32)} ${t.median.toFixed(3).padStart(9)} ms/step   (cpu ${t.cpu.toFixed(3)} ms/step)`);
}

async function main(): Promise<void> {
  console.log(`median of ${RUNS} steps after ${WARMUP} warm-up steps; Node ${process.version}`);
  const lenetParams = initParams(LENET_SHAPES, 1);
  const lenetGrads = allocBuffers(LENET_SHAPES);
  const mlpParams = initParams(MLP_SHAPES, 1);
  const mlpGrads = allocBuffers(MLP_SHAPES);
  const inLeNet = sizeOf([1, 28, 28]);

  for (const batch of [1, 32]) {
    const m = createLeNetHandwritten(batch);
    const { x, labels } = randomBatch(batch, inLeNet, 10 + batch);
    report(`handwritten LeNet-5, batch ${batch}`, time(() => m.step(lenetParams, x, labels, lenetGrads)));
  }
  for (const batch of [1, 32]) {
    const m = createMlpHandwritten(batch);
    const { x, labels } = randomBatch(batch, 784, 20 + batch);
    report(`handwritten MLP, batch ${batch}`, time(() => m.step(mlpParams, x, labels, mlpGrads)));
  }

  await initTfjs();
  {
    const t = createLeNetTfjs(1);
    const { x, labels } = randomBatch(1, inLeNet, 11);
    t.setParams(lenetParams);
    t.setBatch(x, labels);
    report("tfjs (cpu) LeNet-5, batch 1", time(() => t.stepTimed()));
    t.dispose();
  }
  for (const batch of [1, 32]) {
    const t = createMlpTfjs(batch);
    const { x, labels } = randomBatch(batch, 784, 20 + batch);
    t.setParams(mlpParams);
    t.setBatch(x, labels);
    report(`tfjs (cpu) MLP, batch ${batch}`, time(() => t.stepTimed()));
    t.dispose();
  }
}

await main();
