import { describe, expect, it } from 'vitest';
import { parseResponse, responseLines } from './response-lines.ts';

describe('responseLines', () => {
  it('drops the echo, NUL/DEL noise, empty lines, and accepts CR, LF and CRLF endings', () => {
    expect(responseLines('ATE0\rOK\r\r', 'ATE0')).toEqual(['OK']);
    expect(responseLines('\x7f\x7f\r\x00ELM327 v1.5\r\n\r\n', 'ATZ')).toEqual(['ELM327 v1.5']);
    expect(responseLines('010C\r\n41 0C 1A F8 \r\n', '010C')).toEqual(['41 0C 1A F8']);
    expect(responseLines('at z\rELM327 v2.1\r', 'ATZ')).toEqual(['ELM327 v2.1']);
  });
});

describe('parseResponse', () => {
  it('classifies every message of the data sheet as a condition, not data', () => {
    const cases: Array<[string, string]> = [
      ['NO DATA', 'no-data'],
      ['?', 'unknown-command'],
      ['UNABLE TO CONNECT', 'unable-to-connect'],
      ['BUS INIT: ...ERROR', 'bus-init-error'],
      ['CAN ERROR', 'can-error'],
      ['BUS ERROR', 'bus-error'],
      ['BUS BUSY', 'bus-busy'],
      ['DATA ERROR', 'data-error'],
      ['<RX ERROR', 'rx-error'],
      ['FB ERROR', 'fb-error'],
      ['BUFFER FULL', 'buffer-full'],
      ['STOPPED', 'stopped'],
      ['LV RESET', 'low-voltage-reset'],
      ['ACT ALERT', 'alert'],
      ['LP ALERT', 'alert'],
      ['ERR94', 'internal-error'],
    ];
    for (const [text, condition] of cases) {
      const parsed = parseResponse(`${text}\r\r`, '010C', false);
      expect(parsed.conditions, text).toEqual([condition]);
      expect(parsed.lines, text).toEqual([]);
      expect(parsed.garbage, text).toEqual([]);
    }
  });

  it('notes SEARCHING... and keeps the data after it, on its own line or on the same line', () => {
    const own = parseResponse('SEARCHING...\r7E8064100BE3FA813\r\r', '0100', false);
    expect(own).toMatchObject({ searched: true, lines: ['7E8064100BE3FA813'], conditions: [] });
    const same = parseResponse('SEARCHING...7E8 06 41 00 BE 3F A8 13\r', '0100', false);
    expect(same).toMatchObject({ searched: true, lines: ['7E8 06 41 00 BE 3F A8 13'] });
    const none = parseResponse('SEARCHING...\rUNABLE TO CONNECT\r\r', '0100', false);
    expect(none).toMatchObject({ searched: true, lines: [], conditions: ['unable-to-connect'] });
  });

  it('skips BUS INIT: ...OK and keeps the data', () => {
    expect(parseResponse('BUS INIT: ...OK\r48 6B 10 41 00 BE 3F A8 13 B9\r', '0100', false).lines).toEqual(['48 6B 10 41 00 BE 3F A8 13 B9']);
  });

  it('keeps data from one ECU and reports the error of a damaged line', () => {
    const parsed = parseResponse('7E8 04 41 0C 1A F8\r7E9 04 41 0C 1A <DATA ERROR\r', '010C', false);
    expect(parsed.lines).toEqual(['7E8 04 41 0C 1A F8']);
    expect(parsed.conditions).toEqual(['data-error']);
  });

  it('puts lines that are neither hex nor a known message into garbage for OBD requests', () => {
    const parsed = parseResponse('7E8 04 41 0C 1A F8\r+CONNECTING<<94:65\rZZ##\r', '010C', false);
    expect(parsed.lines).toEqual(['7E8 04 41 0C 1A F8']);
    expect(parsed.garbage).toEqual(['+CONNECTING<<94:65', 'ZZ##']);
  });

  it('keeps headerless multi-frame lines as data', () => {
    const raw = '014\r0: 49 02 01 31 47 31\r1: 4A 43 35 34 34 34 52\r2: 37 32 35 32 33 36 37\r\r';
    expect(parseResponse(raw, '0902', false).lines).toEqual(['014', '0: 49 02 01 31 47 31', '1: 4A 43 35 34 34 34 52', '2: 37 32 35 32 33 36 37']);
  });

  it('treats the text of AT commands as payload', () => {
    expect(parseResponse('ATI\rELM327 v1.5\r\r', 'ATI', true)).toMatchObject({ lines: ['ELM327 v1.5'], conditions: [], garbage: [] });
    expect(parseResponse('A6\r', 'ATDPN', true).lines).toEqual(['A6']);
    expect(parseResponse('?\r', 'ATAT1', true).conditions).toEqual(['unknown-command']);
  });
});
