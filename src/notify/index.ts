/** Builds the configured message transport (ADR 0011) from the frozen configuration. */
import fs from "node:fs";
import type { NotifyConfig } from "../config/config.js";
import { HaechiError } from "../core/errors.js";
import type { MessageTransport } from "../core/ports.js";
import { smtpTransport } from "./smtp-transport.js";
import { pickupMessageTransport, routeByChannel } from "./transports.js";
import { webhookTransport } from "./webhook-transport.js";

export const buildTransport = (cfg: NotifyConfig): MessageTransport => {
  const smtp = () => {
    const s = cfg.smtp!;
    let ca: string | undefined;
    if (s.caFile !== undefined) {
      try {
        ca = fs.readFileSync(s.caFile, "utf8");
      } catch {
        throw new HaechiError("CONFIG_INVALID", "configuration: HAECHI_SMTP_CA_FILE cannot be read");
      }
    }
    return smtpTransport({
      host: s.host,
      port: s.port,
      security: s.security,
      from: s.from,
      timeoutMs: s.timeoutMs,
      ...(s.user !== undefined ? { user: s.user } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.fromName !== undefined ? { fromName: s.fromName } : {}),
      ...(s.helo !== undefined ? { helo: s.helo } : {}),
      ...(ca !== undefined ? { ca } : {}),
    });
  };
  const webhook = (channels: readonly string[] | null) => {
    const w = cfg.webhook!;
    return webhookTransport({ url: w.url, secret: w.secret, timeoutMs: w.timeoutMs, retries: w.retries, channels });
  };
  switch (cfg.transport) {
    case "pickup":
      return pickupMessageTransport();
    case "webhook":
      return webhook(null);
    case "smtp":
      return smtp();
    case "smtp+webhook":
      return routeByChannel([smtp(), webhook(null)]);
  }
};
