// Compares two tools' outputs for one eval more tightly than GradBench does: every number at
// |a - b| / max(1, |a| + |b|) <= 1e-9 (GradBench's own check allows 1e-4). Outputs are
// matched by evaluate message (function and description, in order); the reference outputs
// are computed on the same inputs (run.ts runs manual's binary on each input of adgen's log:
// some evals, lstm's, draw unseeded random inputs, so two sessions see different inputs).
import { readFileSync } from "node:fs";

export const TOLERANCE = 1e-9;

/** One evaluate of a log: what was asked and what the tool answered. */
export interface Evaluation {
  readonly function: string;
  readonly description: string;
  readonly input: unknown;
  readonly success: boolean;
  readonly output: unknown;
  readonly error?: string;
}

/** An entry that misses, and why. */
export interface Miss {
  readonly function: string;
  readonly description: string;
  readonly reason: string;
}

/** The evaluate messages of a gb_run.py log (untrimmed: with outputs), in order. */
export function readEvaluations(logFile: string): Evaluation[] {
  const asked = new Map<number, { function: string; description: string; input: unknown }>();
  const out: Evaluation[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const entry = JSON.parse(line) as { message?: Record<string, unknown>; response?: Record<string, unknown> };
    if (entry.message?.kind === "evaluate") {
      asked.set(entry.message.id as number, {
        function: String(entry.message.function),
        description: String(entry.message.description ?? ""),
        input: entry.message.input,
      });
    }
    const r = entry.response;
    const q = r ? asked.get(r.id as number) : undefined;
    if (r && q) out.push({ ...q, success: r.success === true, output: r.output, error: typeof r.error === "string" ? r.error : undefined });
  }
  return out;
}

export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1, Math.abs(a) + Math.abs(b));
}

/**
 * The first place where two outputs differ beyond the tolerance, as a reason ("at [3]: 1.2 vs
 * 1.3, relative error 4e-2"), and the largest relative error over their numbers.
 */
export function compareOutputs(a: unknown, b: unknown, path = ""): { worst: number; reason?: string } {
  if (typeof a === "number" && typeof b === "number") {
    const e = relativeError(a, b);
    return e <= TOLERANCE ? { worst: e } : { worst: e, reason: `at ${path || "the value"}: ${a} vs ${b}, relative error ${e.toExponential(1)}` };
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return { worst: Infinity, reason: `at ${path || "the list"}: ${a.length} vs ${b.length} elements` };
    return combine(a.map((x, i) => compareOutputs(x, b[i], `${path}[${i}]`)));
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = Object.keys(b as object);
    const missing = keys.find((k) => !(k in (a as object)));
    if (missing) return { worst: Infinity, reason: `no ${path}.${missing}` };
    return combine(keys.map((k) => compareOutputs((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`)));
  }
  return { worst: Infinity, reason: `at ${path || "the value"}: ${JSON.stringify(a)?.slice(0, 40)} vs ${JSON.stringify(b)?.slice(0, 40)}` };
}

function combine(parts: { worst: number; reason?: string }[]): { worst: number; reason?: string } {
  let worst = 0;
  let reason: string | undefined;
  for (const p of parts) {
    worst = Math.max(worst, p.worst);
    reason ??= p.reason;
  }
  return { worst, reason };
}

/** The misses of `tool` against `reference` (both a log's evaluations), and the worst relative error. */
export function compareRuns(tool: readonly Evaluation[], reference: readonly Evaluation[]): { misses: Miss[]; worst: number; compared: number } {
  const misses: Miss[] = [];
  let worst = 0;
  let compared = 0;
  reference.forEach((ref, i) => {
    const mine = tool[i];
    const at = { function: ref.function, description: ref.description };
    if (!mine || mine.function !== ref.function || mine.description !== ref.description) {
      misses.push({ ...at, reason: "not evaluated" });
    } else if (!ref.success) {
      // the reference failed: nothing to compare with
    } else if (!mine.success) {
      misses.push({ ...at, reason: `failed: ${mine.error ?? "no error message"}` });
    } else {
      const c = compareOutputs(mine.output, ref.output);
      compared++;
      worst = Math.max(worst, c.worst);
      if (c.reason) misses.push({ ...at, reason: c.reason });
    }
  });
  return { misses, worst, compared };
}
