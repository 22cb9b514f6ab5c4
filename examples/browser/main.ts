// The demo page: starts the training worker, draws the loss and the accuracy as they come
// in, and turns a digit drawn on the pad into a 28x28 image (as MNIST's digits are made: the
// ink scaled into a 20x20 box, centred by its centre of mass) that the worker classifies.
// Everything heavy happens in the worker, so the page stays responsive while it trains.

import type { FromWorker, ToWorker } from "./protocol.js";

/** What the page has seen, for people and for the browser test (window.adgenDemo). */
interface DemoState {
  ready: boolean;
  /** Whether the worker is training (false again once it has stopped after a pause). */
  training: boolean;
  step: number;
  /** Mean loss of each slice of steps, with the step it ended at. */
  readonly losses: { step: number; loss: number }[];
  readonly accuracies: { step: number; accuracy: number }[];
  digitsPerSecond: number;
  prediction: { digit: number; probabilities: readonly number[]; step: number } | undefined;
  readonly errors: string[];
}
const state: DemoState = { ready: false, training: false, step: 0, losses: [], accuracies: [], digitsPerSecond: 0, prediction: undefined, errors: [] };
(window as unknown as { adgenDemo: DemoState }).adgenDemo = state;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const trainButton = $<HTMLButtonElement>("train");
const status = $<HTMLSpanElement>("status");
const chart = $<HTMLCanvasElement>("chart");
const pad = $<HTMLCanvasElement>("pad");
const bars = $<HTMLDivElement>("bars");
const predictionText = $<HTMLDivElement>("prediction");

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "ready":
      state.ready = true;
      state.accuracies.push({ step: 0, accuracy: m.accuracy });
      trainButton.disabled = false;
      status.textContent = `${m.train.toLocaleString("en")} training digits, ${m.test.toLocaleString("en")} held out; batch ${m.batch}`;
      drawChart();
      break;
    case "progress":
      state.step = m.step;
      state.losses.push({ step: m.step, loss: m.loss });
      if (m.accuracy !== undefined) state.accuracies.push({ step: m.step, accuracy: m.accuracy });
      state.digitsPerSecond = m.digitsPerSecond;
      status.textContent = `step ${m.step} · epoch ${m.epoch + 1} · loss ${m.loss.toFixed(3)} · ` +
        `accuracy ${(100 * state.accuracies[state.accuracies.length - 1]!.accuracy).toFixed(1)}% · ${Math.round(m.digitsPerSecond).toLocaleString("en")} digits/s`;
      drawChart();
      break;
    case "paused":
      state.training = false;
      state.step = m.step;
      trainButton.disabled = false;
      break;
    case "prediction":
      showPrediction(m.probabilities, m.step);
      break;
    case "error":
      state.errors.push(m.message);
      status.textContent = `error: ${m.message}`;
      console.error(m.message);
      break;
  }
};
worker.onerror = (e) => {
  state.errors.push(e.message);
  console.error(e.message);
};

let wantTraining = false;
trainButton.onclick = () => {
  wantTraining = !wantTraining;
  send({ type: wantTraining ? "train" : "pause" });
  if (wantTraining) state.training = true;
  // until the worker has stopped, the button waits
  else trainButton.disabled = true;
  trainButton.textContent = wantTraining ? "Pause" : "Train";
};

// --- the chart: loss (smoothed) on the left axis, held-out accuracy on the right ---

function drawChart(): void {
  const g = chart.getContext("2d")!;
  const { width, height } = chart;
  const left = 50, right = 50, top = 14, bottom = 28;
  const w = width - left - right, h = height - top - bottom;
  g.clearRect(0, 0, width, height);
  g.font = "12px system-ui, sans-serif";
  const lastStep = Math.max(100, state.step);
  const maxLoss = Math.ceil(Math.max(2.5, ...state.losses.slice(0, 5).map((l) => l.loss)));
  const px = (step: number) => left + (step / lastStep) * w;
  const pyLoss = (loss: number) => top + h - (Math.min(loss, maxLoss) / maxLoss) * h;
  const pyAcc = (acc: number) => top + h - acc * h;
  // axes and grid
  g.strokeStyle = "#d9dde6";
  g.fillStyle = "#4a5366";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (h * i) / 4;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(left + w, y);
    g.stroke();
    g.textAlign = "right";
    g.fillText(((maxLoss * (4 - i)) / 4).toFixed(2), left - 6, y + 4);
    g.textAlign = "left";
    g.fillText(`${(100 * (4 - i)) / 4}%`, left + w + 6, y + 4);
  }
  g.textAlign = "center";
  g.fillText(`step (${lastStep})`, left + w / 2, height - 6);
  g.fillStyle = "#c0392b";
  g.textAlign = "left";
  g.fillText("training loss", left + 6, top + 12);
  g.fillStyle = "#2f6fdf";
  g.fillText("held-out accuracy", left + 106, top + 12);
  // the loss, as an exponential moving average of the slices' means
  g.strokeStyle = "#c0392b";
  g.lineWidth = 2;
  g.beginPath();
  let ema: number | undefined;
  for (const { step, loss } of state.losses) {
    ema = ema === undefined ? loss : 0.9 * ema + 0.1 * loss;
    if (step === state.losses[0]!.step) g.moveTo(px(step), pyLoss(ema));
    else g.lineTo(px(step), pyLoss(ema));
  }
  g.stroke();
  // the accuracy
  g.strokeStyle = "#2f6fdf";
  g.fillStyle = "#2f6fdf";
  g.beginPath();
  state.accuracies.forEach(({ step, accuracy }, i) => (i === 0 ? g.moveTo(px(step), pyAcc(accuracy)) : g.lineTo(px(step), pyAcc(accuracy))));
  g.stroke();
  for (const { step, accuracy } of state.accuracies) {
    g.beginPath();
    g.arc(px(step), pyAcc(accuracy), 3, 0, 2 * Math.PI);
    g.fill();
  }
}

// --- the drawing pad ---

const ink = pad.getContext("2d", { willReadFrequently: true })!;
function clearPad(): void {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
}
clearPad();
ink.strokeStyle = "#fff";
ink.lineWidth = 22;
ink.lineCap = "round";
ink.lineJoin = "round";

let drawing = false;
const at = (e: PointerEvent): [number, number] => {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
};
pad.onpointerdown = (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  const [x, y] = at(e);
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x + 0.01, y);
  ink.stroke();
};
pad.onpointermove = (e) => {
  if (!drawing) return;
  const [x, y] = at(e);
  ink.lineTo(x, y);
  ink.stroke();
};
pad.onpointerup = () => {
  drawing = false;
  predictDrawing();
};
$<HTMLButtonElement>("clear").onclick = () => {
  clearPad();
  state.prediction = undefined;
  predictionText.textContent = "Prediction: –";
  bars.replaceChildren();
};

/** The drawing as MNIST would have it: 28x28, the ink in a 20x20 box centred by mass. */
function digitImage(): Float32Array | undefined {
  const { width, height } = pad;
  const data = ink.getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[(y * width + x) * 4]! / 255;
      if (v < 0.05) continue;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      mass += v; mx += v * x; my += v * y;
    }
  }
  if (x1 < 0) return undefined;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  const g = small.getContext("2d", { willReadFrequently: true })!;
  g.fillStyle = "#000";
  g.fillRect(0, 0, 28, 28);
  g.imageSmoothingQuality = "high";
  const dx = 14 - (mx / mass - x0) * scale;
  const dy = 14 - (my / mass - y0) * scale;
  g.drawImage(pad, x0, y0, bw, bh, dx, dy, bw * scale, bh * scale);
  const px = g.getImageData(0, 0, 28, 28).data;
  return Float32Array.from({ length: 784 }, (_, i) => px[i * 4]! / 255);
}

function predictDrawing(): void {
  const pixels = digitImage();
  if (pixels) send({ type: "predict", pixels }, [pixels.buffer]);
}

function showPrediction(probabilities: readonly number[], step: number): void {
  const digit = probabilities.indexOf(Math.max(...probabilities));
  state.prediction = { digit, probabilities, step };
  predictionText.textContent = `Prediction: ${digit} (${(100 * probabilities[digit]!).toFixed(1)}%, after ${step} steps)`;
  bars.replaceChildren(...probabilities.flatMap((p, d) => {
    const label = document.createElement("div");
    label.textContent = String(d);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("div");
    value.textContent = `${(100 * p).toFixed(1)}%`;
    if (d === digit) label.className = value.className = "best";
    return [label, bar, value];
  }));
}
