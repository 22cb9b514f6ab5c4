// Training LeNet-5 with the functions adgen generated from model.ts: initialisation,
// minibatch SGD with momentum, evaluation, and saving and loading the learned weights.
// Nothing here differentiates anything: every gradient comes from the generated `lossGradInto`.

import { readFileSync } from "node:fs";
import { BACKGROUND, CLASSES, DigitSet, IMAGE_SIZE, makeRng, shuffleInPlace } from "./data.js";

export const PARAM_NAMES = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b"] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
/** The ten parameters, each a flat row-major Float64Array of its shape. */
export type Params = Record<ParamName, Float64Array>;

type ParamArgs = [
  c1w: Float64Array, c1b: Float64Array, c2w: Float64Array, c2b: Float64Array, f1w: Float64Array,
  f1b: Float64Array, f2w: Float64Array, f2b: Float64Array, f3w: Float64Array, f3b: Float64Array,
];

/**
 * What this example uses of the module adgen generates from model.ts (model.grad.ts). It is
 * loaded at run time (see train.ts), so that type-checking the example does not need the
 * build step to have run first.
 */
export interface LeNetModule {
  readonly lossShapes: { readonly [K in "x" | "labels" | ParamName]: readonly number[] };
  /**
   * The mean cross-entropy of a batch; writes its gradient with respect to the ten parameters
   * into `grads` (buffers the caller owns, reused from step to step: no allocation).
   */
  lossGradInto(x: Float64Array, labels: Float64Array, ...paramsThenGrads: [...ParamArgs, grads: Params]): number;
  /** The class scores of a batch, [batch, 10]. */
  logits(x: Float64Array, ...params: ParamArgs): Float64Array;
}

function args(p: Params): ParamArgs {
  return [p.c1w, p.c1b, p.c2w, p.c2b, p.f1w, p.f1b, p.f2w, p.f2b, p.f3w, p.f3b];
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The batch size the model was compiled for (the first dimension of `x`). */
export function batchSizeOf(model: LeNetModule): number {
  return model.lossShapes.x[0]!;
}

/** A standard normal sample from two uniform ones (Box-Muller). */
function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * He (Kaiming) normal initialisation, as suits layers followed by relu: each weight is drawn
 * from N(0, 2 / fanIn), where fanIn is the number of inputs of one output unit (the product of
 * all dimensions but the first). The output layer, which no relu follows, gets N(0, 1 / fanIn)
 * (LeCun), which keeps the first logits small. Biases start at zero.
 */
export function initParams(model: LeNetModule, seed: number): Params {
  const rng = makeRng(seed);
  const params = {} as Params;
  for (const name of PARAM_NAMES) {
    const shape = model.lossShapes[name];
    const p = new Float64Array(size(shape));
    if (shape.length > 1) {
      const std = Math.sqrt((name === "f3w" ? 1 : 2) / size(shape.slice(1)));
      for (let i = 0; i < p.length; i++) p[i] = std * gaussian(rng);
    }
    params[name] = p;
  }
  return params;
}

export interface Evaluation {
  /** Mean cross-entropy over the set. */
  readonly loss: number;
  /** Fraction of the set classified correctly, in [0, 1]. */
  readonly accuracy: number;
  /** The predicted digit of each image. */
  readonly predictions: Uint8Array;
}

/**
 * Runs the generated forward function over `set` in batches (the last one padded with zero
 * images, whose scores are ignored) and scores the predictions. The cross-entropy is computed
 * here from the logits, stably, as crossEntropy in model.ts does.
 */
export function evaluate(model: LeNetModule, params: Params, set: DigitSet, onBatch?: (done: number) => void): Evaluation {
  const n = batchSizeOf(model);
  const x = new Float64Array(n * IMAGE_SIZE);
  const predictions = new Uint8Array(set.count);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < set.count; start += n) {
    const rows = Math.min(n, set.count - start);
    x.set(set.images.subarray(start * IMAGE_SIZE, (start + rows) * IMAGE_SIZE));
    if (rows < n) x.fill(0, rows * IMAGE_SIZE);
    const z = model.logits(x, ...args(params));
    for (let r = 0; r < rows; r++) {
      const row = z.subarray(r * CLASSES, (r + 1) * CLASSES);
      let best = 0;
      for (let k = 1; k < CLASSES; k++) if (row[k]! > row[best]!) best = k;
      let sum = 0;
      for (let k = 0; k < CLASSES; k++) sum += Math.exp(row[k]! - row[best]!);
      const label = set.labels[start + r]!;
      lossSum += row[best]! + Math.log(sum) - row[label]!;
      predictions[start + r] = best;
      if (best === label) correct++;
    }
    onBatch?.(start + rows);
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count, predictions };
}

export interface TrainConfig {
  /** Step size at the start of training. */
  readonly learningRate: number;
  /** Heavy-ball momentum (0 for plain SGD): v = momentum v + g, p -= lr v. */
  readonly momentum: number;
  /** L2 penalty added to the gradient of every weight (not the biases). */
  readonly weightDecay: number;
  /** Data augmentation: each training image is moved by up to this many pixels each way (0: never). */
  readonly shift: number;
}

/** The optimiser's state: one velocity buffer per parameter. */
export type Velocity = Params;

/** Zero buffers shaped like the parameters (for the velocity, and for the gradients). */
export function zeroVelocity(params: Params): Velocity {
  const v = {} as Velocity;
  for (const name of PARAM_NAMES) v[name] = new Float64Array(params[name].length);
  return v;
}

/**
 * The learning rate at `progress` (the fraction of all training steps done, in [0, 1]):
 * a cosine decay from the initial rate down to zero.
 */
export function learningRateAt(config: TrainConfig, progress: number): number {
  return 0.5 * config.learningRate * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}

export interface BatchReport {
  /** Batches done in this epoch, and how many the epoch has. */
  readonly batch: number;
  readonly batches: number;
  /** Mean cross-entropy of the batch just trained on, before its update. */
  readonly loss: number;
}

/**
 * Copies image `i` of `set` into `dst`, moved `dx` pixels right and `dy` down; the pixels
 * that come in from outside are background.
 */
function copyShifted(set: DigitSet, i: number, dst: Float64Array, offset: number, dx: number, dy: number): void {
  const side = 28;
  const src = i * IMAGE_SIZE;
  for (let r = 0; r < side; r++) {
    const sr = r - dy;
    const row = offset + r * side;
    if (sr < 0 || sr >= side) {
      dst.fill(BACKGROUND, row, row + side);
      continue;
    }
    for (let c = 0; c < side; c++) {
      const sc = c - dx;
      dst[row + c] = sc < 0 || sc >= side ? BACKGROUND : set.images[src + sr * side + sc]!;
    }
  }
}

/**
 * One epoch: shuffles the training set with `rng` and makes one SGD step per full batch
 * (the `count % batch` digits left over sit out this epoch; the next shuffle brings them
 * in), each image moved at random by up to `config.shift` pixels. `step0` and `totalSteps`
 * place the epoch in the learning-rate schedule. Returns the mean of the batch losses.
 */
export function trainEpoch(
  model: LeNetModule,
  params: Params,
  velocity: Velocity,
  set: DigitSet,
  config: TrainConfig,
  rng: () => number,
  schedule: { readonly step0: number; readonly totalSteps: number },
  onBatch?: (report: BatchReport) => void,
): number {
  const n = batchSizeOf(model);
  const batches = Math.floor(set.count / n);
  const order = shuffleInPlace(Array.from({ length: set.count }, (_, i) => i), rng);
  const x = new Float64Array(n * IMAGE_SIZE);
  const labels = new Float64Array(n);
  const grads = zeroVelocity(params);
  let lossSum = 0;
  for (let b = 0; b < batches; b++) {
    for (let r = 0; r < n; r++) {
      const i = order[b * n + r]!;
      if (config.shift > 0) {
        const dx = Math.floor(rng() * (2 * config.shift + 1)) - config.shift;
        const dy = Math.floor(rng() * (2 * config.shift + 1)) - config.shift;
        copyShifted(set, i, x, r * IMAGE_SIZE, dx, dy);
      } else {
        x.set(set.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), r * IMAGE_SIZE);
      }
      labels[r] = set.labels[i]!;
    }
    const value = model.lossGradInto(x, labels, ...args(params), grads);
    const lr = learningRateAt(config, (schedule.step0 + b) / schedule.totalSteps);
    for (const name of PARAM_NAMES) {
      const p = params[name];
      const g = grads[name];
      const v = velocity[name];
      const decay = name.endsWith("w") ? config.weightDecay : 0;
      for (let i = 0; i < p.length; i++) {
        v[i] = config.momentum * v[i]! + g[i]! + decay * p[i]!;
        p[i] = p[i]! - lr * v[i]!;
      }
    }
    lossSum += value;
    onBatch?.({ batch: b + 1, batches, loss: value });
  }
  return lossSum / batches;
}

/** The weights file: the parameters with their shapes, and how they were trained. */
export interface WeightsFile {
  readonly format: "adgen-mnist-lenet5/1";
  readonly shapes: Record<ParamName, number[]>;
  readonly params: Record<ParamName, number[]>;
  readonly meta: Record<string, unknown>;
}

/** The weights as JSON. JavaScript prints each number so that it parses back to the same double. */
export function weightsToJson(model: LeNetModule, params: Params, meta: Record<string, unknown>): string {
  const file: WeightsFile = {
    format: "adgen-mnist-lenet5/1",
    shapes: Object.fromEntries(PARAM_NAMES.map((k) => [k, [...model.lossShapes[k]]])) as WeightsFile["shapes"],
    params: Object.fromEntries(PARAM_NAMES.map((k) => [k, Array.from(params[k])])) as WeightsFile["params"],
    meta,
  };
  // One parameter per line keeps the file diffable and quick to skim.
  const body = PARAM_NAMES.map((k) => `    ${JSON.stringify(k)}: ${JSON.stringify(file.params[k])}`).join(",\n");
  return (
    "{\n" +
    `  "format": ${JSON.stringify(file.format)},\n` +
    `  "meta": ${JSON.stringify(meta)},\n` +
    `  "shapes": ${JSON.stringify(file.shapes)},\n` +
    `  "params": {\n${body}\n  }\n}\n`
  );
}

/** Reads a weights file back, checking every shape against the model's. */
export function loadWeights(model: LeNetModule, path: string): { params: Params; meta: Record<string, unknown> } {
  const file = JSON.parse(readFileSync(path, "utf8")) as WeightsFile;
  if (file.format !== "adgen-mnist-lenet5/1") throw new Error(`${path}: not an adgen-mnist-lenet5/1 weights file`);
  const params = {} as Params;
  for (const name of PARAM_NAMES) {
    const want = model.lossShapes[name];
    const shape = file.shapes?.[name];
    const data = file.params?.[name];
    if (!shape || shape.join() !== want.join() || !Array.isArray(data) || data.length !== size(want)) {
      throw new Error(`${path}: ${name} should have shape [${want.join(", ")}]`);
    }
    params[name] = Float64Array.from(data);
  }
  return { params, meta: file.meta ?? {} };
}
