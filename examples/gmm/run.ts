// GradBench's GMM objective at a few sizes (d dimensions, k components, n points) from one
// generated file: the log posterior and the size of each part of its gradient. The
// gradient with respect to alpha always sums to 0 (the objective does not change when
// every alpha moves by the same amount), which the last column shows.
// Compile first: npx adgen examples/gmm/model.ts
import { gmmGrad } from "./model.grad.js";

const wave = (n: number, seed: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(1.7 * i + seed));
const norm = (v: Float64Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
for (const [d, k, n] of [[2, 3, 10], [5, 4, 50], [10, 5, 200]] as const) {
  const alpha = wave(k, 1);
  const mu = wave(k * d, 2);
  const q = wave(k * d, 3, 0.3);
  const l = wave((k * d * (d - 1)) / 2, 4, 0.3);
  const x = wave(n * d, 5, 1.5);
  const { value, grads } = gmmGrad(alpha, mu, q, l, x, 1, 0);
  const parts = Object.entries(grads).map(([name, g]) => `|d${name}| = ${norm(g).toFixed(6)}`).join(", ");
  console.log(`d = ${d}, k = ${k}, n = ${n}: log posterior = ${value.toFixed(10)}; ${parts}; sum(dalpha) = ${grads.alpha.reduce((a, b) => a + b, 0).toExponential(1)}`);
}
