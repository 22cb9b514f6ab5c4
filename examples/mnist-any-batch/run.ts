// One generated file, two batch sizes: a few epochs of SGD on 1,009 real MNIST digits in
// minibatches of 32, whose last batch has 17 digits (1,009 = 31 x 32 + 17). The same
// lossGrad / lossGradInto serves both sizes; prints the loss on the last full batch and on
// the short one, and the test accuracy after each epoch.
// Compile first: npx adgen examples/mnist-any-batch/model.ts
import { splitDigits, makeRng, IMAGE_SIZE } from "../mnist/data.js";
import { logits, lossGrad, lossGradInto, lossShapes } from "./model.grad.js";

const TRAIN = 1009, TEST = 500, BATCH = 32, EPOCHS = 3, LR = 0.1;
const { train, test } = splitDigits(1, TRAIN, TEST);

// He-normal initial weights, zero biases (seeded).
const random = makeRng(7);
const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const he = (n: number, fanIn: number) => Float64Array.from({ length: n }, () => normal() * Math.sqrt(2 / fanIn));
const p = { w1: he(64 * 784, 784), b1: new Float64Array(64), w2: he(10 * 64, 64), b2: new Float64Array(10) };
const g = { w1: new Float64Array(64 * 784), b1: new Float64Array(64), w2: new Float64Array(10 * 64), b2: new Float64Array(10) };
console.log(`loss shapes: x [${lossShapes.x.join(", ")}], labels [${lossShapes.labels.join(", ")}]`);

const batch = (start: number, n: number) => ({
  x: train.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE),
  labels: Float64Array.from(train.labels.subarray(start, start + n)),
});

function accuracy(): number {
  const scores = logits(test.images, p.w1, p.b1, p.w2, p.b2); // one call on all 500 test digits: N = 500
  let right = 0;
  for (let i = 0; i < test.count; i++) {
    const row = scores.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === test.labels[i]) right++;
  }
  return right / test.count;
}

// The short batch through the allocating lossGrad too: same value as lossGradInto.
const short = batch(TRAIN - (TRAIN % BATCH), TRAIN % BATCH);
console.log(`short batch of ${short.labels.length} before training: loss ${lossGrad(short.x, short.labels, p.w1, p.b1, p.w2, p.b2).value.toFixed(6)}`);
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  const losses: string[] = [];
  for (let start = 0; start < TRAIN; start += BATCH) {
    const { x, labels } = batch(start, Math.min(BATCH, TRAIN - start));
    const value = lossGradInto(x, labels, p.w1, p.b1, p.w2, p.b2, g);
    for (const k of ["w1", "b1", "w2", "b2"] as const) for (let i = 0; i < p[k].length; i++) p[k][i]! -= LR * g[k][i]!;
    if (start + 2 * BATCH >= TRAIN) losses.push(`N = ${labels.length}: ${value.toFixed(4)}`);
  }
  console.log(`epoch ${epoch}: last two batches' loss (${losses.join(", ")}), test accuracy ${(100 * accuracy()).toFixed(1)}%`);
}
