// The worker script of adgen/parallel's pools created with `module`: it imports the
// generated module from the URL the pool sends and serves its entry's gradients.
import { type GeneratedModule, serveGradients } from "./parallel.js";

serveGradients(async (url) => (await import(/* @vite-ignore */ /* webpackIgnore: true */ url)) as GeneratedModule);
