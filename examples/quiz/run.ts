// Imports the module adgen generated from model.ts and prints the value and the gradient.
// Compile first: npx adgen examples/quiz/model.ts
import { quiz, quizGrad } from "./model.grad.js";

const { value, grads } = quizGrad(2, 3);
console.log(`quiz(2, 3) = ${quiz(2, 3)}`);
console.log(`value = ${value}`);
console.log(`gradient = [${grads.x.toFixed(2)}, ${grads.z.toFixed(2)}] (rounds to [${Math.round(grads.x)}, ${Math.round(grads.z)}])`);
