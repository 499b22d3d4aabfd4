export { Secret } from "../core/secret.js";

/** Loopback hosts: the only ones plain HTTP or SMTP without TLS may reach. */
export const isLoopbackHost = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
};
