// LeNet-5 for the browser demo, in the adgen DSL. The page's Web Worker imports it as
// "./model.ts?grad": adgen's bundler plugin compiles it when Vite serves or builds the page,
// and the worker trains with the allocation-free `lossGradInto` and predicts with `predict`.
// (examples/mnist/model.ts is the same network at batch 32, trained under Node.)
import { type Tensor, conv2d, maxpool2d, relu, linear, flatten, crossEntropy } from "adgen";

/** The class scores of one digit drawn on the page (x: 1 image of 1x28x28, standardised pixels). */
export function predict(
  x: Tensor<[1, 1, 28, 28]>,
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): Tensor<[1, 10]> {
  const h1 = maxpool2d(relu(conv2d(x, c1w, c1b, { padding: 2 })), { size: 2, stride: 2 }); // [1, 6, 14, 14]
  const h2 = maxpool2d(relu(conv2d(h1, c2w, c2b)), { size: 2, stride: 2 }); // [1, 16, 5, 5]
  const h3 = relu(linear(flatten(h2, 1), f1w, f1b)); // [1, 120]
  const h4 = relu(linear(h3, f2w, f2b)); // [1, 84]
  return linear(h4, f3w, f3b); // [1, 10]
}

/**
 * The training loss: mean cross-entropy of a batch of 16 digits against their labels (0-9).
 * @wrt c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b
 */
export function loss(
  x: Tensor<[16, 1, 28, 28]>, labels: Tensor<[16]>,
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): number {
  const h1 = maxpool2d(relu(conv2d(x, c1w, c1b, { padding: 2 })), { size: 2, stride: 2 }); // [16, 6, 14, 14]
  const h2 = maxpool2d(relu(conv2d(h1, c2w, c2b)), { size: 2, stride: 2 }); // [16, 16, 5, 5]
  const h3 = relu(linear(flatten(h2, 1), f1w, f1b)); // [16, 120]
  const h4 = relu(linear(h3, f2w, f2b)); // [16, 84]
  return crossEntropy(linear(h4, f3w, f3b), labels);
}
