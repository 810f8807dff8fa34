/**
 * Opaque cursors of the query API: base64url of a small JSON position, tagged with the list it
 * belongs to so that a cursor of one list is refused by another. Clients pass `nextCursor` back
 * unchanged; its content may change between versions.
 */
import { z } from 'zod';

export function encodeCursor(list: string, position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ l: list, ...position })).toString('base64url');
}

/** The position, or undefined when the text is not a cursor of `list`. */
export function decodeCursor<T extends z.ZodRawShape>(list: string, text: string, shape: T): z.infer<z.ZodObject<T>> | undefined {
  try {
    const raw: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    const parsed = z.object({ l: z.literal(list), ...shape }).safeParse(raw);
    return parsed.success ? (parsed.data as z.infer<z.ZodObject<T>>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One page of a list sorted by `key` (ascending): items after the cursor's key, at most `limit`,
 * and the cursor of the next page when more remain.
 */
export function pageByKey<T>(list: string, items: readonly T[], key: (item: T) => string, limit: number, after: string | undefined): { items: T[]; nextCursor: string | null } {
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((item) => key(item) > after);
  const page = rest.slice(0, limit);
  return { items: page, nextCursor: rest.length > limit ? encodeCursor(list, { after: key(page[page.length - 1]!) }) : null };
}
