// The demo's Web Worker: trains LeNet-5 with the allocation-free step adgen generated from
// model.ts (`lossGradInto`, SGD with momentum) and answers predictions with `predict`. It
// trains in short slices and yields between them, so the page's messages (pause, predict)
// are answered while it trains; the page itself never computes anything heavy.

import * as generated from "./model.ts?grad";
import type { FromWorker, ToWorker } from "./protocol.js";

const PARAM_NAMES = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b"] as const;
type ParamName = (typeof PARAM_NAMES)[number];
type Params = Record<ParamName, Float64Array>;
type ParamArgs = [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];

/** What the worker uses of the generated module (the `?grad` import is untyped). */
interface LeNet {
  readonly lossShapes: { readonly [K in "x" | "labels" | ParamName]: readonly number[] };
  lossGradInto(x: Float64Array, labels: Float64Array, ...paramsThenGrads: [...ParamArgs, grads: Params]): number;
  predict(x: Float64Array, ...params: ParamArgs): Float64Array;
}
const model = generated as unknown as LeNet;

const IMAGE = 28 * 28;
const PIXEL_MEAN = 0.1307;
const PIXEL_STD = 0.3081;
const LEARNING_RATE = 0.03;
const MOMENTUM = 0.9;
/** Steps per slice of training between two looks at the page's messages. */
const SLICE_STEPS = 5;
/** Accuracy is measured every this many steps on the first EVAL_DIGITS held-out digits. */
const EVAL_EVERY = 50;
const EVAL_DIGITS = 500;

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker): void => scope.postMessage(m);

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const batch = model.lossShapes.x[0]!;

/** mulberry32: the same small seeded generator as examples/mnist/data.ts. */
function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = makeRng(1);

/** He normal initialisation (LeCun for the output layer), biases zero, as examples/mnist/lenet.ts. */
function initParams(): Params {
  const params = {} as Params;
  for (const name of PARAM_NAMES) {
    const shape = model.lossShapes[name];
    const p = new Float64Array(size(shape));
    if (shape.length > 1) {
      const std = Math.sqrt((name === "f3w" ? 1 : 2) / size(shape.slice(1)));
      for (let i = 0; i < p.length; i++) p[i] = std * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    }
    params[name] = p;
  }
  return params;
}
const zerosLike = (p: Params): Params =>
  Object.fromEntries(PARAM_NAMES.map((n) => [n, new Float64Array(p[n].length)])) as Params;
const args = (p: Params): ParamArgs => PARAM_NAMES.map((n) => p[n]) as ParamArgs;

interface Digits {
  readonly train: number;
  readonly test: number;
  readonly labels: Uint8Array;
  /** Standardised pixels, digit after digit (train, then test). */
  readonly pixels: Float64Array;
}

async function loadDigits(): Promise<Digits> {
  const bytes = new Uint8Array(await (await fetch("/digits.bin")).arrayBuffer());
  const view = new DataView(bytes.buffer);
  const train = view.getUint32(0, true);
  const test = view.getUint32(4, true);
  const count = train + test;
  const labels = bytes.slice(8, 8 + count);
  const pixels = new Float64Array(count * IMAGE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (bytes[8 + count + i]! / 255 - PIXEL_MEAN) / PIXEL_STD;
  return { train, test, labels, pixels };
}

// training state: parameters, momentum, gradient buffers and one batch, all allocated once
const params = initParams();
const velocity = zerosLike(params);
const grads = zerosLike(params);
const x = new Float64Array(batch * IMAGE);
const labels = new Float64Array(batch);
const one = new Float64Array(IMAGE);
let digits: Digits | undefined;
let order: Uint32Array = new Uint32Array(0);
let cursor = 0;
let step = 0;
let epoch = 0;
let running = false;
/** The training loop while it runs (a pause stops it at the end of its slice). */
let loop: Promise<void> | undefined;
/** Time spent in training steps and digits trained, for the throughput figure. */
let trainMs = 0;
let trained = 0;

function shuffle(): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
}

/** One SGD step on the next batch: the generated gradient, then momentum. Returns the loss. */
function trainStep(d: Digits): number {
  for (let r = 0; r < batch; r++) {
    if (cursor === order.length) {
      cursor = 0;
      epoch++;
      shuffle();
    }
    const id = order[cursor++]!;
    x.set(d.pixels.subarray(id * IMAGE, (id + 1) * IMAGE), r * IMAGE);
    labels[r] = d.labels[id]!;
  }
  const value = model.lossGradInto(x, labels, ...args(params), grads);
  for (const name of PARAM_NAMES) {
    const p = params[name];
    const g = grads[name];
    const v = velocity[name];
    for (let i = 0; i < p.length; i++) {
      v[i] = MOMENTUM * v[i]! + g[i]!;
      p[i]! -= LEARNING_RATE * v[i]!;
    }
  }
  step++;
  return value;
}

/** The class probabilities of one standardised digit (softmax of predict's scores). */
function probabilities(image: Float64Array): number[] {
  const z = model.predict(image, ...args(params));
  let best = -Infinity;
  for (const v of z) best = Math.max(best, v);
  const e = Array.from(z, (v) => Math.exp(v - best));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function accuracy(d: Digits): number {
  let correct = 0;
  const n = Math.min(EVAL_DIGITS, d.test);
  for (let i = 0; i < n; i++) {
    const id = d.train + i;
    const p = probabilities(d.pixels.subarray(id * IMAGE, (id + 1) * IMAGE));
    if (p.indexOf(Math.max(...p)) === d.labels[id]) correct++;
  }
  return correct / n;
}

/** Lets the worker's message queue run (a MessageChannel round trip is quicker than setTimeout). */
const yieldToMessages = (): Promise<void> =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });

async function trainLoop(d: Digits): Promise<void> {
  while (running) {
    const t0 = performance.now();
    let sum = 0;
    for (let k = 0; k < SLICE_STEPS; k++) sum += trainStep(d);
    trainMs += performance.now() - t0;
    trained += SLICE_STEPS * batch;
    const evaluated = step % EVAL_EVERY === 0 ? accuracy(d) : undefined;
    post({ type: "progress", step, epoch, loss: sum / SLICE_STEPS, accuracy: evaluated, digitsPerSecond: (trained / trainMs) * 1000 });
    await yieldToMessages();
  }
  post({ type: "paused", step });
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "train" && digits) {
    running = true;
    // a loop still finishing its slice after a pause just goes on
    loop ??= trainLoop(digits)
      .catch((err: unknown) => post({ type: "error", message: String(err) }))
      .finally(() => (loop = undefined));
  } else if (m.type === "pause") {
    running = false;
  } else if (m.type === "predict") {
    for (let i = 0; i < IMAGE; i++) one[i] = (m.pixels[i]! - PIXEL_MEAN) / PIXEL_STD;
    post({ type: "prediction", probabilities: probabilities(one), step });
  }
};

loadDigits().then(
  (d) => {
    digits = d;
    order = Uint32Array.from({ length: d.train }, (_, i) => i);
    shuffle();
    post({ type: "ready", train: d.train, test: d.test, batch, accuracy: accuracy(d) });
  },
  (err: unknown) => post({ type: "error", message: `cannot load the digits: ${String(err)}` }),
);
