/**
 * Compact telemetry batch, wire format 1: the same content as the JSON batch of telemetry.ts, laid
 * out by column so that a batch of OBD-II samples costs a few bytes per signal instead of ~20.
 *
 *   byte 0      0xFC — the marker. It can never start JSON text (0xFC is not even valid UTF-8),
 *               so ingest tells the two forms apart by the first byte (MQTT 3.1.1 has no content type).
 *   byte 1      format version (1)
 *   byte 2      flags: bit 0 = the body is raw-deflated (RFC 1951, node:zlib);
 *                      bit 1 = a send time follows; other bits must be 0
 *   [uvarint sentAt, Unix ms — only with flag bit 1; outside the deflated body]
 *   body        uvarint vehicle byte length, vehicle (UTF-8)
 *               uvarint seq
 *               uvarint n (samples)
 *               uvarint t₀, then n−1 zigzag varints tᵢ − tᵢ₋₁ (ms)
 *               uvarint k (columns), then per column:
 *                 header byte: bits 0-4 signal code (SIGNAL_CODES_V1), bits 5-6 value mode,
 *                              bit 7 = present in every sample (no bitmap follows)
 *                 [presence bitmap, ⌈n/8⌉ bytes, bit i%8 of byte ⌊i/8⌋ = sample i carries it]
 *                 values of the samples that carry it, by mode:
 *                   0 quantised: zigzag varint deltas of raw = (value − offset) / scale at the signal's
 *                     J1979 resolution (QUANTA_V1), first delta from 0; value = raw·scale + offset
 *                     rounded to six decimals (j1979.ts valueOfRaw)
 *                   1 float32, little endian
 *                   2 float64, little endian
 *
 * Lossless: the encoder picks mode 0 for a column only when every value of it decodes back to the
 * identical double (which is what the simulator and the ELM327 decoder produce, both rounding to six
 * decimals), else float32 when every value is exactly a float32, else float64. So a decoded batch
 * equals the JSON form value for value, whatever the source (a replayed CSV lands in float64).
 *
 * The send time (`sentAt`, telemetry.ts) came later within format 1, behind flag bit 1: a payload
 * without it is byte for byte what the codec wrote before, and decodes as before. It sits before the
 * body, uncompressed, because it is stamped per publish (a resend gets a new one) and is small. A
 * decoder older than the flag refuses a payload with it (`unknown flags 0x2`): nothing in format 1
 * lets an old decoder skip unknown content, so ingest must be upgraded before the agents.
 *
 * Decoding never throws: a malformed payload is a value with a reason. The decoder checks structure
 * only; the caller validates the result with the same zod schema as the JSON form.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { rawOfValue, valueOfRaw } from './j1979.ts';
import { SIGNAL_NAMES, type SignalName, signalInfo } from './signals.ts';
import type { TelemetryBatch } from './telemetry-batch.ts';

export const COMPACT_MARKER = 0xfc;
export const COMPACT_FORMAT_VERSION = 1;
const FLAG_DEFLATE = 0x01;
const FLAG_SENT_AT = 0x02;

/**
 * Signal codes of format 1: a code is the signal's position in the catalogue (signals.ts), which is
 * append-only, so a new signal gets the next code and the codes and quanta already in use never
 * change (telemetry-compact-v1.test.ts freezes them). 5 bits: at most 32 codes.
 */
export const SIGNAL_CODES_V1: readonly SignalName[] = SIGNAL_NAMES;
if (SIGNAL_CODES_V1.length > 32) throw new Error(`compact format ${COMPACT_FORMAT_VERSION} has 5-bit signal codes: ${SIGNAL_CODES_V1.length} signals do not fit`);

/** Resolution of each code's SAE J1979 encoding (value = raw · scale + offset), from the catalogue. */
export const QUANTA_V1: Readonly<Record<SignalName, { scale: number; offset: number }>> = Object.fromEntries(
  SIGNAL_CODES_V1.map((name) => {
    const { scale, offset } = signalInfo(name)!;
    return [name, { scale, offset }];
  }),
) as Record<SignalName, { scale: number; offset: number }>;

/** Same bound as MAX_SAMPLES_PER_BATCH of telemetry.ts (a test keeps them equal). */
const MAX_SAMPLES = 5000;
/** Largest body inflated; more is refused, so a small deflate bomb cannot exhaust memory. */
export const MAX_COMPACT_BODY_BYTES = 2 * 1024 * 1024;
const MAX_VEHICLE_BYTES = 256;

const MODE_QUANTISED = 0;
const MODE_FLOAT32 = 1;
const MODE_FLOAT64 = 2;

export type CompactCompression = 'none' | 'deflate' | 'auto';

export interface CompactEncodeOptions {
  /** `auto` (default) deflates when that makes the message smaller. */
  compression?: CompactCompression;
}

export type CompactDecodeResult = { ok: true; batch: TelemetryBatch } | { ok: false; detail: string };

const codeOf = new Map<string, number>(SIGNAL_CODES_V1.map((name, i) => [name, i]));

function quantise(name: SignalName, value: number): number | undefined {
  const q = QUANTA_V1[name];
  const raw = rawOfValue(q, value);
  if (!Number.isSafeInteger(raw) || Math.abs(raw) > 0x7fff_ffff) return undefined;
  return valueOfRaw(q, raw) === value ? raw : undefined;
}

class Writer {
  private buf = Buffer.allocUnsafe(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Unsigned LEB128 for non-negative safe integers (arithmetic, not 32-bit shifts). */
  uvarint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  zigzag(v: number): void {
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  float32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }

  float64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** Thrown inside the decoder only; turned into a result at its boundary. */
class Malformed extends Error {}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  byte(what: string): number {
    if (this.pos >= this.buf.length) throw new Malformed(`truncated at byte ${this.pos} (${what})`);
    return this.buf[this.pos++]!;
  }

  bytes(n: number, what: string): Buffer {
    if (n > this.remaining) throw new Malformed(`truncated at byte ${this.pos} (${what}: ${n} bytes, ${this.remaining} left)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  uvarint(what: string): number {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * factor;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) throw new Malformed(`${what} exceeds 2^53`);
        return value;
      }
      factor *= 0x80;
    }
    throw new Malformed(`${what}: varint longer than 8 bytes`);
  }

  zigzag(what: string): number {
    const z = this.uvarint(what);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  float32(what: string): number {
    return this.bytes(4, what).readFloatLE(0);
  }

  float64(what: string): number {
    return this.bytes(8, what).readDoubleLE(0);
  }
}

/** True when the payload claims to be a compact batch (ingest's dispatch: by the first byte). */
export function isCompactTelemetry(payload: Uint8Array): boolean {
  return payload.byteLength > 0 && payload[0] === COMPACT_MARKER;
}

/**
 * Encodes a batch. Signals outside SIGNAL_CODES_V1 cannot be carried and throw a TypeError (a
 * programmer error: samples are built from the catalogue); so do non-increasing-safe event times.
 */
export function encodeCompactTelemetry(batch: TelemetryBatch, options: CompactEncodeOptions = {}): Buffer {
  const n = batch.samples.length;
  const w = new Writer();
  const vehicle = Buffer.from(batch.vehicle, 'utf8');
  w.uvarint(vehicle.length);
  w.bytes(vehicle);
  w.uvarint(batch.seq);
  w.uvarint(n);
  let prevT = 0;
  batch.samples.forEach((s, i) => {
    if (!Number.isSafeInteger(s.t) || s.t < 0) throw new TypeError(`sample ${i}: t must be a non-negative integer`);
    if (i === 0) w.uvarint(s.t);
    else w.zigzag(s.t - prevT);
    prevT = s.t;
  });

  const columns = new Map<number, Array<number | undefined>>();
  batch.samples.forEach((s, i) => {
    for (const [key, value] of Object.entries(s)) {
      if (key === 't' || value === undefined) continue;
      const code = codeOf.get(key);
      if (code === undefined) throw new TypeError(`signal ${key} has no code in compact format ${COMPACT_FORMAT_VERSION}`);
      let column = columns.get(code);
      if (!column) columns.set(code, (column = new Array<number | undefined>(n).fill(undefined)));
      column[i] = value;
    }
  });

  w.uvarint(columns.size);
  for (const [code, column] of [...columns.entries()].sort((a, b) => a[0] - b[0])) {
    const name = SIGNAL_CODES_V1[code]!;
    const present = column.filter((v): v is number => v !== undefined);
    const raws = present.map((v) => quantise(name, v));
    const mode = raws.every((r) => r !== undefined) ? MODE_QUANTISED : present.every((v) => Math.fround(v) === v) ? MODE_FLOAT32 : MODE_FLOAT64;
    const everywhere = present.length === n;
    w.byte(code | (mode << 5) | (everywhere ? 0x80 : 0));
    if (!everywhere) {
      const bitmap = Buffer.alloc(Math.ceil(n / 8));
      column.forEach((v, i) => {
        if (v !== undefined) bitmap[i >> 3]! |= 1 << (i & 7);
      });
      w.bytes(bitmap);
    }
    if (mode === MODE_QUANTISED) {
      let prev = 0;
      for (const raw of raws as number[]) {
        w.zigzag(raw - prev);
        prev = raw;
      }
    } else if (mode === MODE_FLOAT32) {
      for (const v of present) w.float32(v);
    } else {
      for (const v of present) w.float64(v);
    }
  }

  const body = w.done();
  const compression = options.compression ?? 'auto';
  let out = body;
  let flags = 0;
  if (compression !== 'none') {
    const deflated = deflateRawSync(body);
    if (compression === 'deflate' || deflated.length < body.length) {
      out = deflated;
      flags |= FLAG_DEFLATE;
    }
  }
  let sentAt: Buffer = Buffer.alloc(0);
  if (batch.sentAt !== undefined) {
    if (!Number.isSafeInteger(batch.sentAt) || batch.sentAt < 0) throw new TypeError('sentAt must be a non-negative integer');
    const stamp = new Writer();
    stamp.uvarint(batch.sentAt);
    sentAt = stamp.done();
    flags |= FLAG_SENT_AT;
  }
  return Buffer.concat([Buffer.from([COMPACT_MARKER, COMPACT_FORMAT_VERSION, flags]), sentAt, out]);
}

/**
 * Decodes a compact batch into the object the JSON form would parse to. Never throws; structure
 * errors (truncation, unknown version or signal code, trailing bytes, a bad deflate stream) are
 * `{ ok: false, detail }`. The result is not yet validated: pass it through telemetryBatchSchema.
 */
export function decodeCompactTelemetry(payload: Uint8Array): CompactDecodeResult {
  try {
    return { ok: true, batch: decode(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) };
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, detail: error.message };
    return { ok: false, detail: `undecodable: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function decode(payload: Buffer): TelemetryBatch {
  const head = new Reader(payload);
  if (head.byte('marker') !== COMPACT_MARKER) throw new Malformed('not a compact batch (first byte is not 0xFC)');
  const version = head.byte('version');
  if (version !== COMPACT_FORMAT_VERSION) throw new Malformed(`unknown compact format version ${version}`);
  const flags = head.byte('flags');
  if ((flags & ~(FLAG_DEFLATE | FLAG_SENT_AT)) !== 0) throw new Malformed(`unknown flags 0x${flags.toString(16)}`);
  const sentAt = flags & FLAG_SENT_AT ? head.uvarint('send time') : undefined;
  let body = payload.subarray(head.pos);
  if (flags & FLAG_DEFLATE) {
    try {
      body = inflateRawSync(body, { maxOutputLength: MAX_COMPACT_BODY_BYTES });
    } catch (error) {
      throw new Malformed(`bad deflate stream: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const r = new Reader(body);
  const vehicleBytes = r.uvarint('vehicle length');
  if (vehicleBytes > MAX_VEHICLE_BYTES) throw new Malformed(`vehicle id of ${vehicleBytes} bytes`);
  const vehicle = r.bytes(vehicleBytes, 'vehicle').toString('utf8');
  const seq = r.uvarint('seq');
  const n = r.uvarint('sample count');
  if (n > MAX_SAMPLES) throw new Malformed(`${n} samples > ${MAX_SAMPLES}`);
  const samples: Array<Record<string, number>> = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t = i === 0 ? r.uvarint('t0') : t + r.zigzag('t delta');
    samples.push({ t });
  }

  const k = r.uvarint('column count');
  if (k > SIGNAL_CODES_V1.length) throw new Malformed(`${k} columns > ${SIGNAL_CODES_V1.length} signals`);
  const seen = new Set<number>();
  for (let c = 0; c < k; c++) {
    const header = r.byte('column header');
    const code = header & 0x1f;
    const mode = (header >> 5) & 0x03;
    const name = SIGNAL_CODES_V1[code];
    if (name === undefined) throw new Malformed(`unknown signal code ${code}`);
    if (seen.has(code)) throw new Malformed(`signal ${name} appears twice`);
    seen.add(code);
    if (mode > MODE_FLOAT64) throw new Malformed(`unknown value mode ${mode} for ${name}`);
    let rows: number[];
    if (header & 0x80) {
      rows = samples.map((_, i) => i);
    } else {
      const bitmap = r.bytes(Math.ceil(n / 8), `${name} bitmap`);
      rows = [];
      for (let i = 0; i < n; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) rows.push(i);
      // Bits past n must be zero, so one batch has exactly one encoding.
      if (n % 8 !== 0 && bitmap.length > 0 && bitmap[bitmap.length - 1]! >> (n % 8) !== 0) throw new Malformed(`${name} bitmap has bits past the last sample`);
    }
    const q = QUANTA_V1[name];
    let raw = 0;
    for (const i of rows) {
      let value: number;
      if (mode === MODE_QUANTISED) {
        raw += r.zigzag(`${name} value`);
        value = valueOfRaw(q, raw);
      } else if (mode === MODE_FLOAT32) {
        value = r.float32(`${name} value`);
      } else {
        value = r.float64(`${name} value`);
      }
      samples[i]![name] = value;
    }
  }
  if (r.remaining !== 0) throw new Malformed(`${r.remaining} trailing bytes`);
  return { v: 1, vehicle, seq, ...(sentAt !== undefined ? { sentAt } : {}), samples } as TelemetryBatch;
}
