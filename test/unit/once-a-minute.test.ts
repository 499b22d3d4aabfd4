/** Reports that repeat through an outage (detection's refresh every 5 s) are written once a minute. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { onceAMinute } from "../../src/util/once-a-minute.js";

test("the first failure is reported at once; those within the next minute are counted into the next report", () => {
  let t = 0;
  const lines: Array<[string, number]> = [];
  const report = onceAMinute<string>((e, more) => lines.push([e, more]), () => t);
  report("a");
  for (t = 5_000; t < 60_000; t += 5_000) report("b");
  assert.deepEqual(lines, [["a", 0]]);
  t = 60_000;
  report("c");
  assert.deepEqual(lines, [["a", 0], ["c", 11]]);
});
