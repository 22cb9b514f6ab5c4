// Reductions: sum, mean, dot.

import { OpEmitContext, OpEmitter } from "./context.js";
import { IDENTIFIER, dims, emit, product } from "./writer.js";

// ---------------------------------------------------------------------------------------
// Reductions

function reduce(ctx: OpEmitContext, term: (k: string) => string, finish: (acc: string) => string): string[] {
  const n = product(dims(ctx, ctx.argTypes[0], "the argument"));
  return emit(ctx, (w) => {
    const acc = w.fresh("acc");
    w.line(`let ${acc} = 0;`);
    w.loop("k", n, (k) => w.line(`${acc} += ${term(k)};`));
    w.line(`${ctx.result} = ${finish(acc)};`);
  });
}

export const sum: OpEmitter = (ctx) => reduce(ctx, (k) => `${ctx.args[0]}[${k}]`, (acc) => acc);

export const mean: OpEmitter = (ctx) => {
  const n = product(dims(ctx, ctx.argTypes[0], "the argument"));
  return reduce(ctx, (k) => `${ctx.args[0]}[${k}]`, (acc) => `${acc} / ${typeof n === "number" || IDENTIFIER.test(n) ? n : `(${n})`}`);
};

export const dot: OpEmitter = (ctx) =>
  reduce(ctx, (k) => `${ctx.args[0]}[${k}] * ${ctx.args[1]}[${k}]`, (acc) => acc);
