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
};

function record(evalName: string, args: string): void {
  const log = join(work, `fixture-${evalName}.log`);
  try {
    spawnSync(
      python,
      [
        join(shared, "gb_run.py"), "--cwd", work,
        "--eval", `${python} python/gradbench/gradbench/evals/${evalName}/run.py ${args} --min-seconds 0`,
        "--tool", `${python} python/gradbench/gradbench/cpp.py manual`, "--log", log,
      ],
      { cwd: work, env: gradbenchEnv(shared), stdio: "ignore" },
    );
    const asked = new Map<number, { function: string; description?: string; input: unknown }>();
    const entries: unknown[] = [];
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
    mkdirSync(join(root, "test", "fixtures-gradbench"), { recursive: true });
    const file = join(root, "test", "fixtures-gradbench", `${evalName}.json`);
    writeFileSync(file, JSON.stringify({ eval: evalName, args, reference: "manual", evaluations: entries }) + "\n");
    process.stderr.write(`${evalName}: ${entries.length} evaluations -> ${file}\n`);
  } finally {
    rmSync(log, { force: true });
  }
}

const only = process.argv.slice(2);
for (const [name, args] of Object.entries(FIXTURE_ARGS)) if (only.length === 0 || only.includes(name)) record(name, args);
