// Sizes and tapes: values the compiler itself introduces. `size` reads a size symbol (the
// entry binds its type parameters from the arrays' lengths on entry); a tape is a stack the
// forward pass pushes a loop's values onto and the backward pass pops in reverse order,
// whatever the trip counts (Tapenade's push/pop).

import { F64, TAPE, Type, showType } from "../ir/types.js";
import { OpDef } from "./op.js";
import { arity } from "./shapes.js";

const isTape = (t: Type | undefined): boolean => t?.kind === "tape";

export const TAPES: {
  readonly size: OpDef<"size">;
  readonly tape: OpDef<"tape">;
  readonly push: OpDef<"push">;
  readonly peek: OpDef<"peek">;
  readonly drop: OpDef<"drop">;
} = {
  size: {
    doc: "the value of a size symbol", family: "structural", emit: "structural", vjp: "nondiff", jvp: "nondiff",
    type: (args) => arity("size", args, 0) ?? F64,
  },
  tape: {
    doc: "an empty tape", family: "structural", emit: "structural", vjp: "adjointOnly", name: "tape",
    // forward over reverse: a tape of the pushed values' tangents beside each tape
    jvp: (_i, _t, ctx) => ctx.b.emit("tape", [], {}),
    type: (args) => arity("tape", args, 0) ?? TAPE,
  },
  push: {
    doc: "the tape with v on top", family: "structural", emit: "structural", vjp: "adjointOnly",
    // (a boolean has no tangent: nothing goes on the tangents' tape, and its peek takes nothing off)
    jvp: (i, t, ctx) => (t[0] && i.args[1]!.type.kind !== "bool" ? ctx.b.emit("push", [t[0], t[1] ?? ctx.zero(i.args[1]!)], {}) : t[0]),
    type: (args) => arity("push", args, 2) ?? (isTape(args[0]) && !isTape(args[1]) ? TAPE : "push takes a tape and a value"),
  },
  peek: {
    doc: "the value on top of the tape", family: "structural", emit: "structural", vjp: "adjointOnly",
    jvp: (i, t, ctx) => (t[0] && i.attrs.of.kind !== "bool" ? ctx.b.emit("peek", [t[0]], i.attrs) : undefined),
    type: (args, { of }) => arity("peek", args, 1) ?? (isTape(args[0]) && !isTape(of) ? of : `peek takes a tape and a type, not ${showType(of)}`),
  },
  drop: {
    doc: "the tape without its top value", family: "structural", emit: "structural", vjp: "adjointOnly",
    jvp: (i, t, ctx) => (t[0] && i.attrs.of.kind !== "bool" ? ctx.b.emit("drop", [t[0]], i.attrs) : t[0]),
    type: (args) => arity("drop", args, 1) ?? (isTape(args[0]) ? TAPE : "drop takes a tape"),
  },
};
