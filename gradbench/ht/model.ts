// GradBench's hand tracking eval (evals/ht, from ADBench), written once for any size: a
// skinned hand mesh posed by 26 parameters theta, and the residuals between measured points
// and the posed mesh. The formulas are GradBench's C++ reference (cpp/gradbench/evals/ht.hpp):
//
//   theta      [26]       global rotation (angle-axis, 3), global translation (3), then per
//                         finger (5) the angles of its three joints: two at the first, one each
//                         at the other two
//   parents    [B]        each bone's parent (an earlier bone), -1 for the root
//   relatives  [B, 4, 4]  each bone's base transform relative to its parent
//   inverses   [B, 4, 4]  the inverse of each bone's base absolute transform
//   positions  [V, 4]     the mesh's vertices at rest, homogeneous (last coordinate 1)
//   weights    [V, B]     each vertex's skinning weight per bone
//   mirrored   0 or 1     whether the hand is mirrored (x negated)
//   corr       [N]        the vertex (simple) or triangle (complicated) matched to each point
//   points     [N, 3]     the measured points
//   triangles  [T, 3]     the mesh's triangles (complicated)
//   us         [N, 2]     each point's barycentric coordinates in its triangle (complicated)
//
// The residual of point i is points[i] minus its vertex's posed position (simple), or minus
// the point at (u0, u1, 1 - u0 - u1) in its triangle's posed vertices (complicated). The
// eval's Jacobian has 26 columns (theta) for simple and 2 + 26 for complicated, where the
// first two are each residual's derivatives with respect to its own point's u0 and u1.
import { type Tensor, zeros } from "adgen";

/**
 * Each bone's Euler angles (x, z, y). Bone 0 is the wrist; finger f has bones 1 + 4f to
 * 4 + 4f, of which 2 + 4f (two angles), 3 + 4f and 4 + 4f (one each) move: theta's 6 + 4f
 * to 9 + 4f. (The reference's pose parameters hold these rows after the global rotation,
 * scale and translation.)
 */
function boneAngles<B extends number>(theta: Tensor<[26]>, parents: Tensor<[B]>): Tensor<[B, 3]> {
  const angles = zeros([parents.length, 3]);
  for (let f = 0; f < 5; f++) {
    angles[2 + 4 * f][0] = theta[6 + 4 * f];
    angles[2 + 4 * f][1] = theta[7 + 4 * f];
    angles[3 + 4 * f][0] = theta[8 + 4 * f];
    angles[4 + 4 * f][0] = theta[9 + 4 * f];
  }
  return angles;
}

/** The rotation Rz Ry Rx of Euler angles given in the order (x, z, y). */
function eulerRotation(xzy: Tensor<[3]>): Tensor<[3, 3]> {
  const cx = Math.cos(xzy[0]);
  const sx = Math.sin(xzy[0]);
  const cy = Math.cos(xzy[2]);
  const sy = Math.sin(xzy[2]);
  const cz = Math.cos(xzy[1]);
  const sz = Math.sin(xzy[1]);
  const R = zeros([3, 3]);
  R[0][0] = cz * cy;
  R[0][1] = -sz * cx + cz * sy * sx;
  R[0][2] = sz * sx + cz * sy * cx;
  R[1][0] = sz * cy;
  R[1][1] = cz * cx + sz * sy * sx;
  R[1][2] = -cz * sx + sz * sy * cx;
  R[2][0] = -sy;
  R[2][1] = cy * sx;
  R[2][2] = cy * cx;
  return R;
}

/** The rotation of an angle-axis vector (Rodrigues), the identity below a norm of 1e-4. */
function angleAxisRotation(r0: number, r1: number, r2: number): Tensor<[3, 3]> {
  const R = zeros([3, 3]);
  const norm = Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
  if (norm < 0.0001) {
    for (let k = 0; k < 3; k++) R[k][k] = 1;
    return R;
  }
  const x = r0 / norm;
  const y = r1 / norm;
  const z = r2 / norm;
  const s = Math.sin(norm);
  const c = Math.cos(norm);
  R[0][0] = x * x + (1 - x * x) * c;
  R[0][1] = x * y * (1 - c) - z * s;
  R[0][2] = x * z * (1 - c) + y * s;
  R[1][0] = x * y * (1 - c) + z * s;
  R[1][1] = y * y + (1 - y * y) * c;
  R[1][2] = y * z * (1 - c) - x * s;
  R[2][0] = x * z * (1 - c) - y * s;
  R[2][1] = z * y * (1 - c) + x * s;
  R[2][2] = z * z + (1 - z * z) * c;
  return R;
}

/**
 * Each bone's skinning transform: its posed relative transform (the base relative one
 * times its Euler rotation), chained from the root to an absolute one, times the inverse of
 * its base absolute transform.
 */
function boneTransforms<B extends number>(
  angles: Tensor<[B, 3]>, parents: Tensor<[B]>, relatives: Tensor<[B, 4, 4]>, inverses: Tensor<[B, 4, 4]>,
): Tensor<[B, 4, 4]> {
  const absolutes = zeros([parents.length, 4, 4]);
  const transforms = zeros([parents.length, 4, 4]);
  for (let b = 0; b < parents.length; b++) {
    const R = eulerRotation(angles[b]);
    const relative = zeros([4, 4]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 3; k++) relative[i][j] += relatives[b][i][k] * R[k][j];
      }
      relative[i][3] = relatives[b][i][3];
    }
    if (parents[b] < 0) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) absolutes[b][i][j] = relative[i][j];
      }
    } else {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          for (let k = 0; k < 4; k++) absolutes[b][i][j] += absolutes[parents[b]][i][k] * relative[k][j];
        }
      }
    }
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        for (let k = 0; k < 4; k++) transforms[b][i][j] += absolutes[b][i][k] * inverses[b][k][j];
      }
    }
  }
  return transforms;
}

/**
 * Every vertex posed: the weighted sum of its bones' transforms of its rest position,
 * mirrored if asked, then rotated by the global angle-axis and translated.
 */
function posedVertices<B extends number, V extends number>(
  theta: Tensor<[26]>, parents: Tensor<[B]>, relatives: Tensor<[B, 4, 4]>, inverses: Tensor<[B, 4, 4]>,
  positions: Tensor<[V, 4]>, weights: Tensor<[V, B]>, mirrored: number,
): Tensor<[V, 3]> {
  const transforms = boneTransforms(boneAngles(theta, parents), parents, relatives, inverses);
  const skinned = zeros([positions.length, 3]);
  for (let b = 0; b < parents.length; b++) {
    for (let v = 0; v < positions.length; v++) {
      for (let i = 0; i < 3; i++) {
        let p = 0;
        for (let k = 0; k < 4; k++) p += transforms[b][i][k] * positions[v][k];
        skinned[v][i] += p * weights[v][b];
      }
    }
  }
  if (mirrored !== 0) {
    for (let v = 0; v < positions.length; v++) skinned[v][0] = -skinned[v][0];
  }
  const R = angleAxisRotation(theta[0], theta[1], theta[2]);
  const posed = zeros([positions.length, 3]);
  for (let v = 0; v < positions.length; v++) {
    for (let i = 0; i < 3; i++) {
      let p = theta[3 + i];
      for (let k = 0; k < 3; k++) p += R[i][k] * skinned[v][k];
      posed[v][i] = p;
    }
  }
  return posed;
}

/**
 * The simple variant's residuals: each point minus the posed vertex corr[i].
 * @wrt theta
 */
export function simple<B extends number, V extends number, N extends number>(
  theta: Tensor<[26]>, parents: Tensor<[B]>, relatives: Tensor<[B, 4, 4]>, inverses: Tensor<[B, 4, 4]>,
  positions: Tensor<[V, 4]>, weights: Tensor<[V, B]>, mirrored: number,
  corr: Tensor<[N]>, points: Tensor<[N, 3]>,
): Tensor<[N, 3]> {
  const posed = posedVertices(theta, parents, relatives, inverses, positions, weights, mirrored);
  const err = zeros([corr.length, 3]);
  for (let i = 0; i < corr.length; i++) {
    for (let j = 0; j < 3; j++) err[i][j] = points[i][j] - posed[corr[i]][j];
  }
  return err;
}

/**
 * The complicated variant's residuals: each point minus the point (u0, u1, 1 - u0 - u1) of
 * the posed triangle corr[i].
 * @wrt theta, us
 */
export function complicated<B extends number, V extends number, N extends number, T extends number>(
  theta: Tensor<[26]>, parents: Tensor<[B]>, relatives: Tensor<[B, 4, 4]>, inverses: Tensor<[B, 4, 4]>,
  positions: Tensor<[V, 4]>, weights: Tensor<[V, B]>, mirrored: number,
  corr: Tensor<[N]>, points: Tensor<[N, 3]>, triangles: Tensor<[T, 3]>, us: Tensor<[N, 2]>,
): Tensor<[N, 3]> {
  const posed = posedVertices(theta, parents, relatives, inverses, positions, weights, mirrored);
  const err = zeros([corr.length, 3]);
  for (let i = 0; i < corr.length; i++) {
    const u0 = us[i][0];
    const u1 = us[i][1];
    const t = triangles[corr[i]];
    for (let j = 0; j < 3; j++) {
      err[i][j] = points[i][j] - (u0 * posed[t[0]][j] + u1 * posed[t[1]][j] + (1 - u0 - u1) * posed[t[2]][j]);
    }
  }
  return err;
}
