/** Entry: the `haechi` CLI (`npm start` runs `haechi serve --demo`). */
import { runCli } from "./cli/cli.js";

await runCli(process.argv, process.env);
