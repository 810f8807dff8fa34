/**
 * One nginx access-log line (the JSON format of api/nginx/nginx.conf.template) as a typed record.
 * Malformed lines are a value (`undefined` + a reason), never an exception.
 */
export interface AccessLogRecord {
  timeMs: number;
  requestId: string;
  remoteAddr: string;
  forwardedFor: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** Seconds, millisecond resolution. */
  requestTime: number;
  /** Seconds, or undefined when nginx answered itself. */
  upstreamTime: number | undefined;
  keyPrefix: string;
  userAgent: string;
}

export type ParseResult = { ok: true; record: AccessLogRecord } | { ok: false; reason: string };

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function parseAccessLogLine(line: string): ParseResult {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, reason: 'not an object' };
    raw = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const t = num(raw.t);
  const status = num(raw.status);
  if (t === undefined || t <= 0) return { ok: false, reason: 'no time' };
  if (status === undefined || status < 100 || status > 999) return { ok: false, reason: 'no status' };
  // Several upstream attempts are logged as "0.010, 0.020": the total is what the client waited on upstreams.
  const urtText = str(raw.urt);
  const upstream = urtText && urtText !== '-' ? urtText.split(/[,:]\s*/).reduce((sum, part) => sum + (num(part.trim()) ?? 0), 0) : undefined;
  return {
    ok: true,
    record: {
      timeMs: Math.round(t * 1000),
      requestId: str(raw.id),
      remoteAddr: str(raw.addr),
      forwardedFor: str(raw.xff),
      method: str(raw.method).slice(0, 16),
      path: str(raw.path).slice(0, 512),
      status,
      bytesIn: num(raw.bytes_in) ?? 0,
      bytesOut: num(raw.bytes_out) ?? 0,
      requestTime: num(raw.rt) ?? 0,
      upstreamTime: upstream,
      keyPrefix: str(raw.key).slice(0, 8),
      userAgent: str(raw.ua).slice(0, 256),
    },
  };
}

/** Known routes keep their name; everything else is `other`, so probing cannot explode tag cardinality. */
export function endpointOf(path: string, known: ReadonlySet<string>): string {
  return known.has(path) ? path : 'other';
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
