// A small MLP for MNIST (784 -> 64 -> relu -> 10 -> mean cross-entropy) generic in the batch
// size N: `x: Tensor<[N, 784]>`, `labels: Tensor<[N]>`. The layer sizes stay literal (and
// fast); only the batch is read at run time, from labels.length. So one generated file
// trains on full minibatches of 32 and on the short last one (17 digits out of 1,009): no
// padding, no second compile. run.ts does exactly that.
import { type Tensor, crossEntropy, linear, relu } from "adgen";

/** Class scores of a batch of N digits (x: N rows of 784 standardised pixels). */
export function logits<N extends number>(
  x: Tensor<[N, 784]>,
  w1: Tensor<[64, 784]>, b1: Tensor<[64]>,
  w2: Tensor<[10, 64]>, b2: Tensor<[10]>,
): Tensor<[N, 10]> {
  return linear(relu(linear(x, w1, b1)), w2, b2);
}

/**
 * Mean cross-entropy of a batch of N digits against their labels (0-9).
 * @wrt w1, b1, w2, b2
 */
export function loss<N extends number>(
  x: Tensor<[N, 784]>, labels: Tensor<[N]>,
  w1: Tensor<[64, 784]>, b1: Tensor<[64]>,
  w2: Tensor<[10, 64]>, b2: Tensor<[10]>,
): number {
  return crossEntropy(logits(x, w1, b1, w2, b2), labels);
}
