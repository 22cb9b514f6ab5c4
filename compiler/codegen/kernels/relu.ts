// The adjoint of relu.

import { OpEmitter } from "./context.js";
import { emit, size } from "./writer.js";

export const reluGrad: OpEmitter = (ctx) => {
  const [x, dy] = ctx.args;
  const dx = ctx.result;
  const t = ctx.resultType;
  if (t.kind !== "tensor") return [`${dx} = ${x} <= 0 ? 0 : ${dy};`];
  return emit(ctx, (w) =>
    w.loop("k", size(t.shape), (k) => w.line(`${dx}[${k}] = ${x}[${k}] <= 0 ? 0 : ${dy}[${k}];`)));
};
