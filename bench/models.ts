// The benchmark's models as adgen DSL source, at a given batch size, with the FLOPs of one
// forward pass and one training step counted analytically (2 per multiply-add of the conv
// and linear layers; activations, pooling and the loss are not counted). The parameter
// names and layouts are those of bench/peers/shapes.ts, so the same buffers feed every peer.

export interface BenchModel {
  readonly name: string;
  readonly batch: number;
  /** adgen DSL source of `loss(x, label(s), ...params)`, differentiated w.r.t. the params. */
  readonly source: string;
  readonly forwardFlops: number;
  /** Forward plus backward (no gradient for the input x). */
  readonly stepFlops: number;
  /** Written for any batch size (a size type parameter N), called with `batch`. */
  readonly symbolic?: boolean;
}

/** x and the label(s): one sample unbatched ([1, 28, 28] / [784], a number), else [N, ...]. */
function inputs(batch: number, sample: string): string {
  return batch === 1
    ? `x: Tensor<[${sample}]>, label: number`
    : `x: Tensor<[${batch}, ${sample}]>, labels: Tensor<[${batch}]>`;
}

/**
 * LeNet-5 at one batch size; with `symbolic`, written once for any batch N
 * (`loss<N extends number>(x: Tensor<[N, 1, 28, 28]>, labels: Tensor<[N]>, ...)`), called
 * with this batch.
 */
export function lenet(batch: number, symbolic = false): BenchModel {
  const labels = batch === 1 && !symbolic ? "label" : "labels";
  const header = symbolic ? "any batch N" : `batch ${batch}`;
  const params = symbolic ? "x: Tensor<[N, 1, 28, 28]>, labels: Tensor<[N]>" : inputs(batch, "1, 28, 28");
  const source = `// LeNet-5, ${header}: conv 6@5x5 (padding 2) -> relu -> max-pool 2 -> conv 16@5x5 -> relu
// -> max-pool 2 -> 120 -> relu -> 84 -> relu -> 10 -> softmax cross-entropy (mean over the batch).
import { type Tensor, conv2d, maxpool2d, relu, linear, flatten, crossEntropy } from "adgen";

/** @wrt c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b */
export function loss${symbolic ? "<N extends number>" : ""}(
  ${params},
  c1w: Tensor<[6, 1, 5, 5]>, c1b: Tensor<[6]>,
  c2w: Tensor<[16, 6, 5, 5]>, c2b: Tensor<[16]>,
  f1w: Tensor<[120, 400]>, f1b: Tensor<[120]>,
  f2w: Tensor<[84, 120]>, f2b: Tensor<[84]>,
  f3w: Tensor<[10, 84]>, f3b: Tensor<[10]>,
): number {
  const h1 = maxpool2d(relu(conv2d(x, c1w, c1b, { padding: 2 })), { size: 2, stride: 2 });
  const h2 = maxpool2d(relu(conv2d(h1, c2w, c2b)), { size: 2, stride: 2 });
  const h3 = relu(linear(flatten(h2${batch === 1 && !symbolic ? "" : ", 1"}), f1w, f1b));
  const h4 = relu(linear(h3, f2w, f2b));
  return crossEntropy(linear(h4, f3w, f3b), ${labels});
}
`;
  // multiply-adds per sample
  const conv1 = 6 * 25 * 28 * 28;
  const conv2 = 16 * 150 * 10 * 10;
  const fc = 120 * 400 + 84 * 120 + 10 * 84;
  const forward = conv1 + conv2 + fc;
  // backward: both adjoints of every layer but the input adjoint of the first
  const backward = conv1 + 2 * conv2 + 2 * fc;
  return { name: "LeNet-5", batch, source, forwardFlops: 2 * forward * batch, stepFlops: 2 * (forward + backward) * batch, symbolic };
}

/** The MLP at one batch size; with `symbolic`, written once for any batch N, called with this batch. */
export function mlp(batch: number, symbolic = false): BenchModel {
  const labels = batch === 1 && !symbolic ? "label" : "labels";
  const header = symbolic ? "any batch N" : `batch ${batch}`;
  const params = symbolic ? "x: Tensor<[N, 784]>, labels: Tensor<[N]>" : inputs(batch, "784");
  const source = `// A 784-128-10 MLP, ${header}: sigmoid hidden layer, softmax cross-entropy (mean over the batch).
import { type Tensor, linear, sigmoid, crossEntropy } from "adgen";

/** @wrt w1, b1, w2, b2 */
export function loss${symbolic ? "<N extends number>" : ""}(
  ${params},
  w1: Tensor<[128, 784]>, b1: Tensor<[128]>,
  w2: Tensor<[10, 128]>, b2: Tensor<[10]>,
): number {
  const h = sigmoid(linear(x, w1, b1));
  return crossEntropy(linear(h, w2, b2), ${labels});
}
`;
  const forward = 128 * 784 + 10 * 128;
  const backward = 128 * 784 + 2 * 10 * 128;
  return { name: "MLP 784-128-10", batch, source, forwardFlops: 2 * forward * batch, stepFlops: 2 * (forward + backward) * batch, symbolic };
}
