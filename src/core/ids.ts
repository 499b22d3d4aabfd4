/** Branded identifiers: a SubjectId can never be passed where an ExternalSubjectId is expected. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Internal subject id: 16 random bytes, base64url. Never leaves Haechi. */
export type SubjectId = Brand<string, "SubjectId">;
/** The pseudonymous id one principal's context sees for a subject (`sub_…`). */
export type ExternalSubjectId = Brand<string, "ExternalSubjectId">;
/** The per-subject keyed reference that stands for the subject in audit entries. */
export type AuditRef = Brand<string, "AuditRef">;
export type PrincipalName = Brand<string, "PrincipalName">;
export type PurposeName = Brand<string, "PurposeName">;
export type FieldName = Brand<string, "FieldName">;
export type RequestId = Brand<string, "RequestId">;

export const asSubjectId = (s: string) => s as SubjectId;
export const asExternalId = (s: string) => s as ExternalSubjectId;
export const asAuditRef = (s: string) => s as AuditRef;
