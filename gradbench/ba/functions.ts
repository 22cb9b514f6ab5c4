// The ba eval's functions. Its input describes one camera, one point, one weight and one
// feature, repeated: n cameras, m points and p observations, observation i seeing point
// i mod m with camera i mod n (GradBench's C++ reference builds the same arrays). Every
// observation is computed, and the output is GradBench's compressed form: the first
// observation's errors (and Jacobian block) and the count of repeats.
import { vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { reprojErrorVjpInto, reprojErrorsInto, weightError, weightErrorGrad } from "./model.grad.js";

interface Input {
  readonly n: number;
  readonly m: number;
  readonly p: number;
  readonly cam: readonly number[];
  readonly x: readonly number[];
  readonly w: number;
  readonly feat: readonly number[];
}

const CAM = 11;
/** Columns of one reprojection row of the Jacobian: 11 camera parameters, 3 point coordinates, 1 weight. */
const BLOCK = CAM + 3 + 1;

interface Problem {
  readonly cams: Float64Array;
  readonly X: Float64Array;
  readonly w: Float64Array;
  readonly obs: Float64Array;
  readonly feats: Float64Array;
}

function expand({ n, m, p, cam, x, w, feat }: Input): Problem {
  const cams = new Float64Array(CAM * n);
  for (let i = 0; i < n; i++) cams.set(cam, CAM * i);
  const X = new Float64Array(3 * m);
  for (let i = 0; i < m; i++) X.set(x, 3 * i);
  const obs = new Float64Array(2 * p);
  const feats = new Float64Array(2 * p);
  for (let i = 0; i < p; i++) {
    obs[2 * i] = i % n;
    obs[2 * i + 1] = i % m;
    feats.set(feat, 2 * i);
  }
  return { cams, X, w: new Float64Array(p).fill(w), obs, feats };
}

export function objective(input: Input): Prepared {
  const { cams, X, w, obs, feats } = expand(input);
  const reproj = new Float64Array(2 * input.p);
  const wErr = new Float64Array(input.p);
  return {
    run: () => {
      reprojErrorsInto(cams, X, w, obs, feats, reproj);
      for (let i = 0; i < w.length; i++) wErr[i] = weightError(w[i]!);
    },
    output: () => ({
      reproj_error: { elements: [reproj[0], reproj[1]], repeated: input.p },
      w_err: { element: wErr[0], repeated: input.p },
    }),
  };
}

/**
 * The sparse Jacobian in GradBench's CSR layout: per observation two rows of 15 entries
 * (its camera's 11 columns, its point's 3, its weight's 1), then one row per weight.
 */
export function jacobian(input: Input): Prepared {
  const { n, m, p } = input;
  const { cams, X, w, obs, feats } = expand(input);
  const vals = new Float64Array(2 * BLOCK * p + p);
  const cols = new Int32Array(vals.length);
  const e0 = vector([1, 0]);
  const e1 = vector([0, 1]);
  const err = new Float64Array(2);
  const grads = { cam: new Float64Array(CAM), X: new Float64Array(3), w: 0 };
  return {
    run: () => {
      for (let i = 0; i < p; i++) {
        const c = obs[2 * i]!;
        const pt = obs[2 * i + 1]!;
        const cam = cams.subarray(CAM * c, CAM * c + CAM);
        const x = X.subarray(3 * pt, 3 * pt + 3);
        const feat = feats.subarray(2 * i, 2 * i + 2);
        for (let row = 0; row < 2; row++) {
          reprojErrorVjpInto(cam, x, w[i]!, feat, row === 0 ? e0 : e1, err, grads);
          const at = (2 * i + row) * BLOCK;
          for (let j = 0; j < CAM; j++) {
            vals[at + j] = grads.cam[j]!;
            cols[at + j] = CAM * c + j;
          }
          for (let j = 0; j < 3; j++) {
            vals[at + CAM + j] = grads.X[j]!;
            cols[at + CAM + j] = CAM * n + 3 * pt + j;
          }
          vals[at + BLOCK - 1] = grads.w;
          cols[at + BLOCK - 1] = CAM * n + 3 * m + i;
        }
      }
      for (let i = 0; i < p; i++) {
        vals[2 * BLOCK * p + i] = weightErrorGrad(w[i]!).grads.w;
        cols[2 * BLOCK * p + i] = CAM * n + 3 * m + i;
      }
    },
    output: () => {
      // GradBench's compressed form: the first 30 entries (the first observation's two rows)
      // and the last one (the last weight's), of vals, cols and the row starts
      const first = 2 * BLOCK;
      const rowStarts = (k: number) => (k <= 2 * p ? k * BLOCK : 2 * p * BLOCK + (k - 2 * p));
      return {
        rows: [...Array.from({ length: first }, (_, k) => rowStarts(k)), rowStarts(3 * p)],
        cols: [...cols.subarray(0, first), cols[cols.length - 1]],
        vals: [...vals.subarray(0, first), vals[vals.length - 1]],
      };
    },
  };
}
