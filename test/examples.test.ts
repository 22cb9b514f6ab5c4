// Every example compiles, and its run script (which imports the generated module) runs
// and prints what it should.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileOrThrow } from "./helpers.js";

const EXPECT: Record<string, RegExp> = {
  quiz: /gradient = \[1208\.38, 809\.71\] \(rounds to \[1208, 810\]\)/,
  "simple-cos": /dJ\/dx = -5\.06778204378850/,
  logistic: /accuracy 40\/40/,
  horner: /derivative 0\.3535533905932/,
  "nn-one-hidden": /loss = 0\.59780/,
  lenet5: /df3b .*max relative error vs PyTorch \d\.\de-1[0-9]/,
  rnn: /dc = \[/,
  "mlp-softmax": /loss before 2\.30\d+, after one SGD step 2\.2/,
  "seed-cnn": /dfb: 10 values/,
  lse: /N = 1000: lse = 1007\.1439382538\d+, .*sum\(dx\) = 1\.000000000000/,
  llsq: /D = 128, n = 1024: .*max relative error vs closed form \d\.\de-1[5-9]/,
  ode: /N = 6, s = 20, x = 1: .*error of y_\{N-1\} 3\.19e-6/,
  gmm: /d = 10, k = 5, n = 200: log posterior = -2997\.557540\d+/,
  lstm: /L = 4, B = 14, C = 1024: loss = -0\.0005195168; \|dmain\| = 0\.000129/,
  "mnist-any-batch": /epoch 3: last two batches' loss \(N = 32: [\d.]+, N = 17: [\d.]+\), test accuracy [7-9]\d\.\d%/,
};

describe.each(Object.keys(EXPECT))("example %s", (name) => {
  it("compiles and runs", { timeout: 60_000 }, async () => {
    const dir = new URL(`../examples/${name}/`, import.meta.url);
    const r = await compileOrThrow(readFileSync(new URL("model.ts", dir), "utf8"), { fileName: "model.ts" });
    writeFileSync(new URL("model.grad.ts", dir), r.code!);
    const tsx = new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url).pathname;
    const run = spawnSync(process.execPath, [tsx, new URL("run.ts", dir).pathname], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(EXPECT[name]!);
  });
});
