// Vite serves (npm run demo:browser) and builds the browser demo. adgen's plugin compiles
// `import ... from "./model.ts?grad"` in the worker on import; a second small plugin serves
// the digits (digits.ts) at /digits.bin and emits them with a build.

import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import adgen from "adgen/plugin/vite";
import { defineConfig, type Plugin } from "vite";
import { digitsFile } from "./digits.js";

const here = dirname(fileURLToPath(import.meta.url));

/** /digits.bin: built once from the `mnist` package when first asked for. */
function digits(): Plugin {
  let bytes: Uint8Array | undefined;
  const get = () => (bytes ??= digitsFile());
  return {
    name: "adgen-demo-digits",
    configureServer(server) {
      server.middlewares.use("/digits.bin", (_req, res) => {
        res.setHeader("Content-Type", "application/octet-stream");
        res.end(get());
      });
    },
    generateBundle() {
      this.emitFile({ type: "asset", fileName: "digits.bin", source: get() });
    },
  };
}

export default defineConfig({
  root: here,
  plugins: [adgen(), digits()],
  // the worker is bundled separately in a build: it needs the plugin too
  worker: { format: "es", plugins: () => [adgen()] },
  build: { outDir: "out", emptyOutDir: true, target: "es2022" },
  server: { port: 5174 },
  logLevel: "info",
});
