// The evals this tool implements, each a folder here with model.ts (the DSL that adgen
// compiles at build time into model.grad.ts) and functions.ts (the eval's functions on
// GradBench's JSON, calling the generated code). Loaded on `define`, so an eval whose
// generated module is broken fails its own define and no other.
//
// Not implemented (the README's GradBench section says why): particle and saddle (gradients
// of functions that are themselves minimised by gradient descent: second order), and det
// (recursion).
import type { EvalFunctions } from "./protocol.js";

export const EVALS: Readonly<Record<string, () => Promise<EvalFunctions>>> = {
  hello: () => import("./hello/functions.js") as Promise<EvalFunctions>,
  lse: () => import("./lse/functions.js") as Promise<EvalFunctions>,
  llsq: () => import("./llsq/functions.js") as Promise<EvalFunctions>,
  ode: () => import("./ode/functions.js") as Promise<EvalFunctions>,
  gmm: () => import("./gmm/functions.js") as Promise<EvalFunctions>,
  lstm: () => import("./lstm/functions.js") as Promise<EvalFunctions>,
  kmeans: () => import("./kmeans/functions.js") as Promise<EvalFunctions>,
  ba: () => import("./ba/functions.js") as Promise<EvalFunctions>,
  ht: () => import("./ht/functions.js") as Promise<EvalFunctions>,
};
