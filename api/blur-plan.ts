/**
 * The cheap half of a blur request, done before any pixel is decoded: read the image header,
 * refuse what is not a JPEG/PNG or has too many pixels, clip the regions to the image as displayed
 * (after EXIF orientation), decide how each region is hidden, and estimate the work.
 *
 * The estimate is in megapixel passes: one pass is 2.5 ms of CPU per megapixel on the 2-core
 * machine where `bench/api-blur.ts` measured the weights below. It follows the steps blur.ts
 * runs, so a request can be refused on it *before* the work, and the budget (`maxWork`) bounds
 * the CPU any one request can take.
 *
 * Regions are clipped to the image; a region entirely outside it is an error (the client's
 * coordinates are wrong, so silently hiding nothing would leak what it meant to hide).
 */
import sharp, { type Metadata } from 'sharp';

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
  /** Most work one request may need, in megapixel passes. */
  maxWork: number;
}

/** How one clipped region is hidden. */
export type RegionPlan = Region &
  (
    | { how: 'blur'; sigma: number }
    /** Gaussian blur at a reduced scale, enlarged back: the same look for a large sigma at a cost that does not grow with it. */
    | { how: 'scaled-blur'; sigma: number; smallWidth: number; smallHeight: number }
    | { how: 'pixelate'; blocksAcross: number; blocksDown: number }
  );

export interface BlurPlan {
  format: 'jpeg' | 'png';
  /** Pixels of the stored image (before orientation). */
  pixels: number;
  /** The image as displayed (after EXIF orientation). */
  width: number;
  height: number;
  regions: RegionPlan[];
  /** Estimated megapixel passes. */
  work: number;
}

export type BlurRefusal = { ok: false; status: 400 | 413 | 415 | 422; code: string; message: string };

/**
 * Passes per megapixel of each step, rounded up from `node --import tsx bench/api-blur.ts
 * --scenario calibrate` (a photo-like 16 MP image with noise; PNG encoding is the worst case, a
 * smooth PNG encodes 4× faster). Decoding, encoding and compositing count the whole image, hiding
 * a region (its extraction included) and copying it back count the region's area.
 */
export const WORK_PASSES = {
  decode: { jpeg: 3, png: 6 },
  encode: { jpeg: 5, png: 18 },
  composite: 3,
  /** Per region megapixel: copying the hidden region back over the image. */
  overlay: 1,
  blur: 3,
  scaledBlur: 5,
  pixelate: 3,
} as const;

/** Above this sigma a region is blurred at a reduced scale (direct gaussian cost grows with sigma, and past ~250 by 20×). */
export const DIRECT_BLUR_MAX_SIGMA = 10;

export async function planBlur(input: Buffer, regions: readonly Region[], method: BlurMethod, limits: BlurLimits): Promise<{ ok: true; plan: BlurPlan } | BlurRefusal> {
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
  const work = estimateWork({ format: meta.format, width, height }, clipped, method);
  if (work > limits.maxWork) {
    return { ok: false, status: 422, code: 'over_budget', message: `hiding these regions needs about ${work} megapixel passes of work and the limit is ${limits.maxWork}: send fewer or smaller regions, or a smaller image` };
  }
  return { ok: true, plan: { format: meta.format, pixels: rawW * rawH, width, height, regions: clipped.map((r) => planRegion(r, method)), work } };
}

/** Megapixel passes (rounded up) to hide `regions` (already clipped) in an image of this size. */
export function estimateWork(image: { format: 'jpeg' | 'png'; width: number; height: number }, regions: readonly Region[], method: BlurMethod): number {
  const mp = (w: number, h: number): number => (w * h) / 1e6;
  let passes = mp(image.width, image.height) * (WORK_PASSES.decode[image.format] + WORK_PASSES.encode[image.format] + WORK_PASSES.composite);
  for (const region of regions) {
    const plan = planRegion(region, method);
    const hide = plan.how === 'blur' ? WORK_PASSES.blur : plan.how === 'scaled-blur' ? WORK_PASSES.scaledBlur : WORK_PASSES.pixelate;
    passes += mp(region.width, region.height) * (hide + WORK_PASSES.overlay);
  }
  return Math.ceil(passes);
}

function planRegion(r: Region, method: BlurMethod): RegionPlan {
  const shorter = Math.min(r.width, r.height);
  if (method === 'pixelate') {
    // Blocks of ~1/6 of the region's shorter side (at least 16 px, so plate characters of
    // ordinary size never survive).
    const block = Math.max(16, Math.round(shorter / 6));
    return { ...r, how: 'pixelate', blocksAcross: Math.max(1, Math.round(r.width / block)), blocksDown: Math.max(1, Math.round(r.height / block)) };
  }
  const sigma = Math.min(1000, Math.max(3, shorter / 4));
  if (sigma <= DIRECT_BLUR_MAX_SIGMA) return { ...r, how: 'blur', sigma };
  const scale = sigma / DIRECT_BLUR_MAX_SIGMA;
  return { ...r, how: 'scaled-blur', sigma, smallWidth: Math.max(1, Math.round(r.width / scale)), smallHeight: Math.max(1, Math.round(r.height / scale)) };
}
