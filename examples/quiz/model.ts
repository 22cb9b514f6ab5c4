// The seed's differentiation quiz: y = exp(xz) + xz / log(x) + sin(log(x)) / (xz).
// At x = 2, z = 3 the gradient rounds to [1208, 810].

export function quiz(x: number, z: number): number {
  const xz = x * z;
  const lx = Math.log(x);
  return Math.exp(xz) + xz / lx + Math.sin(lx) / xz;
}
