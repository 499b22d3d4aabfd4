#!/usr/bin/env node
// Runs the TypeScript sources through tsx (no build step).
import { register } from "node:module";
import { pathToFileURL } from "node:url";
register("tsx/esm", pathToFileURL("./"));
await import("../src/main.ts");
