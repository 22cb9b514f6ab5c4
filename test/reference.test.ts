// Every case in test/reference (PyTorch float64 gradients of the seed cases): the generated gradient (or vector-Jacobian product)
// against PyTorch float64, relative error <= 1e-9 (relative to max(1, |reference|)); then
// each case again written for any size (every dimension of every tensor parameter a size
// type parameter, where its layers allow: convolutions and pooling need literal images).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { asArg, checkJvpHvp, compileModule, dotAbs, loadReference, maxRelErr, rng } from "./helpers.js";

const dotScale = dotAbs;

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
    // forward mode and the Hessian-vector product (against PyTorch's where the case has one)
    const names = Object.keys(r.grads);
    if (ref.cotangent) {
      const rand = rng(5);
      const t = Object.fromEntries(names.map((n) => [n, typeof r.grads[n] === "number" ? rand() - 0.5 : Float64Array.from(r.grads[n], () => rand() - 0.5)]));
      const jvp = mod[`${entry}Jvp`](...args, t);
      const lhs = dotScale(asArg(ref.cotangent), jvp.tangent);
      const rhs = names.map((n) => dotScale(r.grads[n], t[n])).reduce((a, b) => [a[0] + b[0], a[1] + b[1]], [0, 0]);
      expect(Math.abs(lhs[0] - rhs[0]) / Math.max(1e-12, lhs[1] + rhs[1]), "⟨cotangent, fJvp⟩ = ⟨fVjp, t⟩").toBeLessThanOrEqual(1e-9);
    } else {
      // (the digit's blank background makes max-pool windows of equal values: moving the image
      // breaks those ties, where the gradient jumps and differences say nothing)
      checkJvpHvp(mod, entry, args, names, paramNames, r, name === "lenet5_digit7" ? ["x"] : []);
    }
    if (ref.hvp) {
      const dir = Object.fromEntries(Object.entries(ref.hvp.direction).map(([n, v]) => [n, asArg(v)]));
      const h = mod[`${entry}Hvp`](...args, dir);
      for (const [n, want] of Object.entries(ref.hvp.result)) expect(maxRelErr(h.hvp[n], want.data), `hvp of ${n} vs PyTorch`).toBeLessThanOrEqual(1e-9);
    }
  }
}
