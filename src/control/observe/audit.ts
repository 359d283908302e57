// Audit events: what people did, not what clients asked. An access request
// made on the block page and an admin's decision on it each leave one event
// in the query log (file or PostgreSQL), the daemon's log and the metrics.

export type AuditKind = 'access-request' | 'access-approved' | 'access-denied';

export interface AuditEvent {
  time: number;
  event: AuditKind;
  /** The access request's id. */
  request: string;
  client: string;
  /** The blocked name, in presentation form. */
  name: string;
  select: string;
  service: string | null;
  group: string;
  reason: string;
  /** Seconds asked for (a request) or granted (an approval). */
  duration: number;
  /** Who decided (a decision). */
  by?: string;
  /** An approval: when the exception it made lapses, and its id. */
  until?: number;
  exception?: string;
}

/** Where audit events go besides the daemon's log. */
export interface AuditSink {
  audit(e: AuditEvent): void;
}
