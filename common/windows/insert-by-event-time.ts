/**
 * A window's samples in event-time order, one per event time: what a telemetry window holds, in
 * ingest (ingest/windows/vehicle-windows.ts) and in the model's window dataset alike.
 */

/**
 * Puts `item` into `items`, kept sorted by event time `t`. An item with the same `t` is replaced:
 * the later copy wins, as in InfluxDB, so a redelivered sample counts once. Samples nearly always
 * arrive in order, so the search starts at the end.
 *
 * Returns the item's index when it was added, `~index` (a negative number) when it replaced one.
 */
export function insertByEventTime<T extends { readonly t: number }>(items: T[], item: T): number {
  let i = items.length;
  while (i > 0 && items[i - 1]!.t > item.t) i--;
  if (i > 0 && items[i - 1]!.t === item.t) {
    items[i - 1] = item;
    return ~(i - 1);
  }
  items.splice(i, 0, item);
  return i;
}
