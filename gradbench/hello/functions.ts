// The hello eval's functions: square is the generated forward function, double its gradient.
import type { Prepared } from "../protocol.js";
import { square as squareFn, squareGrad } from "./model.grad.js";

export function square(x: number): Prepared {
  let y = 0;
  return { run: () => void (y = squareFn(x)), output: () => y };
}

export function double(x: number): Prepared {
  let dx = 0;
  return { run: () => void (dx = squareGrad(x).grads.x), output: () => dx };
}
