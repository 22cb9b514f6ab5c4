// adgen's esbuild plugin: `import adgen from "adgen/plugin/esbuild"`, then `plugins: [adgen()]`.
import { adgen } from "./unplugin.js";

export type { AdgenPluginOptions } from "./unplugin.js";
export default adgen.esbuild;
