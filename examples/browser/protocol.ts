// The messages between the demo's page (main.ts) and its training worker (worker.ts).

export type ToWorker =
  | { readonly type: "train" }
  | { readonly type: "pause" }
  /** A drawn digit: 28x28 intensities in [0, 1] (0 = blank), row by row. */
  | { readonly type: "predict"; readonly pixels: Float32Array };

export type FromWorker =
  | { readonly type: "ready"; readonly train: number; readonly test: number; readonly batch: number; readonly accuracy: number }
  | {
      readonly type: "progress";
      readonly step: number;
      readonly epoch: number;
      /** Mean training loss over the last slice of steps. */
      readonly loss: number;
      /** Accuracy on held-out digits, measured every few dozen steps. */
      readonly accuracy: number | undefined;
      /** Digits trained per second of training-step time, since the start. */
      readonly digitsPerSecond: number;
    }
  /** Training has stopped (after a pause), at this step. */
  | { readonly type: "paused"; readonly step: number }
  | { readonly type: "prediction"; readonly probabilities: readonly number[]; readonly step: number }
  | { readonly type: "error"; readonly message: string };
