// Seed case 1: logistic regression, y = sigmoid(theta . x), with the binary cross-entropy
// loss -(y* log y + (1 - y*) log(1 - y)), written with scalar loops over D = 5 features.
import { type Tensor } from "adgen";

const D = 5;

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** @wrt theta, x */
export function loss(theta: Tensor<[5]>, x: Tensor<[5]>, ystar: number): number {
  let z = 0;
  for (let i = 0; i < D; i++) {
    z += theta[i] * x[i];
  }
  const y = sigmoid(z);
  return -(ystar * Math.log(y) + (1 - ystar) * Math.log(1 - y));
}
