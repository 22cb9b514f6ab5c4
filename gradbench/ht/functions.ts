// The ht eval's functions: the hand model's residuals, and their Jacobian. An input with an
// empty `us` is the simple variant (26 columns, theta's), any other the complicated one
// (2 + 26 columns: each residual's derivatives with respect to its own point's u0 and u1,
// then theta's), as GradBench's C++ reference answers.
//
// simple's Jacobian is the generated simpleJacobian: 26 forward-mode passes (one per column
// of theta, as its 3N rows outnumber them), written into a buffer made once. complicated
// is differentiated with respect to theta and us, whose full Jacobian would have 26 + 2N
// columns; residual i depends on us[i] only, so the derivatives with respect to every
// point's u0 are one forward-mode pass whose us tangent is (1, 0) at every point, and those
// with respect to u1 one more with (0, 1): 28 passes of complicatedJvp in all.
import { matrix, rows, vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { complicatedInto, complicatedJvp, simpleInto, simpleJacobian } from "./model.grad.js";

type Rows = readonly (readonly number[])[];

interface Input {
  readonly theta: readonly number[];
  readonly us: Rows;
  readonly data: {
    readonly model: {
      readonly parents: readonly number[];
      readonly base_relatives: readonly Rows[];
      readonly inverse_base_absolutes: readonly Rows[];
      readonly base_positions: Rows;
      readonly weights: Rows;
      readonly triangles: Rows;
      readonly is_mirrored: boolean;
    };
    readonly correspondences: readonly number[];
    readonly points: Rows;
  };
}

/** B 4 x 4 matrices, row-major, one after the other. */
function matrices(ms: readonly Rows[], name: string): Float64Array {
  const out = new Float64Array(16 * ms.length);
  ms.forEach((m, b) => out.set(matrix(m, `${name}[${b}]`), 16 * b));
  return out;
}

/** The input as the generated functions take it. */
function args(input: Input) {
  const { model, correspondences, points } = input.data;
  return {
    theta: vector(input.theta),
    parents: vector(model.parents),
    relatives: matrices(model.base_relatives, "base_relatives"),
    inverses: matrices(model.inverse_base_absolutes, "inverse_base_absolutes"),
    positions: matrix(model.base_positions, "base_positions"),
    weights: matrix(model.weights, "weights"),
    mirrored: model.is_mirrored ? 1 : 0,
    corr: vector(correspondences),
    points: matrix(points, "points"),
    triangles: matrix(model.triangles, "triangles"),
    us: matrix(input.us, "us"),
    complicated: input.us.length > 0,
  };
}

export function objective(input: Input): Prepared {
  const a = args(input);
  const err = new Float64Array(3 * a.corr.length);
  const run = a.complicated
    ? () => complicatedInto(a.theta, a.parents, a.relatives, a.inverses, a.positions, a.weights, a.mirrored, a.corr, a.points, a.triangles, a.us, err)
    : () => simpleInto(a.theta, a.parents, a.relatives, a.inverses, a.positions, a.weights, a.mirrored, a.corr, a.points, err);
  return { run, output: () => Array.from(err) };
}

export function jacobian(input: Input): Prepared {
  const a = args(input);
  const m = 3 * a.corr.length;
  if (!a.complicated) {
    const J = new Float64Array(m * 26);
    return {
      run: () => void simpleJacobian(a.theta, a.parents, a.relatives, a.inverses, a.positions, a.weights, a.mirrored, a.corr, a.points, J),
      output: () => rows(J, 26),
    };
  }
  const n = 2 + 26;
  const J = new Float64Array(m * n);
  const tangents = { theta: new Float64Array(26), us: new Float64Array(a.us.length) };
  /** One column of J: the residuals' tangent along `tangents`. */
  const column = (col: number) => {
    const { tangent } = complicatedJvp(
      a.theta, a.parents, a.relatives, a.inverses, a.positions, a.weights, a.mirrored, a.corr, a.points, a.triangles, a.us, tangents,
    );
    for (let i = 0; i < m; i++) J[i * n + col] = tangent[i]!;
  };
  return {
    run: () => {
      for (let k = 0; k < 2; k++) {
        for (let i = 0; i < a.us.length; i += 2) tangents.us[i + k] = 1;
        column(k);
        tangents.us.fill(0);
      }
      for (let j = 0; j < 26; j++) {
        tangents.theta[j] = 1;
        column(2 + j);
        tangents.theta[j] = 0;
      }
    },
    output: () => rows(J, n),
  };
}
