// GradBench's protocol, as the tool sees it: one JSON message per line on stdin, one JSON
// response per line on stdout, with the message's id. The types follow GradBench's own
// (js/common/protocol.ts in its repository).

export interface Timing {
  readonly name: string;
  readonly nanoseconds: number;
}

/** How often an evaluate message asks the function to run: at least min_runs times and min_seconds long. */
export interface Runs {
  readonly min_runs?: number;
  readonly min_seconds?: number;
}

export type Message =
  | { readonly id: number; readonly kind: "start"; readonly eval?: string; readonly config?: unknown }
  | { readonly id: number; readonly kind: "define"; readonly module: string }
  | {
      readonly id: number;
      readonly kind: "evaluate";
      readonly module: string;
      readonly function: string;
      readonly input: unknown;
      readonly description?: string;
    }
  | { readonly id: number; readonly kind: "analysis"; readonly of: number; readonly valid: boolean; readonly error?: string };

export interface Response {
  readonly id: number;
  readonly tool?: string;
  readonly success?: boolean;
  readonly output?: unknown;
  readonly timings?: readonly Timing[];
  readonly error?: string;
}

/**
 * One function of an eval, ready to run: `prepare` turns the message's JSON input into typed
 * arrays and buffers (not timed, as GradBench's C++ tools parse their input before timing),
 * and returns `run`, the timed call, and `output`, which turns the last result into the JSON
 * the eval expects.
 */
export interface Prepared {
  readonly run: () => void;
  readonly output: () => unknown;
}

/** An eval's functions, keyed by the names its evaluate messages use. */
export type EvalFunctions = Readonly<Record<string, (input: never) => Prepared>>;
