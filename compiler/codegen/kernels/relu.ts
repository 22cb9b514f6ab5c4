// The adjoint of relu.

import { OpEmitter } from "./context.js";
import { dims, emit, product } from "./writer.js";

export const reluGrad: OpEmitter = (ctx) => {
  const [x, dy] = ctx.args;
  const dx = ctx.result;
  const t = ctx.resultType;
  if (t.kind !== "tensor") return [`${dx} = ${x} <= 0 ? 0 : ${dy};`];
  return emit(ctx, (w) =>
    w.loop("k", product(dims(ctx, t, "dx")), (k) => w.line(`${dx}[${k}] = ${x}[${k}] <= 0 ? 0 : ${dy}[${k}];`)));
};
