/** Kysely table types of the PostgreSQL schemas (bigint arrives as a string; convert with Number). */
import type { ProvisionColumns } from "../store-fns.js";

export interface PgDataDb {
  /** `dormant_at`: when the subject was separated (dormancy action `separate`); null otherwise. */
  "haechi.subjects": { id: string; created_at: Date; updated_at: Date; status: string; dormant_at: Date | null };
  "haechi.fields": { subject_id: string; field: string; ciphertext: Buffer; updated_at: Date };
  /** The dormant store: a dormant subject's separated values (the same ciphertexts as in `fields`). */
  "haechi.dormant_fields": { subject_id: string; field: string; ciphertext: Buffer; updated_at: Date };
  "haechi.lookups": { subject_id: string; field: string; digest: Buffer };
  "haechi.consent_ledger": {
    seq: string;
    id: string;
    subject_id: string;
    notice: string;
    notice_version: number;
    category: string;
    action: string;
    channel: string;
    at: Date;
    principal: string;
    request_id: string;
  };
  "haechi.consent_state": {
    subject_id: string;
    notice: string;
    notice_version: number;
    category: string;
    status: string;
    channel: string;
    at: Date;
  };
  "haechi.api_keys": {
    key_id: string;
    principal: string;
    secret_hash: Buffer;
    created_at: Date;
    revoked_at: Date | null;
    failed_count: number;
    locked_until: Date | null;
  };
  "haechi.idempotency": {
    principal: string;
    key: string;
    request_hash: Buffer;
    status: number;
    response: string;
    created_at: Date;
  };
  "haechi.meta": { key: string; value: string };
  /** fields, reasons, counts and diff are JSON text. */
  "haechi.provisions": ProvisionColumns<Date>;
  "haechi.provision_parts": {
    provision_id: string;
    part: number;
    file: string;
    subject_count: number;
    /** bigint: arrives as a string. */
    bytes: string | number;
    sha256: string;
    ledger_digest: string;
    last_subject: string;
    at: Date;
  };
  "haechi.provision_ledger": { provision_id: string; subject_id: string; part: number };
  "haechi.suspensions": {
    id: string;
    scope: string;
    target: string;
    order_ref: string;
    reason: string;
    at: Date;
    issued_by: string;
    lifted_at: Date | null;
    lifted_by: string | null;
  };
  "haechi.provision_schedules": {
    id: string;
    principal: string;
    request: string;
    period: string;
    next_at: Date;
    last_provision_id: string | null;
    active: boolean;
    created_at: Date;
  };
  "haechi.sealed_fields": {
    subject_id: string;
    field: string;
    ciphertext: Buffer;
    rule: string;
    until: Date;
    sealed_at: Date;
  };
  "haechi.erase_backlog": { subject_id: string; erased_at: Date };
  "haechi.operators": {
    id: string;
    role: string;
    password_hash: string;
    totp_sealed: Buffer;
    /** bigint: arrives as a string. */
    totp_last_step: string;
    failed_count: number;
    locked_until: Date | null;
    created_at: Date;
    created_by: string;
    disabled_at: Date | null;
    last_login_at: Date | null;
  };
  "haechi.principal_holds": {
    id: string;
    principal: string;
    kind: string;
    rule: string | null;
    alert_id: string | null;
    reason: string;
    at: Date;
    until: Date | null;
    lifted_at: Date | null;
    lifted_by: string | null;
    lift_reason: string | null;
  };
  "haechi.detection_alerts": {
    id: string;
    at: Date;
    principal: string;
    rule: string;
    type: string;
    reaction: string;
    /** bigint: pg returns it as a string. */
    count: string;
    threshold: string;
    window_start: Date;
    request_id: string | null;
    detail: Record<string, string | number | boolean | null>;
  };
  "haechi.canaries": { audit_ref: string; principal: string; created_at: Date };
}

export interface PgKeyDb {
  "haechi_keys.wrapped_keys": {
    subject_id: string;
    kek_version: number;
    dek_version: number;
    wrapped: Buffer;
    audit_ref: string;
    created_at: Date;
  };
  "haechi_keys.sealed_keys": { subject_id: string; kek_version: number; wrapped: Buffer; until: Date; created_at: Date };
}

export interface PgAuditDb {
  "haechi_audit.audit_log": {
    seq: string | number;
    at: Date;
    subject_ref: string | null;
    principal: string | null;
    action: string;
    body: string;
    hash: Buffer;
  };
  "haechi_audit.audit_head": { id: number; seq: string | number | null; hash: Buffer | null };
  "haechi_audit.checkpoints": { seq: string | number; hash: string; at: string; key_id: string; signature: string };
}
