/**
 * A secret from the configuration (a webhook signing key, an SMTP password): its value is read
 * only with `reveal()`, and every way of printing it (String, JSON, util.inspect, a log
 * serialiser) shows `[redacted]`, so a config object logged by mistake leaks nothing.
 */
import { inspect } from "node:util";

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "[redacted]";
  }
  toJSON(): string {
    return "[redacted]";
  }
  [inspect.custom](): string {
    return "[redacted]";
  }
}

/** Loopback hosts: the only ones plain HTTP or SMTP without TLS may reach. */
export const isLoopbackHost = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
};
