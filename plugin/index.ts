// adgen's bundler plugin, one implementation for every bundler (unplugin):
// `import adgen from "adgen/plugin"`, then `adgen.vite()`, `adgen.rollup()`, `adgen.esbuild()`
// or `adgen.webpack()`; or the default export of "adgen/plugin/vite" (and rollup, esbuild, webpack).
export { adgen, adgen as default } from "./unplugin.js";
export type { AdgenPluginOptions } from "./unplugin.js";
