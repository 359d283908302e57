// Audit events: what people did, not what clients asked. An access request
// made on the block page and an admin's decision on it each leave one event
// in the query log (file or PostgreSQL), the daemon's log and the metrics.

import type { AccessRequest } from '../state/requests.js';

export type AuditKind = 'access-request' | 'access-approved' | 'access-denied';

/** One event: the request's fields as they stand after it (a decision carries `by`, an approval `until` and `exception`). */
export type AuditEvent = {
  time: number;
  event: AuditKind;
  /** The access request's id. */
  request: string;
} & Pick<AccessRequest, 'client' | 'clientName' | 'name' | 'select' | 'service' | 'group' | 'reason' | 'duration' | 'by' | 'until' | 'exception'>;

/** Where audit events go besides the daemon's log. */
export interface AuditSink {
  audit(e: AuditEvent): void;
}
