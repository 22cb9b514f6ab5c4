// GradBench's Gaussian mixture model objective (evals/gmm, from ADBench with its three
// fixes), written once for any dimension d, number of components k and number of points n:
// the log posterior of the points x under k Gaussians with weights softmax(alpha), means mu
// and precision matrices QᵀQ, with a Wishart prior on the precisions.
//
// Q (for component c) is lower triangular: exp(q[c]) on the diagonal and l[c] below it,
// filled column by column, so entry (i, j) with j < i is l[c][j (2d - j - 1) / 2 + i - j - 1].
// The loops below walk that triangle directly (`for (let i = j + 1; i < d; i++)`); no d x d
// matrix is built. What depends only on a component (exp q, Σ q) is computed once per
// component, not once per point. d, k, n are read from the arrays (x.length, x[0].length, alpha.length);
// L is the length of one row of l and must be d (d - 1) / 2. gamma and m are the Wishart
// prior's parameters, not differentiated (see @wrt); m, the extra degrees of freedom, is an
// integer parameter. GradBench's C++ reference is cpp/gradbench/evals/gmm.hpp, its PyTorch
// one tools/pytorch/gmm_objective.py (which test/fixtures-sizes/gmm.json comes from).
import { type Tensor, zeros } from "adgen";

/**
 * log Σ exp v, with the maximum subtracted first so that exp never overflows. The maximum is
 * found as an index (an integer, nothing for the backward pass to keep).
 */
function logsumexp<K extends number>(v: Tensor<[K]>): number {
  let im = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[im]) im = i;
  const mx = v[im];
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i] - mx);
  return Math.log(s) + mx;
}

/**
 * log Γ(h / 2) for an integer h ≥ 1, exactly as a sum of logs: Γ(z + 1) = z Γ(z) down to
 * Γ(1) = 1 (h even) or Γ(1/2) = √π (h odd). JavaScript has no lgamma, and the Wishart
 * constant needs only these. h is an integer (a loop bound), and so is m, which it comes from.
 */
function logGammaHalf(h: number): number {
  let r = 0;
  for (let u = h - 2; u > 0; u -= 2) r += Math.log(u / 2);
  if (h % 2 === 1) r += 0.5 * Math.log(Math.PI);
  return r;
}

/**
 * The GMM log posterior: Σ_i logsumexp_c(alpha_c + Σ q_c - ½‖Q_c (x_i - mu_c)‖²)
 * - n logsumexp(alpha) - n d ½ log 2π + the log Wishart prior.
 * @wrt alpha, mu, q, l
 */
export function gmm<D extends number, K extends number, N extends number, L extends number>(
  alpha: Tensor<[K]>, mu: Tensor<[K, D]>, q: Tensor<[K, D]>, l: Tensor<[K, L]>,
  x: Tensor<[N, D]>, gamma: number, m: number,
): number {
  const n = x.length;
  const d = x[0].length;
  const k = alpha.length;

  // Per component, once: Q's diagonal exp(q) and Σ q (the log-determinant of Q).
  const qdiag = zeros([k, d]);
  const sumQ = zeros([k]);
  for (let ik = 0; ik < k; ik++) {
    for (let i = 0; i < d; i++) {
      qdiag[ik][i] = Math.exp(q[ik][i]);
      sumQ[ik] += q[ik][i];
    }
  }

  // The data term: for each point, a log-sum-exp over the components of
  // alpha + Σ q - ½‖Q (x - mu)‖². Q (x - mu) is accumulated column by column, as GradBench's
  // C++ reference does: column j of Q's strictly lower part is l[c][base + i] for i > j.
  // main[i][c] is written once, so the backward pass reads it instead of recomputing it.
  const main = zeros([n, k]);
  for (let ix = 0; ix < n; ix++) {
    for (let ik = 0; ik < k; ik++) {
      const qx = zeros([d]);
      for (let i = 0; i < d; i++) qx[i] = qdiag[ik][i] * (x[ix][i] - mu[ik][i]);
      for (let j = 0; j < d; j++) {
        const xj = x[ix][j] - mu[ik][j];
        const base = (j * (2 * d - j - 1)) / 2 - j - 1;
        for (let i = j + 1; i < d; i++) qx[i] += l[ik][base + i] * xj;
      }
      let sq = 0;
      for (let i = 0; i < d; i++) sq += qx[i] * qx[i];
      main[ix][ik] = alpha[ik] + sumQ[ik] - 0.5 * sq;
    }
  }
  let slse = 0;
  for (let ix = 0; ix < n; ix++) slse += logsumexp(main[ix]);

  // The Wishart prior on each precision QᵀQ, with n_w = d + m + 1 degrees of freedom:
  // Σ_c (m Σ q_c - ½ γ² ‖Q_c‖²_F) + k (n_w d log(γ / √2) - log Γ_d(n_w / 2)).
  const nw = d + m + 1;
  let prior = 0;
  for (let ik = 0; ik < k; ik++) {
    let frob = 0;
    let sumQ = 0;
    for (let i = 0; i < d; i++) {
      frob += Math.exp(2 * q[ik][i]);
      sumQ += q[ik][i];
      for (let j = 0; j < i; j++) {
        const lij = l[ik][(j * (2 * d - j - 1)) / 2 + i - j - 1];
        frob += lij * lij;
      }
    }
    prior += m * sumQ - 0.5 * gamma * gamma * frob;
  }
  // log Γ_d(a) = d (d - 1) / 4 log π + Σ_{j=1..d} log Γ(a + (1 - j) / 2), with a = n_w / 2.
  let logMultiGamma = ((d * (d - 1)) / 4) * Math.log(Math.PI);
  for (let j = 1; j <= d; j++) logMultiGamma += logGammaHalf(nw + 1 - j);
  const c = nw * d * (Math.log(gamma) - 0.5 * Math.log(2)) - logMultiGamma;

  return -0.5 * n * d * Math.log(2 * Math.PI) + slse - n * logsumexp(alpha) + prior + k * c;
}
