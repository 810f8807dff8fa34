/**
 * Wire contract of the API-log scenario.
 *
 * - `ApiLogBatch` (topic `apilogs/{source}`, QoS 1, log shipper → ingest): raw access-log lines as
 *   nginx wrote them (one JSON object each, see api/nginx/nginx.conf.template), in file order.
 *   `seq` increases per shipper; a batch may arrive twice (at-least-once), so ingest deduplicates
 *   lines by their nginx request id.
 * - `ApiBlocklist` (topic `security/api-blocklist`, retained, ingest → privacy API): the complete
 *   current list; every publish replaces the previous one, entries carry their own expiry.
 */
import { z } from 'zod';

export const API_LOG_BATCH_VERSION = 1;
/** Largest batch a shipper sends and ingest accepts (bytes of the JSON payload). */
export const API_LOG_BATCH_MAX_BYTES = 512 * 1024;

export const apiLogBatchSchema = z.object({
  v: z.literal(API_LOG_BATCH_VERSION),
  source: z.string().min(1).max(64),
  seq: z.number().int().nonnegative(),
  lines: z.array(z.string().max(16 * 1024)).max(10_000),
});
export type ApiLogBatch = z.infer<typeof apiLogBatchSchema>;

export const blockKinds = ['ip', 'net', 'key'] as const;
export type BlockKind = (typeof blockKinds)[number];

export const blockEntrySchema = z.object({
  /** `ip`: one address; `net`: a CIDR (`/24` IPv4, `/64` IPv6); `key`: an API key prefix (8 chars). */
  kind: z.enum(blockKinds),
  value: z.string().min(1).max(64),
  /** Detection that caused it (`ip_burst`, `net_burst`, `key_guessing`, `path_probing`, `oversize_flood`, `leaked_key`). */
  reason: z.string().max(64),
  sinceMs: z.number(),
  untilMs: z.number(),
});
export type BlockEntry = z.infer<typeof blockEntrySchema>;

export const apiBlocklistSchema = z.object({
  v: z.literal(1),
  updatedMs: z.number(),
  entries: z.array(blockEntrySchema).max(100_000),
});
export type ApiBlocklist = z.infer<typeof apiBlocklistSchema>;
