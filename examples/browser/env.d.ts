// `import ... from "./model.ts?grad"` (adgen's bundler plugin) for TypeScript. A project
// that installed adgen writes `/// <reference types="adgen/client" />`; inside adgen's own
// repository that file is plugin/client.d.ts.
/// <reference path="../../plugin/client.d.ts" />
