// adgen's webpack plugin: `import adgen from "adgen/plugin/webpack"`, then `plugins: [adgen()]`.
import { adgen } from "./unplugin.js";

export type { AdgenPluginOptions } from "./unplugin.js";
export default adgen.webpack;
