/**
 * The privacy transform, run from a BlurPlan (blur-plan.ts): decode once into raw pixels with the
 * EXIF orientation applied, hide each region (gaussian blur or pixelation of that region alone),
 * copy the hidden regions back over the image, and encode in the input's format without metadata
 * (sharp writes none unless asked, so EXIF, GPS, ICC and XMP are all dropped).
 *
 * Cancellation: the work is a series of steps (decode, one or two per region, encode), none larger
 * than the plan's budget allows. Before each step the job's signal is checked, so a cancelled job
 * (deadline, client gone, shutdown) stops at the next step boundary; each step also carries
 * libvips' own timeout at the job's deadline, so even a step in progress stops by then.
 */
import sharp, { type OverlayOptions, type Sharp } from 'sharp';
import { DIRECT_BLUR_MAX_SIGMA, type BlurPlan, type RegionPlan } from './blur-plan.ts';
import { JobCancelled, type JobControl } from './work-queue.ts';

export type BlurOutput =
  | { ok: true; image: Buffer; format: 'jpeg' | 'png'; width: number; height: number; regions: number }
  | { ok: false; status: 400; code: 'image_processing_failed'; message: string };

interface RawImage {
  data: Buffer;
  raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 };
}

export async function runBlur(input: Buffer, plan: BlurPlan, control: JobControl): Promise<BlurOutput> {
  const step = <T>(run: (limit: (image: Sharp) => Sharp) => Promise<T>): Promise<T> => runStep(control, run);
  try {
    const decoded = await step((limit) => limit(sharp(input, { limitInputPixels: plan.pixels }).rotate()).raw().toBuffer({ resolveWithObject: true }));
    const image: RawImage = { data: decoded.data, raw: { width: decoded.info.width, height: decoded.info.height, channels: decoded.info.channels } };
    const overlays: OverlayOptions[] = [];
    const hasAlpha = image.raw.channels === 2 || image.raw.channels === 4;
    for (const region of plan.regions) {
      const hidden = await hideRegion(image, region, step);
      // With transparency, 'over' would let the original show through the partly transparent
      // pixels of the hidden patch: the region is cleared first ('dest-out' of an opaque box).
      if (hasAlpha) overlays.push({ input: { create: { width: region.width, height: region.height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } }, left: region.x, top: region.y, blend: 'dest-out' });
      overlays.push({ input: hidden.data, raw: hidden.raw, left: region.x, top: region.y });
    }
    const encoded = await step((limit) => {
      const out = limit(sharp(image.data, { raw: image.raw }).composite(overlays));
      return (plan.format === 'jpeg' ? out.jpeg({ quality: 88, mozjpeg: false, optimiseCoding: plan.pixels <= OPTIMISE_JPEG_MAX_PIXELS }) : out.png()).toBuffer();
    });
    return { ok: true, image: encoded, format: plan.format, width: plan.width, height: plan.height, regions: plan.regions.length };
  } catch (error) {
    if (error instanceof JobCancelled) throw error;
    return { ok: false, status: 400, code: 'image_processing_failed', message: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Optimised Huffman coding (sharp's default) makes libjpeg keep every DCT coefficient of the image
 * until the end: +233 MB at 40 MP, twice the raw image. Above this size the few per cent it saves
 * in output bytes are not worth that much memory per request in flight.
 */
const OPTIMISE_JPEG_MAX_PIXELS = 16_000_000;

type Step = <T>(run: (limit: (image: Sharp) => Sharp) => Promise<T>) => Promise<T>;

async function hideRegion(image: RawImage, r: RegionPlan, step: Step): Promise<RawImage> {
  const region = (limit: (image: Sharp) => Sharp) => limit(sharp(image.data, { raw: image.raw }).extract({ left: r.x, top: r.y, width: r.width, height: r.height }));
  const raw = (width: number, height: number) => ({ width, height, channels: image.raw.channels });
  if (r.how === 'blur') {
    return { data: await step((limit) => region(limit).blur(r.sigma).raw().toBuffer()), raw: raw(r.width, r.height) };
  }
  if (r.how === 'scaled-blur') {
    // Shrink so that the blur needed is DIRECT_BLUR_MAX_SIGMA, blur, enlarge: the result is as
    // smooth as the full-size blur and costs a pass over the region, whatever the sigma (a direct
    // sigma 500 blur of 2000×2000 took 88 CPU-s).
    const small = await step((limit) => region(limit).resize(r.smallWidth, r.smallHeight, { fit: 'fill' }).blur(DIRECT_BLUR_MAX_SIGMA).raw().toBuffer());
    const data = await step((limit) => limit(sharp(small, { raw: raw(r.smallWidth, r.smallHeight) })).resize(r.width, r.height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer());
    return { data, raw: raw(r.width, r.height) };
  }
  // Pixelate: down to the blocks, back up without smoothing.
  const blocks = await step((limit) => region(limit).resize(r.blocksAcross, r.blocksDown, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer());
  const data = await step((limit) => limit(sharp(blocks, { raw: raw(r.blocksAcross, r.blocksDown) })).resize(r.width, r.height, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer());
  return { data, raw: raw(r.width, r.height) };
}

/**
 * One step of a job: refused when the job is already cancelled; given libvips' timeout at the
 * job's deadline (whole seconds, at least 1); a libvips timeout is the deadline's cancellation.
 */
async function runStep<T>(control: JobControl, run: (limit: (image: Sharp) => Sharp) => Promise<T>): Promise<T> {
  control.signal.throwIfAborted();
  const seconds = Math.max(1, Math.ceil((control.deadlineAt - Date.now()) / 1000));
  try {
    return await run((image) => image.timeout({ seconds }));
  } catch (error) {
    if (control.signal.aborted) throw control.signal.reason;
    if (error instanceof Error && error.message.startsWith('timeout:')) throw new JobCancelled('deadline');
    throw error;
  }
}
