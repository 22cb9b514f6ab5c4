// adgen as a GradBench tool: `npm run -s gradbench-tool` reads GradBench's messages, one JSON
// object per line on stdin, and answers each on stdout with one line carrying its id:
//
//   start                                   -> { id, tool: "adgen" }
//   define { module }                       -> { id, success } (false, with an error, for an
//                                              eval this tool does not implement)
//   evaluate { module, function, input }    -> { id, success, output, timings }, one
//                                              `evaluate` timing per run (runs.ts)
//   analysis { of, valid }                  -> { id }
//
// Nothing but responses goes to stdout. Errors in a message become `success: false` with the
// error's message; the tool keeps reading.
import { createInterface } from "node:readline";
import { buildModels } from "./build.js";
import { EVALS } from "./evals.js";
import type { EvalFunctions, Message, Response } from "./protocol.js";
import { timeRuns } from "./runs.js";

const defined = new Map<string, EvalFunctions>();

async function define(module: string): Promise<Omit<Response, "id">> {
  const load = Object.hasOwn(EVALS, module) ? EVALS[module] : undefined;
  if (!load) return { success: false, error: `adgen does not implement the ${module} eval (it implements ${Object.keys(EVALS).join(", ")})` };
  defined.set(module, await load());
  return { success: true };
}

function evaluate(message: Extract<Message, { kind: "evaluate" }>): Omit<Response, "id"> {
  const functions = defined.get(message.module);
  if (!functions) throw new Error(`the ${message.module} eval was not defined`);
  const fn = Object.hasOwn(functions, message.function) ? functions[message.function] : undefined;
  if (!fn) throw new Error(`the ${message.module} eval has no function ${message.function} in adgen's tool`);
  const prepared = fn(message.input as never);
  const input = typeof message.input === "object" && message.input !== null ? message.input : {};
  const timings = timeRuns(prepared, input);
  return { success: true, output: prepared.output(), timings };
}

async function respond(message: Message): Promise<Response> {
  try {
    switch (message.kind) {
      case "start":
        return { id: message.id, tool: "adgen" };
      case "define":
        return { id: message.id, ...(await define(message.module)) };
      case "evaluate":
        return { id: message.id, ...evaluate(message) };
      case "analysis":
        return { id: message.id };
    }
  } catch (error) {
    return { id: message.id, success: false, error: error instanceof Error ? error.message : String(error) };
  }
}

async function main(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === "") continue;
    const message = JSON.parse(line) as Message;
    process.stdout.write(JSON.stringify(await respond(message)) + "\n");
  }
}

// Compile any stale model first (a no-op after `npm run gradbench:build`); a model with errors
// fails its eval's define, not the tool.
buildModels();
await main();
