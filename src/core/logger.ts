/** The logger interface every layer uses; the app picks the implementation. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** Only errors reach stderr (keeps tests readable). */
  quiet?: boolean;
  /** Also receives every line, whatever `quiet` says (tests keep them to check for secrets). */
  tee?: (line: string) => void;
}

/** One JSON line per event on stderr; quiet mode keeps tests readable. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
    options.tee?.(line);
    if (options.quiet && level !== 'error') return;
    process.stderr.write(`${line}\n`);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
