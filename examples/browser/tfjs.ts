// The comparison page (tfjs.html): LeNet-5 written with TensorFlow.js's layers, trained with
// trainOnBatch at batch 16 with SGD with momentum on the demo's digits, on the cpu backend,
// in the same browser. It reports digits per second of training time as window.tfjsResult.

import * as tf from "@tensorflow/tfjs";

const BATCH = 16;
const IMAGE = 28 * 28;

async function run(): Promise<{ backend: string; steps: number; digitsPerSecond: number; firstLoss: number; lastLoss: number }> {
  const steps = Number(new URLSearchParams(location.search).get("steps") ?? 12);
  await tf.setBackend("cpu");
  await tf.ready();
  const bytes = new Uint8Array(await (await fetch("/digits.bin")).arrayBuffer());
  const view = new DataView(bytes.buffer);
  const count = view.getUint32(0, true) + view.getUint32(4, true);
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: "same", activation: "relu" }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: "relu" }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 120, activation: "relu" }),
      tf.layers.dense({ units: 84, activation: "relu" }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  model.compile({ optimizer: tf.train.momentum(0.03, 0.9), loss: (y: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, logits) });
  const x = new Float32Array(BATCH * IMAGE);
  const labels = new Int32Array(BATCH);
  let ms = 0;
  let firstLoss = NaN;
  let lastLoss = NaN;
  for (let s = 0; s < steps; s++) {
    for (let r = 0; r < BATCH; r++) {
      const id = (s * BATCH + r) % count;
      labels[r] = bytes[8 + id]!;
      for (let p = 0; p < IMAGE; p++) x[r * IMAGE + p] = (bytes[8 + count + id * IMAGE + p]! / 255 - 0.1307) / 0.3081;
    }
    const xs = tf.tensor4d(x, [BATCH, 28, 28, 1]);
    const ys = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
    const t0 = performance.now();
    const loss = (await model.trainOnBatch(xs, ys)) as number;
    // the first step builds the graph and warms up: it is not counted
    if (s > 0) ms += performance.now() - t0;
    tf.dispose([xs, ys]);
    if (s === 0) firstLoss = loss;
    lastLoss = loss;
    document.getElementById("status")!.textContent = `step ${s + 1}/${steps}, loss ${loss.toFixed(3)}`;
  }
  return { backend: tf.getBackend(), steps, digitsPerSecond: ((steps - 1) * BATCH * 1000) / ms, firstLoss, lastLoss };
}

run().then(
  (r) => {
    (window as unknown as { tfjsResult: typeof r }).tfjsResult = r;
    document.getElementById("status")!.textContent = `${r.backend} backend: ${r.digitsPerSecond.toFixed(1)} digits/s over ${r.steps - 1} steps (loss ${r.firstLoss.toFixed(3)} -> ${r.lastLoss.toFixed(3)})`;
  },
  (e: unknown) => {
    console.error(e);
    document.getElementById("status")!.textContent = `error: ${String(e)}`;
  },
);
