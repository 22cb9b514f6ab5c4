// TensorFlow.js peers of the LeNet-5 and MLP training steps (cpu backend,
// float32, the only dtype tfjs-cpu computes in).
//
// The parameters live as tf.Variables in tfjs's own layouts, as a tfjs user's
// model would hold them:
//   conv weight  [KH, KW, C, O]   (ours: [O, C, KH, KW])
//   dense kernel [in, out]        (ours: [out, in], y = W x + b)
//   images       NHWC             (ours: NCHW)
// and LeNet's flatten runs over NHWC, so f1's kernel rows are ordered
// (h, w, c) where ours are (c, h, w). Converting between the layouts happens
// in setParams / prepareBatch / gradsInOurLayout, outside `stepTimed`, which
// is the pure tfjs work of one training step: forward, loss, all gradients
// (tf.variableGrads inside tf.tidy), and reading the loss back.

import * as tf from "@tensorflow/tfjs";
import {
  type Labels,
  type LeNetParams,
  type MlpParams,
  type PeerModel,
  LENET_SHAPES,
  MLP_SHAPES,
  NUM_CLASSES,
  sizeOf,
} from "./shapes.js";

export type { Labels, LeNetParams, MlpParams, PeerModel } from "./shapes.js";

/**
 * Select tfjs's cpu backend (call once, before creating a model). Production
 * mode only silences tfjs's console warnings (the "install tfjs-node" banner).
 */
export async function initTfjs(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend("cpu");
  await tf.ready();
}

/** One batch already on the tfjs side: images in tfjs layout and one-hot labels. */
export interface TfjsBatch {
  readonly x: tf.Tensor;
  readonly labels: tf.Tensor2D;
  dispose(): void;
}

export interface TfjsPeer<P> extends PeerModel<P> {
  /** The model's variables, in tfjs layout. */
  readonly variables: { readonly [K in keyof P]: tf.Variable };
  /** Copy parameters given in our layout into the variables (tfjs layout, float32). */
  setParams(params: P): void;
  /** Convert a batch from our layout (Float64, NCHW / [N, in]) to tfjs tensors; the caller disposes it. */
  prepareBatch(x: Float64Array, labels: Labels): TfjsBatch;
  /** prepareBatch, kept as the model's current batch (the previous one is disposed). */
  setBatch(x: Float64Array, labels: Labels): void;
  /**
   * One training step in pure tfjs on `batch` (default: the current batch):
   * loss and the gradient of every variable, computed by tf.variableGrads
   * inside tf.tidy and kept (tfjs layout) until the next step or dispose.
   * Returns the loss (read back with dataSync).
   */
  stepTimed(batch?: TfjsBatch): number;
  /**
   * The gradients of the last stepTimed in our layouts (float64), written
   * into `grads` when given, else into new buffers; returns them.
   */
  gradsInOurLayout(grads?: P): P;
  /** Free the variables and the kept gradients. */
  dispose(): void;
}

// ---------------------------------------------------------------------------
// Layout conversions (plain loops; never inside the timed step).
// ---------------------------------------------------------------------------

type Shape = readonly number[];

/** How one of our parameters maps onto its tfjs variable. */
interface ParamLayout {
  /** Shape of the tfjs variable. */
  readonly tfShape: number[];
  /** perm[t] = index in our flat layout of the tfjs flat element t. */
  readonly perm: Int32Array;
}

/** Conv weight [O, C, KH, KW] -> [KH, KW, C, O]. */
function convLayout(shape: Shape): ParamLayout {
  const [O, C, KH, KW] = shape as [number, number, number, number];
  const perm = new Int32Array(O * C * KH * KW);
  let t = 0;
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let c = 0; c < C; c++)
        for (let o = 0; o < O; o++) perm[t++] = ((o * C + c) * KH + kh) * KW + kw;
  return { tfShape: [KH, KW, C, O], perm };
}

/**
 * Linear weight [out, in] -> dense kernel [in', out], where tfjs's input
 * index in' reads our input inPerm[in'] (identity when inPerm is null).
 */
function denseLayout(shape: Shape, inPerm: Int32Array | null): ParamLayout {
  const [OUT, IN] = shape as [number, number];
  const perm = new Int32Array(OUT * IN);
  let t = 0;
  for (let i = 0; i < IN; i++) {
    const src = inPerm === null ? i : inPerm[i];
    for (let o = 0; o < OUT; o++) perm[t++] = o * IN + src;
  }
  return { tfShape: [IN, OUT], perm };
}

function identityLayout(shape: Shape): ParamLayout {
  const n = sizeOf(shape);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  return { tfShape: [...shape], perm };
}

/** NHWC flatten order of a [C, H, W] map: perm[(h*W + w)*C + c] = (c*H + h)*W + w. */
function chwToHwcPerm(C: number, H: number, W: number): Int32Array {
  const perm = new Int32Array(C * H * W);
  let t = 0;
  for (let h = 0; h < H; h++)
    for (let w = 0; w < W; w++)
      for (let c = 0; c < C; c++) perm[t++] = (c * H + h) * W + w;
  return perm;
}

function toTfData(ours: Float64Array, perm: Int32Array): Float32Array {
  if (ours.length !== perm.length) throw new RangeError(`expected ${perm.length} elements, got ${ours.length}`);
  const out = new Float32Array(perm.length);
  for (let t = 0; t < perm.length; t++) out[t] = ours[perm[t]];
  return out;
}

function fromTfData(tfData: ArrayLike<number>, perm: Int32Array, ours: Float64Array): void {
  if (ours.length !== perm.length) throw new RangeError(`expected ${perm.length} elements, got ${ours.length}`);
  for (let t = 0; t < perm.length; t++) ours[perm[t]] = tfData[t];
}

function oneHot(labels: Labels, batch: number): tf.Tensor2D {
  if (labels.length !== batch) throw new RangeError(`labels: expected ${batch} elements, got ${labels.length}`);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(labels), "int32"), NUM_CLASSES), "float32") as tf.Tensor2D);
}

// ---------------------------------------------------------------------------
// The generic peer: variables + a loss function over them.
// ---------------------------------------------------------------------------

function createPeer<P extends Record<string, Float64Array>>(
  batch: number,
  layouts: { [K in keyof P]: ParamLayout },
  inputPerm: Int32Array,
  inputShape: number[],
  loss: (v: { [K in keyof P]: tf.Variable }, x: tf.Tensor, y: tf.Tensor2D) => tf.Scalar,
): TfjsPeer<P> {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  const names = Object.keys(layouts) as (keyof P & string)[];
  const variables = {} as { [K in keyof P]: tf.Variable };
  for (const k of names) variables[k] = tf.variable(tf.zeros(layouts[k].tfShape), true, `${k}_${nextId++}`);
  const varList = names.map((k) => variables[k]);
  const inSize = inputPerm.length;
  let lastGrads: { [name: string]: tf.Tensor } | null = null;
  let current: TfjsBatch | null = null;

  function disposeGrads(): void {
    if (lastGrads !== null) tf.dispose(lastGrads);
    lastGrads = null;
  }

  const peer: TfjsPeer<P> = {
    batch,
    variables,
    setParams(params) {
      for (const k of names) {
        const { tfShape, perm } = layouts[k];
        tf.tidy(() => variables[k].assign(tf.tensor(toTfData(params[k], perm), tfShape, "float32")));
      }
    },
    prepareBatch(x, labels) {
      if (x.length !== batch * inSize) throw new RangeError(`x: expected ${batch * inSize} elements, got ${x.length}`);
      const data = new Float32Array(batch * inSize);
      for (let n = 0; n < batch; n++) {
        const o = n * inSize;
        for (let t = 0; t < inSize; t++) data[o + t] = x[o + inputPerm[t]];
      }
      const xt = tf.tensor(data, [batch, ...inputShape], "float32");
      const yt = oneHot(labels, batch);
      return {
        x: xt,
        labels: yt,
        dispose() {
          xt.dispose();
          yt.dispose();
        },
      };
    },
    setBatch(x, labels) {
      const b = peer.prepareBatch(x, labels);
      if (current !== null) current.dispose();
      current = b;
    },
    stepTimed(batchArg) {
      const b = batchArg ?? current;
      if (b === null) throw new Error("stepTimed: no batch (pass one, or call setBatch first)");
      disposeGrads();
      const out = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => loss(variables, b.x, b.labels), varList);
        return { value, grads };
      });
      lastGrads = out.grads;
      const l = out.value.dataSync()[0];
      out.value.dispose();
      return l;
    },
    gradsInOurLayout(grads) {
      if (lastGrads === null) throw new Error("gradsInOurLayout: no step has run");
      const out = grads ?? ({} as P);
      for (const k of names) {
        const g = lastGrads[variables[k].name];
        if (g === undefined) throw new Error(`no gradient for ${k}`);
        if (grads === undefined) (out as Record<string, Float64Array>)[k] = new Float64Array(layouts[k].perm.length);
        fromTfData(g.dataSync(), layouts[k].perm, out[k]);
      }
      return out;
    },
    forward(params, x, labels) {
      peer.setParams(params);
      const b = peer.prepareBatch(x, labels);
      const v = tf.tidy(() => loss(variables, b.x, b.labels));
      const l = v.dataSync()[0];
      v.dispose();
      b.dispose();
      return l;
    },
    step(params, x, labels, grads) {
      peer.setParams(params);
      const b = peer.prepareBatch(x, labels);
      const l = peer.stepTimed(b);
      b.dispose();
      peer.gradsInOurLayout(grads);
      return l;
    },
    dispose() {
      disposeGrads();
      if (current !== null) current.dispose();
      current = null;
      for (const v of varList) v.dispose();
    },
  };
  return peer;
}

/** Variable names must be unique per tfjs engine. */
let nextId = 0;

// ---------------------------------------------------------------------------
// LeNet-5
// ---------------------------------------------------------------------------

/**
 * LeNet-5 in tfjs: NHWC conv2d ('same' = padding 2 for the 5x5 first layer),
 * relu, maxPool 2x2/2, conv2d 'valid', relu, maxPool, flatten, three dense
 * layers (relu, relu, none), tf.losses.softmaxCrossEntropy (mean over the batch).
 */
export function createLeNetTfjs(batch: number): TfjsPeer<LeNetParams> {
  const S = LENET_SHAPES;
  const layouts: { [K in keyof LeNetParams]: ParamLayout } = {
    c1w: convLayout(S.c1w),
    c1b: identityLayout(S.c1b),
    c2w: convLayout(S.c2w),
    c2b: identityLayout(S.c2b),
    f1w: denseLayout(S.f1w, chwToHwcPerm(16, 5, 5)),
    f1b: identityLayout(S.f1b),
    f2w: denseLayout(S.f2w, null),
    f2b: identityLayout(S.f2b),
    f3w: denseLayout(S.f3w, null),
    f3b: identityLayout(S.f3b),
  };
  return createPeer<LeNetParams>(batch, layouts, chwToHwcPerm(1, 28, 28), [28, 28, 1], (v, x, y) => {
    let h: tf.Tensor4D = x as tf.Tensor4D;
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, v.c1w as tf.Tensor4D, 1, "same"), v.c1b)), 2, 2, "valid");
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, v.c2w as tf.Tensor4D, 1, "valid"), v.c2b)), 2, 2, "valid");
    let f: tf.Tensor2D = tf.reshape(h, [batch, 400]);
    f = tf.relu(tf.add(tf.matMul(f, v.f1w as tf.Tensor2D), v.f1b));
    f = tf.relu(tf.add(tf.matMul(f, v.f2w as tf.Tensor2D), v.f2b));
    const logits = tf.add(tf.matMul(f, v.f3w as tf.Tensor2D), v.f3b);
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  });
}

// ---------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------

/** MLP in tfjs: dense 128 + sigmoid, dense 10, tf.losses.softmaxCrossEntropy. */
export function createMlpTfjs(batch: number): TfjsPeer<MlpParams> {
  const S = MLP_SHAPES;
  const layouts: { [K in keyof MlpParams]: ParamLayout } = {
    w1: denseLayout(S.w1, null),
    b1: identityLayout(S.b1),
    w2: denseLayout(S.w2, null),
    b2: identityLayout(S.b2),
  };
  const inPerm = identityLayout([784]).perm;
  return createPeer<MlpParams>(batch, layouts, inPerm, [784], (v, x, y) => {
    const h = tf.sigmoid(tf.add(tf.matMul(x as tf.Tensor2D, v.w1 as tf.Tensor2D), v.b1));
    const logits = tf.add(tf.matMul(h, v.w2 as tf.Tensor2D), v.b2);
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  });
}
