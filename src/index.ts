/**
 * Haechi as a library: the same services the HTTP API and the CLI use, in-process.
 *
 *   const haechi = await openHaechi({ home: "./.haechi", catalogFile: "haechi.yaml" });
 *   const ctx = { principal: "talk-app", source: null, requestId: "job-42" };
 *   const { id } = await haechi.subjects.create(ctx, { purpose: "talk_service", fields: { … } });
 *   const person = await haechi.subjects.read(ctx, id, "talk_service", ["phone"]);
 *   await haechi.close();
 *
 * Every call is checked by the policy engine and audited exactly as over HTTP.
 */
import { loadConfig } from "./config/config.js";
import { buildContainer, type Container, type ContainerOptions } from "./container.js";

export interface OpenOptions extends Omit<ContainerOptions, "catalog"> {
  home?: string;
  /** Path of the catalog file (default: the demo catalog). */
  catalogFile?: string;
  store?: "sqlite" | "postgres";
  pgUrl?: string;
}

export const openHaechi = async (opts: OpenOptions = {}) => {
  const { home, catalogFile: catalog, store, pgUrl, ...containerOpts } = opts;
  const config = loadConfig(process.env, {
    ...(home ? { HAECHI_HOME: home } : {}),
    ...(catalog ? { HAECHI_CATALOG: catalog } : {}),
    ...(store ? { HAECHI_STORE: store } : {}),
    ...(pgUrl ? { HAECHI_PG_URL: pgUrl } : {}),
  });
  const c: Container = await buildContainer(config, containerOpts);
  return {
    subjects: c.services.subjects,
    audit: c.services.audit,
    keys: c.services.keys,
    import: c.services.import,
    apiKeys: c.services.auth,
    catalog: c.catalog,
    close: () => c.close(),
  };
};

export type Haechi = Awaited<ReturnType<typeof openHaechi>>;
export type { RequestContext } from "./services/service-types.js";
export { HaechiError, type ErrorCode } from "./core/errors.js";
export { evaluate } from "./core/policy/policy-fns.js";
export type { Decision, Reason, ReasonCode } from "./core/policy/policy-types.js";
