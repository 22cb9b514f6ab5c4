// Types for `?grad` imports in TypeScript projects that use adgen's bundler plugin: add
// `/// <reference types="adgen/client" />` to a .d.ts file (or "types": ["adgen/client"]).
// A wildcard module cannot say which functions a given model exports, so imports from it
// are `any`; for exact types, generate the module with the adgen command and import
// model.grad.js instead.
declare module "*?grad";
