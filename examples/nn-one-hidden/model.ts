// Seed case 2: one hidden layer. z = sigmoid(alpha x), y = sigmoid(beta . z), binary
// cross-entropy loss with target ystar.
import { type Tensor, sigmoid, dot, linear } from "adgen";

/** @wrt alpha, beta, x */
export function loss(alpha: Tensor<[4, 6]>, beta: Tensor<[4]>, x: Tensor<[6]>, ystar: number): number {
  const z = sigmoid(linear(x, alpha));
  const y = sigmoid(dot(beta, z));
  return -(ystar * Math.log(y) + (1 - ystar) * Math.log(1 - y));
}
