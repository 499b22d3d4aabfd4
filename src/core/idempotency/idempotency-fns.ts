/**
 * Idempotency keys on every write (issue 7; docs/adr/0017-idempotency.md): what a key names, how a
 * request is fingerprinted, and the scope a service receives. Pure: no I/O.
 *
 * A key is per principal. Its row records the request's fingerprint and either the answer (the
 * HTTP status and body a retry gets back) or, for an operation of several steps that has begun
 * and not finished, a claim with the progress a retry needs to finish it (`status` 0).
 */
import crypto from "node:crypto";
import type { HaechiError } from "../errors.js";
import type { IdempotencyRow } from "../ports.js";
import { canonicalJson } from "../policy-doc/policy-doc-fns.js";

/** `status` of a claim: an operation of several steps began under the key and has not answered yet. */
export const PENDING = 0;

/** How long a key is remembered: a retry after a lost answer comes within seconds to hours (Stripe keeps keys 24 h). */
export const KEY_RETENTION_MS = 24 * 3600_000;

/**
 * The fingerprint of a request: the operation (so a key reused on another endpoint is a mismatch)
 * and its input (path parameters and body), as canonical JSON (key order does not matter).
 */
export const requestHash = (op: string, input: unknown): Buffer =>
  crypto.createHash("sha256").update(op).update("\0").update(canonicalJson(input ?? null)).digest();

/** An answer as stored and replayed: the HTTP status and the JSON body. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}

/**
 * The idempotency key of one request, as the service carrying out the write receives it (absent
 * when no key was sent). The service writes one of its rows in the transaction that completes the
 * write, so that "done" and "answer recorded" cannot diverge.
 */
export interface Idempotency<T> {
  readonly principal: string;
  readonly key: string;
  readonly requestHash: Buffer;
  /**
   * The progress an earlier attempt with this key recorded when it began an operation of several
   * steps and did not finish it (undefined when there is none): the service finishes that
   * operation and answers as the first attempt would have.
   */
  readonly pending: unknown;
  /** The row answering with `result`, for the transaction that completes the operation. */
  answer(result: T): IdempotencyRow;
  /** The row answering with a refusal the operation records itself (a refused provision is stored). */
  refusal(error: HaechiError): IdempotencyRow;
  /** The row claiming the key for an operation of several steps; `progress` lets a retry finish it. */
  claim(progress: unknown): IdempotencyRow;
  /** Writes the answer in a transaction of its own (an operation whose last act is not a store write). */
  complete(result: T): Promise<void>;
  /** Writes the claim in a transaction of its own (before steps in other stores). */
  begin(progress: unknown): Promise<void>;
  /**
   * A key for one step carried out by another operation with its own key (a data-subject request
   * fulfilled through the erasure, say): derived from this one, never one a client can send.
   */
  derived(step: string): string;
}

/**
 * The same key for an operation whose result a route answers with after mapping it (a route that
 * calls one of several operations, say): the row answers with `f(result)`.
 */
export const mapIdempotency = <A, B>(idem: Idempotency<B>, f: (result: A) => B): Idempotency<A> => ({
  principal: idem.principal,
  key: idem.key,
  requestHash: idem.requestHash,
  pending: idem.pending,
  answer: (result) => idem.answer(f(result)),
  refusal: (error) => idem.refusal(error),
  claim: (progress) => idem.claim(progress),
  complete: (result) => idem.complete(f(result)),
  begin: (progress) => idem.begin(progress),
  derived: (step) => idem.derived(step),
});
