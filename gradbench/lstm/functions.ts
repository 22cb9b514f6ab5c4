// The lstm eval's functions: the LSTM's loss, and its gradient with respect to the main and
// the extra parameters, as one list (main's, then extra's, row-major), as the eval expects.
import { matrix } from "../json.js";
import type { Prepared } from "../protocol.js";
import { lstmGradInto, lstmInto } from "./model.grad.js";

type Rows = readonly (readonly number[])[];

interface Input {
  readonly main_params: Rows;
  readonly extra_params: Rows;
  readonly state: Rows;
  readonly sequence: Rows;
}

/** The input as the generated lstm takes it: main is [2L, 4, B], GradBench's rows of 4B. */
function args(input: Input) {
  return [
    matrix(input.main_params, "main_params"),
    matrix(input.extra_params, "extra_params"),
    matrix(input.state, "state"),
    matrix(input.sequence, "sequence"),
  ] as const;
}

export function objective(input: Input): Prepared {
  const [main, extra, state, seq] = args(input);
  let y = 0;
  return { run: () => void (y = lstmInto(main, extra, state, seq)), output: () => y };
}

export function jacobian(input: Input): Prepared {
  const [main, extra, state, seq] = args(input);
  const grads = { main: new Float64Array(main.length), extra: new Float64Array(extra.length) };
  return {
    run: () => void lstmGradInto(main, extra, state, seq, grads),
    output: () => [...grads.main, ...grads.extra],
  };
}
