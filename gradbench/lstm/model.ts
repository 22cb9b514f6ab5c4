// GradBench's lstm eval (ADBench's LSTM objective), written once for any sizes: a stack of
// L LSTM layers of width B run over a sequence of C characters, predicting each next
// character; the objective is the mean log-likelihood loss. Its PyTorch definition is
// GradBench's tools/pytorch/lstm_objective.py; this file follows it line for line:
//
//   main   [2L, 4, B]  per layer: the weights and the biases of its four gates (forget,
//                      input, output, change), each gate reading the input or the hidden state
//   extra  [3, B]      the input scaling and the output's scale and offset
//   state  [2L, B]     per layer: its hidden state and its cell state
//   seq    [C, B]      the sequence (one row per character)
//
// The cell returns its new hidden and cell states as a tuple the caller destructures.
import { type Tensor, zeros } from "adgen";

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** One LSTM cell: gates = [input, hidden, input, hidden] · weight + bias, elementwise. */
function cell<B extends number>(
  weight: Tensor<[4, B]>, bias: Tensor<[4, B]>, hidden: Tensor<[B]>, state: Tensor<[B]>, input: Tensor<[B]>,
): [Tensor<[B]>, Tensor<[B]>] {
  const h = zeros([hidden.length]);
  const c = zeros([hidden.length]);
  for (let j = 0; j < hidden.length; j++) {
    const forget = sigmoid(input[j] * weight[0][j] + bias[0][j]);
    const ingate = sigmoid(hidden[j] * weight[1][j] + bias[1][j]);
    const outgate = sigmoid(input[j] * weight[2][j] + bias[2][j]);
    const change = Math.tanh(hidden[j] * weight[3][j] + bias[3][j]);
    c[j] = state[j] * forget + ingate * change;
    h[j] = outgate * Math.tanh(c[j]);
  }
  return [h, c];
}

/**
 * The mean negative log-likelihood of each next character of `seq` (GradBench's objective),
 * differentiated with respect to the parameters, as GradBench asks.
 * @wrt main, extra
 */
export function lstm<L2 extends number, B extends number, C extends number>(
  main: Tensor<[L2, 4, B]>, extra: Tensor<[3, B]>, state: Tensor<[L2, B]>, seq: Tensor<[C, B]>,
): number {
  const b = state[0].length;
  let s = zeros([state.length, b]);
  for (let i = 0; i < state.length; i++) {
    for (let j = 0; j < b; j++) s[i][j] = state[i][j];
  }
  let total = 0;
  let count = 0;
  for (let t = 0; t < seq.length - 1; t++) {
    // predict: the input through every layer, each layer's states updated from the old ones
    let x = zeros([b]);
    for (let j = 0; j < b; j++) x[j] = seq[t][j] * extra[0][j];
    const next = zeros([state.length, b]);
    for (let i = 0; i < state.length; i += 2) {
      const [h, c] = cell(main[i], main[i + 1], s[i], s[i + 1], x);
      for (let j = 0; j < b; j++) {
        next[i][j] = h[j];
        next[i + 1][j] = c[j];
      }
      x = h;
    }
    // ynorm = ypred - log(2 + Σ exp ypred): GradBench's `sum(torch.exp(ypred), 2)` is
    // Python's sum with a start of 2
    let se = 0;
    for (let j = 0; j < b; j++) se += Math.exp(x[j] * extra[1][j] + extra[2][j]);
    const lse = Math.log(2 + se);
    for (let j = 0; j < b; j++) total += seq[t + 1][j] * (x[j] * extra[1][j] + extra[2][j] - lse);
    count += b;
    s = next;
  }
  return -total / count;
}
