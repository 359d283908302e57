// pino for everything the daemon says: JSON lines for log pipelines, or
// readable lines with --pretty (or on a terminal).

import pino, { type Logger } from 'pino';

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  /** Where JSON lines go (default stdout); tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (options.destination) return pino({ level, base: undefined }, options.destination);
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ level, base: undefined, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino({ level, base: undefined });
}

export type { Logger };
