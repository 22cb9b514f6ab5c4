// `import ... from "./model.ts?grad"` (adgen's bundler plugin) for TypeScript.
/// <reference types="adgen/client" />
