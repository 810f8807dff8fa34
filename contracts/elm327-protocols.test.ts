import { describe, expect, it } from 'vitest';
import { ELM327_PROTOCOLS, elm327Protocol } from './elm327-protocols.ts';

describe('ELM327 protocol table', () => {
  it('has the data sheet numbers 1…C, CAN from 6 on, one name and one ATDP text each', () => {
    expect(Object.keys(ELM327_PROTOCOLS).sort()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C']);
    for (const [number, p] of Object.entries(ELM327_PROTOCOLS)) expect(p.canIdBits !== undefined, number).toBe(/^[6-9A-C]$/.test(number));
    expect(new Set(Object.values(ELM327_PROTOCOLS).map((p) => p.name)).size).toBe(12);
    expect(new Set(Object.values(ELM327_PROTOCOLS).map((p) => p.display)).size).toBe(12);
  });

  it('knows no protocol 0 (automatic) and nothing inherited', () => {
    expect(elm327Protocol('0')).toBeUndefined();
    expect(elm327Protocol('constructor')).toBeUndefined();
    expect(elm327Protocol('7')).toEqual({ name: 'ISO 15765-4 CAN (29 bit ID, 500 kbaud)', display: 'ISO 15765-4 (CAN 29/500)', canIdBits: 29 });
  });
});
