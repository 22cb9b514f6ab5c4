// Hand-written LeNet-5 and MLP training steps: the "careful engineer" peer
// that adgen's generated code is benchmarked against.
//
// Everything is plain TypeScript on Float64Array:
//   - every buffer is allocated once, in create*(); a step allocates nothing;
//   - convolutions are im2col + a 4x4 register-blocked matrix product, their
//     gradients the transposed products (dW = dY col^T, dcol = W^T dY) and
//     col2im for the input gradient;
//   - bias + relu are one fused pass over the GEMM output (linear layers) or
//     part of the max-pool pass (conv layers: bias + relu + pool in one), and
//     max-pool records argmax indices in an Int32Array (-1 where the relu cut
//     the value to zero);
//   - each loop nest sees one array type only (monomorphic).
//
// Conventions (SPEC.md §4): row-major, conv input [N, C, H, W], conv weight
// [O, C, KH, KW], linear weight [out, in] with y = W x + b; relu'(0) = 0;
// max-pool sends the gradient to the first maximum in row-major window order;
// softmax cross-entropy with integer labels, mean over the batch.

import {
  type Labels,
  type LeNetGrads,
  type LeNetParams,
  type MlpParams,
  type PeerModel,
  NUM_CLASSES,
} from "./shapes.js";

export type { Labels, LeNetGrads, LeNetParams, MlpParams, PeerModel } from "./shapes.js";

// ---------------------------------------------------------------------------
// Matrix products. All matrices are dense row-major, addressed as
// (array, offset). `acc` false: C = op(A) op(B); true: C += op(A) op(B).
// The main body computes 4x4 blocks of C in 16 scalar accumulators, with
// 4x1 blocks for leftover columns. Leftover rows (every row of a batch-1
// linear layer, where the product is a matrix-vector one) use 1x8 blocks,
// which measured ~1.3x faster there than 1x4 ones, then 1x4 and 1x1.
// (Node 20, x86-64: the 4x4 body runs at ~2.2 GMAC/s on LeNet's conv shapes;
// 2x4 and 2x8 bodies measured the same or slower. The same loops inlined
// with literal dimensions run markedly faster, as V8 then folds the index
// arithmetic; these kernels are generic, as a hand-written library is.)
// ---------------------------------------------------------------------------

/** C[M,N] (+)= A[M,K] · B[K,N]. */
export function gemmNN(
  M: number, N: number, K: number,
  A: Float64Array, aOff: number,
  B: Float64Array, bOff: number,
  C: Float64Array, cOff: number,
  acc: boolean,
): void {
  const MB = M - (M % 4);
  const NB = N - (N % 4);
  for (let i = 0; i < MB; i += 4) {
    const r0 = cOff + i * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
    for (let j = 0; j < NB; j += 4) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, bp += N) {
        const b0 = B[bp], b1 = B[bp + 1], b2 = B[bp + 2], b3 = B[bp + 3];
        const x0 = A[a0 + k];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        const x1 = A[a1 + k];
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        const x2 = A[a2 + k];
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        const x3 = A[a3 + k];
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      if (acc) {
        C[r0 + j] += c00; C[r0 + j + 1] += c01; C[r0 + j + 2] += c02; C[r0 + j + 3] += c03;
        C[r1 + j] += c10; C[r1 + j + 1] += c11; C[r1 + j + 2] += c12; C[r1 + j + 3] += c13;
        C[r2 + j] += c20; C[r2 + j + 1] += c21; C[r2 + j + 2] += c22; C[r2 + j + 3] += c23;
        C[r3 + j] += c30; C[r3 + j + 1] += c31; C[r3 + j + 2] += c32; C[r3 + j + 3] += c33;
      } else {
        C[r0 + j] = c00; C[r0 + j + 1] = c01; C[r0 + j + 2] = c02; C[r0 + j + 3] = c03;
        C[r1 + j] = c10; C[r1 + j + 1] = c11; C[r1 + j + 2] = c12; C[r1 + j + 3] = c13;
        C[r2 + j] = c20; C[r2 + j + 1] = c21; C[r2 + j + 2] = c22; C[r2 + j + 3] = c23;
        C[r3 + j] = c30; C[r3 + j + 1] = c31; C[r3 + j + 2] = c32; C[r3 + j + 3] = c33;
      }
    }
    for (let j = NB; j < N; j++) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      let c00 = 0, c10 = 0, c20 = 0, c30 = 0;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, bp += N) {
        const b = B[bp];
        c00 += A[a0 + k] * b; c10 += A[a1 + k] * b; c20 += A[a2 + k] * b; c30 += A[a3 + k] * b;
      }
      if (acc) {
        C[r0 + j] += c00;
        C[r1 + j] += c10;
        C[r2 + j] += c20;
        C[r3 + j] += c30;
      } else {
        C[r0 + j] = c00;
        C[r1 + j] = c10;
        C[r2 + j] = c20;
        C[r3 + j] = c30;
      }
    }
  }
  // Leftover rows (all of them for a batch-1 linear layer): 1x8, 1x4, then 1x1 blocks.
  const N8 = N - (N % 8);
  const N4 = N - (N % 4);
  for (let i = MB; i < M; i++) {
    const r0 = cOff + i * N;
    for (let j = 0; j < N8; j += 8) {
      const a0 = aOff + i * K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let c4 = 0, c5 = 0, c6 = 0, c7 = 0;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, bp += N) {
        const x = A[a0 + k];
        c0 += x * B[bp]; c1 += x * B[bp + 1]; c2 += x * B[bp + 2]; c3 += x * B[bp + 3];
        c4 += x * B[bp + 4]; c5 += x * B[bp + 5]; c6 += x * B[bp + 6]; c7 += x * B[bp + 7];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
        C[r0 + j + 4] += c4; C[r0 + j + 5] += c5; C[r0 + j + 6] += c6; C[r0 + j + 7] += c7;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
        C[r0 + j + 4] = c4; C[r0 + j + 5] = c5; C[r0 + j + 6] = c6; C[r0 + j + 7] = c7;
      }
    }
    if (N4 > N8) {
      const j = N8;
      const a0 = aOff + i * K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, bp += N) {
        const x = A[a0 + k];
        c0 += x * B[bp]; c1 += x * B[bp + 1]; c2 += x * B[bp + 2]; c3 += x * B[bp + 3];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
      }
    }
    for (let j = N4; j < N; j++) {
      const a0 = aOff + i * K;
      let c0 = 0;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, bp += N) {
        const x = A[a0 + k];
        c0 += x * B[bp];
      }
      if (acc) {
        C[r0 + j] += c0;
      } else {
        C[r0 + j] = c0;
      }
    }
  }
}

/** C[M,N] (+)= A[M,K] · B[N,K]^T. */
export function gemmNT(
  M: number, N: number, K: number,
  A: Float64Array, aOff: number,
  B: Float64Array, bOff: number,
  C: Float64Array, cOff: number,
  acc: boolean,
): void {
  const MB = M - (M % 4);
  const NB = N - (N % 4);
  for (let i = 0; i < MB; i += 4) {
    const r0 = cOff + i * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
    for (let j = 0; j < NB; j += 4) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      const p0 = bOff + j * K, p1 = p0 + K, p2 = p1 + K, p3 = p2 + K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const b0 = B[p0 + k], b1 = B[p1 + k], b2 = B[p2 + k], b3 = B[p3 + k];
        const x0 = A[a0 + k];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        const x1 = A[a1 + k];
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        const x2 = A[a2 + k];
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        const x3 = A[a3 + k];
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      if (acc) {
        C[r0 + j] += c00; C[r0 + j + 1] += c01; C[r0 + j + 2] += c02; C[r0 + j + 3] += c03;
        C[r1 + j] += c10; C[r1 + j + 1] += c11; C[r1 + j + 2] += c12; C[r1 + j + 3] += c13;
        C[r2 + j] += c20; C[r2 + j + 1] += c21; C[r2 + j + 2] += c22; C[r2 + j + 3] += c23;
        C[r3 + j] += c30; C[r3 + j + 1] += c31; C[r3 + j + 2] += c32; C[r3 + j + 3] += c33;
      } else {
        C[r0 + j] = c00; C[r0 + j + 1] = c01; C[r0 + j + 2] = c02; C[r0 + j + 3] = c03;
        C[r1 + j] = c10; C[r1 + j + 1] = c11; C[r1 + j + 2] = c12; C[r1 + j + 3] = c13;
        C[r2 + j] = c20; C[r2 + j + 1] = c21; C[r2 + j + 2] = c22; C[r2 + j + 3] = c23;
        C[r3 + j] = c30; C[r3 + j + 1] = c31; C[r3 + j + 2] = c32; C[r3 + j + 3] = c33;
      }
    }
    for (let j = NB; j < N; j++) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      const p0 = bOff + j * K;
      let c00 = 0, c10 = 0, c20 = 0, c30 = 0;
      for (let k = 0; k < K; k++) {
        const b = B[p0 + k];
        c00 += A[a0 + k] * b; c10 += A[a1 + k] * b; c20 += A[a2 + k] * b; c30 += A[a3 + k] * b;
      }
      if (acc) {
        C[r0 + j] += c00;
        C[r1 + j] += c10;
        C[r2 + j] += c20;
        C[r3 + j] += c30;
      } else {
        C[r0 + j] = c00;
        C[r1 + j] = c10;
        C[r2 + j] = c20;
        C[r3 + j] = c30;
      }
    }
  }
  // Leftover rows (all of them for a batch-1 linear layer): 1x8, 1x4, then 1x1 blocks.
  const N8 = N - (N % 8);
  const N4 = N - (N % 4);
  for (let i = MB; i < M; i++) {
    const r0 = cOff + i * N;
    for (let j = 0; j < N8; j += 8) {
      const a0 = aOff + i * K;
      const p0 = bOff + j * K, p1 = p0 + K, p2 = p1 + K, p3 = p2 + K, p4 = p3 + K, p5 = p4 + K, p6 = p5 + K, p7 = p6 + K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let c4 = 0, c5 = 0, c6 = 0, c7 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k];
        c0 += x * B[p0 + k]; c1 += x * B[p1 + k]; c2 += x * B[p2 + k]; c3 += x * B[p3 + k];
        c4 += x * B[p4 + k]; c5 += x * B[p5 + k]; c6 += x * B[p6 + k]; c7 += x * B[p7 + k];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
        C[r0 + j + 4] += c4; C[r0 + j + 5] += c5; C[r0 + j + 6] += c6; C[r0 + j + 7] += c7;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
        C[r0 + j + 4] = c4; C[r0 + j + 5] = c5; C[r0 + j + 6] = c6; C[r0 + j + 7] = c7;
      }
    }
    if (N4 > N8) {
      const j = N8;
      const a0 = aOff + i * K;
      const p0 = bOff + j * K, p1 = p0 + K, p2 = p1 + K, p3 = p2 + K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k];
        c0 += x * B[p0 + k]; c1 += x * B[p1 + k]; c2 += x * B[p2 + k]; c3 += x * B[p3 + k];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
      }
    }
    for (let j = N4; j < N; j++) {
      const a0 = aOff + i * K;
      const p0 = bOff + j * K;
      let c0 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k];
        c0 += x * B[p0 + k];
      }
      if (acc) {
        C[r0 + j] += c0;
      } else {
        C[r0 + j] = c0;
      }
    }
  }
}

/** C[M,N] (+)= A[K,M]^T · B[K,N]. */
export function gemmTN(
  M: number, N: number, K: number,
  A: Float64Array, aOff: number,
  B: Float64Array, bOff: number,
  C: Float64Array, cOff: number,
  acc: boolean,
): void {
  const MB = M - (M % 4);
  const NB = N - (N % 4);
  for (let i = 0; i < MB; i += 4) {
    const r0 = cOff + i * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
    for (let j = 0; j < NB; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let ap = aOff + i;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, ap += M, bp += N) {
        const b0 = B[bp], b1 = B[bp + 1], b2 = B[bp + 2], b3 = B[bp + 3];
        const x0 = A[ap];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        const x1 = A[ap + 1];
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        const x2 = A[ap + 2];
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        const x3 = A[ap + 3];
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      if (acc) {
        C[r0 + j] += c00; C[r0 + j + 1] += c01; C[r0 + j + 2] += c02; C[r0 + j + 3] += c03;
        C[r1 + j] += c10; C[r1 + j + 1] += c11; C[r1 + j + 2] += c12; C[r1 + j + 3] += c13;
        C[r2 + j] += c20; C[r2 + j + 1] += c21; C[r2 + j + 2] += c22; C[r2 + j + 3] += c23;
        C[r3 + j] += c30; C[r3 + j + 1] += c31; C[r3 + j + 2] += c32; C[r3 + j + 3] += c33;
      } else {
        C[r0 + j] = c00; C[r0 + j + 1] = c01; C[r0 + j + 2] = c02; C[r0 + j + 3] = c03;
        C[r1 + j] = c10; C[r1 + j + 1] = c11; C[r1 + j + 2] = c12; C[r1 + j + 3] = c13;
        C[r2 + j] = c20; C[r2 + j + 1] = c21; C[r2 + j + 2] = c22; C[r2 + j + 3] = c23;
        C[r3 + j] = c30; C[r3 + j + 1] = c31; C[r3 + j + 2] = c32; C[r3 + j + 3] = c33;
      }
    }
    for (let j = NB; j < N; j++) {
      let c00 = 0, c10 = 0, c20 = 0, c30 = 0;
      let ap = aOff + i;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, ap += M, bp += N) {
        const b = B[bp];
        c00 += A[ap] * b; c10 += A[ap + 1] * b; c20 += A[ap + 2] * b; c30 += A[ap + 3] * b;
      }
      if (acc) {
        C[r0 + j] += c00;
        C[r1 + j] += c10;
        C[r2 + j] += c20;
        C[r3 + j] += c30;
      } else {
        C[r0 + j] = c00;
        C[r1 + j] = c10;
        C[r2 + j] = c20;
        C[r3 + j] = c30;
      }
    }
  }
  // Leftover rows (all of them for a batch-1 linear layer): 1x8, 1x4, then 1x1 blocks.
  const N8 = N - (N % 8);
  const N4 = N - (N % 4);
  for (let i = MB; i < M; i++) {
    const r0 = cOff + i * N;
    for (let j = 0; j < N8; j += 8) {
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let c4 = 0, c5 = 0, c6 = 0, c7 = 0;
      let ap = aOff + i;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, ap += M, bp += N) {
        const x = A[ap];
        c0 += x * B[bp]; c1 += x * B[bp + 1]; c2 += x * B[bp + 2]; c3 += x * B[bp + 3];
        c4 += x * B[bp + 4]; c5 += x * B[bp + 5]; c6 += x * B[bp + 6]; c7 += x * B[bp + 7];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
        C[r0 + j + 4] += c4; C[r0 + j + 5] += c5; C[r0 + j + 6] += c6; C[r0 + j + 7] += c7;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
        C[r0 + j + 4] = c4; C[r0 + j + 5] = c5; C[r0 + j + 6] = c6; C[r0 + j + 7] = c7;
      }
    }
    if (N4 > N8) {
      const j = N8;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let ap = aOff + i;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, ap += M, bp += N) {
        const x = A[ap];
        c0 += x * B[bp]; c1 += x * B[bp + 1]; c2 += x * B[bp + 2]; c3 += x * B[bp + 3];
      }
      if (acc) {
        C[r0 + j] += c0; C[r0 + j + 1] += c1; C[r0 + j + 2] += c2; C[r0 + j + 3] += c3;
      } else {
        C[r0 + j] = c0; C[r0 + j + 1] = c1; C[r0 + j + 2] = c2; C[r0 + j + 3] = c3;
      }
    }
    for (let j = N4; j < N; j++) {
      let c0 = 0;
      let ap = aOff + i;
      let bp = bOff + j;
      for (let k = 0; k < K; k++, ap += M, bp += N) {
        const x = A[ap];
        c0 += x * B[bp];
      }
      if (acc) {
        C[r0 + j] += c0;
      } else {
        C[r0 + j] = c0;
      }
    }
  }
}


// ---------------------------------------------------------------------------
// Convolution helpers (stride 1, symmetric zero padding).
// ---------------------------------------------------------------------------

/**
 * col[(c*KH + ki)*KW + kj, oh*OW + ow] = src[c, oh + ki - pad, ow + kj - pad]
 * (zero outside), for one [C, H, W] image at src[srcOff].
 */
export function im2col(
  C: number, H: number, W: number, KH: number, KW: number, pad: number,
  src: Float64Array, srcOff: number,
  col: Float64Array, colOff: number,
): void {
  const OH = H + 2 * pad - KH + 1;
  const OW = W + 2 * pad - KW + 1;
  const P = OH * OW;
  let row = colOff;
  for (let c = 0; c < C; c++) {
    const plane = srcOff + c * H * W;
    for (let ki = 0; ki < KH; ki++) {
      for (let kj = 0; kj < KW; kj++, row += P) {
        // ow range whose input column ow + kj - pad lies inside [0, W)
        const owLo = Math.max(0, pad - kj);
        const owHi = Math.min(OW, W + pad - kj);
        let d = row;
        for (let oh = 0; oh < OH; oh++, d += OW) {
          const ih = oh + ki - pad;
          if (ih < 0 || ih >= H) {
            for (let ow = 0; ow < OW; ow++) col[d + ow] = 0;
            continue;
          }
          const s = plane + ih * W + kj - pad;
          for (let ow = 0; ow < owLo; ow++) col[d + ow] = 0;
          for (let ow = owLo; ow < owHi; ow++) col[d + ow] = src[s + ow];
          for (let ow = owHi; ow < OW; ow++) col[d + ow] = 0;
        }
      }
    }
  }
}

/** The adjoint of im2col: dst[c, ih, iw] = Σ of the col entries that read it (dst is overwritten). */
export function col2im(
  C: number, H: number, W: number, KH: number, KW: number, pad: number,
  col: Float64Array, colOff: number,
  dst: Float64Array, dstOff: number,
): void {
  const OH = H + 2 * pad - KH + 1;
  const OW = W + 2 * pad - KW + 1;
  const P = OH * OW;
  dst.fill(0, dstOff, dstOff + C * H * W);
  let row = colOff;
  for (let c = 0; c < C; c++) {
    const plane = dstOff + c * H * W;
    for (let ki = 0; ki < KH; ki++) {
      for (let kj = 0; kj < KW; kj++, row += P) {
        const owLo = Math.max(0, pad - kj);
        const owHi = Math.min(OW, W + pad - kj);
        const ohLo = Math.max(0, pad - ki);
        const ohHi = Math.min(OH, H + pad - ki);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const s = row + oh * OW;
          const d = plane + (oh + ki - pad) * W + kj - pad;
          for (let ow = owLo; ow < owHi; ow++) dst[d + ow] += col[s + ow];
        }
      }
    }
  }
}

/**
 * Fused bias + relu + 2x2/stride-2 max-pool over one [C, H, W] conv output z
 * (before bias). out[c, ph, pw] = relu(max over the window of z + bias[c]);
 * arg records the index (relative to zOff) of the first maximum, or -1 when
 * the relu cut the value to zero (then no gradient flows back).
 */
export function biasReluPool2(
  C: number, H: number, W: number,
  z: Float64Array, zOff: number, bias: Float64Array,
  out: Float64Array, outOff: number,
  arg: Int32Array, argOff: number,
): void {
  const PH = H >> 1, PW = W >> 1;
  let o = 0;
  for (let c = 0; c < C; c++) {
    const b = bias[c];
    const plane = c * H * W;
    for (let ph = 0; ph < PH; ph++) {
      let i0 = plane + 2 * ph * W;
      for (let pw = 0; pw < PW; pw++, i0 += 2, o++) {
        // Row-major window order: (0,0), (0,1), (1,0), (1,1); strict > keeps the first maximum.
        let m = z[zOff + i0] + b, a = i0;
        let v = z[zOff + i0 + 1] + b;
        if (v > m) { m = v; a = i0 + 1; }
        v = z[zOff + i0 + W] + b;
        if (v > m) { m = v; a = i0 + W; }
        v = z[zOff + i0 + W + 1] + b;
        if (v > m) { m = v; a = i0 + W + 1; }
        if (m > 0) {
          out[outOff + o] = m;
          arg[argOff + o] = a;
        } else {
          out[outOff + o] = 0;
          arg[argOff + o] = -1;
        }
      }
    }
  }
}

/**
 * Backward of biasReluPool2 for one image: dz (size C*H*W, overwritten) gets
 * the pooled gradient at the recorded argmax; dbias[c] accumulates the
 * channel sums.
 */
export function biasReluPool2Backward(
  C: number, H: number, W: number,
  dout: Float64Array, doutOff: number,
  arg: Int32Array, argOff: number,
  dz: Float64Array, dbias: Float64Array,
): void {
  dz.fill(0, 0, C * H * W);
  const PP = (H >> 1) * (W >> 1);
  let o = 0;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let p = 0; p < PP; p++, o++) {
      const a = arg[argOff + o];
      if (a >= 0) {
        const g = dout[doutOff + o];
        dz[a] = g;
        s += g;
      }
    }
    dbias[c] += s;
  }
}

// ---------------------------------------------------------------------------
// Dense-layer helpers.
// ---------------------------------------------------------------------------

/** y[n, j] = relu(y[n, j] + b[j]) in place (the GEMM epilogue of a linear + relu). */
function biasRelu(N: number, F: number, y: Float64Array, b: Float64Array): void {
  let p = 0;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < F; j++, p++) {
      const v = y[p] + b[j];
      y[p] = v > 0 ? v : 0;
    }
  }
}

/** y[n, j] = sigmoid(y[n, j] + b[j]) in place. */
function biasSigmoid(N: number, F: number, y: Float64Array, b: Float64Array): void {
  let p = 0;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < F; j++, p++) y[p] = 1 / (1 + Math.exp(-(y[p] + b[j])));
  }
}

/** y[n, j] += b[j] in place. */
function biasAdd(N: number, F: number, y: Float64Array, b: Float64Array): void {
  let p = 0;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < F; j++, p++) y[p] += b[j];
  }
}

/** db[j] = Σ_n dy[n, j]. */
function colSums(N: number, F: number, dy: Float64Array, db: Float64Array): void {
  db.fill(0, 0, F);
  let p = 0;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < F; j++, p++) db[j] += dy[p];
  }
}

/** dh *= relu'(pre-activation), given the relu output h (h > 0 ⇔ z > 0). */
function reluMask(size: number, dh: Float64Array, h: Float64Array): void {
  for (let i = 0; i < size; i++) if (!(h[i] > 0)) dh[i] = 0;
}

/**
 * Mean softmax cross-entropy over N rows of K logits (stable: log-sum-exp
 * with the row maximum subtracted). When dlogits is given it receives
 * (softmax - onehot) / N.
 */
function softmaxCrossEntropy(
  N: number, K: number, logits: Float64Array, labels: Labels, dlogits: Float64Array | null,
): number {
  let total = 0;
  const invN = 1 / N;
  for (let n = 0; n < N; n++) {
    const r = n * K;
    let m = logits[r];
    for (let k = 1; k < K; k++) if (logits[r + k] > m) m = logits[r + k];
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(logits[r + k] - m);
    const lse = m + Math.log(s);
    const label = labels[n] | 0;
    total += lse - logits[r + label];
    if (dlogits !== null) {
      const scale = invN / s;
      for (let k = 0; k < K; k++) dlogits[r + k] = Math.exp(logits[r + k] - m) * scale;
      dlogits[r + label] -= invN;
    }
  }
  return total * invN;
}

function checkBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
}

function checkSize(what: string, got: number, want: number): void {
  if (got !== want) throw new RangeError(`${what}: expected ${want} elements, got ${got}`);
}

// ---------------------------------------------------------------------------
// LeNet-5
// ---------------------------------------------------------------------------

/** A LeNet-5 training step for a fixed batch size. `grads.x`, if present, receives the input gradient. */
export type LeNetHandwritten = PeerModel<LeNetParams, LeNetGrads>;

/**
 * x [N,1,28,28] -> conv 6@5x5 pad 2 -> relu -> maxpool 2 -> conv 16@5x5 ->
 * relu -> maxpool 2 -> flatten [N,400] -> linear 120 -> relu -> linear 84 ->
 * relu -> linear 10 -> softmax cross-entropy (mean over the batch).
 */
export function createLeNetHandwritten(batch: number): LeNetHandwritten {
  checkBatch(batch);
  const N = batch;
  // conv1: [1,28,28] -> [6,28,28] (pad 2), pool -> [6,14,14]
  const C1 = 1, H1 = 28, W1 = 28, O1 = 6, KK1 = C1 * 25, P1 = 28 * 28, Q1 = 14 * 14;
  // conv2: [6,14,14] -> [16,10,10], pool -> [16,5,5]
  const C2 = 6, H2 = 14, W2 = 14, O2 = 16, KK2 = C2 * 25, P2 = 10 * 10, Q2 = 5 * 5;
  const F0 = O2 * Q2, F1 = 120, F2 = 84, F3 = NUM_CLASSES;
  const IN = C1 * H1 * W1;

  // Kept from the forward pass for the backward pass.
  const col1 = new Float64Array(N * KK1 * P1); // im2col of x, per sample
  const arg1 = new Int32Array(N * O1 * Q1); // pool1 argmax (into z1), -1 where relu'd to 0
  const a1 = new Float64Array(N * O1 * Q1); // pool1 output = conv2 input [N,6,14,14]
  const col2 = new Float64Array(N * KK2 * P2); // im2col of a1, per sample
  const arg2 = new Int32Array(N * O2 * Q2);
  const a2 = new Float64Array(N * F0); // pool2 output, flattened [N,400]
  const h3 = new Float64Array(N * F1);
  const h4 = new Float64Array(N * F2);
  const logits = new Float64Array(N * F3);
  // Scratch.
  const z1 = new Float64Array(O1 * P1); // one sample's conv1 output (pre-bias)
  const z2 = new Float64Array(O2 * P2);
  const dlogits = new Float64Array(N * F3);
  const dh4 = new Float64Array(N * F2);
  const dh3 = new Float64Array(N * F1);
  const da2 = new Float64Array(N * F0);
  const dz2 = new Float64Array(O2 * P2);
  const dcol2 = new Float64Array(KK2 * P2);
  const da1 = new Float64Array(O1 * Q1);
  const dz1 = new Float64Array(O1 * P1);
  const dcol1 = new Float64Array(KK1 * P1);

  function checkInputs(p: LeNetParams, x: Float64Array, labels: Labels): void {
    checkSize("x", x.length, N * IN);
    checkSize("labels", labels.length, N);
    checkSize("c1w", p.c1w.length, O1 * KK1);
    checkSize("c2w", p.c2w.length, O2 * KK2);
    checkSize("f1w", p.f1w.length, F1 * F0);
    checkSize("f2w", p.f2w.length, F2 * F1);
    checkSize("f3w", p.f3w.length, F3 * F2);
  }

  function forwardPass(p: LeNetParams, x: Float64Array, labels: Labels, dl: Float64Array | null): number {
    for (let n = 0; n < N; n++) {
      const c1o = n * KK1 * P1;
      im2col(C1, H1, W1, 5, 5, 2, x, n * IN, col1, c1o);
      gemmNN(O1, P1, KK1, p.c1w, 0, col1, c1o, z1, 0, false);
      biasReluPool2(O1, H1, W1, z1, 0, p.c1b, a1, n * O1 * Q1, arg1, n * O1 * Q1);
      const c2o = n * KK2 * P2;
      im2col(C2, H2, W2, 5, 5, 0, a1, n * O1 * Q1, col2, c2o);
      gemmNN(O2, P2, KK2, p.c2w, 0, col2, c2o, z2, 0, false);
      biasReluPool2(O2, 10, 10, z2, 0, p.c2b, a2, n * F0, arg2, n * F0);
    }
    gemmNT(N, F1, F0, a2, 0, p.f1w, 0, h3, 0, false);
    biasRelu(N, F1, h3, p.f1b);
    gemmNT(N, F2, F1, h3, 0, p.f2w, 0, h4, 0, false);
    biasRelu(N, F2, h4, p.f2b);
    gemmNT(N, F3, F2, h4, 0, p.f3w, 0, logits, 0, false);
    biasAdd(N, F3, logits, p.f3b);
    return softmaxCrossEntropy(N, F3, logits, labels, dl);
  }

  return {
    batch,
    forward(p, x, labels) {
      checkInputs(p, x, labels);
      return forwardPass(p, x, labels, null);
    },
    step(p, x, labels, g) {
      checkInputs(p, x, labels);
      const loss = forwardPass(p, x, labels, dlogits);
      // linear 3
      gemmTN(F3, F2, N, dlogits, 0, h4, 0, g.f3w, 0, false);
      colSums(N, F3, dlogits, g.f3b);
      gemmNN(N, F2, F3, dlogits, 0, p.f3w, 0, dh4, 0, false);
      reluMask(N * F2, dh4, h4);
      // linear 2
      gemmTN(F2, F1, N, dh4, 0, h3, 0, g.f2w, 0, false);
      colSums(N, F2, dh4, g.f2b);
      gemmNN(N, F1, F2, dh4, 0, p.f2w, 0, dh3, 0, false);
      reluMask(N * F1, dh3, h3);
      // linear 1
      gemmTN(F1, F0, N, dh3, 0, a2, 0, g.f1w, 0, false);
      colSums(N, F1, dh3, g.f1b);
      gemmNN(N, F0, F1, dh3, 0, p.f1w, 0, da2, 0, false);
      // conv layers, one sample at a time, accumulating the weight gradients
      g.c1b.fill(0);
      g.c2b.fill(0);
      const gx = g.x;
      if (gx !== undefined) checkSize("grads.x", gx.length, N * IN);
      for (let n = 0; n < N; n++) {
        const first = n === 0;
        // pool2 + relu + bias, then conv2
        biasReluPool2Backward(O2, 10, 10, da2, n * F0, arg2, n * F0, dz2, g.c2b);
        gemmNT(O2, KK2, P2, dz2, 0, col2, n * KK2 * P2, g.c2w, 0, !first);
        gemmTN(KK2, P2, O2, p.c2w, 0, dz2, 0, dcol2, 0, false);
        col2im(C2, H2, W2, 5, 5, 0, dcol2, 0, da1, 0);
        // pool1 + relu + bias, then conv1
        biasReluPool2Backward(O1, H1, W1, da1, 0, arg1, n * O1 * Q1, dz1, g.c1b);
        gemmNT(O1, KK1, P1, dz1, 0, col1, n * KK1 * P1, g.c1w, 0, !first);
        if (gx !== undefined) {
          gemmTN(KK1, P1, O1, p.c1w, 0, dz1, 0, dcol1, 0, false);
          col2im(C1, H1, W1, 5, 5, 2, dcol1, 0, gx, n * IN);
        }
      }
      return loss;
    },
  };
}

// ---------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------

export type MlpHandwritten = PeerModel<MlpParams>;

/** x [N,784] -> linear 128 -> sigmoid -> linear 10 -> softmax cross-entropy (mean over the batch). */
export function createMlpHandwritten(batch: number): MlpHandwritten {
  checkBatch(batch);
  const N = batch;
  const F0 = 784, F1 = 128, F2 = NUM_CLASSES;
  const h = new Float64Array(N * F1);
  const logits = new Float64Array(N * F2);
  const dlogits = new Float64Array(N * F2);
  const dh = new Float64Array(N * F1);

  function checkInputs(p: MlpParams, x: Float64Array, labels: Labels): void {
    checkSize("x", x.length, N * F0);
    checkSize("labels", labels.length, N);
    checkSize("w1", p.w1.length, F1 * F0);
    checkSize("w2", p.w2.length, F2 * F1);
  }

  function forwardPass(p: MlpParams, x: Float64Array, labels: Labels, dl: Float64Array | null): number {
    gemmNT(N, F1, F0, x, 0, p.w1, 0, h, 0, false);
    biasSigmoid(N, F1, h, p.b1);
    gemmNT(N, F2, F1, h, 0, p.w2, 0, logits, 0, false);
    biasAdd(N, F2, logits, p.b2);
    return softmaxCrossEntropy(N, F2, logits, labels, dl);
  }

  return {
    batch,
    forward(p, x, labels) {
      checkInputs(p, x, labels);
      return forwardPass(p, x, labels, null);
    },
    step(p, x, labels, g) {
      checkInputs(p, x, labels);
      const loss = forwardPass(p, x, labels, dlogits);
      gemmTN(F2, F1, N, dlogits, 0, h, 0, g.w2, 0, false);
      colSums(N, F2, dlogits, g.b2);
      gemmNN(N, F1, F2, dlogits, 0, p.w2, 0, dh, 0, false);
      for (let i = 0; i < N * F1; i++) {
        const s = h[i];
        dh[i] *= s * (1 - s);
      }
      gemmTN(F1, F0, N, dh, 0, x, 0, g.w1, 0, false);
      colSums(N, F1, dh, g.b1);
      return loss;
    },
  };
}
