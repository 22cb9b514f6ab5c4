// Every case in test/reference (PyTorch float64 gradients of the seed cases): the generated gradient (or vector-Jacobian product)
// against PyTorch float64, relative error <= 1e-9 (relative to max(1, |reference|)); then
// each case again written for any size (every dimension of every tensor parameter a size
// type parameter, where its layers allow: convolutions and pooling need literal images).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { asArg, compileModule, loadReference, maxRelErr } from "./helpers.js";

const CASES = [
  "quiz1", "simple_cos", "logistic_regression", "nn_one_hidden", "mlp_softmax",
  "conv_basic", "maxpool_overlap", "seed_maxpool_ties", "seed_blur", "lenet5_digit7",
];

/**
 * The model with every literal dimension of its parameters' types made a size type parameter
 * of the entry (`Tensor<[16, 20]>` -> `Tensor<[D16, D20]>`, one symbol per distinct value).
 */
function symbolic(source: string): string {
  const values = new Set<string>();
  const typed = source.replace(/Tensor<\[([\d, ]+)\]>/g, (_, dims: string) => {
    const ds = dims.split(",").map((d) => d.trim());
    ds.forEach((d) => values.add(d));
    return `Tensor<[${ds.map((d) => `D${d}`).join(", ")}]>`;
  });
  const params = [...values].map((v) => `D${v} extends number`).join(", ");
  return typed.replace(/export function (\w+)\(/, `export function $1<${params}>(`);
}

/** The cases whose layers take any size (no convolution or pooling over a symbolic image). */
const SYMBOLIC = ["logistic_regression", "nn_one_hidden", "mlp_softmax", "seed_blur"];

describe.each(SYMBOLIC)("reference %s written for any size", (name) => {
  it("matches PyTorch to 1e-9", { timeout: 60_000 }, async () => {
    const source = symbolic(readFileSync(new URL(`./fixtures/${name}/model.ts`, import.meta.url), "utf8"));
    expect(source).toMatch(/extends number/);
    await expectReference(name, source);
  });
});

describe.each(CASES)("reference %s", (name) => {
  it("matches PyTorch to 1e-9", { timeout: 60_000 }, async () => {
    const source = readFileSync(new URL(`./fixtures/${name}/model.ts`, import.meta.url), "utf8");
    await expectReference(name, source);
  });
});

async function expectReference(name: string, source: string): Promise<void> {
  {
    const ref = loadReference(name);
    const mod = await compileModule<Record<string, any>>(source, { fileName: `${name}/model.ts` });
    const entry = Object.keys(mod).find((k) => typeof mod[k] === "function" && mod[`${k}Forward`])!;
    const paramNames = Object.keys(mod[`${entry}Shapes`]);
    const args = paramNames.map((p) => {
      if (!ref.inputs[p]) throw new Error(`reference ${name} has no input ${p}`);
      return asArg(ref.inputs[p]!);
    });
    const r = ref.cotangent ? mod[`${entry}Vjp`](...args, asArg(ref.cotangent)) : mod[`${entry}Grad`](...args);
    expect(maxRelErr(r.value, ref.output.data)).toBeLessThanOrEqual(1e-9);
    // the forward-only function agrees with the gradient's forward pass, to the bit
    expect(mod[entry](...args)).toEqual(r.value);
    for (const w of ref.wrt) {
      expect(r.grads[w], `gradient of ${w}`).toBeDefined();
      const err = maxRelErr(r.grads[w], ref.grads[w]!.data);
      expect(err, `gradient of ${w}`).toBeLessThanOrEqual(1e-9);
    }
  }
}
