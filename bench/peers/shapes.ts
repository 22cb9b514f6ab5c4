// Parameter shapes and small helpers shared by the benchmark peers
// (hand-written TypeScript and TensorFlow.js). Layouts follow SPEC.md §4:
// row-major, conv weight [O, C, KH, KW], linear weight [out, in] (y = W x + b).

/** LeNet-5 parameters, as in test/reference/lenet5_digit7.json. */
export const LENET_SHAPES = {
  c1w: [6, 1, 5, 5],
  c1b: [6],
  c2w: [16, 6, 5, 5],
  c2b: [16],
  f1w: [120, 400],
  f1b: [120],
  f2w: [84, 120],
  f2b: [84],
  f3w: [10, 84],
  f3b: [10],
} as const;

/** One-hidden-layer MLP: 784 -> 128 (sigmoid) -> 10. */
export const MLP_SHAPES = {
  w1: [128, 784],
  b1: [128],
  w2: [10, 128],
  b2: [10],
} as const;

export type LeNetParamName = keyof typeof LENET_SHAPES;
export type MlpParamName = keyof typeof MLP_SHAPES;

/** LeNet parameters (or gradients), flat row-major Float64Arrays. */
export type LeNetParams = { [K in LeNetParamName]: Float64Array };
/** Gradient buffers of LeNet; `x`, when present ([N,1,28,28]), also receives the input gradient. */
export type LeNetGrads = LeNetParams & { x?: Float64Array };
/** MLP parameters (or gradients), flat row-major Float64Arrays. */
export type MlpParams = { [K in MlpParamName]: Float64Array };

/** Class labels, one per sample (integer values). */
export type Labels = Int32Array | Float64Array;

/** The common shape of every peer: loss only, or loss plus all parameter gradients. */
export interface PeerModel<P, G = P> {
  readonly batch: number;
  /** Mean softmax cross-entropy over the batch. */
  forward(params: P, x: Float64Array, labels: Labels): number;
  /** Loss, and every parameter gradient written into the caller's buffers. */
  step(params: P, x: Float64Array, labels: Labels, grads: G): number;
}

export const LENET_INPUT = [1, 28, 28] as const;
export const MLP_INPUT = [784] as const;
export const NUM_CLASSES = 10;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Zero-filled Float64Array buffers for every entry of a shape table. */
export function allocBuffers<S extends Record<string, readonly number[]>>(
  shapes: S,
): { [K in keyof S]: Float64Array } {
  const out = {} as { [K in keyof S]: Float64Array };
  for (const k of Object.keys(shapes) as (keyof S)[]) out[k] = new Float64Array(sizeOf(shapes[k]));
  return out;
}

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Deterministic parameter initialisation: weights uniform in ±1/sqrt(fan_in)
 * (PyTorch's default bound), biases likewise.
 */
export function initParams<S extends Record<string, readonly number[]>>(
  shapes: S,
  seed = 1,
): { [K in keyof S]: Float64Array } {
  const rnd = mulberry32(seed);
  const out = allocBuffers(shapes);
  const keys = Object.keys(shapes) as (keyof S & string)[];
  let fanIn = 1;
  for (const k of keys) {
    const shape = shapes[k];
    if (shape.length > 1) fanIn = sizeOf(shape.slice(1));
    const bound = 1 / Math.sqrt(fanIn);
    const buf = out[k];
    for (let i = 0; i < buf.length; i++) buf[i] = (2 * rnd() - 1) * bound;
  }
  return out;
}

/** Random input batch in [0, 1) and random labels in [0, 10). */
export function randomBatch(
  batch: number,
  sampleSize: number,
  seed = 2,
): { x: Float64Array; labels: Int32Array } {
  const rnd = mulberry32(seed);
  const x = new Float64Array(batch * sampleSize);
  for (let i = 0; i < x.length; i++) x[i] = rnd();
  const labels = new Int32Array(batch);
  for (let n = 0; n < batch; n++) labels[n] = Math.floor(rnd() * NUM_CLASSES);
  return { x, labels };
}
