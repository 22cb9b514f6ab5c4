// The seed's simple example: J = cos(sin(x^2) + 3 x^2).

export function J(x: number): number {
  const u = x * x;
  const v = Math.sin(u) + 3 * u;
  return Math.cos(v);
}
