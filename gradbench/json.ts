// Conversions between GradBench's JSON (numbers, lists, lists of lists) and the flat,
// row-major Float64Arrays that adgen's generated functions take.

/** A list of numbers as a Float64Array. */
export function vector(values: readonly number[]): Float64Array {
  return Float64Array.from(values);
}

/** A list of equally long rows as one row-major Float64Array; throws if a row's length differs. */
export function matrix(rows: readonly (readonly number[])[], name: string): Float64Array {
  const width = rows.length === 0 ? 0 : rows[0]!.length;
  const out = new Float64Array(rows.length * width);
  rows.forEach((row, i) => {
    if (row.length !== width) throw new RangeError(`${name}: row ${i} has ${row.length} numbers, row 0 has ${width}`);
    out.set(row, i * width);
  });
  return out;
}

/** A Float64Array as a list of numbers. */
export function list(values: Float64Array): number[] {
  return Array.from(values);
}

/** A row-major Float64Array as a list of rows of `width` numbers. */
export function rows(values: Float64Array, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += width) out.push(Array.from(values.subarray(i, i + width)));
  return out;
}
