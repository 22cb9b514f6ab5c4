// J = cos(sin(x^2) + 3x^2) and its derivative at x = 0.7 (PyTorch: -5.0677820437885).
// Compile first: npx adgen examples/simple-cos/model.ts
import { JGrad } from "./model.grad.js";

const { value, grads } = JGrad(0.7);
console.log(`J(0.7) = ${value}`);
console.log(`dJ/dx = ${grads.x}`);
