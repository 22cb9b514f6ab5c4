// Gradients through loops: Horner's rule and Newton's square root.
// Compile first: npx adgen examples/horner/model.ts
import { hornerGrad, newtonSqrtGrad } from "./model.grad.js";

const c = Float64Array.from([1, -2, 0.5, 3, -1, 0.25]);
const h = hornerGrad(c, 1.5);
console.log(`p(1.5) = ${h.value}, dp/dx = ${h.grads.x}, dp/dc = [${Array.from(h.grads.c).join(", ")}]`);
const n = newtonSqrtGrad(2);
console.log(`sqrt(2) by Newton = ${n.value}, derivative ${n.grads.a} (1 / (2 sqrt 2) = ${1 / (2 * Math.SQRT2)})`);
