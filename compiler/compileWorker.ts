// The worker thread of deepStack.ts: compiles one file and posts the result (the syntax
// nodes the front end keeps for its own analyses stay here: they cannot be posted).

import { parentPort, workerData } from "node:worker_threads";
import { compileHere } from "./pipeline.js";
import type { CompileOptions } from "./pipeline.js";

const { text, options, relayIr } = workerData as { text: string; options: CompileOptions; relayIr: boolean };
const port = parentPort!;
compileHere(text, relayIr ? { ...options, onIr: (pass, entry, ir) => port.postMessage({ ir: [pass, entry, ir] }) } : options).then((r) => {
  const entries = r.entries.map((e) => ({ ...e, entry: { ...e.entry, sites: new Map() } }));
  port.postMessage({ result: { ...r, entries } });
});
