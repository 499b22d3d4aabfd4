/**
 * The subject-request ledger's rows as both stores keep them: JSON text for detail, extension and
 * outcome; dates as the driver wants them (epoch milliseconds on SQLite, Date on PostgreSQL).
 */
import { asSubjectId } from "../core/ids.js";
import type { RequestEvent, RequestExtension, SubjectRequestRow } from "../core/ports.js";
import type { NoticeChannel, RequestAct, RequestChannel, RequestKind, RequestStatus } from "../core/requests/request-fns.js";

export const REQUEST_COLUMNS =
  "id, kind, subject_id, subject_external, filed_by, channel, received_at, deadline, status, detail, extension, outcome, updated_at, closed_at";
export const REQUEST_COLUMN_LIST = REQUEST_COLUMNS.split(", ");

export interface RequestColumns<D> {
  id: string;
  kind: string;
  subject_id: string;
  subject_external: string;
  filed_by: string;
  channel: string;
  received_at: D;
  deadline: D;
  status: string;
  detail: string;
  extension: string | null;
  outcome: string | null;
  updated_at: D;
  closed_at: D | null;
}

export interface RequestEventColumns<D> {
  seq: number | string;
  request_id: string;
  at: D;
  actor: string;
  act: string;
  detail: string;
  audit_seq: number | string;
}

interface StoredExtension {
  until: string;
  reason: string;
  noticeAt: string;
  noticeChannel: NoticeChannel;
}

const extensionToText = (e: RequestExtension | null): string | null =>
  e === null
    ? null
    : JSON.stringify({ until: e.until.toISOString(), reason: e.reason, noticeAt: e.noticeAt.toISOString(), noticeChannel: e.noticeChannel } satisfies StoredExtension);

const extensionFromText = (t: string | null): RequestExtension | null => {
  if (t === null) return null;
  const e = JSON.parse(t) as StoredExtension;
  return { until: new Date(e.until), reason: e.reason, noticeAt: new Date(e.noticeAt), noticeChannel: e.noticeChannel };
};

export const requestToColumns = <D>(r: SubjectRequestRow, d: (x: Date) => D): RequestColumns<D> => ({
  id: r.id,
  kind: r.kind,
  subject_id: r.subjectId,
  subject_external: r.subjectExternal,
  filed_by: r.filedBy,
  channel: r.channel,
  received_at: d(r.receivedAt),
  deadline: d(r.deadline),
  status: r.status,
  detail: JSON.stringify(r.detail),
  extension: extensionToText(r.extension),
  outcome: r.outcome === null ? null : JSON.stringify(r.outcome),
  updated_at: d(r.updatedAt),
  closed_at: r.closedAt === null ? null : d(r.closedAt),
});

export const requestFromColumns = <D>(c: RequestColumns<D>, d: (x: D) => Date): SubjectRequestRow => ({
  id: c.id,
  kind: c.kind as RequestKind,
  subjectId: asSubjectId(c.subject_id),
  subjectExternal: c.subject_external,
  filedBy: c.filed_by,
  channel: c.channel as RequestChannel,
  receivedAt: d(c.received_at),
  deadline: d(c.deadline),
  status: c.status as RequestStatus,
  detail: JSON.parse(c.detail) as Record<string, unknown>,
  extension: extensionFromText(c.extension),
  outcome: c.outcome === null ? null : (JSON.parse(c.outcome) as Record<string, unknown>),
  updatedAt: d(c.updated_at),
  closedAt: c.closed_at === null ? null : d(c.closed_at),
});

export const requestEventFromColumns = <D>(c: RequestEventColumns<D>, d: (x: D) => Date): RequestEvent => ({
  seq: Number(c.seq),
  requestId: c.request_id,
  at: d(c.at),
  actor: c.actor,
  act: c.act as RequestAct,
  detail: JSON.parse(c.detail) as RequestEvent["detail"],
  auditSeq: Number(c.audit_seq),
});
