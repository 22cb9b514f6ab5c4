// LeNet-5 for MNIST, written in the adgen DSL. `adgen examples/mnist/model.ts` turns it into
// model.grad.ts: the forward functions below as plain loops over Float64Arrays, and
// `lossGrad` / `lossGradInto` / `lossForward` / `lossBackward` with the gradient of the mean
// cross-entropy with respect to the ten parameters listed in @wrt. train.ts uses `logits`
// to evaluate and the allocation-free `lossGradInto` to train.
import { type Tensor, conv2d, maxpool2d, relu, linear, flatten, crossEntropy } from "adgen";

/** The class scores of a batch of 32 digits (x: 32 images of 1x28x28, standardised pixels). */
export function logits(
  x: Tensor<[32, 1, 28, 28]>,
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): Tensor<[32, 10]> {
  const h1 = maxpool2d(relu(conv2d(x, c1w, c1b, { padding: 2 })), { size: 2, stride: 2 }); // [32, 6, 14, 14]
  const h2 = maxpool2d(relu(conv2d(h1, c2w, c2b)), { size: 2, stride: 2 }); // [32, 16, 5, 5]
  const h3 = relu(linear(flatten(h2, 1), f1w, f1b)); // [32, 120]
  const h4 = relu(linear(h3, f2w, f2b)); // [32, 84]
  return linear(h4, f3w, f3b); // [32, 10]
}

/**
 * The training loss: mean cross-entropy of a batch of 32 digits against their labels (0-9).
 * @wrt c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b
 */
export function loss(
  x: Tensor<[32, 1, 28, 28]>, labels: Tensor<[32]>,
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): number {
  return crossEntropy(logits(x, c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b), labels);
}
