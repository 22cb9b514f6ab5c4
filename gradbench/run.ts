// `npm run gradbench [-- options]`: runs GradBench's evals against adgen's tool and the
// reference tools in one session, with the snapshot's stand-in for `gradbench run`
// (gb_run.py), and writes a table: per eval, how many evaluations each tool got valid and the
// scorer's figure (the sum over evaluations of the mean `evaluate` time), with adgen's
// ratios; then adgen's outputs against manual's at 1e-9 relative (compare.ts), with every
// miss and its reason.
//
//   --gradbench DIR   the GradBench snapshot folder with setup.sh and gb_run.py (default:
//                     $GRADBENCH_SHARED, else ../shared/gradbench beside the repository)
//   --evals a,b       evals to run (default: every eval adgen implements)
//   --tools a,b       tools (default: adgen,manual,tensorflow-js,pytorch)
//   --min-seconds S   passed to every eval (default: the evals' own, 1 s)
//   --args EVAL=ARGS  extra arguments for one eval's run.py (repeatable), e.g. det='-l 5 6 7'
//   --out DIR         where logs, summaries and table.md go (default: .gradbench/results)
//   --table-only      run nothing: the table from the summaries and logs already in --out
//
// The work tree (setup.sh's copy of the snapshot, with `manual` built) is .gradbench/ in the
// repository (git-ignored).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Evaluation, type Miss, compareRuns, readEvaluations } from "./compare.js";
import { EVALS } from "./evals.js";
import { gradbenchEnv, python, root, sharedGradbench, work } from "./paths.js";

interface Options {
  gradbench: string;
  evals: string[];
  tools: string[];
  minSeconds?: number;
  args: Record<string, string>;
  out: string;
  tableOnly: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let gradbench: string | undefined;
  const o: Options = {
    gradbench: "",
    evals: Object.keys(EVALS),
    tools: ["adgen", "manual", "tensorflow-js", "pytorch"],
    args: {},
    out: join(work, "results"),
    tableOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    const take = (): string => {
      if (value === undefined) throw new Error(`${argv[i]} needs a value`);
      i++;
      return value;
    };
    switch (argv[i]) {
      case "--gradbench": gradbench = resolve(take()); break;
      case "--evals": o.evals = take().split(","); break;
      case "--tools": o.tools = take().split(","); break;
      case "--min-seconds": o.minSeconds = Number(take()); break;
      case "--out": o.out = resolve(take()); break;
      case "--table-only": o.tableOnly = true; break;
      case "--args": {
        const [name, ...rest] = take().split("=");
        o.args[name!] = rest.join("=");
        break;
      }
      default: throw new Error(`unknown option ${argv[i]} (see the comment at the top of gradbench/run.ts)`);
    }
  }
  o.gradbench = sharedGradbench(gradbench);
  return o;
}

interface Tool {
  readonly command: string;
  /** The evals the tool implements. */
  readonly evals: readonly string[];
}

/** The evals a snapshot tool lists in its evals.txt, without those marked (`ba error`, `ht timeout`). */
function listedEvals(tool: string): string[] {
  return readFileSync(join(work, "tools", tool, "evals.txt"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.includes(" "));
}

function tools(): Record<string, Tool> {
  return {
    adgen: { command: `cd ${JSON.stringify(root)} && npm run -s gradbench-tool`, evals: Object.keys(EVALS) },
    manual: { command: `${python} python/gradbench/gradbench/cpp.py manual`, evals: listedEvals("manual") },
    // GradBench's TensorFlow.js tool, run by the repository's tsx (Node 20 cannot strip types)
    // and TensorFlow.js (a devDependency), linked into the work tree's node_modules
    "tensorflow-js": { command: `${join(root, "node_modules", ".bin", "tsx")} js/tensorflow/run.ts`, evals: listedEvals("tensorflow-js") },
    pytorch: { command: `${python} python/gradbench/gradbench/tools/pytorch/run.py`, evals: listedEvals("pytorch") },
  };
}

/** setup.sh's work tree, and node_modules for the TensorFlow.js tool. */
function prepare(o: Options): void {
  execFileSync(join(o.gradbench, "setup.sh"), [], { env: { ...process.env, GRADBENCH: work }, stdio: ["ignore", "ignore", 2] });
  const modules = join(work, "node_modules");
  mkdirSync(join(modules, "@gradbench"), { recursive: true });
  if (!existsSync(join(modules, "@gradbench", "common"))) symlinkSync(join(work, "js", "common"), join(modules, "@gradbench", "common"));
  if (!existsSync(join(modules, "@tensorflow"))) symlinkSync(join(root, "node_modules", "@tensorflow"), join(modules, "@tensorflow"));
}

interface Row {
  readonly kind: string;
  readonly function: string | null;
  readonly description: string | null;
  readonly success: boolean;
  readonly valid: boolean | null;
  readonly timings: Record<string, { count: number; total_ns: number }>;
}

interface Summary {
  readonly outcome: string;
  readonly rows: readonly Row[];
}

function runOne(o: Options, evalName: string, toolName: string, tool: Tool): Summary {
  const args = [o.args[evalName] ?? "", o.minSeconds === undefined ? "" : `--min-seconds ${o.minSeconds}`].join(" ").trim();
  const base = join(o.out, `${evalName}-${toolName}`);
  // adgen's log keeps the inputs and outputs, for the comparison with manual
  const keepOutputs = toolName === "adgen";
  process.stderr.write(`${evalName} x ${toolName}: `);
  const r = spawnSync(
    python,
    [
      join(o.gradbench, "gb_run.py"), "--cwd", work,
      "--eval", `${python} python/gradbench/gradbench/evals/${evalName}/run.py ${args}`,
      "--tool", tool.command, "--tool-name", toolName,
      "--summary", `${base}.json`, "--log", `${base}.log`, ...(keepOutputs ? [] : ["--trim"]),
    ],
    {
      cwd: work,
      env: gradbenchEnv(o.gradbench),
      stdio: ["ignore", "pipe", 2],
      encoding: "utf8",
      maxBuffer: 1 << 30,
    },
  );
  const last = r.stdout.trim().split("\n").pop() ?? "";
  process.stderr.write(`${last}\n`);
  return JSON.parse(readFileSync(`${base}.json`, "utf8")) as Summary;
}

/** manual's output for each input of `asked` (one run each, of the binary that manual's session built). */
function manualOutputs(o: Options, evalName: string, asked: readonly Evaluation[]): Evaluation[] {
  const binary = join(work, "tools", "manual", "bin", evalName);
  const file = join(o.out, `${evalName}-input.json`);
  try {
    return asked.map((e) => {
      const input = typeof e.input === "object" && e.input !== null ? { ...e.input, min_runs: 1, min_seconds: 0 } : e.input;
      writeFileSync(file, JSON.stringify(input));
      const r = spawnSync(binary, [file, e.function], { encoding: "utf8", maxBuffer: 1 << 30 });
      if (r.status !== 0) return { ...e, success: false, output: undefined, error: r.stderr };
      return { ...e, success: true, output: JSON.parse(r.stdout.split("\n")[0]!) };
    });
  } finally {
    rmSync(file, { force: true });
  }
}

/** Mean `evaluate` nanoseconds of each successful evaluation, keyed by function and description. */
function means(s: Summary): Map<string, number> {
  const m = new Map<string, number>();
  for (const row of s.rows) {
    const t = row.timings.evaluate;
    if (row.kind === "evaluate" && row.success && t && t.count > 0) m.set(`${row.function} ${row.description}`, t.total_ns / t.count);
  }
  return m;
}

function seconds(ns: number): string {
  const s = ns / 1e9;
  if (s === 0) return "0";
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 1 ? `${s.toPrecision(3)} s` : s >= 1e-3 ? `${(s * 1e3).toPrecision(3)} ms` : `${(s * 1e6).toPrecision(3)} µs`;
}

function table(o: Options, results: Map<string, Map<string, Summary>>, misses: Map<string, { misses: Miss[]; worst: number; compared: number }>): string {
  const others = o.tools.filter((t) => t !== "adgen");
  const head = ["eval", ...o.tools.map((t) => `${t}: valid, time`), ...others.map((t) => `adgen / ${t}`)];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`];
  for (const [evalName, byTool] of results) {
    const cells = [evalName];
    for (const t of o.tools) {
      const s = byTool.get(t);
      if (!s) {
        cells.push("—");
        continue;
      }
      const ev = s.rows.filter((r) => r.kind === "evaluate");
      const valid = ev.filter((r) => r.valid === true).length;
      const total = [...means(s).values()].reduce((a, b) => a + b, 0);
      cells.push(`${valid}/${ev.length}, ${seconds(total)}`);
    }
    const mine = byTool.get("adgen");
    for (const t of others) {
      const s = byTool.get(t);
      if (!mine || !s) {
        cells.push("—");
        continue;
      }
      // the ratio over the evaluations both tools answered
      const a = means(mine);
      const b = means(s);
      let sa = 0;
      let sb = 0;
      for (const [k, v] of a) {
        const w = b.get(k);
        if (w === undefined) continue;
        sa += v;
        sb += w;
      }
      cells.push(sb > 0 ? `${(sa / sb).toPrecision(3)}×` : "—");
    }
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("", "Per function, adgen's time over the other tools' (the sums over the evaluations both answered):", "");
  lines.push(`| eval | function | adgen | ${others.map((t) => `adgen / ${t}`).join(" | ")} |`, `| --- | --- | ---: | ${others.map(() => "---:").join(" | ")} |`);
  for (const [evalName, byTool] of results) {
    const mine = byTool.get("adgen");
    if (!mine) continue;
    const a = means(mine);
    const functions = [...new Set([...a.keys()].map((k) => k.split(" ")[0]!))];
    for (const f of functions) {
      const mineF = [...a].filter(([k]) => k.split(" ")[0] === f);
      const cells = [evalName, f, seconds(mineF.reduce((x, [, v]) => x + v, 0))];
      for (const t of others) {
        const s = byTool.get(t);
        const b = s ? means(s) : new Map<string, number>();
        let sa = 0;
        let sb = 0;
        for (const [k, v] of mineF) {
          const w = b.get(k);
          if (w === undefined) continue;
          sa += v;
          sb += w;
        }
        cells.push(sb > 0 ? `${(sa / sb).toPrecision(3)}×` : "—");
      }
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  lines.push("", `adgen's outputs against manual's, every number at |a - b| / max(1, |a| + |b|) <= 1e-9:`, "");
  for (const [evalName, m] of misses) {
    const head = `- ${evalName}: ${m.compared} outputs compared, worst relative error ${m.worst.toExponential(1)}`;
    lines.push(m.misses.length === 0 ? `${head}, no misses` : `${head}, ${m.misses.length} misses:`);
    for (const x of m.misses) lines.push(`  - ${x.function} ${x.description}: ${x.reason}`);
  }
  return lines.join("\n") + "\n";
}

function main(): void {
  const o = parseOptions(process.argv.slice(2));
  if (!o.tableOnly) prepare(o);
  mkdirSync(o.out, { recursive: true });
  const all = tools();
  const results = new Map<string, Map<string, Summary>>();
  const misses = new Map<string, { misses: Miss[]; worst: number; compared: number }>();
  for (const e of o.evals) {
    const byTool = new Map<string, Summary>();
    for (const t of o.tools) {
      const tool = all[t];
      if (!tool) throw new Error(`unknown tool ${t} (known: ${Object.keys(all).join(", ")})`);
      if (!tool.evals.includes(e)) continue;
      const summary = join(o.out, `${e}-${t}.json`);
      if (!o.tableOnly) byTool.set(t, runOne(o, e, t, tool));
      else if (existsSync(summary)) byTool.set(t, JSON.parse(readFileSync(summary, "utf8")) as Summary);
    }
    results.set(e, byTool);
    const log = join(o.out, `${e}-adgen.log`);
    if (byTool.has("adgen") && all.manual!.evals.includes(e) && existsSync(log)) {
      const mine = readEvaluations(log);
      misses.set(e, compareRuns(mine, manualOutputs(o, e, mine)));
    }
  }
  const text = table(o, results, misses);
  writeFileSync(join(o.out, "table.md"), text);
  process.stdout.write(text);
}

main();
