// GFLOP/s of the WebAssembly SIMD kernel prototypes (compiler/codegen/wasm/kernels/) against
// the TypeScript kernels adgen generates today, on LeNet-5's and the MLP's layer shapes at
// batch 1, 32 and 128, float64 and float32 (bench/kernelCases.ts). Each kernel runs on the
// same random data both ways; the results are checked to agree first (float64: bit-identical
// or within 1e-12 relative; float32: within 1e-5 relative, float32 precision), then timed
// interleaved: after a warm-up, each round takes one sample of each subject in a shuffled
// order (a sample repeats the call for ~SAMPLE_MS), and the figures are medians. "wasm+copy"
// also copies the inputs into the module's memory and the result out to a JS typed array.
//
//   npm run bench:wasm                   (builds, then node dist/bench/wasmKernels.js)
//   node dist/bench/wasmKernels.js [--rounds 15] [--sample-ms 10] [--batch 32] [--dtype float32]
//     [--only conv] [--gemm-block mr,nr,ku[/mr,nr,ku...]] [--conv-block mo,nv,kw[/...]]
//     (several blocks are compared interleaved, one row each)

import * as os from "node:os";
import { encodeModule } from "../compiler/codegen/wasm/encoder.js";
import { type Dtype, type KernelCase, allCases, convCase, difference, LAYERS, linearCase, modelKernels } from "./kernelCases.js";
import { mulberry32 } from "./peers/shapes.js";

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ROUNDS = Number(arg("--rounds") ?? 15);
const SAMPLE_MS = Number(arg("--sample-ms") ?? 10);
const WARMUP_MS = Number(arg("--warmup-ms") ?? 200);
const BATCHES = arg("--batch") ? [Number(arg("--batch"))] : [1, 32, 128];
const DTYPES: Dtype[] = arg("--dtype") ? [arg("--dtype") as Dtype] : ["float64", "float32"];
const ONLY = arg("--only") ?? "";

interface Timed {
  readonly fn: () => void;
  reps: number;
  readonly samples: number[];
}

function warmUp(t: Timed): void {
  const t0 = performance.now();
  let n = 0;
  do {
    t.fn();
    n++;
  } while (n < 3 || performance.now() - t0 < WARMUP_MS);
  t.reps = Math.max(1, Math.round(SAMPLE_MS / ((performance.now() - t0) / n)));
}

function sample(t: Timed): void {
  t.fn();
  const t0 = performance.now();
  for (let r = 0; r < t.reps; r++) t.fn();
  t.samples.push((performance.now() - t0) / t.reps);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Block configurations to compare (`--gemm-block 4,2,1/2,4,1`): undefined is the default. */
const CONFIGS: { gemm?: number[]; conv?: number[] }[] = (() => {
  const g = arg("--gemm-block")?.split("/").map((c) => c.split(",").map(Number));
  const c = arg("--conv-block")?.split("/").map((x) => x.split(",").map(Number));
  const n = Math.max(g?.length ?? 1, c?.length ?? 1);
  return Array.from({ length: n }, (_, k) => ({
    ...(g?.[k] ? { gemm: g[k] } : {}),
    ...(c?.[k] ? { conv: c[k] } : {}),
  }));
})();

const showConfig = (c: { gemm?: number[]; conv?: number[] }, kind: "conv" | "linear"): string =>
  (kind === "conv" ? c.conv : c.gemm)?.join(",") ?? "default";

/** Every kernel at one batch size and dtype, one Wasm build per configuration. */
function cases(batch: number, dtype: Dtype): KernelCase[][] {
  return CONFIGS.map((cfg) => {
    if (cfg.gemm === undefined && cfg.conv === undefined) {
      return allCases(batch, dtype).filter((c) => `${c.layer.layer} ${c.op}`.includes(ONLY));
    }
    const gemmBlock = cfg.gemm && { mr: cfg.gemm[0]!, nr: cfg.gemm[1]!, ku: cfg.gemm[2] ?? 1 };
    const convBlock = cfg.conv && { mo: cfg.conv[0]!, nv: cfg.conv[1]!, kw: cfg.conv[2] ?? 1 };
    return LAYERS.flatMap((l) => (l.kind === "conv"
      ? [convCase(l, batch, dtype, convBlock ? { convBlock } : {})]
      : (["linear", "linearGradInput", "linearGradWeight"] as const).map((op) => linearCase(l, op, batch, dtype, gemmBlock ? { gemmBlock } : {}))))
      .filter((c) => `${c.layer.layer} ${c.op}`.includes(ONLY));
  });
}

/**
 * One module with every kernel of LeNet-5 (or the MLP) at batch 32: its size, as base64, and
 * how long generating, encoding, compiling (synchronously and not) and instantiating take.
 */
function reportModules(): void {
  console.log("One module per model with all its kernels above (batch 32): generate + encode (first time, cold JIT), size,");
  console.log("base64 decode, compile (V8 validates; functions compile lazily on their first call), instantiate (medians of 15):");
  for (const dtype of DTYPES) {
    for (const model of ["LeNet-5", "MLP"] as const) {
      const t0 = performance.now();
      const fns = modelKernels(model, 32, dtype);
      const bytes = encodeModule({ memory: { pages: 1, exportAs: "memory" }, functions: fns });
      const generate = performance.now() - t0;
      const times = (f: (i: number) => void): number => median(Array.from({ length: 15 }, (_, i) => {
        const s = performance.now();
        f(i);
        return performance.now() - s;
      }));
      // distinct bytes each time: V8 caches compiled modules by their bytes
      const variants = Array.from({ length: 15 }, (_, i) => encodeModule({ memory: { pages: 1, exportAs: `memory${i}` }, functions: fns }));
      const sync = times((i) => new WebAssembly.Module(variants[i]!));
      const mod = new WebAssembly.Module(bytes);
      const inst = times(() => new WebAssembly.Instance(mod));
      const b64 = Buffer.from(bytes).toString("base64");
      const decode = times(() => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
      console.log(`  ${dtype} ${model}: ${fns.length} kernels, ${bytes.length} bytes (${b64.length} as base64); generate+encode ${generate.toFixed(1)} ms, ` +
        `base64 decode ${decode.toFixed(2)} ms, new WebAssembly.Module ${sync.toFixed(2)} ms, new WebAssembly.Instance ${inst.toFixed(2)} ms`);
    }
  }
}

function main(): void {
  const cpus = os.cpus();
  console.log(`Machine: ${cpus[0]?.model ?? "unknown CPU"} (${cpus.length} logical CPUs), Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`Medians of ${ROUNDS} interleaved samples of ~${SAMPLE_MS} ms after ${WARMUP_MS} ms of warm-up; GFLOP/s = 2 per multiply-add.`);
  if (CONFIGS.length > 1 || CONFIGS[0]!.gemm || CONFIGS[0]!.conv) {
    console.log(`Blocks (gemm mr,nr,ku / conv mo,nv,kw), interleaved: ${CONFIGS.map((c) => `[gemm ${showConfig(c, "linear")}, conv ${showConfig(c, "conv")}]`).join(" ")}`);
  }
  console.log("");
  const header = `${"dtype".padEnd(8)}${"batch".padStart(5)}  ${"layer".padEnd(13)}${"kernel".padEnd(17)}${"mode".padEnd(8)}` +
    `${"TS GF/s".padStart(9)}${"wasm GF/s".padStart(10)}${"+copy".padStart(8)}${"speedup".padStart(9)}${"wasm us".padStart(9)}${"result".padStart(11)}`;
  console.log(header);
  console.log("-".repeat(header.length));
  let failures = 0;
  const speedups: Record<string, number[]> = {};
  for (const dtype of DTYPES) {
    for (const batch of BATCHES) {
      const builds = cases(batch, dtype);
      // per kernel: the TS subject, the Wasm subject of each configuration, and the first
      // configuration's Wasm with copies; every subject of every kernel is sampled in each round
      const subjects = builds[0]!.map((c, k) => ({
        c,
        ts: { fn: c.ts, reps: 1, samples: [] as number[] },
        wasm: builds.map((b) => ({ c: b[k]!, t: { fn: b[k]!.wasm, reps: 1, samples: [] as number[] } })),
        copied: { fn: c.wasmCopied, reps: 1, samples: [] as number[] },
      }));
      const check = (c: KernelCase): string => {
        const r = c.results();
        const d = difference(r.wasm, r.ts);
        const ok = d.identical || d.relative <= (dtype === "float64" ? 1e-12 : 1e-5);
        if (!ok) failures++;
        return `${d.identical ? "identical" : d.relative.toExponential(0)}${ok ? "" : " (!)"}`;
      };
      const checks = subjects.map((s) => s.wasm.map((w) => check(w.c)));
      const all = subjects.flatMap((s) => [s.ts, ...s.wasm.map((w) => w.t), s.copied]);
      for (const t of all) warmUp(t);
      const random = mulberry32(batch * 7 + dtype.length);
      for (let r = 0; r < ROUNDS; r++) {
        const order = [...all];
        for (let i = order.length - 1; i > 0; i--) {
          const k = Math.floor(random() * (i + 1));
          [order[i], order[k]] = [order[k]!, order[i]!];
        }
        for (const t of order) sample(t);
      }
      subjects.forEach(({ c, ts, wasm, copied }, k) => {
        const gf = (t: Timed): number => c.flops / median(t.samples) / 1e6;
        wasm.forEach(({ t }, w) => {
          const speedup = median(ts.samples) / median(t.samples);
          if (w === 0) (speedups[`${dtype} ${c.layer.kind}`] ??= []).push(speedup);
          const cfg = CONFIGS.length > 1 ? ` [${showConfig(CONFIGS[w]!, c.layer.kind)}]` : "";
          console.log(
            `${dtype.padEnd(8)}${String(batch).padStart(5)}  ${c.layer.layer.padEnd(13)}${c.op.padEnd(17)}${c.mode.padEnd(8)}` +
            `${gf(ts).toFixed(2).padStart(9)}${gf(t).toFixed(2).padStart(10)}${(w === 0 ? gf(copied).toFixed(2) : "").padStart(8)}` +
            `${`${speedup.toFixed(2)}x`.padStart(9)}${(median(t.samples) * 1e3).toFixed(1).padStart(9)}${checks[k]![w]!.padStart(11)}${cfg}`,
          );
        });
      });
      console.log("");
    }
  }
  console.log("speedup: the TypeScript kernel's time over the Wasm kernel's (buffers already in Wasm memory).");
  console.log("+copy: GFLOP/s including copying the inputs in and the result out. result: float64 kernels whose sums");
  console.log("run in the TypeScript order are bit-identical; else the infinity-norm relative difference.");
  for (const [k, v] of Object.entries(speedups)) {
    console.log(`  ${k}: speedup ${Math.min(...v).toFixed(2)}x - ${Math.max(...v).toFixed(2)}x (median ${median(v).toFixed(2)}x)`);
  }
  console.log("");
  reportModules();
  console.log(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  if (failures > 0) {
    console.log(`${failures} kernel(s) disagree with the TypeScript kernels.`);
    process.exitCode = 1;
  }
}

main();
