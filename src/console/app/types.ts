/**
 * The API shapes the console reads, taken from the server's own zod schemas (type-only imports:
 * nothing of the server reaches the bundle), so the console and the API cannot drift apart.
 */
import type { z } from 'zod';
import type * as S from '../../api/schemas.ts';
import type * as C from '../../api/console/schemas.ts';

export type Whoami = C.WhoamiResponse;
export type AdminStatus = C.AdminStatus;
export type EventRows = C.EventRows;
export type Health = z.infer<typeof S.healthResponse>;
export type ResultLine = z.infer<typeof S.resultLine>;
export type AuditRow = z.infer<typeof S.auditRow>;
export type UsageAnswer = z.infer<typeof S.usageResponse>;
export type EventsPage = z.infer<typeof S.eventsPage>;
export type Explanation = z.infer<typeof S.explanation>;
export type Verification = z.infer<typeof S.verification>;
export type QueryAnswer = z.infer<typeof S.queryAnswer>;
export type PeriodView = z.infer<typeof S.periodView>;
export type PeriodList = z.infer<typeof S.periodList>;
export type JobReport = z.infer<typeof S.jobReport>;
export type ConflictList = z.infer<typeof S.conflictList>;
export type Conflict = ConflictList['conflicts'][number];
export type Scope = Whoami['scopes'][number];
