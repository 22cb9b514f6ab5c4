// adgen/parallel against one thread: one training step (lossGradInto: forward, loss, every
// parameter gradient) of LeNet-5 and of the 784-128-10 MLP, both written for any batch size
// (bench/models.ts, symbolic), at batch 32 and 128, as
//   - single: the generated lossGradInto on this thread;
//   - pool W=1 / W=2 (atomics): createGradPool(...).gradIntoSync, the workers signalled with
//     Atomics.wait/notify, this thread blocking until they are done;
//   - pool W=2 (atomics, async): gradInto (awaits Atomics.waitAsync);
//   - pool W=2 (message): gradInto with signal "message" (postMessage both ways);
//   - local + W=1: option `local`, this thread computing one of the two shards itself.
// Every pool call copies the batch and the parameters into shared memory, as a training loop
// whose tensors are ordinary arrays would; "pool W=2 (shared)" passes tensors that already
// live in SharedArrayBuffers (no copy). All subjects are measured interleaved: after a
// warm-up, each round takes one sample of each in a shuffled order (a sample times enough
// steps to last ~SAMPLE_MS), and the figures are medians over the rounds. The machine's load
// (os.loadavg) is printed before and after: the speed-up of two workers needs two idle cores.
//
//   npm run bench:parallel
//   node dist/bench/parallel.js --rounds 30 --sample-ms 200 --only mlp --batch 32

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { compile } from "../compiler/pipeline.js";
import { createGradPool, type GradPool } from "../runtime/parallel.js";
import { type BenchModel, lenet, mlp } from "./models.js";
import { mulberry32 } from "./peers/shapes.js";

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const ROUNDS = option("--rounds", 15);
const SAMPLE_MS = option("--sample-ms", 150);
const WARMUP_MS = option("--warmup-ms", 800);
const ONLY = argv.includes("--only") ? argv[argv.indexOf("--only") + 1]! : "";
const BATCHES = argv.includes("--batch") ? [option("--batch", 32)] : [32, 128];

type Module = Record<string, any>;

async function generate(model: BenchModel, dir: string): Promise<{ m: Module; file: string }> {
  const base = `${model.name.split(" ")[0]!.toLowerCase().replace(/[^a-z0-9]/g, "")}_anyN`;
  const r = await compile(model.source, { fileName: `${base}.ts` });
  if (r.code === undefined) throw new Error(`adgen could not compile ${base}: ${r.diagnostics.map((d) => d.message).join("\n")}`);
  const js = ts.transpileModule(r.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = path.join(dir, `${base}.grad.mjs`);
  fs.writeFileSync(file, js);
  return { m: (await import(pathToFileURL(file).href)) as Module, file };
}

interface Subject {
  readonly name: string;
  /** One step; returns the value (kept, so that nothing is optimised away). */
  step(): number | Promise<number>;
  samples: number[];
  cpu: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Wall-clock and CPU time (all of the process's threads) per step, in ms. */
async function timeOnce(f: () => number | Promise<number>, reps: number): Promise<[number, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await f();
  const wall = (performance.now() - t0) / reps;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / 1000 / reps];
}

/**
 * What two threads can gain on this machine right now: the time of one worker running a
 * pure arithmetic loop, against two workers running one each at once (no shared data, no
 * signalling): 2 * one / both, which is 2 on two idle cores and about 1 when other jobs
 * leave one core's worth of time. The pool's speed-up cannot beat it.
 */
async function ceiling(): Promise<number> {
  const { Worker } = await import("node:worker_threads");
  const code = `const { parentPort } = require("node:worker_threads");
parentPort.on("message", (n) => { let x = 0; for (let i = 0; i < n; i++) x += Math.sqrt(i); parentPort.postMessage(x); });`;
  const ws = [new Worker(code, { eval: true }), new Worker(code, { eval: true })];
  const run = (w: InstanceType<typeof Worker>, n: number) => new Promise((resolve) => {
    w.once("message", resolve);
    w.postMessage(n);
  });
  await Promise.all(ws.map((w) => run(w, 1e6)));
  const ratios: number[] = [];
  for (let k = 0; k < 3; k++) {
    let t0 = performance.now();
    await run(ws[0]!, 1e8);
    const one = performance.now() - t0;
    t0 = performance.now();
    await Promise.all(ws.map((w) => run(w, 1e8)));
    ratios.push((2 * one) / (performance.now() - t0));
  }
  await Promise.all(ws.map((w) => w.terminate()));
  return median(ratios);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adgen-bench-parallel-"));
  const load0 = os.loadavg();
  console.log(`adgen/parallel benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}`);
  console.log(`load average before: ${load0.map((l) => l.toFixed(2)).join(", ")}`);
  const ceiling0 = await ceiling();
  console.log(`two threads' ceiling before (two workers' pure arithmetic against one): ${ceiling0.toFixed(2)}x`);
  const models = [
    ...(ONLY === "" || ONLY === "lenet" ? [lenet(32, true)] : []),
    ...(ONLY === "" || ONLY === "mlp" ? [mlp(32, true)] : []),
  ];
  const rows: string[] = [];
  for (const model of models) {
    const { m, file } = await generate(model, dir);
    const shapes = m.lossShapes as Record<string, readonly (number | string)[]>;
    const wrt = Object.keys(shapes).filter((k) => k !== "x" && k !== "labels");
    const pools: { name: string; pool: GradPool; sync: boolean }[] = [];
    for (const [name, workers, signal, sync, local] of [
      ["pool W=1 (atomics)", 1, "atomics", true, false],
      ["pool W=2 (atomics)", 2, "atomics", true, false],
      ["pool W=2 (atomics, async)", 2, "atomics", false, false],
      ["pool W=2 (message)", 2, "message", false, false],
      ["local + W=1 (atomics)", 1, "atomics", true, true],
      ["local + W=1 (message)", 1, "message", false, true],
    ] as const) {
      const pool = await createGradPool({ module: file, entry: "loss", workers, reduction: "mean", signal, ...(local ? { local: m } : {}) });
      pools.push({ name, pool, sync });
    }
    for (const batch of BATCHES) {
      const random = mulberry32(batch);
      const size = (s: readonly (number | string)[]) => s.reduce<number>((a, d) => a * (typeof d === "number" ? d : batch), 1);
      const args = Object.entries(shapes).map(([k, s]) =>
        k === "labels" ? Float64Array.from({ length: batch }, (_, i) => i % 10)
          : Float64Array.from({ length: size(s) }, () => (k === "x" ? random() - 0.5 : 0.2 * (random() - 0.5))),
      );
      const sharedArgs = args.map((a) => {
        const s = new Float64Array(new SharedArrayBuffer(a.byteLength));
        s.set(a);
        return s;
      });
      const grads = () => Object.fromEntries(wrt.map((k) => [k, new Float64Array(size(shapes[k]!))]));
      const subjects: Subject[] = [];
      const g0 = grads();
      subjects.push({ name: "single thread (lossGradInto)", step: () => m.lossGradInto(...args, g0) as number, samples: [], cpu: [] });
      for (const { name, pool, sync } of pools) {
        const g = grads();
        subjects.push({ name, step: sync ? () => pool.gradIntoSync(...args, g) : () => pool.gradInto(...args, g), samples: [], cpu: [] });
      }
      const shared = pools[1]!.pool;
      const gs = grads();
      subjects.push({ name: "pool W=2 (atomics, shared)", step: () => shared.gradIntoSync(...sharedArgs, gs), samples: [], cpu: [] });
      // warm-up, and the repetitions per sample
      const reps = new Map<Subject, number>();
      for (const s of subjects) {
        const t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < WARMUP_MS / subjects.length || n < 3) {
          await s.step();
          n++;
        }
        reps.set(s, Math.max(1, Math.round(SAMPLE_MS / ((performance.now() - t0) / n))));
      }
      const order = [...subjects];
      const shuffle = mulberry32(7 * batch);
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(shuffle() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        for (const s of order) {
          const [wall, cpu] = await timeOnce(s.step, reps.get(s)!);
          s.samples.push(wall);
          s.cpu.push(cpu);
        }
      }
      const single = median(subjects[0]!.samples);
      console.log(`\n${model.name}, batch ${batch}: ms per step (median of ${ROUNDS}), speed-up over one thread, CPU ms per step (all threads)`);
      for (const s of subjects) {
        const t = median(s.samples);
        const cpu = median(s.cpu);
        console.log(`  ${s.name.padEnd(30)} ${t.toFixed(3).padStart(8)} ms  ${(single / t).toFixed(2)}x  cpu ${cpu.toFixed(3)} ms`);
        rows.push(`| ${model.name} | ${batch} | ${s.name} | ${t.toFixed(2)} | ${(single / t).toFixed(2)}x | ${cpu.toFixed(2)} |`);
      }
    }
    for (const { pool } of pools) await pool.close();
  }
  const load1 = os.loadavg();
  console.log(`\nload average after: ${load1.map((l) => l.toFixed(2)).join(", ")}`);
  console.log(`two threads' ceiling after: ${(await ceiling()).toFixed(2)}x`);
  console.log("\n| model | batch | subject | ms per step | speed-up | CPU ms per step |\n| --- | ---: | --- | ---: | ---: | ---: |");
  console.log(rows.join("\n"));
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
