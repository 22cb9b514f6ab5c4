// A recurrent network over a sequence of 6 inputs of size 3: the hidden state is carried
// from one step to the next, h = tanh(W h + b + U x_t), then a softmax classifier.
import { type Tensor, add, crossEntropy, linear, tanh } from "adgen";

const T = 6;

/** @wrt h0, W, U, b, V, c */
export function loss(
  xs: Tensor<[6, 3]>, label: number,
  h0: Tensor<[4]>, W: Tensor<[4, 4]>, U: Tensor<[4, 3]>, b: Tensor<[4]>,
  V: Tensor<[2, 4]>, c: Tensor<[2]>,
): number {
  let h = h0;
  for (let t = 0; t < T; t++) {
    h = tanh(add(linear(h, W, b), linear(xs[t], U)));
  }
  return crossEntropy(linear(h, V, c), label);
}
