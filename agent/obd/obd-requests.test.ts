/**
 * Requests on the older protocols (the emulator speaks only CAN): replies as an ELM327 prints them
 * with headers on, three header bytes + data + checksum per line.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterInfo, ElmReply } from './elm327-session.ts';
import { type ObdRequester, discoverSupportedPids, readDtcs, readPids, readVin } from './obd-requests.ts';

const KWP: AdapterInfo = { version: 'ELM327 v1.5', protocol: '4', protocolName: 'ISO 14230-4 KWP (5 baud init)', auto: true, isCan: false, canIdBits: undefined, spaces: false };

function requester(info: AdapterInfo, answers: Record<string, string[]>): ObdRequester {
  return {
    info,
    async request(command) {
      const lines = answers[command];
      const reply: ElmReply = { command, status: lines ? 'data' : 'no-data', lines: lines ?? [], conditions: [], searched: false, garbage: [], raw: '', elapsedMs: 1 };
      return reply;
    },
  };
}

/** Service 09 PID 02 on the older protocols: five lines `49 02 0n` + 4 bytes, the first padded with three zeros. */
function vinLines(vin: string): string[] {
  const bytes = [0, 0, 0, ...[...vin].map((c) => c.charCodeAt(0))];
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
  return [1, 2, 3, 4, 5].map((n) => `486B1049 02${hex(n)}${bytes.slice((n - 1) * 4, n * 4).map(hex).join('')}CC`.replace(' ', ''));
}

describe('OBD requests on K-line / J1850 replies', () => {
  const car = requester(KWP, {
    '0100': ['486B104100BE1FA813XX'.replace('XX', '00')],
    '010C': ['486B10410C1AF8CC'],
    '03': ['486B104301330000000000CC'],
    '0902': vinLines('1G1JC5444R7252367'),
  });

  it('reads the ECU from the header and drops the checksum', async () => {
    const rpm = await readPids(car, [0x0c]);
    expect(rpm.readings).toEqual([{ pid: 0x0c, name: 'RPM', value: 1726, unit: 'rpm', ecu: '10' }]);
    const supported = await discoverSupportedPids(car);
    expect(supported.pids).toContain(0x0c);
    expect([...supported.byEcu.keys()]).toEqual(['10']);
  });

  it('decodes DTCs without the CAN count byte and the VIN from its five numbered lines', async () => {
    expect((await readDtcs(car, 'stored')).codes).toEqual(['P0133']);
    expect((await readVin(car)).vin).toBe('1G1JC5444R7252367');
  });
});
