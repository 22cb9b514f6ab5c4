// The softmax MLP on a batch of 8: one SGD step lowers the loss.
// Compile first: npx adgen examples/mlp-softmax/model.ts
import { loss, lossGrad, lossShapes } from "./model.grad.js";

const fill = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + k) * 0.4);
const x = fill(160, 0);
const labels = Float64Array.from({ length: 8 }, (_, i) => i % 10);
const params = (["w1", "b1", "w2", "b2", "w3", "b3"] as const).map((k, j) => fill(lossShapes[k].reduce((a, b) => a * b, 1), j + 1));
const before = lossGrad(x, labels, ...(params as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array]));
const g = Object.values(before.grads);
params.forEach((p, j) => p.forEach((_, i) => (p[i] -= 0.5 * g[j]![i]!)));
const after = loss(x, labels, ...(params as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array]));
console.log(`loss before ${before.value.toFixed(6)}, after one SGD step ${after.toFixed(6)}`);
