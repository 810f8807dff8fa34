/**
 * obd-parser (npm, GPL-3.0, devDependency only) as a test oracle: for every service 01 PID it
 * decodes, our table must read the same value from the same bytes. Where obd-parser departs from
 * SAE J1979 the test pins the exact departure, so a change on either side still fails it.
 * See docs/obd.md, "obd-parser decision".
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { pidByNumber, type PidObject } from '../../contracts/obd/pid-table.ts';
import { decodeSupportedPids } from '../../contracts/obd/supported-pids.ts';

interface OracleStatic {
  getPid(): string;
  getParseableByteCount(): number;
  getValueForBytes(bytes: string[]): number | string | undefined;
}
interface OracleModule {
  PIDS: Record<string, new () => OracleStatic>;
}

const oracle = createRequire(import.meta.url)('obd-parser') as OracleModule;
const classes = Object.entries(oracle.PIDS).filter(([name]) => name !== 'PID');
const instances = classes.map(([name, Cls]) => ({ name, pid: new Cls() }));

/** The byte strings obd-parser takes: the whole answer as hex pairs, `41`, PID, data. */
const asOracleBytes = (pid: number, data: Uint8Array): string[] =>
  [0x41, pid, ...data].map((b) => b.toString(16).toUpperCase().padStart(2, '0'));

/** A spread of data bytes for a PID: every value for 1-byte PIDs, a 16-step grid plus edges otherwise. */
function spread(bytes: number): Uint8Array[] {
  if (bytes === 1) return Array.from({ length: 256 }, (_, a) => Uint8Array.of(a));
  const out: Uint8Array[] = [];
  for (let a = 0; a < 256; a += 17) {
    for (let b = 0; b < 256; b += 51) out.push(Uint8Array.from({ length: bytes }, (_, i) => (i % 2 === 0 ? a : b) ^ (i >> 1)));
  }
  out.push(new Uint8Array(bytes).fill(0xff), new Uint8Array(bytes));
  return out;
}

/** PIDs where obd-parser's numbers follow J1979 exactly. */
const NUMERIC = new Set([0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x0f, 0x10, 0x11, 0x2f]);

describe('obd-parser as oracle', () => {
  it('covers the PIDs we expect, and each one is in our table with the same byte count', () => {
    const covered = instances.map((i) => parseInt(i.pid.getPid(), 16)).sort((a, b) => a - b);
    expect(covered).toEqual([0x03, 0x04, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x0f, 0x10, 0x11, 0x1c, 0x20, 0x2f]);
    for (const { pid } of instances) {
      const ours = pidByNumber(parseInt(pid.getPid(), 16))!;
      expect(ours.bytes, ours.name).toBe(pid.getParseableByteCount());
    }
  });

  it('agrees on every numeric PID it covers, for every byte value (1-byte) or a grid (2-byte)', () => {
    let compared = 0;
    for (const { name, pid } of instances) {
      const code = parseInt(pid.getPid(), 16);
      if (!NUMERIC.has(code)) continue;
      const ours = pidByNumber(code)!;
      for (const data of spread(ours.bytes)) {
        const theirs = pid.getValueForBytes(asOracleBytes(code, data));
        const mine = ours.decode(data);
        expect(typeof mine, name).toBe('number');
        expect(Math.abs((mine as number) - (theirs as number)), `${name} ${Buffer.from(data).toString('hex')}: ours ${String(mine)} theirs ${String(theirs)}`).toBeLessThan(1e-6);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(7 * 256);
  });

  it('engine load: obd-parser scales by 1/2.5, J1979 (and we) by 100/255', () => {
    const load = instances.find((i) => i.pid.getPid() === '04')!.pid;
    for (let a = 0; a < 256; a++) {
      const data = Uint8Array.of(a);
      expect(load.getValueForBytes(asOracleBytes(0x04, data))).toBeCloseTo(a / 2.5, 9);
      expect(pidByNumber(0x04)!.decode(data)).toBeCloseTo((a * 100) / 255, 5);
    }
  });

  it('OBD standard: the same codes are defined, and their abbreviations match ours', () => {
    const std = instances.find((i) => i.pid.getPid() === '1C')!.pid;
    let withAbbreviation = 0;
    for (let a = 0; a < 256; a++) {
      const theirs = String(std.getValueForBytes(asOracleBytes(0x1c, Uint8Array.of(a))));
      const ours = pidByNumber(0x1c)!.decode(Uint8Array.of(a)) as string;
      expect(theirs === 'Unknown', `code ${a}: ${theirs} / ${ours}`).toBe(ours.startsWith('code 0x'));
      const abbreviation = /\(([^()]*[A-Z][^()]*[A-Z][^()]*)\)$/.exec(theirs)?.[1];
      if (abbreviation) {
        expect(ours, `code ${a}`).toContain(abbreviation);
        withAbbreviation++;
      }
    }
    expect(withAbbreviation).toBeGreaterThan(15);
  });

  it('fuel system status: the same codes are defined and agree on open or closed loop', () => {
    const status = instances.find((i) => i.pid.getPid() === '03')!.pid;
    for (let a = 0; a <= 0x20; a++) {
      const theirs = status.getValueForBytes(asOracleBytes(0x03, Uint8Array.of(a, 0)));
      const ours = (pidByNumber(0x03)!.decode(Uint8Array.of(a, 0)) as PidObject).SYSTEM_1;
      if (a === 0) {
        // Zero means "no fuel system": we say null, obd-parser has no label.
        expect(ours).toBeNull();
        expect(theirs).toBeUndefined();
        continue;
      }
      expect(theirs === undefined, `code ${a}`).toBe(String(ours).startsWith('code 0x'));
      if (theirs !== undefined) expect(String(theirs).toLowerCase().startsWith(String(ours).split(':')[0]!), `code ${a}`).toBe(true);
    }
  });

  it('supported PIDs: obd-parser reads the PID byte as part of the bitmap; apart from that offset the bits agree', () => {
    const sp = instances.find((i) => i.pid.getPid() === '20')!.pid;
    for (const data of spread(4)) {
      const theirs = String(sp.getValueForBytes(asOracleBytes(0x20, data)));
      // obd-parser numbers 40 bits from 1, starting at the PID byte (0x20) rather than at A.
      const shifted = decodeSupportedPids(0x00, Uint8Array.of(0x20, data[0]!, data[1]!, data[2]!)).concat(decodeSupportedPids(0x20, Uint8Array.of(data[3]!)));
      expect(theirs, Buffer.from(data).toString('hex')).toBe(shifted.map((p) => p.toString(16).padStart(2, '0')).join(','));
    }
  });
});
