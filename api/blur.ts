/**
 * The privacy transform: decode a JPEG/PNG, apply its EXIF orientation, hide the given regions
 * (gaussian blur or pixelation, each region processed from the oriented image and composited
 * back), and encode in the input's format without metadata (sharp writes none unless asked, so
 * EXIF, GPS, ICC and XMP are all dropped).
 *
 * Regions are in the pixel coordinates of the image as displayed, i.e. after orientation.
 * Regions are clipped to the image; a region entirely outside it is an error (the client's
 * coordinates are wrong, so silently hiding nothing would leak what it meant to hide).
 */
import sharp, { type Metadata, type OverlayOptions } from 'sharp';

export type BlurMethod = 'blur' | 'pixelate';

export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface BlurLimits {
  /** Largest width × height accepted (decompression bombs are refused before decoding). */
  maxPixels: number;
  maxRegions: number;
}

export type BlurResult =
  | { ok: true; image: Buffer; format: 'jpeg' | 'png'; width: number; height: number; regions: number }
  | { ok: false; status: 400 | 413 | 415 | 422; code: string; message: string };

export async function blurRegions(input: Buffer, regions: readonly Region[], method: BlurMethod, limits: BlurLimits, strength = 1): Promise<BlurResult> {
  if (regions.length > limits.maxRegions) return { ok: false, status: 422, code: 'too_many_regions', message: `at most ${limits.maxRegions} regions` };
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    return { ok: false, status: 415, code: 'unsupported_image', message: 'not a decodable JPEG or PNG image' };
  }
  if (meta.format !== 'jpeg' && meta.format !== 'png') return { ok: false, status: 415, code: 'unsupported_image', message: `format ${meta.format ?? 'unknown'} is not JPEG or PNG` };
  const rawW = meta.width ?? 0;
  const rawH = meta.height ?? 0;
  if (rawW * rawH > limits.maxPixels) {
    return { ok: false, status: 413, code: 'too_many_pixels', message: `${rawW}×${rawH} exceeds ${limits.maxPixels} pixels` };
  }
  // Orientations 5-8 swap the axes.
  const swapped = (meta.orientation ?? 1) >= 5;
  const width = swapped ? rawH : rawW;
  const height = swapped ? rawW : rawH;
  const clipped: Region[] = [];
  for (const [i, r] of regions.entries()) {
    const x0 = Math.max(0, Math.floor(r.x));
    const y0 = Math.max(0, Math.floor(r.y));
    const x1 = Math.min(width, Math.ceil(r.x + r.width));
    const y1 = Math.min(height, Math.ceil(r.y + r.height));
    if (x1 - x0 < 1 || y1 - y0 < 1) return { ok: false, status: 422, code: 'region_outside_image', message: `region ${i} lies outside the ${width}×${height} image` };
    clipped.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  }
  try {
    const oriented = await sharp(input, { limitInputPixels: limits.maxPixels }).rotate().toBuffer();
    const overlays: OverlayOptions[] = [];
    for (const r of clipped) {
      const patch = sharp(oriented).extract({ left: r.x, top: r.y, width: r.width, height: r.height });
      let hidden: Buffer;
      if (method === 'pixelate') {
        // Down to blocks of ~1/6 of the region's shorter side (at least 16 px, so plate characters
        // of ordinary size never survive), then back up without smoothing.
        const block = Math.max(16, Math.round((Math.min(r.width, r.height) / 6) * strength));
        const w = Math.max(1, Math.round(r.width / block));
        const h = Math.max(1, Math.round(r.height / block));
        const small = await patch.resize(w, h, { fit: 'fill', kernel: 'cubic' }).toBuffer();
        hidden = await sharp(small).resize(r.width, r.height, { fit: 'fill', kernel: 'nearest' }).toBuffer();
      } else {
        const sigma = Math.min(1000, Math.max(3, (Math.min(r.width, r.height) / 4) * strength));
        hidden = await patch.blur(sigma).toBuffer();
      }
      overlays.push({ input: hidden, left: r.x, top: r.y });
    }
    let out = sharp(oriented).composite(overlays);
    out = meta.format === 'jpeg' ? out.jpeg({ quality: 88, mozjpeg: false }) : out.png();
    const image = await out.toBuffer();
    return { ok: true, image, format: meta.format, width, height, regions: clipped.length };
  } catch (error) {
    return { ok: false, status: 400, code: 'image_processing_failed', message: error instanceof Error ? error.message : String(error) };
  }
}
