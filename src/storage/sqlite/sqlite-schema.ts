/** Kysely table types of the SQLite databases (dates are INTEGER milliseconds). */
import type { ProvisionColumns } from "../store-fns.js";

export interface SqliteDataDb {
  /** `dormant_at`: when the subject was separated (dormancy action `separate`); null otherwise. */
  subjects: { id: string; created_at: number; updated_at: number; status: string; dormant_at: number | null };
  fields: { subject_id: string; field: string; ciphertext: Buffer; updated_at: number };
  /** The dormant store: a dormant subject's separated values (the same ciphertexts as in `fields`). */
  dormant_fields: { subject_id: string; field: string; ciphertext: Buffer; updated_at: number };
  lookups: { subject_id: string; field: string; digest: Buffer };
  consent_ledger: {
    seq: number;
    id: string;
    subject_id: string;
    notice: string;
    notice_version: number;
    category: string;
    action: string;
    channel: string;
    at: number;
    principal: string;
    request_id: string;
  };
  consent_state: {
    subject_id: string;
    notice: string;
    notice_version: number;
    category: string;
    status: string;
    channel: string;
    at: number;
  };
  api_keys: {
    key_id: string;
    principal: string;
    secret_hash: Buffer;
    created_at: number;
    revoked_at: number | null;
    failed_count: number;
    locked_until: number | null;
  };
  idempotency: {
    principal: string;
    key: string;
    request_hash: Buffer;
    status: number;
    response: string;
    created_at: number;
  };
  meta: { key: string; value: string };
  /** fields, reasons, counts and diff are JSON text. */
  provisions: ProvisionColumns<number>;
  provision_parts: {
    provision_id: string;
    part: number;
    file: string;
    subject_count: number;
    bytes: number;
    sha256: string;
    ledger_digest: string;
    last_subject: string;
    at: number;
  };
  provision_ledger: { provision_id: string; subject_id: string; part: number };
  suspensions: {
    id: string;
    scope: string;
    target: string;
    order_ref: string;
    reason: string;
    at: number;
    issued_by: string;
    lifted_at: number | null;
    lifted_by: string | null;
  };
  provision_schedules: {
    id: string;
    principal: string;
    request: string;
    period: string;
    next_at: number;
    last_provision_id: string | null;
    /** 0 or 1. */
    active: number;
    created_at: number;
  };
  sealed_fields: {
    subject_id: string;
    field: string;
    ciphertext: Buffer;
    rule: string;
    until: number;
    sealed_at: number;
  };
  erase_backlog: { subject_id: string; erased_at: number };
  principal_holds: {
    id: string;
    principal: string;
    kind: string;
    rule: string | null;
    alert_id: string | null;
    reason: string;
    at: number;
    until: number | null;
    lifted_at: number | null;
    lifted_by: string | null;
    lift_reason: string | null;
  };
  detection_alerts: {
    id: string;
    at: number;
    principal: string;
    rule: string;
    type: string;
    reaction: string;
    count: number;
    threshold: number;
    window_start: number;
    request_id: string | null;
    /** JSON object. */
    detail: string;
  };
  canaries: { audit_ref: string; principal: string; created_at: number };
  operators: {
    id: string;
    role: string;
    password_hash: string;
    totp_sealed: Buffer;
    totp_last_step: number;
    failed_count: number;
    locked_until: number | null;
    created_at: number;
    created_by: string;
    disabled_at: number | null;
    last_login_at: number | null;
  };
}

export interface SqliteKeyDb {
  wrapped_keys: {
    subject_id: string;
    kek_version: number;
    dek_version: number;
    wrapped: Buffer;
    audit_ref: string;
    created_at: number;
  };
  sealed_keys: { subject_id: string; kek_version: number; wrapped: Buffer; until: number; created_at: number };
}

export interface SqliteAuditDb {
  audit_log: {
    seq: number;
    at: number;
    subject_ref: string | null;
    principal: string | null;
    action: string;
    body: string;
    hash: Buffer;
  };
  audit_head: { id: number; seq: number | null; hash: Buffer | null };
  checkpoints: { seq: number; hash: string; at: string; key_id: string; signature: string };
}
