// GradBench's hello eval: `square` is x², and `double` is its derivative, 2x, which the tool
// reads from the gradient adgen generates (squareGrad), not from a second formula.
/** x². */
export function square(x: number): number {
  return x * x;
}
