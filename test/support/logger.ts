/** A Logger that keeps its lines, for tests that assert what was logged and at which level. */
import type { LogFields, Logger } from '../../src/api/observability.ts';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: LogFields;
}

export type CapturingLogger = Logger & { readonly lines: LogLine[] };

export function capturingLogger(): CapturingLogger {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (msg: string, fields: LogFields = {}) =>
      void lines.push({ level, msg, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
