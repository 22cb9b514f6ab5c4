// Loops that carry scalar state: a polynomial by Horner's rule, and a square root by a
// fixed number of Newton iterations (the gradient flows through every iteration).
import { type Tensor } from "adgen";

/** p(x) = c[0] + c[1] x + ... + c[5] x^5 */
export function horner(c: Tensor<[6]>, x: number): number {
  let p = c[5];
  for (let k = 4; k >= 0; k--) {
    p = p * x + c[k];
  }
  return p;
}

/** sqrt(a) by 8 Newton steps from a / 2 + 1/2; the derivative approaches 1 / (2 sqrt(a)). */
export function newtonSqrt(a: number): number {
  let r = a / 2 + 0.5;
  for (let i = 0; i < 8; i++) {
    r = 0.5 * (r + a / r);
  }
  return r;
}
