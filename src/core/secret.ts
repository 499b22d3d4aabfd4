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
