// The PyTorch peer of the benchmark (bench/peers/pytorch.ts and pytorch.py): its float64
// gradients against the PyTorch reference of LeNet-5 and against the hand-written peers (which
// test/benchPeers.test.ts checks against finite differences), float32 at float32 tolerance,
// the timing protocol, and the note when `import torch` fails. Skipped, except that last
// test, when Debian's python3-torch is not installed.

import { existsSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createLeNetHandwritten, createMlpHandwritten } from "../bench/peers/handwritten.js";
import { type TorchWorker, startTorchWorker } from "../bench/peers/pytorch.js";
import { LENET_SHAPES, MLP_SHAPES, allocBuffers, initParams, randomBatch } from "../bench/peers/shapes.js";
import { REFERENCE_DIR, maxAbs, maxRelErr } from "./helpers.js";

interface RefTensor {
  shape: number[];
  data: number[];
}
const ref = JSON.parse(
  readFileSync(new URL("lenet5_digit7.json", REFERENCE_DIR), "utf8"),
) as { inputs: Record<string, RefTensor>; output: RefTensor; grads: Record<string, RefTensor> };


const PYTHON = process.env.ADGEN_PYTHON ?? "/usr/bin/python3";
const started = await startTorchWorker();
const worker: TorchWorker | null = "unavailable" in started ? null : started;
afterAll(async () => {
  await worker?.close();
});

describe.skipIf(worker === null)("PyTorch peer", () => {
  const torch = worker!;

  it("runs on one thread", () => {
    expect(torch.threads).toBe(1);
    expect(torch.torch).toMatch(/^\d+\.\d+/);
  });

  it("LeNet-5 float64 matches the PyTorch reference gradients at 1e-9", async () => {
    const params: Record<string, Float64Array> = {};
    for (const k of Object.keys(LENET_SHAPES)) params[k] = Float64Array.from(ref.inputs[k]!.data);
    const { loss, grads } = await torch.setup({
      key: "ref", model: "lenet", batch: 1, dtype: "float64", params, shapes: LENET_SHAPES,
      x: Float64Array.from(ref.inputs.x!.data), labels: Int32Array.of(ref.inputs.label!.data[0]!),
    });
    expect(Math.abs(loss - ref.output.data[0]!)).toBeLessThanOrEqual(1e-9);
    expect(Object.keys(grads).sort()).toEqual(Object.keys(LENET_SHAPES).sort());
    for (const k of Object.keys(LENET_SHAPES)) expect(maxRelErr(grads[k]!, ref.grads[k]!.data), k).toBeLessThanOrEqual(1e-9);
  });

  it("LeNet-5 batch 3 and the MLP batch 4 match the hand-written peers (float64 at 1e-9, float32 at 1e-4)", async () => {
    const cases = [
      { model: "lenet" as const, batch: 3, shapes: LENET_SHAPES, sample: 784, peer: createLeNetHandwritten(3) },
      { model: "mlp" as const, batch: 4, shapes: MLP_SHAPES, sample: 784, peer: createMlpHandwritten(4) },
    ];
    for (const c of cases) {
      const params = initParams(c.shapes, 41) as Record<string, Float64Array>;
      const { x, labels } = randomBatch(c.batch, c.sample, 42);
      const expected = allocBuffers(c.shapes) as Record<string, Float64Array>;
      const expectedLoss = c.peer.step(params as never, x, labels, expected as never);
      for (const dtype of ["float64", "float32"] as const) {
        const tol = dtype === "float64" ? 1e-9 : 1e-4;
        const { loss, grads } = await torch.setup({
          key: `${c.model}_${dtype}`, model: c.model, batch: c.batch, dtype, params, shapes: c.shapes, x, labels,
        });
        expect(Math.abs(loss - expectedLoss) / expectedLoss, `${c.model} ${dtype} loss`).toBeLessThanOrEqual(tol);
        for (const k of Object.keys(c.shapes)) {
          const err = maxRelErr(grads[k]!, expected[k]!);
          // float32: relative to the gradient's scale (the smallest entries lose all their digits)
          if (dtype === "float64") expect(err, `${c.model} ${k}`).toBeLessThanOrEqual(tol);
          else expect(err, `${c.model} ${dtype} ${k}`).toBeLessThanOrEqual(tol * Math.max(1, maxAbs(expected[k]!)));
        }
      }
    }
  });

  it("times samples on its side: repetitions from the warm-up, wall and CPU time per call", async () => {
    const params = initParams(MLP_SHAPES, 1) as Record<string, Float64Array>;
    const { x, labels } = randomBatch(2, 784, 3);
    await torch.setup({ key: "timing", model: "mlp", batch: 2, dtype: "float64", params, shapes: MLP_SHAPES, x, labels });
    const { reps, eachMs } = await torch.warmUp("timing", "step", 50, 5);
    expect(eachMs).toBeGreaterThan(0);
    expect(reps).toBe(Math.max(1, Math.round(5 / eachMs)));
    for (const what of ["step", "forward"] as const) {
      const s = await torch.sample("timing", what);
      expect(s.wallMs).toBeGreaterThan(0);
      expect(s.cpuMs).toBeGreaterThanOrEqual(0);
      expect(s.cpuMs).toBeLessThan(20 * s.wallMs + 1);
    }
    await expect(torch.sample("nonexistent", "step")).rejects.toThrow(/KeyError/);
  });
});

describe("PyTorch peer, unavailable", () => {
  it("reports why when `import torch` fails or Python does not start", async () => {
    // -S: no site-packages, so no torch (where there is a Python at all)
    const noTorch = await startTorchWorker({ pythonArgs: ["-S"] });
    expect(noTorch).toEqual({
      unavailable: existsSync(PYTHON) ? expect.stringMatching(/^import torch failed: ModuleNotFoundError/) : expect.stringMatching(/ENOENT/),
    });
    const noPython = await startTorchWorker({ python: "/nonexistent/python3" });
    expect(noPython).toEqual({ unavailable: expect.stringMatching(/ENOENT/) });
  });
});
