/**
 * The CAN frame layer of OBD-II (ISO 15765-4), apart from any adapter session: ELM327 output lines
 * → CAN frames → ISO-TP messages per ECU, and the inverse (a message → ISO-TP frames) for the
 * emulator. Stateless and pure; nothing here throws on adapter output — lines that are not frames
 * (`NO DATA`, `SEARCHING...`, `CAN ERROR`, garbage) are skipped and incomplete messages dropped.
 *
 * ELM327 output forms handled (CAN auto-formatting on, the adapter default):
 * - headers on (ATH1): `7E8 06 41 0C 1A F8 00 00 00` or `18 DA F1 10 06 41 0C …`, spaces on or off
 *   (`7E806410C1AF8000000`); the PCI byte is shown and frames are reassembled here.
 * - headers off (ATH0): the adapter strips the PCI; a single frame is just `41 0C 1A F8`, a
 *   multi-frame message is a byte-count line then numbered lines: `014`, `0: 49 02 01 31 44 34`, `1: …`.
 */

export interface CanFrame {
  /** Arbitration ID: 0x7E8 or 0x18DAF110. 0 when the line carried no header. */
  readonly id: number;
  readonly idBits: 11 | 29;
  /** Frame data including the ISO-TP PCI byte(s) and any padding (normally 8 bytes). */
  readonly data: Uint8Array;
}

export interface ObdMessage {
  /** Responding ECU: '7E8' (11-bit) or '18DAF110' (29-bit); '?' when the adapter printed no headers. */
  readonly ecu: string;
  /** Reassembled service payload, e.g. 41 0C 1A F8. */
  readonly data: Uint8Array;
}

const HEX_PAIRS = /^(?:[0-9A-F]{2})+$/;
const HEX = /^[0-9A-F]+$/;

function hexBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The ECU label of a frame's ID, as the ELM prints it. */
export function ecuLabel(frame: Pick<CanFrame, 'id' | 'idBits'>): string {
  return frame.id.toString(16).toUpperCase().padStart(frame.idBits === 11 ? 3 : 8, '0');
}

/**
 * One ELM output line → a CAN frame, or undefined when the line is not one (status text, prompt,
 * odd hex). With `headers` the line starts with the ID (3 hex digits = 11-bit, 4 bytes = 29-bit);
 * without, the whole line is the frame's data (CAN auto-formatting off) and the ID reads as 0.
 */
export function parseFrameLine(line: string, headers: boolean): CanFrame | undefined {
  const tokens = line.trim().toUpperCase().split(/\s+/).filter(Boolean);
  if (tokens.length === 0 || !tokens.every((t) => HEX.test(t))) return undefined;
  if (!headers) {
    const joined = tokens.join('');
    return HEX_PAIRS.test(joined) ? { id: 0, idBits: 11, data: hexBytes(joined) } : undefined;
  }
  let idHex: string;
  let dataHex: string;
  if (tokens.length === 1) {
    // Spaces off: an 11-bit ID is 3 digits, so 11-bit lines have odd length and 29-bit lines even.
    const t = tokens[0]!;
    const idLen = t.length % 2 === 1 ? 3 : 8;
    idHex = t.slice(0, idLen);
    dataHex = t.slice(idLen);
  } else if (tokens[0]!.length === 3 || tokens[0]!.length === 8) {
    idHex = tokens[0]!;
    dataHex = tokens.slice(1).join('');
  } else if (tokens[0]!.length === 2 && tokens.length >= 5 && tokens.slice(0, 4).every((t) => t.length === 2)) {
    idHex = tokens.slice(0, 4).join('');
    dataHex = tokens.slice(4).join('');
  } else {
    return undefined;
  }
  if (dataHex.length === 0 || !HEX_PAIRS.test(dataHex)) return undefined;
  const idBits = idHex.length === 3 ? 11 : 29;
  return { id: parseInt(idHex, 16), idBits, data: hexBytes(dataHex) };
}

interface Pending {
  readonly ecu: string;
  readonly buffer: Uint8Array;
  filled: number;
  nextSeq: number;
}

/**
 * ISO 15765-4 reassembly: single frames (PCI 0x0L), first frames (0x1L LL) and consecutive frames
 * (0x2N, N = 1 … F, 0 …), tracked per ECU so that interleaved answers of several ECUs come apart.
 * Flow-control frames are ignored. A message whose consecutive frames are missing or out of
 * sequence is dropped. Messages are returned in the order they complete.
 */
export function assembleMessages(frames: readonly CanFrame[]): ObdMessage[] {
  const out: ObdMessage[] = [];
  const pending = new Map<string, Pending>();
  for (const frame of frames) {
    const ecu = ecuLabel(frame);
    const d = frame.data;
    const pci = d[0];
    if (pci === undefined) continue;
    switch (pci >> 4) {
      case 0: {
        // CAN FD escape (length 0 then the real length in the next byte) is accepted too.
        const len = pci & 0x0f || (d[1] ?? 0);
        const start = (pci & 0x0f) === 0 ? 2 : 1;
        pending.delete(ecu);
        if (len > 0 && start + len <= d.length) out.push({ ecu, data: d.slice(start, start + len) });
        break;
      }
      case 1: {
        const len = ((pci & 0x0f) << 8) | (d[1] ?? 0);
        if (len < 8) {
          pending.delete(ecu);
          break;
        }
        const p: Pending = { ecu, buffer: new Uint8Array(len), filled: 0, nextSeq: 1 };
        const first = d.subarray(2, 2 + Math.min(len, 6));
        p.buffer.set(first);
        p.filled = first.length;
        pending.set(ecu, p);
        break;
      }
      case 2: {
        const p = pending.get(ecu);
        if (!p) break;
        if ((pci & 0x0f) !== p.nextSeq) {
          pending.delete(ecu);
          break;
        }
        const chunk = d.subarray(1, 1 + Math.min(7, p.buffer.length - p.filled));
        p.buffer.set(chunk, p.filled);
        p.filled += chunk.length;
        p.nextSeq = (p.nextSeq + 1) & 0x0f;
        if (p.filled >= p.buffer.length) {
          pending.delete(ecu);
          out.push({ ecu, data: p.buffer });
        }
        break;
      }
      default:
        break; // 3 = flow control; others are not ISO-TP
    }
  }
  return out;
}

/** Largest payload a classic ISO-TP first frame can announce (12-bit length). */
export const MAX_ISOTP_PAYLOAD = 4095;

/**
 * One message → its ISO-TP frames, 8 bytes each, padded with `padding` (ECUs commonly use 00, 55
 * or AA). Payloads of up to 7 bytes make a single frame; longer ones a first frame plus consecutive
 * frames. Throws RangeError for an empty payload or one over 4095 bytes (a programmer error).
 */
export function segmentMessage(payload: Uint8Array, padding = 0x00): Uint8Array[] {
  if (payload.length === 0 || payload.length > MAX_ISOTP_PAYLOAD) {
    throw new RangeError(`ISO-TP payload must be 1–${MAX_ISOTP_PAYLOAD} bytes, got ${payload.length}`);
  }
  const frame = (head: number[], body: Uint8Array): Uint8Array => {
    const f = new Uint8Array(8).fill(padding);
    f.set(head);
    f.set(body, head.length);
    return f;
  };
  if (payload.length <= 7) return [frame([payload.length], payload)];
  const frames = [frame([0x10 | (payload.length >> 8), payload.length & 0xff], payload.subarray(0, 6))];
  let seq = 1;
  for (let i = 6; i < payload.length; i += 7) {
    frames.push(frame([0x20 | seq], payload.subarray(i, i + 7)));
    seq = (seq + 1) & 0x0f;
  }
  return frames;
}

/**
 * ELM output with headers off (CAN auto-formatting on) → messages with ecu '?'. A line of hex
 * pairs is one single-frame message; a 3-digit line (`014`) announces a multi-frame message of that
 * many bytes (hex), followed by `0: …`, `1: …` lines (index wraps after F). Several ECUs simply give
 * several messages; without headers they cannot be told apart. Status lines are skipped.
 */
export function parseHeaderlessResponse(lines: readonly string[]): ObdMessage[] {
  const out: ObdMessage[] = [];
  let multi: { buffer: Uint8Array; filled: number; nextIndex: number } | undefined;
  const finishMulti = (): void => {
    // An announced message that never filled up is incomplete: drop it.
    multi = undefined;
  };
  for (const raw of lines) {
    const line = raw.trim().toUpperCase();
    if (line === '') continue;
    const indexed = /^([0-9A-F]):\s*(.*)$/.exec(line);
    if (indexed) {
      const data = indexed[2]!.replace(/\s+/g, '');
      if (!multi || parseInt(indexed[1]!, 16) !== multi.nextIndex || !HEX_PAIRS.test(data)) {
        finishMulti();
        continue;
      }
      const bytes = hexBytes(data).subarray(0, multi.buffer.length - multi.filled);
      multi.buffer.set(bytes, multi.filled);
      multi.filled += bytes.length;
      multi.nextIndex = (multi.nextIndex + 1) & 0x0f;
      if (multi.filled >= multi.buffer.length) {
        out.push({ ecu: '?', data: multi.buffer });
        multi = undefined;
      }
      continue;
    }
    const compact = line.replace(/\s+/g, '');
    if (/^[0-9A-F]{3}$/.test(compact)) {
      finishMulti();
      const len = parseInt(compact, 16);
      if (len > 0) multi = { buffer: new Uint8Array(len), filled: 0, nextIndex: 0 };
      continue;
    }
    if (HEX_PAIRS.test(compact) && line.split(/\s+/).every((t) => HEX.test(t))) {
      finishMulti();
      out.push({ ecu: '?', data: hexBytes(compact) });
    }
  }
  return out;
}

/** Convenience for a session: the lines of one response → messages, with headers on or off. */
export function parseResponseLines(lines: readonly string[], headers: boolean): ObdMessage[] {
  if (!headers) return parseHeaderlessResponse(lines);
  const frames: CanFrame[] = [];
  for (const line of lines) {
    const f = parseFrameLine(line, true);
    if (f) frames.push(f);
  }
  return assembleMessages(frames);
}

/** Bytes as the ELM prints them: `41 0C 1A F8` (spaces) or `410C1AF8`. */
export function formatHex(bytes: Uint8Array, spaces = true): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(spaces ? ' ' : '');
}
