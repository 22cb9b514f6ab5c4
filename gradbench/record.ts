// `tsx gradbench/record.ts [EVAL ...]`: records the fixtures of test/gradbench.test.ts. Each eval adgen
// implements runs at small sizes against GradBench's C++ reference tool `manual` (gb_run.py,
// as `npm run gradbench` does), and test/fixtures-gradbench/<eval>.json keeps every evaluate
// message's function, description and input with manual's output, so the test needs neither
// Python nor the snapshot. Needs the work tree `npm run gradbench` prepares (.gradbench/).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gradbenchEnv, python, root, sharedGradbench, work } from "./paths.js";

const shared = sharedGradbench();
if (!existsSync(join(work, "tools", "manual", "bin"))) throw new Error(`no GradBench work tree at ${work}: run npm run gradbench first`);

/** Each eval's run.py arguments for the fixtures: sizes that run in well under a second. */
export const FIXTURE_ARGS: Readonly<Record<string, string>> = {
  hello: "",
  lse: "-n 7 40",
  llsq: "-n 16 33 -m 5",
  // manual's ode gradient is the exact solution's (a closed form), not RK4's: the two agree
  // where RK4 is exact, for a solution of degree n <= 4 in t
  ode: "-n 3 4 -s 1 7",
  gmm: "-d 2 5 -k 3 4 -n 17 -m 2 --gamma 0.7",
  lstm: "-l 1 2 -c 9 20",
  kmeans: "-k 3 7 -n 20 50 -d 2 5",
  ba: "--min 1 --max 2",
  // recorded by recordHt, which cuts the inputs down
  ht: "",
};

interface Entry {
  readonly function: string;
  readonly description?: string;
  readonly input: unknown;
  readonly output?: unknown;
}

/** The evaluate messages of one run.py session against manual, with manual's successful outputs. */
function session(evalName: string, args: string): Entry[] {
  const log = join(work, `fixture-${evalName}.log`);
  try {
    spawnSync(
      python,
      [
        join(shared, "gb_run.py"), "--cwd", work,
        "--eval", `${python} python/gradbench/gradbench/evals/${evalName}/run.py ${args} --min-seconds 0`,
        "--tool", `${python} python/gradbench/gradbench/cpp.py manual`, "--log", log,
      ],
      { cwd: work, env: gradbenchEnv(shared), stdio: "ignore", maxBuffer: 1 << 30 },
    );
    const asked = new Map<number, Entry>();
    const entries: Entry[] = [];
    for (const line of readFileSync(log, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      const { message: m, response: r } = JSON.parse(line) as { message?: Record<string, unknown>; response?: Record<string, unknown> };
      if (m?.kind === "evaluate") {
        const { min_runs: _r, min_seconds: _s, ...input } = typeof m.input === "object" && m.input !== null ? (m.input as Record<string, unknown>) : { value: m.input };
        asked.set(m.id as number, { function: String(m.function), description: m.description as string | undefined, input: typeof m.input === "object" ? input : m.input });
      }
      const q = r && asked.get(r.id as number);
      if (r && q && r.success === true) entries.push({ ...q, output: r.output });
    }
    return entries;
  } finally {
    rmSync(log, { force: true });
  }
}

/** manual's output for one input, from its binary (one run). */
function manualOutput(evalName: string, fn: string, input: object): unknown {
  const file = join(work, `fixture-${evalName}-input.json`);
  try {
    writeFileSync(file, JSON.stringify({ ...input, min_runs: 1, min_seconds: 0 }));
    const r = spawnSync(join(work, "tools", "manual", "bin", evalName), [file, fn], { encoding: "utf8", maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`manual ${evalName} ${fn}: ${r.stderr}`);
    return JSON.parse(r.stdout.split("\n")[0]!);
  } finally {
    rmSync(file, { force: true });
  }
}

function write(evalName: string, args: string, entries: readonly Entry[]): void {
  mkdirSync(join(root, "test", "fixtures-gradbench"), { recursive: true });
  const file = join(root, "test", "fixtures-gradbench", `${evalName}.json`);
  writeFileSync(file, JSON.stringify({ eval: evalName, args, reference: "manual", evaluations: entries }) + "\n");
  process.stderr.write(`${evalName}: ${entries.length} evaluations -> ${file}\n`);
}

function record(evalName: string, args: string): void {
  write(evalName, args, session(evalName, args));
}

type Rows = number[][];

interface HtInput {
  theta: number[];
  us: Rows;
  data: {
    model: { base_positions: Rows; weights: Rows; triangles: Rows; is_mirrored: boolean; [key: string]: unknown };
    correspondences: number[];
    points: Rows;
  };
}

/**
 * An ht input cut down to its first `points` correspondences and the vertices (and, for the
 * complicated variant, the triangles) they use, renumbered: the smallest input that still
 * has every bone. Each residual depends on its own correspondence only, and a vertex's
 * position on its own rest position and weights, so the residuals kept are the full input's.
 */
function shrinkHt(input: HtInput, points: number, mirrored: boolean): HtInput {
  const { model, correspondences } = input.data;
  const complicated = input.us.length > 0;
  const corr = correspondences.slice(0, points);
  const triangles = complicated ? [...new Set(corr)].map((t) => model.triangles[t]!) : [];
  const vertices = [...new Set(complicated ? triangles.flat() : corr)];
  const vertex = new Map(vertices.map((v, i) => [v, i]));
  const triangle = new Map([...new Set(corr)].map((t, i) => [t, i]));
  return {
    theta: input.theta,
    us: input.us.slice(0, points),
    data: {
      model: {
        ...model,
        base_positions: vertices.map((v) => model.base_positions[v]!),
        weights: vertices.map((v) => model.weights[v]!),
        triangles: triangles.map((t) => t.map((v) => vertex.get(v)!)),
        is_mirrored: mirrored,
      },
      correspondences: corr.map((c) => (complicated ? triangle.get(c)! : vertex.get(c)!)),
      points: input.data.points.slice(0, points),
    },
  };
}

/**
 * ht's inputs hold the whole hand model (hundreds of KB of JSON even for the small model), so
 * its fixtures are hand1 of the small model, simple and complicated, cut down to 12 points
 * (shrinkHt), each run again through manual's binary; and the simple one mirrored, its
 * objective only. (The eval never sends a mirrored hand. manual's Jacobian of one is not its
 * objective's: it negates the x of the posed vertices but not of their derivatives with
 * respect to the finger angles, so those columns differ from central differences of its own
 * objective, from 1e-3 relative.)
 */
function recordHt(): void {
  const args = "--model small --min 1 --max 1";
  const entries: Entry[] = [];
  for (const [variant, mirrored] of [["simple", false], ["simple", true], ["complicated", false]] as const) {
    const full = session("ht", `${args} --variant ${variant}`).find((e) => e.function === "objective");
    if (!full) throw new Error(`ht ${variant}: manual answered nothing`);
    const input = shrinkHt(full.input as HtInput, 12, mirrored);
    const description = `${full.description} ${variant}, first 12 points${mirrored ? ", mirrored" : ""}`;
    for (const fn of mirrored ? ["objective"] : ["objective", "jacobian"]) entries.push({ function: fn, description, input, output: manualOutput("ht", fn, input) });
  }
  write("ht", `${args} --variant simple|complicated, cut down to 12 points`, entries);
}

const only = process.argv.slice(2);
for (const [name, args] of Object.entries(FIXTURE_ARGS)) {
  if (only.length === 0 || only.includes(name)) name === "ht" ? recordHt() : record(name, args);
}
