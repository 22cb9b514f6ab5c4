// LeNet-5 on one 1x28x28 digit: conv 6@5x5 (padding 2) -> relu -> max-pool 2 -> conv 16@5x5
// -> relu -> max-pool 2 -> 120 -> relu -> 84 -> relu -> 10 -> softmax cross-entropy.
import { type Tensor, conv2d, maxpool2d, relu, linear, flatten, crossEntropy } from "adgen";

export function loss(
  x: Tensor<[1, 28, 28]>, label: number,
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): number {
  const h1 = maxpool2d(relu(conv2d(x, c1w, c1b, { padding: 2 })), { size: 2, stride: 2 });
  const h2 = maxpool2d(relu(conv2d(h1, c2w, c2b)), { size: 2, stride: 2 });
  const h3 = relu(linear(flatten(h2), f1w, f1b));
  const h4 = relu(linear(h3, f2w, f2b));
  const logits = linear(h4, f3w, f3b);
  return crossEntropy(logits, label);
}
