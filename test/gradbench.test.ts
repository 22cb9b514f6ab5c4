// adgen's GradBench tool (gradbench/tool.ts) driven through GradBench's protocol as an eval
// drives it: start, define, evaluate with min_runs / min_seconds, analysis. The inputs and the
// expected outputs are recorded from GradBench's C++ reference tool `manual` at small sizes
// (test/fixtures-gradbench/, written by gradbench/record.ts), so this needs neither Python nor
// the GradBench snapshot. Every output must match manual's at 1e-9 relative, 10^5 times
// tighter than GradBench's own validation.

import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { TOLERANCE, compareOutputs } from "../gradbench/compare.js";
import { EVALS } from "../gradbench/evals.js";

interface Fixture {
  eval: string;
  evaluations: { function: string; description?: string; input: unknown; output: unknown }[];
}

interface Reply {
  id: number;
  tool?: string;
  success?: boolean;
  output?: unknown;
  timings?: { name: string; nanoseconds: number }[];
  error?: string;
}

const FIXTURES = new URL("./fixtures-gradbench/", import.meta.url);
const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(new URL(f, FIXTURES), "utf8")) as Fixture);

const MIN_RUNS = 3;

/** Runs the tool on these messages (one JSON line each) and returns its replies by id, and its stdout lines. */
function session(messages: object[]): { replies: Map<number, Reply>; lines: string[]; stderr: string; status: number | null } {
  const tsx = new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url).pathname;
  const tool = new URL("../gradbench/tool.ts", import.meta.url).pathname;
  const input = messages.map((m) => JSON.stringify(m) + "\n").join("");
  const r = spawnSync(process.execPath, [tsx, tool], { input, encoding: "utf8", maxBuffer: 1 << 28 });
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  const replies = new Map(lines.map((l) => JSON.parse(l) as Reply).map((reply) => [reply.id, reply]));
  return { replies, lines, stderr: r.stderr, status: r.status };
}

describe("GradBench tool", () => {
  // one session for every fixture: ids 0 (start), then a define per eval, its evaluations, and
  // an analysis of each
  const messages: object[] = [{ id: 0, kind: "start", eval: "all" }];
  const expected: { id: number; eval: string; function: string; description?: string; output: unknown }[] = [];
  let id = 1;
  const defineIds = new Map<string, number>();
  for (const f of fixtures) {
    defineIds.set(f.eval, id);
    messages.push({ id: id++, kind: "define", module: f.eval });
    for (const e of f.evaluations) {
      const input = typeof e.input === "object" && e.input !== null ? { ...e.input, min_runs: MIN_RUNS, min_seconds: 0 } : e.input;
      expected.push({ id, eval: f.eval, function: e.function, description: e.description, output: e.output });
      messages.push({ id: id++, kind: "evaluate", module: f.eval, function: e.function, input, description: e.description });
      messages.push({ id: id++, kind: "analysis", of: id - 2, valid: true });
    }
  }
  const particleId = id++;
  const noFunctionId = id++;
  const minSecondsId = id++;
  const undefinedId = id++;
  messages.push({ id: particleId, kind: "define", module: "particle" });
  messages.push({ id: noFunctionId, kind: "evaluate", module: "lse", function: "hessian", input: { x: [1, 2], min_runs: 1, min_seconds: 0 } });
  messages.push({ id: minSecondsId, kind: "evaluate", module: "lse", function: "primal", input: { x: [1, 2, 3], min_runs: 1, min_seconds: 0.05 } });
  messages.push({ id: undefinedId, kind: "evaluate", module: "det", function: "primal", input: { A: [1], ell: 1, min_runs: 1, min_seconds: 0 } });

  let run: ReturnType<typeof session>;
  beforeAll(() => {
    run = session(messages);
  }, 120_000);

  it("has a fixture for every eval it implements", () => {
    expect(fixtures.map((f) => f.eval).sort()).toEqual(Object.keys(EVALS).sort());
  });

  it("answers every message once, with its id, in order, and writes nothing else to stdout", () => {
    expect(run.status, run.stderr).toBe(0);
    expect(run.lines.map((l) => (JSON.parse(l) as Reply).id)).toEqual(messages.map((m) => (m as { id: number }).id));
  });

  it("names itself on start and acknowledges analyses with their id only", () => {
    expect(run.replies.get(0)).toEqual({ id: 0, tool: "adgen" });
    const analysis = messages.find((m) => (m as { kind: string }).kind === "analysis") as { id: number };
    expect(run.replies.get(analysis.id)).toEqual({ id: analysis.id });
  });

  it("defines every eval it implements, and fails cleanly for one it does not", () => {
    for (const [name, defineId] of defineIds) expect(run.replies.get(defineId), name).toEqual({ id: defineId, success: true });
    const particle = run.replies.get(particleId)!;
    expect(particle.success).toBe(false);
    expect(particle.error).toMatch(/adgen does not implement the particle eval/);
    expect(run.replies.get(undefinedId)).toMatchObject({ success: false, error: expect.stringMatching(/det eval was not defined/) });
    expect(run.replies.get(noFunctionId)).toMatchObject({ success: false, error: expect.stringMatching(/no function hessian/) });
  });

  it("times every run, at least min_runs times and min_seconds long", () => {
    for (const e of expected) {
      const t = run.replies.get(e.id)!.timings!;
      // hello's inputs are plain numbers, without min_runs: one run
      expect(t.length, `${e.eval} ${e.function}`).toBeGreaterThanOrEqual(e.eval === "hello" ? 1 : MIN_RUNS);
      for (const timing of t) {
        expect(timing.name).toBe("evaluate");
        expect(Number.isInteger(timing.nanoseconds) && timing.nanoseconds > 0).toBe(true);
      }
    }
    const t = run.replies.get(minSecondsId)!.timings!;
    expect(t.reduce((a, b) => a + b.nanoseconds, 0)).toBeGreaterThanOrEqual(0.05e9);
  });

  it.each(fixtures.map((f) => f.eval))("%s: every output matches manual's at 1e-9 relative", (name) => {
    const mine = expected.filter((e) => e.eval === name);
    expect(mine.length).toBeGreaterThan(0);
    for (const e of mine) {
      const reply = run.replies.get(e.id)!;
      const what = `${e.eval} ${e.function} ${e.description ?? ""}`;
      expect(reply.success, `${what}: ${reply.error}`).toBe(true);
      const c = compareOutputs(reply.output, e.output);
      expect(c.reason, what).toBeUndefined();
      expect(c.worst).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("compares outputs in a way that can fail", () => {
    expect(compareOutputs([1, 2], [1, 2 + 1e-6]).reason).toMatch(/at \[1\]: 2 vs 2.000001/);
    expect(compareOutputs({ a: [1] }, { a: [1, 2] }).reason).toMatch(/1 vs 2 elements/);
    expect(compareOutputs({ b: 1 }, { a: 1 }).reason).toMatch(/no \.a/);
    expect(compareOutputs(1e-12, 2e-12).reason).toBeUndefined(); // small outputs: absolute 1e-9
  });
});
