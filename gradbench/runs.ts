// Runs a prepared function as an evaluate message asks: at least min_runs times and for at
// least min_seconds, one `evaluate` timing per run (what GradBench's scorer averages).
import type { Prepared, Runs, Timing } from "./protocol.js";

export function timeRuns(prepared: Prepared, { min_runs = 1, min_seconds = 0 }: Runs): Timing[] {
  const timings: Timing[] = [];
  let total = 0n;
  const minNanoseconds = BigInt(Math.round(min_seconds * 1e9));
  do {
    const start = process.hrtime.bigint();
    prepared.run();
    const nanoseconds = process.hrtime.bigint() - start;
    total += nanoseconds;
    timings.push({ name: "evaluate", nanoseconds: Number(nanoseconds) });
  } while (timings.length < min_runs || total < minNanoseconds);
  return timings;
}
