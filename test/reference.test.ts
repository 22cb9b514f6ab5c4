// Every case in ../shared/reference: the generated gradient (or vector-Jacobian product)
// against PyTorch float64, relative error <= 1e-9 (relative to max(1, |reference|)).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { asArg, compileModule, loadReference, maxRelErr } from "./helpers.js";

const CASES = [
  "quiz1", "simple_cos", "logistic_regression", "nn_one_hidden", "mlp_softmax",
  "conv_basic", "maxpool_overlap", "seed_maxpool_ties", "seed_blur", "lenet5_digit7",
];

describe.each(CASES)("reference %s", (name) => {
  it("matches PyTorch to 1e-9", { timeout: 60_000 }, async () => {
    const source = readFileSync(new URL(`./fixtures/${name}/model.ts`, import.meta.url), "utf8");
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
  });
});
