/** Request and response shapes of the v1 HTTP API (zod; OpenAPI is generated from these). */
import { z } from "zod";
import { CONSENT_CHANNELS } from "../core/catalog/catalog-schema.js";

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: "Error" });

export const subjectIdParam = z.object({
  id: z.string().min(1).max(64).describe("The pseudonymous subject id your principal was given (sub_…)"),
});

export const consentInput = z
  .object({
    notice: z.string().min(1).max(64),
    version: z.number().int().positive().optional().describe("Notice version shown to the person; defaults to the version in force"),
    action: z.enum(["grant", "withdraw"]),
    channel: z.enum(CONSENT_CHANNELS),
  })
  .strict();

export const createBody = z
  .object({
    purpose: z.string().min(1).max(64).describe("A collecting purpose your principal is allowed"),
    fields: z.record(z.string().min(1).max(64), z.unknown()).describe("Field name → value; unknown fields are refused"),
    consents: z.array(consentInput).max(32).optional(),
  })
  .strict();

export const consentView = z.object({
  notice: z.string(),
  version: z.number(),
  category: z.string(),
  status: z.enum(["granted", "withdrawn"]),
  channel: z.string(),
  at: z.string(),
});

export const createResponse = z.object({ id: z.string(), fields: z.array(z.string()), consents: z.array(consentView) });

export const readQuery = z
  .object({
    purpose: z.string().min(1).max(64).describe("Why you are reading: a purpose your principal is allowed"),
    fields: z
      .string()
      .max(2048)
      .regex(/^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$/, "fields must be a comma-separated list of field names")
      .optional()
      .describe("Comma-separated field names; all of the purpose's fields if omitted"),
  })
  .strict();

export const readResponse = z.object({
  id: z.string(),
  purpose: z.string(),
  basis: z.string(),
  fields: z.record(z.string(), z.unknown()),
  masked: z.array(z.string()),
  withheld: z.array(z.object({ field: z.string().optional(), code: z.string(), message: z.string() })),
});

export const updateBody = z
  .object({
    purpose: z.string().min(1).max(64),
    fields: z.record(z.string().min(1).max(64), z.unknown()).describe("Field → new value, or null to remove an optional field"),
  })
  .strict();

export const updateResponse = z.object({ id: z.string(), updated: z.array(z.string()), removed: z.array(z.string()) });

export const consentsBody = z.object({ consents: z.array(consentInput).min(1).max(32) }).strict();
export const consentsResponse = z.object({
  id: z.string(),
  consents: z.array(consentView),
  destroyed: z.array(z.string()).describe("Fields destroyed because no purpose stands for them after a withdrawal (PIPA Art. 37)"),
});

export const reactivateBody = z
  .object({
    purpose: z.string().min(1).max(64).describe("A collecting purpose your principal is allowed (decided as an update under it)"),
  })
  .strict();
export const reactivateResponse = z.object({
  id: z.string(),
  status: z.literal("active"),
  reactivated: z.boolean().describe("false when the subject was already active: nothing changed"),
  restored: z.array(z.string()).describe("Fields moved back from the dormant store"),
});

export const noticePreferencesBody = z
  .object({
    annualNotice: z
      .enum(["receive", "opt_out"])
      .describe("opt_out: the person does not want the annual usage-and-provision notice (PIPA Art. 20-2; Decree 15-3); receive: withdraws the opt-out"),
  })
  .strict();
export const noticePreferencesResponse = z.object({
  id: z.string(),
  annualNotice: z.enum(["receive", "opt_out"]),
  at: z.string().describe("When it was recorded"),
});

export const lookupBody = z
  .object({
    purpose: z.string().min(1).max(64),
    field: z.string().min(1).max(64).describe("A lookup field (e.g. phone, email, user_id)"),
    value: z.union([z.string().min(1).max(1024), z.number()]),
  })
  .strict();
export const lookupResponse = z.object({ matches: z.array(z.string()) });

export const verifyQuery = z.object({}).strict();
export const verifyResponse = z.object({
  ok: z.boolean(),
  entries: z.number(),
  head: z.object({ seq: z.number(), hash: z.string() }).nullable(),
  problems: z.array(z.object({ seq: z.number(), kind: z.string(), detail: z.string() })),
  problemCount: z.number(),
  checkpointsChecked: z.number(),
});
