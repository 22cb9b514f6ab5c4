// GradBench's bundle adjustment eval (evals/ba, from ADBench): the reprojection error of each
// observation of a point X by a camera, and a weight error per observation. A camera is 11
// numbers [r0 r1 r2 C0 C1 C2 f u0 v0 k1 k2]: an angle-axis rotation r (Rodrigues), the
// centre C, the focal length f, the principal point (u0, v0) and two radial distortion
// parameters. The projection is
//
//   Xcam = R(r) (X - C),  p = Xcam[0:2] / Xcam[2],  p *= 1 + k1 |p|² + k2 |p|⁴,
//   err  = w (f p + (u0, v0) - feat)
//
// and the weight error is 1 - w². The eval's `jacobian` is the sparse Jacobian of every
// error with respect to the cameras, the points and the weights: per observation the 2 x 15
// block of reprojError with respect to (cam, X, w), two vector-Jacobian products (one per
// row), and per weight the derivative of weightError. The formulas are GradBench's C++
// reference (cpp/gradbench/evals/ba.hpp), written with scalars.
import { type Tensor, zeros } from "adgen";

/**
 * The reprojection error of X seen by cam, weighted by w, against the measured feat.
 * @wrt cam, X, w
 */
export function reprojError(cam: Tensor<[11]>, X: Tensor<[3]>, w: number, feat: Tensor<[2]>): Tensor<[2]> {
  // the point relative to the camera centre
  const x0 = X[0] - cam[3];
  const x1 = X[1] - cam[4];
  const x2 = X[2] - cam[5];
  // rotated by the angle-axis r: cos θ x + sin θ (n × x) + (1 - cos θ)(n · x) n, n = r / θ;
  // at θ = 0, to first order, x + r × x
  const r0 = cam[0];
  const r1 = cam[1];
  const r2 = cam[2];
  const sqtheta = r0 * r0 + r1 * r1 + r2 * r2;
  let y0 = 0;
  let y1 = 0;
  let y2 = 0;
  if (sqtheta !== 0) {
    const theta = Math.sqrt(sqtheta);
    const cosTheta = Math.cos(theta);
    const sinTheta = Math.sin(theta);
    const n0 = r0 / theta;
    const n1 = r1 / theta;
    const n2 = r2 / theta;
    const tmp = (n0 * x0 + n1 * x1 + n2 * x2) * (1 - cosTheta);
    y0 = x0 * cosTheta + (n1 * x2 - n2 * x1) * sinTheta + n0 * tmp;
    y1 = x1 * cosTheta + (n2 * x0 - n0 * x2) * sinTheta + n1 * tmp;
    y2 = x2 * cosTheta + (n0 * x1 - n1 * x0) * sinTheta + n2 * tmp;
  } else {
    y0 = x0 + (r1 * x2 - r2 * x1);
    y1 = x1 + (r2 * x0 - r0 * x2);
    y2 = x2 + (r0 * x1 - r1 * x0);
  }
  // projected, then radially distorted
  const u = y0 / y2;
  const v = y1 / y2;
  const rsq = u * u + v * v;
  const distortion = 1 + cam[9] * rsq + cam[10] * rsq * rsq;
  const err = zeros([2]);
  err[0] = w * (u * distortion * cam[6] + cam[7] - feat[0]);
  err[1] = w * (v * distortion * cam[6] + cam[8] - feat[1]);
  return err;
}

/** The weight error of one observation. */
export function weightError(w: number): number {
  return 1 - w * w;
}

/**
 * Every observation's reprojection error: observation i sees point obs[i][1] with camera
 * obs[i][0] (indices stored as numbers, checked when read).
 */
export function reprojErrors<C extends number, M extends number, P extends number>(
  cams: Tensor<[C, 11]>, X: Tensor<[M, 3]>, w: Tensor<[P]>, obs: Tensor<[P, 2]>, feats: Tensor<[P, 2]>,
): Tensor<[P, 2]> {
  const errs = zeros([w.length, 2]);
  for (let i = 0; i < w.length; i++) {
    const err = reprojError(cams[obs[i][0]], X[obs[i][1]], w[i], feats[i]);
    errs[i][0] = err[0];
    errs[i][1] = err[1];
  }
  return errs;
}
