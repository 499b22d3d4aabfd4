/**
 * The outcomes a failover leaves a client with (issue 7; ADR 0017), made on purpose around the
 * real data store the services use (`wrapDataStore`): a write that commits and then answers
 * `STORE_UNAVAILABLE` (the acknowledgement lost), or one that fails before it commits. Methods are
 * named by their path on the store: `transaction`, `requests.update`, `incidents.putScope`, ….
 * Also counts the calls of any method (the hot path's reads).
 */
import { HaechiError } from "../../src/core/errors.js";
import type { DataStore } from "../../src/core/ports.js";

const SUB_STORES = new Set(["provisions", "sealed", "incidents", "detection", "outbox", "policies", "requests", "operators", "portal"]);

/** The error a lost connection or an unacknowledged commit gives (storage-errors.ts). */
export const storeUnavailable = () =>
  new HaechiError(
    "STORE_UNAVAILABLE",
    "the database is unavailable or did not acknowledge the write (failover?): its outcome is unknown; retry, with the same Idempotency-Key for a write",
  );

type Step = "pass" | "lose" | "lose-briefly" | "fail";

export const lostAnswers = () => {
  /**
   * Path → what the next calls do: commit then fail, the store staying away for the next lookup
   * ("lose") or back at once ("lose-briefly"); fail without committing ("fail"); or work ("pass").
   */
  const armed = new Map<string, Step[]>();
  const calls = new Map<string, number>();

  const wrapObject = <T extends object>(target: T, prefix: string): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof prop !== "string") return value;
        const path = prefix === "" ? prop : `${prefix}.${prop}`;
        if (prefix === "" && SUB_STORES.has(prop) && value !== null && typeof value === "object") return wrapObject(value as object, prop);
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => {
          calls.set(path, (calls.get(path) ?? 0) + 1);
          const next = armed.get(path)?.shift();
          if (next === "fail") throw storeUnavailable();
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
          if (next === "lose" || next === "lose-briefly") {
            // The store stays away for the next read too (the pool is finding the primary again),
            // unless it is back at once.
            if (next === "lose") armed.set("getIdempotency", ["fail", ...(armed.get("getIdempotency") ?? [])]);
            throw storeUnavailable();
          }
          return result;
        };
      },
    });

  return {
    /** For `startApp(kind, { wrapDataStore })`. */
    wrap: (data: DataStore): DataStore => wrapObject(data, ""),
    /**
     * The next call of `path` commits, and its caller gets STORE_UNAVAILABLE instead of the result;
     * the store is still away for the lookup that follows.
     */
    loseNext(path: string) {
      armed.set(path, [...(armed.get(path) ?? []), "lose"]);
    },
    /** The next call of `path` fails with STORE_UNAVAILABLE without writing anything. */
    failNext(path: string) {
      armed.set(path, [...(armed.get(path) ?? []), "fail"]);
    },
    /** What the next calls of `path` do, in order ("pass" lets one through). */
    plan(path: string, ...steps: Step[]) {
      armed.set(path, [...(armed.get(path) ?? []), ...steps]);
    },
    /** Arms nothing any more (a test that did not reach its armed call leaves none behind). */
    disarm() {
      armed.clear();
    },
    calls: (path: string) => calls.get(path) ?? 0,
  };
};
