// adgen's version, read from package.json (one level up in source, two when built into dist/).

import { existsSync, readFileSync } from "node:fs";

export const VERSION: string = (() => {
  for (const rel of ["../package.json", "../../package.json"]) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) {
      const pkg = JSON.parse(readFileSync(url, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "adgen" && pkg.version) return pkg.version;
    }
  }
  return "0.0.0";
})();
