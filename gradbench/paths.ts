// Where the scripts find things: the repository, GradBench's snapshot (outside the repository:
// setup.sh, gb_run.py, pyshim/ and snapshot/), and the work tree setup.sh makes from it.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** setup.sh's copy of the snapshot, with `manual` built: git-ignored. */
export const work = join(root, ".gradbench");

export const python = "/usr/bin/python3";

/** The snapshot folder: --gradbench DIR, else $GRADBENCH_SHARED, else ../shared/gradbench beside the repository. */
export function sharedGradbench(option?: string): string {
  const dir = option ?? process.env.GRADBENCH_SHARED ?? resolve(root, "..", "shared", "gradbench");
  if (!existsSync(join(dir, "gb_run.py"))) throw new Error(`no GradBench snapshot at ${dir} (pass --gradbench DIR or set GRADBENCH_SHARED)`);
  return dir;
}

/** The environment gb_run.py, the evals and `manual` need. */
export function gradbenchEnv(shared: string): NodeJS.ProcessEnv {
  // (one core for every tool: Debian's torch links OpenBLAS, which otherwise starts a thread per core)
  return {
    ...process.env, PYTHONPATH: `${join(shared, "pyshim")}:${join(work, "python", "gradbench")}`, CPATH: "/usr/include/nlohmann",
    OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1",
  };
}
