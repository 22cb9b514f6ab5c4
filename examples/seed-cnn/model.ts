// The seed's CNN: conv -> max-pool -> conv -> relu -> linear -> softmax cross-entropy, on
// one 1x12x12 image. The first convolution is written out as loops (as on the seed's
// slides); it gets exactly the gradient of the built-in conv2d used for the second.
import { type Tensor, conv2d, crossEntropy, flatten, linear, maxpool2d, relu, zeros } from "adgen";

function convByHand(x: Tensor<[1, 12, 12]>, w: Tensor<[4, 1, 3, 3]>): Tensor<[4, 10, 10]> {
  const y = zeros([4, 10, 10]);
  for (let o = 0; o < 4; o++) {
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 10; j++) {
        for (let ki = 0; ki < 3; ki++) {
          for (let kj = 0; kj < 3; kj++) {
            y[o][i][j] += x[0][i + ki][j + kj] * w[o][0][ki][kj];
          }
        }
      }
    }
  }
  return y;
}

/** @wrt w1, w2, b2, fw, fb */
export function loss(
  x: Tensor<[1, 12, 12]>, label: number,
  w1: Tensor<[4, 1, 3, 3]>, w2: Tensor<[8, 4, 3, 3]>, b2: Tensor<[8]>,
  fw: Tensor<[10, 72]>, fb: Tensor<[10]>,
): number {
  const h1 = maxpool2d(convByHand(x, w1), { size: 2 });
  const h2 = relu(conv2d(h1, w2, b2));
  return crossEntropy(linear(flatten(h2), fw, fb), label);
}
