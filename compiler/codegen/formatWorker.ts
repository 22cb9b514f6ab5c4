// The worker thread of format.ts: formats the pieces it is given and posts them back.

import { parentPort, workerData } from "node:worker_threads";
import { formatEach } from "./format.js";

formatEach(workerData as string[]).then(
  (out) => parentPort!.postMessage({ ok: true, out }),
  (e: unknown) => parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
);
