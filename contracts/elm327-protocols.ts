/**
 * The bus protocols of an ELM327 adapter, by the number ATSP takes and ATDPN prints (`1`…`C`, from
 * the ELM327 data sheet). One table for both sides of the serial line: the agent's session reads
 * the protocol an adapter found, the simulator's emulator plays such an adapter.
 *
 * - `name`: what the agent reports (probe, status, logs), with bit rates spelled out;
 * - `display`: what the chip prints for ATDP, exactly (`AUTO, ` comes before it after a search);
 * - `canIdBits`: CAN identifier length; absent on the older protocols (J1850, ISO 9141, KWP).
 */
export interface Elm327Protocol {
  readonly name: string;
  readonly display: string;
  readonly canIdBits?: 11 | 29;
}

export const ELM327_PROTOCOLS: Readonly<Record<string, Elm327Protocol>> = {
  '1': { name: 'SAE J1850 PWM (41.6 kbaud)', display: 'SAE J1850 PWM' },
  '2': { name: 'SAE J1850 VPW (10.4 kbaud)', display: 'SAE J1850 VPW' },
  '3': { name: 'ISO 9141-2 (5 baud init)', display: 'ISO 9141-2' },
  '4': { name: 'ISO 14230-4 KWP (5 baud init)', display: 'ISO 14230-4 (KWP 5BAUD)' },
  '5': { name: 'ISO 14230-4 KWP (fast init)', display: 'ISO 14230-4 (KWP FAST)' },
  '6': { name: 'ISO 15765-4 CAN (11 bit ID, 500 kbaud)', display: 'ISO 15765-4 (CAN 11/500)', canIdBits: 11 },
  '7': { name: 'ISO 15765-4 CAN (29 bit ID, 500 kbaud)', display: 'ISO 15765-4 (CAN 29/500)', canIdBits: 29 },
  '8': { name: 'ISO 15765-4 CAN (11 bit ID, 250 kbaud)', display: 'ISO 15765-4 (CAN 11/250)', canIdBits: 11 },
  '9': { name: 'ISO 15765-4 CAN (29 bit ID, 250 kbaud)', display: 'ISO 15765-4 (CAN 29/250)', canIdBits: 29 },
  A: { name: 'SAE J1939 CAN (29 bit ID, 250 kbaud)', display: 'SAE J1939 (CAN 29/250)', canIdBits: 29 },
  B: { name: 'USER1 CAN (11 bit ID, 125 kbaud)', display: 'USER1 CAN (11* /125)', canIdBits: 11 },
  C: { name: 'USER2 CAN (11 bit ID, 50 kbaud)', display: 'USER2 CAN (11* /50)', canIdBits: 11 },
};

/** The protocol of an ATSP/ATDPN number (upper-case hex digit), or undefined (0 = automatic is none). */
export function elm327Protocol(number: string): Elm327Protocol | undefined {
  return Object.hasOwn(ELM327_PROTOCOLS, number) ? ELM327_PROTOCOLS[number] : undefined;
}
