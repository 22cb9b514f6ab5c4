// adgen's rollup plugin: `import adgen from "adgen/plugin/rollup"`, then `plugins: [adgen()]`.
import { adgen } from "./unplugin.js";

export type { AdgenPluginOptions } from "./unplugin.js";
export default adgen.rollup;
