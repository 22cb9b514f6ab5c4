// adgen's vite plugin: `import adgen from "adgen/plugin/vite"`, then `plugins: [adgen()]`.
import { adgen } from "./unplugin.js";

export type { AdgenPluginOptions } from "./unplugin.js";
export default adgen.vite;
