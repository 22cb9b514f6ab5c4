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
