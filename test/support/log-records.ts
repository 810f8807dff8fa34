/**
 * The log records in what a child process wrote: its stderr is not a terminal, so every log line
 * is one JSON object (common/logger.ts). Lines that are not JSON (stdout summaries) are skipped.
 */
export type LogRecord = { level: string; time: string; component: string; msg: string } & Record<string, unknown>;

export function logRecords(output: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // A line cut where the output is read mid-write: the next read has it whole.
    }
  }
  return records;
}

/** The records with this message. */
export function logged(output: string, msg: string): LogRecord[] {
  return logRecords(output).filter((r) => r.msg === msg);
}
