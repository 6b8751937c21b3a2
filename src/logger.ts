import pino, { Logger } from 'pino';

/**
 * Structured logs on stderr (stdout is for command output such as `--json`): pretty in a terminal,
 * JSON lines otherwise, level from LOG_LEVEL.
 */
export function createLogger(level: string, pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino({ level }, pino.destination({ dest: 2, sync: false }));
}
