// The MNIST demo (examples/mnist), end to end but short: compile model.ts here (so no build
// step is needed first), train LeNet-5 for two epochs on 2,000 digits, then check the loss,
// the accuracy, the weights file, the reload path, the chart and the split.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../compiler/pipeline.js";
import { renderChart } from "../examples/mnist/chart.js";
import { IMAGE_SIZE, splitDigits } from "../examples/mnist/data.js";
import {
  evaluate, initParams, LeNetModule, loadWeights, PARAM_NAMES, Params, weightsToJson,
} from "../examples/mnist/lenet.js";
import { loadModel, main, Output } from "../examples/mnist/train.js";

const MODEL_SOURCE = fileURLToPath(new URL("../examples/mnist/model.ts", import.meta.url));
const GENERATED = fileURLToPath(new URL("./.generated/mnist/model.grad.ts", import.meta.url));

/** An output stream that keeps what is written. */
function capture(isTTY = false): Output & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, write: (s: string) => chunks.push(s), text: () => chunks.join("") };
}

const lastLine = (text: string): string => text.trimEnd().split("\n").pop()!;

let model: LeNetModule;
let out: string;

beforeAll(async () => {
  const result = await compile(readFileSync(MODEL_SOURCE, "utf8"), { fileName: "examples/mnist/model.ts" });
  expect(result.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`)).toEqual([]);
  mkdirSync(dirname(GENERATED), { recursive: true });
  writeFileSync(GENERATED, result.code!);
  model = await loadModel(GENERATED);
  out = mkdtempSync(join(tmpdir(), "adgen-mnist-"));
}, 60_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe("the data split", () => {
  it("is the same for the same seed, disjoint, and the test set ignores the training size", () => {
    const a = splitDigits(7, 1000, 500);
    const b = splitDigits(7, 1000, 500);
    expect(a.train.ids).toEqual(b.train.ids);
    expect(a.test.ids).toEqual(b.test.ids);
    expect(sameBytes(a.train.images, b.train.images)).toBe(true);
    const train = new Set(a.train.ids);
    expect(a.test.ids.some((id) => train.has(id))).toBe(false);
    expect(splitDigits(7, 100, 500).test.ids).toEqual(a.test.ids);
    expect(splitDigits(8, 1000, 500).train.ids).not.toEqual(a.train.ids);

    const full = splitDigits(1);
    expect([full.train.count, full.test.count]).toEqual([8000, 2000]);
    expect(new Set([...full.train.ids, ...full.test.ids]).size).toBe(10000);
    // Every digit appears, in roughly MNIST's proportions.
    const counts = new Array(10).fill(0);
    for (const l of full.test.labels) counts[l]++;
    for (const c of counts) expect(c).toBeGreaterThan(120);
    expect(full.train.images.length).toBe(8000 * IMAGE_SIZE);
    expect(() => splitDigits(1, 9000, 2000)).toThrow(RangeError);
  });
});

describe("training", () => {
  let stdout: ReturnType<typeof capture>;
  let stderr: ReturnType<typeof capture>;
  let status: number;

  beforeAll(async () => {
    stdout = capture();
    stderr = capture();
    status = await main(["--epochs", "2", "--train", "2000", "--test", "500", "--seed", "3", "--out", out, "--model", GENERATED], stdout, stderr);
  }, 60_000);

  it("decreases the loss and classifies well above chance", () => {
    expect(status, stderr.text()).toBe(0);
    const { meta } = loadWeights(model, join(out, "weights.json"));
    const history = meta.history as { trainLoss: number; testLoss: number; testAccuracy: number }[];
    expect(history).toHaveLength(2);
    // The loss of the initial weights (the same seed train.ts uses: seed + 1), for comparison.
    const initial = evaluate(model, initParams(model, 3 + 1), splitDigits(3, 2000, 500).test);
    expect(initial.loss).toBeGreaterThan(1.5);
    expect(history[0]!.testLoss).toBeLessThan(initial.loss);
    expect(history[1]!.trainLoss).toBeLessThan(history[0]!.trainLoss);
    // Chance is 10%; these runs reach 90-95% across seeds.
    expect(history[1]!.testLoss).toBeLessThan(0.6);
    expect(history[1]!.testAccuracy).toBeGreaterThan(0.8);
  });

  it("prints progress lines without \\r when not on a terminal, and ends with the test accuracy", () => {
    const accuracy = lastLine(stdout.text());
    expect(accuracy).toMatch(/^test accuracy: \d{1,3}\.\d%$/);
    expect(stdout.text()).toMatch(/^epoch 1\/2 {2}train loss \d\.\d{4} acc/m);
    expect(stderr.text()).toMatch(/^epoch 2\/2 batch 62\/62 loss \d\.\d{4} \d+ digits\/s$/m);
    expect(stderr.text()).not.toContain("\r");
  });

  it("writes weights that reload to the same predictions, from code and from --eval", async () => {
    const path = join(out, "weights.json");
    const { params, meta } = loadWeights(model, path);
    const test = splitDigits(3, 2000, 500).test;
    const again = evaluate(model, params, test);
    expect(again.accuracy).toBe(meta.testAccuracy);

    const stdout2 = capture();
    const stderr2 = capture();
    expect(await main(["--eval", "--weights", path, "--model", GENERATED], stdout2, stderr2), stderr2.text()).toBe(0);
    expect(lastLine(stdout2.text())).toBe(lastLine(stdout.text()));
    expect(stdout2.text()).toContain("500 held-out digits (seed 3)");
  });

  it("draws a chart with axes, a legend and the four series", () => {
    const svg = readFileSync(join(out, "training.svg"), "utf8");
    expect(svg.startsWith('<?xml version="1.0"')).toBe(true);
    expectWellFormed(svg);
    for (const id of ["train-loss", "test-loss", "train-accuracy", "test-accuracy"]) {
      const m = new RegExp(`<polyline id="${id}"[^>]* points="([^"]*)"`).exec(svg);
      expect(m, id).not.toBeNull();
      const points = m![1]!.split(" ").map((p) => p.split(",").map(Number));
      expect(points).toHaveLength(2);
      for (const [x, y] of points) expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true);
    }
    for (const label of [">epoch<", ">Mean cross-entropy<", ">Accuracy<", ">training set<", ">held-out test set<"]) {
      expect(svg).toContain(label);
    }
  });
});

describe("the weights file", () => {
  it("round-trips every double exactly", () => {
    const params = initParams(model, 11) as Params;
    params.c1b.set([0.1, 1e-300, -5e-324, 1 / 3, Math.PI, -Number.MAX_VALUE]);
    const path = join(out, "roundtrip.json");
    writeFileSync(path, weightsToJson(model, params, { note: "test" }));
    const back = loadWeights(model, path);
    for (const name of PARAM_NAMES) expect(back.params[name], name).toEqual(params[name]);
    expect(back.meta).toEqual({ note: "test" });
  });

  it("is refused when a shape does not match the model", () => {
    const path = join(out, "bad.json");
    const file = JSON.parse(weightsToJson(model, initParams(model, 1), {}));
    file.shapes.f3w = [10, 85];
    writeFileSync(path, JSON.stringify(file));
    expect(() => loadWeights(model, path)).toThrow(/f3w should have shape \[10, 84\]/);
  });
});

describe("the command line", () => {
  it("redraws the progress bar in place on a terminal and clears it before results", async () => {
    const stdout = capture(true);
    const stderr = capture(true);
    const dir = join(out, "tty");
    expect(await main(["--epochs", "1", "--train", "64", "--test", "32", "--out", dir, "--model", GENERATED], stdout, stderr)).toBe(0);
    expect(stderr.text()).toMatch(/\r\x1b\[Kepoch 1\/1 \[#+\] batch 2\/2 loss/);
    expect(stderr.text().endsWith("\r\x1b[K")).toBe(true);
    expect(lastLine(stdout.text())).toMatch(/^test accuracy: /);
  });

  it("reports bad options and a missing module without a stack trace", async () => {
    for (const [argv, message] of [
      [["--epochs", "0"], "--epochs needs an integer >= 1, got '0'"],
      [["--frobnicate"], "unknown option '--frobnicate'"],
      [["--model", join(out, "missing.grad.ts")], "does not exist: generate it first"],
    ] as const) {
      const stderr = capture();
      expect(await main(argv, capture(), stderr)).toBe(1);
      expect(stderr.text()).toContain(message);
      expect(stderr.text()).not.toMatch(/\n\s+at /);
    }
  });
});

describe("the chart", () => {
  it("escapes its caption and copes with a single epoch", () => {
    const svg = renderChart([{ epoch: 1, trainLoss: 0.5, testLoss: 0.5, trainAccuracy: 0.9, testAccuracy: 0.9 }], "a < b & c");
    expectWellFormed(svg);
    expect(svg).toContain("a &lt; b &amp; c");
    expect(svg).not.toContain("NaN");
  });
});

/** Whether two Float64Arrays hold the same bits (far quicker than toEqual on 784,000 numbers). */
function sameBytes(a: Float64Array, b: Float64Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A small check that `xml` is well formed: tags balance, attributes are quoted, no stray `<` or `&`. */
function expectWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    const text = body.slice(last, m.index);
    expect(text, `text before <${m[2]}>`).not.toMatch(/[<>]|&(?!(amp|lt|gt|quot|apos);)/);
    last = tag.lastIndex;
    if (m[1]) expect(stack.pop(), `closing </${m[2]}>`).toBe(m[2]);
    else if (!m[4]) stack.push(m[2]!);
  }
  expect(body.slice(last).trim()).toBe("");
  expect(stack).toEqual([]);
  expect(body.startsWith("<svg ")).toBe(true);
}
