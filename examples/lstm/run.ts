// GradBench's LSTM objective at a few sizes (L layers of width B over C characters) from one
// generated file: the loss and the size of its gradient with respect to the parameters.
// Compile first: npx adgen examples/lstm/model.ts
import { lstmGrad } from "./model.grad.js";

const wave = (n: number, seed: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(1.3 * i + seed));
const norm = (v: Float64Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
for (const [layers, b, c] of [[1, 3, 4], [2, 14, 100], [4, 14, 1024]] as const) {
  const main = wave(2 * layers * 4 * b, 1, 0.5);
  const extra = wave(3 * b, 2, 0.5);
  const state = wave(2 * layers * b, 3, 0.5);
  const seq = wave(c * b, 4);
  const { value, grads } = lstmGrad(main, extra, state, seq);
  console.log(`L = ${layers}, B = ${b}, C = ${c}: loss = ${value.toFixed(10)}; |dmain| = ${norm(grads.main).toFixed(6)}, |dextra| = ${norm(grads.extra).toFixed(6)}`);
}
