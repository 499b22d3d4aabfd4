/**
 * Worker thread of the export writer (export-writer.ts starts it). Each message is one packed
 * part; the answer is its outcome or a message safe to show (no values, no stack).
 */
import { parentPort, workerData } from "node:worker_threads";
import { describeFailure, EXPORT_WORKER_MARK, packedSource, partWriter, type ExportSettings, type PackedPart, type WorkerReply } from "./export-fns.js";

const data = workerData as { mark?: unknown; settings?: ExportSettings } | null;

if (parentPort !== null && data?.mark === EXPORT_WORKER_MARK && data.settings !== undefined) {
  const port = parentPort;
  const settings = data.settings;
  const writer = partWriter(settings);
  // The copies of the keys handed over at start are no longer needed: the writer holds key objects.
  settings.pseudonymKey.fill(0);
  settings.hashKey.fill(0);
  const fields = settings.fields.length;
  port.on("message", (m: PackedPart) => {
    void (async () => {
      let reply: WorkerReply;
      try {
        let plain: Buffer;
        try {
          plain = writer.render(m.part, packedSource(m, fields));
        } finally {
          // Data keys and stored values: needed no longer.
          m.data.fill(0);
        }
        reply = { seq: m.seq, ok: true, result: await writer.seal(m.part, m.file, m.count, plain) };
      } catch (e) {
        reply = { seq: m.seq, ok: false, message: describeFailure(e, m.part) };
      }
      port.postMessage(reply);
    })();
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
}
