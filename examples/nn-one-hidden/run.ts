// The seed's one-hidden-layer network on one example: value and gradient norms.
// Compile first: npx adgen examples/nn-one-hidden/model.ts
import { lossGrad } from "./model.grad.js";

const alpha = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i) * 0.5);
const beta = Float64Array.from([0.6, 0.7, -0.5, -1.6]);
const x = Float64Array.from([0.2, 0.1, -1.2, -0.7, -0.1, -0.9]);
const { value, grads } = lossGrad(alpha, beta, x, 0);
const norm = (g: Float64Array) => Math.hypot(...g).toFixed(6);
console.log(`loss = ${value}`);
console.log(`|dalpha| = ${norm(grads.alpha)}, |dbeta| = ${norm(grads.beta)}, |dx| = ${norm(grads.x)}`);
