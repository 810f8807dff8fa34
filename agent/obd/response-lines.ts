/**
 * What an ELM327 printed between a command and its `>` prompt, turned into a value.
 *
 * Pure and stateless, so every odd thing an adapter can print (clone echoes, NUL bytes, `\r\n`
 * despite ATL0, `SEARCHING...` before the data, an error message after one ECU's answer) is
 * tested on strings, apart from the serial session that collects them.
 *
 * Message texts are those of the ELM327 data sheet (error and alert messages section).
 */

/** A non-data condition the adapter reported in words. */
export type ElmCondition =
  | 'no-data' //            NO DATA: nobody answered within the adapter's timeout (unsupported PID, ECU asleep)
  | 'unknown-command' //    ?: the adapter did not understand the command (clones lack some AT commands)
  | 'unable-to-connect' //  UNABLE TO CONNECT: protocol search found no bus (ignition off, no car)
  | 'bus-init-error' //     BUS INIT: ...ERROR: ISO 9141 / KWP wake-up failed
  | 'can-error' //          CAN ERROR: CAN controller could not send or receive (wrong bitrate, bus off)
  | 'bus-error' //          BUS ERROR: electrical problem on the bus
  | 'bus-busy' //           BUS BUSY
  | 'data-error' //         DATA ERROR / <DATA ERROR: checksum or framing error in a response
  | 'rx-error' //           <RX ERROR: CAN frame received with an error
  | 'fb-error' //           FB ERROR: feedback error (J1850 wiring)
  | 'buffer-full' //        BUFFER FULL: adapter's receive buffer overflowed (serial too slow for the bus)
  | 'stopped' //            STOPPED: a character arrived while the adapter was busy and aborted the command
  | 'low-voltage-reset' //  LV RESET: supply voltage dropped, the adapter reset itself
  | 'alert' //              ACT ALERT / LP ALERT: no activity, about to enter low-power mode
  | 'internal-error'; //    ERRnn: internal error number nn

export const ELM_CONDITIONS: readonly ElmCondition[] = [
  'no-data',
  'unknown-command',
  'unable-to-connect',
  'bus-init-error',
  'can-error',
  'bus-error',
  'bus-busy',
  'data-error',
  'rx-error',
  'fb-error',
  'buffer-full',
  'stopped',
  'low-voltage-reset',
  'alert',
  'internal-error',
];

export interface ParsedResponse {
  /** Payload lines in order: hex data for OBD requests, text (`OK`, `ELM327 v1.5`, `A6`) for AT commands. */
  readonly lines: readonly string[];
  /** Conditions reported in words, in order of appearance. */
  readonly conditions: readonly ElmCondition[];
  /** `SEARCHING...` was printed: the adapter ran a protocol search before answering. */
  readonly searched: boolean;
  /** Lines of an OBD response that are neither hex data nor a known message (line noise, a foreign device). */
  readonly garbage: readonly string[];
}

const conditionPatterns: ReadonlyArray<readonly [RegExp, ElmCondition]> = [
  [/^NO ?DATA$/, 'no-data'],
  [/^\?$/, 'unknown-command'],
  [/^UNABLE TO ?CONNECT$/, 'unable-to-connect'],
  [/^BUS INIT:?.*ERROR$/, 'bus-init-error'],
  [/^CAN ERROR$/, 'can-error'],
  [/^BUS ERROR$/, 'bus-error'],
  [/^BUS BUSY$/, 'bus-busy'],
  [/^<?DATA ERROR$/, 'data-error'],
  [/^<RX ERROR$/, 'rx-error'],
  [/^FB ERROR$/, 'fb-error'],
  [/^BUFFER FULL$/, 'buffer-full'],
  [/^STOPPED$/, 'stopped'],
  [/^LV RESET$/, 'low-voltage-reset'],
  [/^(ACT|LP) ALERT$/, 'alert'],
  [/^ERR\d\d$/, 'internal-error'],
];

/** One hex data line: bytes with or without spaces, or a headerless multi-frame line such as `0: 49 02 01 …`. */
const HEX_LINE = /^(?:[0-9A-F]{1,2}:)?[0-9A-F ]+$/;

/** Normalises a command for echo comparison: upper case, no spaces. */
function compact(text: string): string {
  return text.replace(/\s+/g, '').toUpperCase();
}

/**
 * Splits raw adapter output (everything before the prompt) into trimmed, non-empty lines.
 * NUL and other control bytes that clones emit are dropped; both `\r` and `\n` end a line, so
 * ATL0 being ignored does not matter. A line that repeats the command is an echo and is dropped
 * (ATZ leaves echo on until ATE0 is processed, and some clones echo regardless).
 */
export function responseLines(raw: string, command: string): string[] {
  const echo = compact(command);
  const lines: string[] = [];
  for (const piece of raw.split(/[\r\n]+/)) {
    // Keep printable ASCII only: DEL, NUL and bytes ≥ 0x80 are line noise from a clone or a baud mismatch.
    const line = piece.replace(/[^\x20-\x7e]/g, '').trim();
    if (line === '') continue;
    if (echo !== '' && compact(line) === echo) continue;
    lines.push(line);
  }
  return lines;
}

/**
 * Classifies an adapter's response. For an AT command (`isAt`) every line that is not a known
 * message is payload text; for an OBD request only hex lines are payload and the rest is garbage.
 * Never throws.
 */
export function parseResponse(raw: string, command: string, isAt: boolean): ParsedResponse {
  const lines: string[] = [];
  const conditions: ElmCondition[] = [];
  const garbage: string[] = [];
  let searched = false;
  for (const original of responseLines(raw, command)) {
    let line = original.toUpperCase();
    if (/^SEARCHING\.*$/.test(line)) {
      searched = true;
      continue;
    }
    if (line.startsWith('SEARCHING...')) {
      // Some adapters print the first answer on the same line as SEARCHING... when linefeeds are off.
      searched = true;
      line = line.slice('SEARCHING...'.length).trim();
      if (line === '') continue;
    }
    if (/^BUS INIT:?.*OK$/.test(line)) continue;
    // A data line can carry an error marker after the bytes ("41 0C 1A <DATA ERROR"): the bytes are not trustworthy.
    const marker = /<(DATA|RX) ERROR$/.exec(line);
    if (marker && marker.index > 0) {
      conditions.push(marker[1] === 'DATA' ? 'data-error' : 'rx-error');
      continue;
    }
    const condition = conditionPatterns.find(([pattern]) => pattern.test(line))?.[1];
    if (condition) {
      conditions.push(condition);
      continue;
    }
    if (isAt) lines.push(original);
    else if (HEX_LINE.test(line)) lines.push(line);
    else garbage.push(original);
  }
  return { lines, conditions, searched, garbage };
}

export function isAtCommand(command: string): boolean {
  return /^\s*AT/i.test(command);
}
