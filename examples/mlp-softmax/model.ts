// A two-hidden-layer network with a softmax output, on a batch of 8 examples of 20
// features: 20 -> 16 (tanh) -> 12 (relu) -> 10 -> mean softmax cross-entropy.
import { type Tensor, crossEntropy, linear, relu, tanh } from "adgen";

/** @wrt w1, b1, w2, b2, w3, b3 */
export function loss(
  x: Tensor<[8, 20]>, labels: Tensor<[8]>,
  w1: Tensor<[16, 20]>, b1: Tensor<[16]>,
  w2: Tensor<[12, 16]>, b2: Tensor<[12]>,
  w3: Tensor<[10, 12]>, b3: Tensor<[10]>,
): number {
  const h1 = tanh(linear(x, w1, b1));
  const h2 = relu(linear(h1, w2, b2));
  return crossEntropy(linear(h2, w3, b3), labels);
}
