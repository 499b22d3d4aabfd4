/**
 * The catalog (`haechi.yaml`): privacy as code. This zod schema is the single source of truth
 * for its shape; `catalog-fns.ts` adds the cross-reference and legal checks, and the JSON Schema
 * published for editors is generated from this file (`haechi catalog schema`).
 */
import { z } from "zod";

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, "must be lower snake_case (a-z, 0-9, _), starting with a letter");
const principalName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, "must be lower kebab-case (a-z, 0-9, -), starting with a letter");
/** ISO-8601 duration limited to years, months and days (P5Y, P3M, P30D, P1Y6M). */
export const ISO_PERIOD_RE = /^P(?=\d)(\d+Y)?(\d+M)?(\d+D)?$/;
export const isoPeriod = z.string().regex(ISO_PERIOD_RE, "must be an ISO-8601 period such as P5Y, P6M or P30D");
/** Text that must say something: a blank or whitespace-only string is as good as missing. */
const prose = z.string().regex(/\S/, "must not be empty or blank");
/** Prose in one language, or bilingual `{ ko, en }` (both required). */
const text = z.union([prose, z.object({ ko: prose, en: prose }).strict()], {
  error: "must be a non-blank string or an object { ko, en } with both languages",
});

/** A telephone number as people dial it: digits, spaces, +, -, parentheses. */
const PHONE_RE = /^\+?[0-9][0-9 ()-]{2,24}$/;
const PHONE_MESSAGE = "must be a telephone number (digits, spaces, +, -, parentheses), e.g. 02-1234-5678";

/** Field class (PIPA Art. 16; seed 002): required, optional, or generated automatically. */
export const FIELD_CLASSES = ["required", "optional", "auto"] as const;
/** Sensitivity vocabulary (LAW §15 A1). */
export const SENSITIVITIES = [
  "general",
  "unique_id", // Art. 24: passport, driver's licence, alien registration numbers
  "rrn", // Art. 24-2: resident registration number
  "sensitive", // Art. 23
  "credit", // Credit Information Act
  "card", // Safety Standard Art. 7(2)
  "account", // Safety Standard Art. 7(2)
  "biometric", // Decree Art. 18; Safety Standard Art. 7(2)
] as const;
export const MASKINGS = ["none", "full", "phone", "email", "name", "last4", "rrn", "ip"] as const;
export const MINIMISERS = ["ipv4_24_ipv6_48", "date_only", "hour_only"] as const;
export const FIELD_TYPES = ["string", "number", "boolean", "date", "datetime", "json"] as const;
/** Reference to a retention rule, field, purpose or notice by its catalog name. */
const ref = (what: string) => name.describe(`name of a ${what} declared in this catalog`);

/** PIPA Art. 15(1) lawful bases, 1 to 7. */
export const LEGAL_BASES = [
  "consent", // 15(1)1
  "law", // 15(1)2
  "public_duty", // 15(1)3
  "contract", // 15(1)4
  "vital_interest", // 15(1)5
  "legitimate_interest", // 15(1)6
  "public_safety", // 15(1)7
] as const;
export const LEGAL_BASIS_ARTICLE: Record<(typeof LEGAL_BASES)[number], string> = {
  consent: "PIPA Art. 15(1)1",
  law: "PIPA Art. 15(1)2",
  public_duty: "PIPA Art. 15(1)3",
  contract: "PIPA Art. 15(1)4",
  vital_interest: "PIPA Art. 15(1)5",
  legitimate_interest: "PIPA Art. 15(1)6",
  public_safety: "PIPA Art. 15(1)7",
};

/** Consent categories that must each be taken separately (PIPA Art. 22(1)). */
export const CONSENT_CATEGORIES = [
  "collection_use", // 22(1)1
  "provision", // 22(1)2
  "out_of_purpose", // 22(1)3
  "onward", // 22(1)4
  "sensitive", // 22(1)5 / Art. 23
  "unique_id", // 22(1)6 / Art. 24
  "marketing", // 22(1)7
  "overseas_transfer", // Art. 28-8(1)1: separate consent to an overseas transfer
] as const;
export const CONSENT_CHANNELS = ["web", "app", "phone", "written", "email", "import"] as const;

/**
 * A record whose output has no prototype, so a name such as `constructor` or `toString` is never
 * "found" in the catalog by `catalog.fields[name]`.
 */
const nullProtoRecord = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) =>
  z.record(key, value).transform((o) => Object.assign(Object.create(null) as Record<z.output<K> & PropertyKey, z.output<V>>, o));

export const fieldSchema = z
  .object({
    class: z
      .enum(FIELD_CLASSES)
      .describe("required: needed for the service; optional: may be declined (PIPA Art. 16(3)); auto: generated during use"),
    sensitivity: z
      .enum(SENSITIVITIES)
      .describe("general | unique_id (Art. 24) | rrn (Art. 24-2) | sensitive (Art. 23) | credit | card | account | biometric"),
    type: z.enum(FIELD_TYPES).default("string").describe("value type"),
    description: text.optional().describe("what the field holds"),
    /** Keyed blind index so the subject can be found by this value (phone, email, user id). */
    lookup: z
      .boolean()
      .default(false)
      .describe("keep a keyed blind index so subjects can be found by this value; not allowed on rrn/sensitive/biometric/card/account/credit"),
    /** Mask applied when a purpose asks for the field masked. */
    masking: z.enum(MASKINGS).default("none").describe("mask applied when a purpose reads the field masked"),
    /** Minimisation applied at collection (auto fields such as IP addresses). */
    minimise: z.enum(MINIMISERS).optional().describe("minimisation applied at collection; auto fields only"),
    /** Largest accepted value, in characters of its JSON form. */
    max_length: z
      .number()
      .int()
      .positive()
      .max(65536)
      .default(1024)
      .describe("largest accepted value, in characters of its JSON form"),
    /** Optional regular expression a string value must match. */
    pattern: z.string().optional().describe("JavaScript regular expression a string value must match"),
  })
  .strict()
  .describe("A personal-data field");

export const retentionSchema = z
  .object({
    /** How long after `from` the data may be kept. */
    period: isoPeriod.optional().describe("how long after `from` the data may be kept (P5Y, P6M, P30D)"),
    /** The event the period counts from. */
    from: z
      .enum(["collection", "last_use", "relationship_end", "purpose_end"])
      .default("relationship_end")
      .describe("the event the period counts from"),
    /** Statutory retention rules (names in `retention_rules`) that may hold the data longer. */
    rules: z
      .array(ref("retention rule"))
      .default([])
      .describe("statutory retention rules (names in retention_rules) that may keep the data longer, in the sealed store"),
  })
  .strict();

export const purposeSchema = z
  .object({
    description: text.describe("what the data is used for (shown in the privacy policy)"),
    basis: z.enum(LEGAL_BASES).describe("lawful basis, PIPA Art. 15(1)1-7"),
    /** For basis `law` (and any purpose touching RRNs): the statute that specifically provides for it. */
    statute: z
      .string()
      .min(3)
      .optional()
      .describe("for basis law, and any purpose using an RRN: the statute that specifically provides for it"),
    /** For basis `consent`: the notice whose consent this purpose rests on. */
    notice: ref("notice").optional().describe("for basis consent: the notice whose consent this purpose rests on"),
    fields: z.array(ref("field")).min(1).describe("the fields this purpose may use"),
    /** Fields returned masked for this purpose: field -> mask (overrides the field's default). */
    masked: z
      .record(name, z.enum(MASKINGS))
      .default({})
      .describe("fields returned masked for this purpose: field -> mask"),
    retention: retentionSchema.default({ from: "relationship_end", rules: [] }),
    /** Whether a principal may write (collect / update) under this purpose. */
    collects: z.boolean().default(false).describe("whether principals may write (collect / update) under this purpose"),
  })
  .strict()
  .describe("A processing purpose with its lawful basis");

/** One version of a consent notice. The four Art. 15(2) items are required. */
export const noticeVersionSchema = z
  .object({
    version: z.number().int().positive().describe("version number; strictly increasing"),
    effective: z.iso.date().describe("date the version takes effect (YYYY-MM-DD); non-decreasing"),
    /** Art. 15(2)1: purpose of collection and use. */
    purpose: text.describe("PIPA Art. 15(2)1: purpose of collection and use"),
    /** Art. 15(2)2: the items collected (field names). */
    items: z.array(ref("field")).min(1).describe("PIPA Art. 15(2)2: the items collected (field names)"),
    /** Art. 15(2)3: retention and use period. */
    retention: text.describe("PIPA Art. 15(2)3: retention and use period"),
    /** Art. 15(2)4: the right to refuse and the disadvantage of refusing. */
    refusal: z
      .object({
        right: text.describe("PIPA Art. 15(2)4: the right to refuse consent"),
        disadvantage: text.describe("PIPA Art. 15(2)4: the disadvantage of refusing, if any"),
      })
      .strict(),
  })
  .strict()
  .describe("One version of a consent notice; the four PIPA Art. 15(2) items are required");

export const noticeSchema = z
  .object({
    category: z.enum(CONSENT_CATEGORIES).describe("consent category, taken separately from the others (PIPA Art. 22(1))"),
    title: text,
    /** Optional notices may be declined without losing the service (Art. 16(3), 22(5)). */
    optional: z
      .boolean()
      .default(true)
      .describe("may be declined without losing the service (PIPA Art. 16(3), 22(5)); marketing must be optional"),
    /**
     * For categories provision and overseas_transfer: the recipient the consent is for. Its legal
     * name and contact, its own purpose, its retention period and (overseas) the country, time
     * and method of transfer are the remaining PIPA Art. 17(2) / 28-8(2) items.
     */
    recipient: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, "must be lower kebab-case (a-z, 0-9, -), starting with a letter")
      .optional()
      .describe("for provision and overseas_transfer notices: the recipient (name in recipients) the consent is for (PIPA Art. 17(2)1, 28-8(2)3)"),
    versions: z.array(noticeVersionSchema).min(1).describe("every version ever shown, oldest first"),
  })
  .strict()
  .describe("A versioned consent notice");

export const principalSchema = z
  .object({
    description: text.optional(),
    purposes: z
      .array(ref("purpose"))
      .default([])
      .describe("the purposes this principal may use (operators, who read no personal data, may have none)"),
    /**
     * Identifier context: principals sharing a context see the same pseudonymous subject ids;
     * different contexts can never link theirs (seed 000). Defaults to the principal's name.
     */
    id_context: principalName
      .optional()
      .describe("identifier context; principals sharing one see the same subject ids (default: the principal's name)"),
    /** The recipients this principal may send data to through the provision gate. */
    recipients: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower kebab-case"))
      .default([])
      .describe("recipients (names in recipients) this principal may provide data to through the provision gate"),
    /** Principals that may only use the sealed legal-retention store. */
    role: z
      .enum(["service", "legal_retention", "operator"])
      .default("service")
      .describe(
        "service: uses data for its purposes; legal_retention: only the sealed legal-retention store; operator: audit, incidents and reports, no personal data",
      ),
  })
  .strict()
  .describe("A service or person that calls Haechi");

export const retentionRuleSchema = z
  .object({
    period: isoPeriod.describe("how long the law requires the data to be kept"),
    citation: z.string().min(3).describe("the law and article that require it"),
    description: text.optional(),
    /** The items the law requires keeping; after an erasure they move to the sealed store. */
    fields: z
      .array(ref("field"))
      .default([])
      .describe("the items this law requires keeping (they move to the sealed store when the account is deleted)"),
    /** The rule applies to a person only if they hold this field (payment records: transaction_history). */
    when: ref("field")
      .optional()
      .describe("the rule applies only to people who hold this field (default: any of `fields`)"),
  })
  .strict()
  .describe("A statutory retention period");

// ---------------------------------------------------------------- recipients (provision gate)

export const RECIPIENT_KINDS = ["consignee", "third_party"] as const;
/**
 * The seven clauses a consignment contract must contain (PIPA Art. 26(1); Decree Art. 28(1)).
 */
export const CONTRACT_CLAUSES = [
  "no_processing_beyond_purpose", // 26(1)1
  "technical_managerial_measures", // 26(1)2
  "work_purpose_and_scope", // 26(1)3 / Decree 28(1)1
  "sub_entrustment_restrictions", // Decree 28(1)2
  "safety_measures_access_restriction", // Decree 28(1)3
  "supervision_and_inspection", // Decree 28(1)4
  "liability_for_breach", // Decree 28(1)5
] as const;
export const CONTRACT_CLAUSE_ARTICLE: Record<(typeof CONTRACT_CLAUSES)[number], string> = {
  no_processing_beyond_purpose: "PIPA Art. 26(1)1",
  technical_managerial_measures: "PIPA Art. 26(1)2",
  work_purpose_and_scope: "PIPA Art. 26(1)3; Decree Art. 28(1)1",
  sub_entrustment_restrictions: "Decree Art. 28(1)2",
  safety_measures_access_restriction: "Decree Art. 28(1)3",
  supervision_and_inspection: "Decree Art. 28(1)4",
  liability_for_breach: "Decree Art. 28(1)5",
};
/** Overseas transfer bases, PIPA Art. 28-8(1)1-5 (LAW.md §15 D1: A to E). */
export const TRANSFER_BASES = ["consent", "law", "contract_necessity", "certification", "equivalence"] as const;
export const TRANSFER_BASIS_LETTER: Record<(typeof TRANSFER_BASES)[number], string> = {
  consent: "A",
  law: "B",
  contract_necessity: "C",
  certification: "D",
  equivalence: "E",
};
/** Bases for a third-party provision, PIPA Art. 17(1): consent, or 17(1)2 with these 15(1) grounds. */
export const PROVISION_BASES = ["consent", "law", "public_duty", "vital_interest", "legitimate_interest", "public_safety"] as const;

const country = z.string().regex(/^[A-Z]{2}$/, "must be an ISO-3166 alpha-2 country code");

export const contractSchema = z
  .object({
    reference: z.string().min(1).describe("contract reference number"),
    signed: z.iso.date().describe("date the contract was signed"),
    start: z.iso.date().describe("first day the entrusted work may be done"),
    end: z.iso.date().optional().describe("last day (none: open-ended)"),
    work: text.describe("the entrusted work (PIPA Art. 26(1)3), as disclosed"),
    purposes: z.array(ref("purpose")).min(1).describe("the controller's purposes the entrusted work serves"),
    clauses: z.array(z.enum(CONTRACT_CLAUSES)).describe("clauses the signed contract contains (PIPA Art. 26(1); Decree Art. 28(1)): all seven are required"),
    own_use_prohibited: z.boolean().describe("the contract forbids the trustee to use the data for its own purposes"),
    public_listing: z.string().min(3).optional().describe("where the trustee and the work are posted continuously (PIPA Art. 26(2)), e.g. the privacy-policy URL"),
    sub_entrustments: z
      .array(
        z
          .object({
            name: z.string().min(1),
            country,
            work: text,
            approved: z.iso.date().optional().describe("date the controller approved it (PIPA Art. 26(6)); missing = not approved"),
          })
          .strict(),
      )
      .default([])
      .describe("sub-trustees (PIPA Art. 26(6): each needs the controller's approval)"),
  })
  .strict()
  .describe("The written consignment contract (PIPA Art. 26(1))");

export const transferSchema = z
  .object({
    basis: z.enum(TRANSFER_BASES).describe("PIPA Art. 28-8(1): consent (A), law (B), contract_necessity (C), certification (D), equivalence (E)"),
    notice: ref("notice").optional().describe("A: the overseas_transfer notice whose separate consent is needed"),
    statute: z.string().min(3).optional().describe("B: the statute or treaty that provides for the transfer"),
    disclosed: z
      .enum(["privacy_policy", "notified"])
      .optional()
      .describe("C: where the Art. 28-8(2) items were disclosed (Decree 29-7)"),
    certification: z
      .object({ scheme: z.string().min(2), id: z.string().min(1), valid_until: z.iso.date() })
      .strict()
      .optional()
      .describe("D: the recipient's PIPC-designated certification and its validity"),
    decision: ref("equivalence decision").optional().describe("E: the equivalence decision (name in equivalence_decisions)"),
    timing: text.describe("PIPA Art. 28-8(2)2: when the data is transferred (e.g. daily at 02:00 KST)"),
    method: text.describe("PIPA Art. 28-8(2)2: how it is transferred (e.g. encrypted file over SFTP)"),
    measures: z
      .object({ safety: z.boolean(), grievance: z.boolean() })
      .strict()
      .describe("PIPA Art. 28-8(4); Decree 29-10: safety measures and grievance handling agreed in the contract"),
    /**
     * PIPA Art. 28-8(2)5 (Decree 31(1)2 in the privacy policy): how a person refuses the transfer,
     * the procedure and the effect of refusing. Under basis consent the notice's refusal texts
     * say it; under the other bases the privacy policy needs it from here.
     */
    refusal: z
      .object({
        how: text.describe("how to refuse the transfer and the procedure (e.g. where to ask, what happens to data already sent)"),
        effect: text.describe("the effect of refusing (e.g. which feature stops working)"),
      })
      .strict()
      .optional()
      .describe("PIPA Art. 28-8(2)5: how to refuse the transfer, the procedure and the effect; required in the privacy policy unless basis consent's notice says it"),
  })
  .strict()
  .describe("The legal basis of an overseas transfer (PIPA Art. 28-8)");

export const recipientSchema = z
  .object({
    kind: z.enum(RECIPIENT_KINDS).describe("consignee (processor, PIPA Art. 26) or third_party (provision, Art. 17)"),
    legal_name: text.describe("the recipient's legal name"),
    contact: z.string().min(3).describe("the recipient's contact (PIPA Art. 28-8(2)3)"),
    country: country.describe("where the recipient processes the data"),
    description: text.optional(),
    public_key: z
      .string()
      .regex(/^age1[02-9ac-hj-np-z]{58}$/, "must be an age X25519 recipient (age1… , 62 characters)")
      .describe("the recipient's age public key: every export is encrypted to it"),
    purposes: z.array(ref("purpose")).min(1).describe("the controller's purposes whose data may go to this recipient"),
    fields: z.array(ref("field")).min(1).describe("the only fields this recipient may receive"),
    population: z
      .object({
        purposes: z
          .array(ref("purpose"))
          .default([])
          .describe("only subjects for whom each of these purposes stands (e.g. users of the overseas-payment feature)"),
      })
      .strict()
      .default({ purposes: [] })
      .describe("who may be included"),
    recipient_purpose: text.optional().describe("third_party: the recipient's own purpose (PIPA Art. 17(2)2)"),
    retention: text
      .optional()
      .describe("the recipient's retention and use period: required for a third_party (PIPA Art. 17(2)4) and, in the privacy policy, for any recipient abroad (Art. 28-8(2)4)"),
    provision_basis: z
      .enum(PROVISION_BASES)
      .optional()
      .describe("third_party: PIPA Art. 17(1) basis; consent needs `notice`, the others a statute or a record"),
    notice: ref("notice").optional().describe("third_party with consent: the provision notice (category provision)"),
    statute: z.string().min(3).optional().describe("third_party on a non-consent basis: the statute or record relied on"),
    credit_exception: z
      .string()
      .min(3)
      .optional()
      .describe("Credit Information Act Art. 32(6): the exception relied on to provide credit information without per-provision consent"),
    contract: contractSchema.optional(),
    transfer: transferSchema.optional().describe("required when the recipient's country differs from the controller's"),
  })
  .strict()
  .describe("An organisation data may leave Haechi for (through the provision gate)");

export const equivalenceDecisionSchema = z
  .object({
    authority: text.describe("who decided (e.g. PIPC)"),
    citation: z.string().min(3),
    countries: z.array(country).min(1).describe("countries the decision covers"),
    effective: z.iso.date(),
    expires: z.iso.date().optional(),
    excludes: z.array(z.enum(SENSITIVITIES)).default([]).describe("data types the decision does not cover (the EU decision excludes rrn and credit)"),
  })
  .strict()
  .describe("A PIPC equivalence recognition (PIPA Art. 28-8(1)5)");

export const lockoutSchema = z
  .object({
    max_failures: z.number().int().min(1).max(100).default(5),
    window: z
      .union([isoPeriod, z.string().regex(/^PT\d+[MH]$/)], { error: "must be an ISO-8601 duration such as PT15M or P1D" })
      .default("PT15M"),
    lock_for: z.string().regex(/^PT\d+[MH]$/, "must be PT<n>M or PT<n>H").default("PT30M"),
  })
  .strict();

/** What the dormancy sweep does with an account inactive for `after` (LAW §11.1, §15 E7). */
export const DORMANCY_ACTIONS = ["destroy", "separate"] as const;

/**
 * The service's own dormancy policy (PIPC guidance, 2023-12: each service sets its period and
 * chooses destruction or separate storage, and tells people in advance). Cross-checks (a period
 * longer than zero, `destroy_after` only with `separate`, a notice shorter than the period) are
 * in catalog-checks.ts.
 */
export const dormancySchema = z
  .object({
    after: isoPeriod.describe("inactivity (no write or consent change) after which the action applies, e.g. P1Y"),
    notice_before: isoPeriod
      .optional()
      .describe("how long before the action (and before destroy_after) the person must be told (PIPC guidance 2023)"),
    action: z
      .enum(DORMANCY_ACTIONS)
      .default("destroy")
      .describe(
        "destroy: erase the account as a deletion would (what a law keeps is sealed); separate: move its values apart (separate table, blind indexes deleted), refused to every ordinary read, update and lookup until the service reactivates it (former Decree Art. 48-5)",
      ),
    destroy_after: isoPeriod
      .optional()
      .describe("separate only: a separated account still inactive this long after its separation is erased as a deletion would (PIPA Art. 21(1))"),
  })
  .strict();

/**
 * Who people contact about an incident and how notices reach them (PIPA Art. 34(1)5; Decree
 * 39(1), 39(3)). Without it, notices name the privacy officer and go to the website posting only.
 */
export const incidentResponseSchema = z
  .object({
    department: text.describe("PIPA Art. 34(1)5: the department people report damage to and ask about the incident"),
    contact: z.string().min(3).describe("its contact (e-mail or postal address)"),
    phone: z.string().min(3).optional().describe("its telephone number"),
    website: z
      .string()
      .regex(/^https?:\/\/\S+$/, "must be an http(s) URL")
      .describe("where notices are posted for at least 30 days when contact details are missing (Decree 39(3))"),
    contact_fields: z
      .array(ref("field"))
      .default([])
      .describe("fields notices are delivered to, in order of preference (e.g. [email, phone]); a person with none of them gets the website posting"),
  })
  .strict()
  .describe("Incident response: the contact named in breach notices and how notices are delivered (PIPA Art. 34)");

// ---------------------------------------------------------------- notifications (ADR 0011)

/**
 * How notices reach a person (Decree Art. 15-3(4) for the annual notice: written form, e-mail,
 * telephone, text message or similar; an in-app alert only to say where the history can be seen).
 */
export const NOTIFICATION_CHANNELS = ["email", "sms", "phone", "written", "app_alert"] as const;

/**
 * The annual usage-and-provision notice (PIPA Art. 20-2; Decree Art. 15-3). The duty falls on
 * controllers above a threshold, counted as the daily average over the last three months of the
 * previous year: sensitive or unique-identifying data of 50,000 people, or personal data of
 * 1,000,000 people. Only the controller knows those averages, so it declares them here.
 */
export const annualNoticeSchema = z
  .object({
    subjects: z
      .number()
      .int()
      .min(0)
      .describe("daily average number of people whose personal data was processed, over the last three months of the previous year (Decree 15-3)"),
    sensitive_or_unique_subjects: z
      .number()
      .int()
      .min(0)
      .describe("the same average for people whose sensitive data (Art. 23) or unique identifiers (Art. 24) were processed"),
    measured: z.string().min(3).describe("the period the averages were measured over, e.g. 2025-10-01/2025-12-31"),
    voluntary: z
      .boolean()
      .default(false)
      .describe("send the notice although the thresholds are not met (without it, `haechi notices annual` refuses below them)"),
    excluded_purposes: z
      .array(ref("purpose"))
      .default([])
      .describe("people held only for these purposes are not sent it: the company's own employees, business contacts of other organisations (Decree 15-3)"),
    excluded_recipients: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower kebab-case"))
      .default([])
      .describe(
        "provisions left out of its content: to investigators under the Communications Secret Protection Act Arts. 13, 13-2, 13-4 and the Telecommunications Business Act Art. 83(3) (Decree 15-3(3))",
      ),
    history_url: z
      .string()
      .regex(/^https?:\/\/\S+$/, "must be an http(s) URL")
      .optional()
      .describe("where a person can see their use and provision history; an app_alert may only point there (Decree 15-3(4))"),
  })
  .strict();

export const notificationsSchema = z
  .object({
    contacts: z
      .array(
        z
          .object({
            field: ref("field").describe("the field holding the address"),
            channel: z.enum(NOTIFICATION_CHANNELS).describe("what the address is: email, sms (a mobile number), phone, written (a postal address), app_alert"),
          })
          .strict(),
      )
      .min(1)
      .describe("where notices to people go, in order of preference: the first of these fields a person holds"),
    annual_notice: annualNoticeSchema.optional().describe("the annual usage-and-provision notice (PIPA Art. 20-2; Decree 15-3)"),
  })
  .strict()
  .describe("Notices to people through the outbox: the annual notice, dormancy notices (ADR 0011)");

// ---------------------------------------------------------------- detection (issue 5; Safety Standard Art. 6(1), 8)

/**
 * ISO-8601 duration of days, hours, minutes and seconds (PT30S, PT10M, PT1H, P1D): the length of a
 * detection window. Months and years are refused: a window must have a fixed length.
 */
export const ISO_DURATION_RE = /^P(?=\d|T\d)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
export const isoDuration = z
  .string()
  .regex(ISO_DURATION_RE, "must be an ISO-8601 duration of days, hours, minutes and seconds, such as PT30S, PT10M, PT1H or P1D");

/** What a detection rule does when it fires, mildest first. Every firing also records an alert. */
export const DETECTION_REACTIONS = ["alert", "throttle", "suspend"] as const;
export const DETECTION_RULE_TYPES = ["volume", "enumeration", "canary", "off_hours", "deny_storm", "export_volume", "new_network"] as const;
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
/** Largest count a rule may wait for: a window's memory per principal is bounded by it. */
export const DETECTION_MAX_COUNT = 100_000;

const clockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, "must be a time of day HH:MM (00:00 to 24:00)");
const detectionCount = (what: string) =>
  z.number().int().min(1).max(DETECTION_MAX_COUNT).describe(what);
/** The keys every rule shares. */
const ruleCommon = {
  description: text.optional().describe("what the rule is for"),
  reaction: z
    .enum(DETECTION_REACTIONS)
    .describe(
      "alert: record an alert (audited, GET /v1/alerts); throttle: also cap the principal's requests as detection.throttle says; suspend: also refuse every request of the principal until an operator lifts it (haechi principal lift)",
    ),
  principals: z
    .array(principalName)
    .min(1)
    .optional()
    .describe("the principals the rule watches (default: every principal of the catalog)"),
  cooldown: isoDuration
    .optional()
    .describe("after firing for a principal, the rule stays quiet for it this long and counts afresh (default: the rule's window, or PT1H)"),
};

export const volumeRuleSchema = z
  .object({
    type: z.literal("volume"),
    ...ruleCommon,
    window: isoDuration.describe("sliding window the reads are counted over"),
    factor: z.number().min(1).max(1000).default(3).describe("the rule fires when a principal's reads for a purpose in the window exceed baseline × factor"),
    baselines: nullProtoRecord(principalName, nullProtoRecord(name, detectionCount("expected reads (reads, lookups) for this purpose in one window")))
      .describe("principal → purpose → expected reads per window; pairs not listed are not watched"),
  })
  .strict()
  .describe("Reads per principal and purpose beyond a declared baseline");

export const enumerationRuleSchema = z
  .object({
    type: z.literal("enumeration"),
    ...ruleCommon,
    window: isoDuration.describe("sliding window"),
    distinct: detectionCount("fires when one principal touches this many distinct subjects (reads, lookup hits) within the window (a scattered scrape)"),
    probes: detectionCount("fires when one principal makes this many misses (ids that resolve to nobody, lookups that find nobody) within the window (walking an id or value space)").optional(),
  })
  .strict()
  .describe("Many distinct subjects, or many misses, by one principal in a short time (seed 000)");

export const canaryRuleSchema = z
  .object({ type: z.literal("canary"), ...ruleCommon })
  .strict()
  .describe("Any access to a canary (decoy) subject: no legitimate flow touches one (haechi canary create)");

export const hoursSchema = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1).default(["mon", "tue", "wed", "thu", "fri"]).describe("the days the hours apply to"),
    from: clockTime.describe("start of the working hours, local time"),
    to: clockTime.describe("end of the working hours, local time (earlier than from: the hours run past midnight)"),
  })
  .strict();

export const offHoursRuleSchema = z
  .object({
    type: z.literal("off_hours"),
    ...ruleCommon,
    hours: nullProtoRecord(principalName, hoursSchema).describe("principal → its declared working hours; principals not listed are not watched"),
    time_zone: z.string().min(1).optional().describe("IANA time zone of the hours (default: detection.time_zone)"),
  })
  .strict()
  .describe("A principal calling outside its declared hours");

export const denyStormRuleSchema = z
  .object({
    type: z.literal("deny_storm"),
    ...ruleCommon,
    window: isoDuration.describe("sliding window"),
    threshold: detectionCount("fires when a principal's denied requests in the window reach this many (refusals while throttled count too)"),
  })
  .strict()
  .describe("A storm of denied requests by one principal");

export const exportVolumeRuleSchema = z
  .object({
    type: z.literal("export_volume"),
    ...ruleCommon,
    window: isoDuration.describe("sliding window the exported subjects are summed over"),
    per: z.enum(["recipient", "principal"]).default("recipient").describe("whose exports are summed"),
    factor: z.number().min(1).max(1000).default(1.5).describe("fires when the subjects exported in the window exceed baseline × factor"),
    baselines: nullProtoRecord(z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower kebab-case"), z.number().int().min(0).max(1_000_000_000))
      .default({})
      .describe("recipient (or principal) → expected subjects exported per window; one not listed has a baseline of 0, so any export to it fires"),
  })
  .strict()
  .describe("Exports through the provision gate beyond their baseline");

export const newNetworkRuleSchema = z
  .object({
    type: z.literal("new_network"),
    ...ruleCommon,
    networks: nullProtoRecord(principalName, z.array(z.string().min(2)).min(1))
      .default({})
      .describe("principal → the networks (CIDR) it calls from; a principal not listed learns its networks (/24, IPv6 /48) and a prefix not seen before fires"),
  })
  .strict()
  .describe("A principal calling from a network not declared or not seen before (Safety Standard Art. 6(1))");

export const detectionRuleSchema = z.discriminatedUnion("type", [
  volumeRuleSchema,
  enumerationRuleSchema,
  canaryRuleSchema,
  offHoursRuleSchema,
  denyStormRuleSchema,
  exportVolumeRuleSchema,
  newNetworkRuleSchema,
]);

export const throttleSchema = z
  .object({
    requests: z.number().int().min(1).max(10_000).default(5).describe("requests a throttled principal may make per `per`"),
    per: isoDuration.default("PT1M").describe("the sliding window of `requests`"),
    for: isoDuration.default("PT15M").describe("how long a throttle lasts (it is stored: a restart keeps it)"),
  })
  .strict();

/**
 * Detection over the live access stream (issue 5): rules by name, each with a reaction. Every
 * audit entry passes the rules as it is recorded; a reaction applies before the principal's next
 * request. Cross-checks (known principals, purposes and recipients, time zones, networks) are in
 * catalog-checks.ts.
 */
export const detectionSchema = z
  .object({
    time_zone: z.string().min(1).default("Asia/Seoul").describe("IANA time zone for working hours (default Asia/Seoul)"),
    throttle: throttleSchema.default({ requests: 5, per: "PT1M", for: "PT15M" }).describe("what the reaction throttle does"),
    rules: nullProtoRecord(name, detectionRuleSchema).default({}).describe("detection rules by name (lower snake_case); the name is the alert's rule"),
  })
  .strict();

/**
 * What the privacy policy needs that the rest of the catalog does not say (PIPA Art. 30(1);
 * Decree Art. 31(1)). Everything else in the policy (purposes, items, retention and its bases,
 * third parties, trustees, overseas transfers, items processed without consent, destruction,
 * Haechi's own safety measures) is generated from the catalog. `haechi policy render` refuses to
 * render, naming each missing item, rather than print a placeholder.
 */
export const privacyPolicySchema = z
  .object({
    website: z
      .string()
      .regex(/^https?:\/\/\S+$/, "must be an http(s) URL")
      .optional()
      .describe("where the policy is posted continuously (Decree Art. 31(2)); shown in the policy"),
    rights: z
      .object({
        how: text.describe("PIPA Art. 30(1)5, 38(4): where and how people exercise their rights (at least the channel they signed up through)"),
      })
      .strict()
      .optional()
      .describe("PIPA Art. 30(1)5: how people exercise access, correction, deletion, suspension and withdrawal"),
    cookies: z
      .object({
        used: z.boolean().describe("whether cookies or similar automatic collection devices are installed and run"),
        purpose: text.optional().describe("what they are used for (required when used)"),
        refuse: text.optional().describe("how to refuse them, e.g. browser or app settings (required when used)"),
      })
      .strict()
      .optional()
      .describe("PIPA Art. 30(1)7: automatic collection devices (cookies etc.) and how to refuse them; say used: false if there are none"),
    measures: z
      .array(text)
      .default([])
      .describe("the controller's own managerial and physical safety measures (Decree Art. 30), listed after Haechi's technical ones"),
    sensitive_public: text
      .optional()
      .describe("PIPA Art. 30(1)3-3: whether sensitive information may become public through the service, and how to choose non-disclosure"),
    pseudonymised: text
      .optional()
      .describe("PIPA Art. 30(1)4-2: how pseudonymised information is processed (purposes, items, retention, recipients), if it is"),
    automated_decisions: z
      .object({
        used: z.boolean().describe("whether fully automated decisions that significantly affect people's rights or duties are made (PIPA Art. 37-2)"),
        description: text
          .optional()
          .describe("required when used: the Decree Art. 44-4 items (that such decisions are made, purpose and who is affected, main data types, criteria and procedure, how to refuse or ask for an explanation)"),
      })
      .strict()
      .optional()
      .describe("PIPA Art. 37-2; Decree Art. 44-4: fully automated decisions, published in advance"),
  })
  .strict()
  .describe("Privacy-policy items the rest of the catalog does not hold (PIPA Art. 30(1); Decree Art. 31(1))");

export const catalogSchema = z
  .object({
    version: z.literal(1).describe("catalog format version; always 1"),
    controller: z
      .object({
        name: text,
        contact: z.string().min(3),
        country: z.string().regex(/^[A-Z]{2}$/, "must be an ISO-3166 alpha-2 country code"),
        privacy_officer: z
          .object({
            name: z.string().min(1),
            contact: z.string().min(3).describe("e-mail or postal address"),
            title: text.optional().describe("the officer's position (shown in the privacy policy)"),
            phone: z.string().regex(PHONE_RE, PHONE_MESSAGE).optional().describe("PIPA Art. 30(1)6: the officer's telephone number"),
            department: z
              .object({
                name: text.describe("the department handling privacy work and complaints"),
                phone: z.string().regex(PHONE_RE, PHONE_MESSAGE).describe("its telephone number (PIPA Art. 30(1)6)"),
                email: z.string().min(3).optional(),
              })
              .strict()
              .optional()
              .describe("PIPA Art. 30(1)6: the department handling privacy work and complaints, with its telephone number"),
          })
          .strict()
          .describe("the privacy officer (CPO, PIPA Art. 31); the privacy policy needs a telephone number here or in department (Art. 30(1)6)"),
      })
      .strict(),
    fields: nullProtoRecord(name, fieldSchema).describe("every personal-data field Haechi may hold, by name (lower snake_case)"),
    purposes: nullProtoRecord(name, purposeSchema).describe("processing purposes, by name"),
    notices: nullProtoRecord(name, noticeSchema).default({}).describe("consent notices, by name"),
    principals: nullProtoRecord(principalName, principalSchema).describe("callers (services, consoles), by name (lower kebab-case)"),
    retention_rules: nullProtoRecord(name, retentionRuleSchema).default({}).describe("statutory retention periods, by name"),
    recipients: nullProtoRecord(principalName, recipientSchema)
      .default({})
      .describe("consignees and third parties data may be sent to, by name (lower kebab-case)"),
    equivalence_decisions: nullProtoRecord(name, equivalenceDecisionSchema)
      .default({})
      .describe("PIPC equivalence recognitions (PIPA Art. 28-8(1)5), by name"),
    dormancy: dormancySchema.optional().describe("the service's own dormancy policy (the statutory 1-year rule was abolished in 2023; LAW §11.1)"),
    incident_response: incidentResponseSchema
      .optional()
      .describe("the contact named in breach notices, the website for postings, and the fields notices go to (PIPA Art. 34)"),
    notifications: notificationsSchema
      .optional()
      .describe("where notices to people go (the annual usage-and-provision notice, dormancy notices) and the annual notice's settings"),
    detection: detectionSchema
      .optional()
      .describe("detection over the live access stream: volume, enumeration, canaries, off-hours, deny storms, exports, new networks; reactions alert, throttle, suspend"),
    privacy_policy: privacyPolicySchema
      .optional()
      .describe("privacy-policy items the rest of the catalog does not hold: rights channel, cookies, the controller's own measures (PIPA Art. 30)"),
    security: z.object({ lockout: lockoutSchema.default({ max_failures: 5, window: "PT15M", lock_for: "PT30M" }) }).strict().default({
      lockout: { max_failures: 5, window: "PT15M", lock_for: "PT30M" },
    }),
  })
  .strict();

export type CatalogInput = z.input<typeof catalogSchema>;
export type Catalog = z.output<typeof catalogSchema>;
export type FieldDef = z.output<typeof fieldSchema>;
export type PurposeDef = z.output<typeof purposeSchema>;
export type NoticeDef = z.output<typeof noticeSchema>;
export type NoticeVersion = z.output<typeof noticeVersionSchema>;
export type PrincipalDef = z.output<typeof principalSchema>;
export type RetentionRule = z.output<typeof retentionRuleSchema>;
export type RecipientDef = z.output<typeof recipientSchema>;
export type ContractDef = z.output<typeof contractSchema>;
export type TransferDef = z.output<typeof transferSchema>;
export type EquivalenceDecision = z.output<typeof equivalenceDecisionSchema>;
export type DormancyPolicy = z.output<typeof dormancySchema>;
export type IncidentResponse = z.output<typeof incidentResponseSchema>;
export type Notifications = z.output<typeof notificationsSchema>;
export type AnnualNoticeDef = z.output<typeof annualNoticeSchema>;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];
export type DormancyAction = (typeof DORMANCY_ACTIONS)[number];
export type DetectionDef = z.output<typeof detectionSchema>;
export type DetectionRuleDef = z.output<typeof detectionRuleSchema>;
export type DetectionRuleType = (typeof DETECTION_RULE_TYPES)[number];
export type DetectionReaction = (typeof DETECTION_REACTIONS)[number];
export type Weekday = (typeof WEEKDAYS)[number];
export type RecipientKind = (typeof RECIPIENT_KINDS)[number];
export type ContractClause = (typeof CONTRACT_CLAUSES)[number];
export type TransferBasis = (typeof TRANSFER_BASES)[number];
export type ProvisionBasis = (typeof PROVISION_BASES)[number];
export type LegalBasis = (typeof LEGAL_BASES)[number];
export type ConsentCategory = (typeof CONSENT_CATEGORIES)[number];
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];
export type Sensitivity = (typeof SENSITIVITIES)[number];
export type Masking = (typeof MASKINGS)[number];
export type Minimiser = (typeof MINIMISERS)[number];
export type FieldClass = (typeof FIELD_CLASSES)[number];
export type Text = z.output<typeof text>;
export type PrivacyPolicyDef = z.output<typeof privacyPolicySchema>;
