/**
 * The model ingest scores with, reloaded without a restart when its files change.
 *
 * `path` is either a model file (`…/model.onnx`, metadata `…/model.json` beside it) rewritten in
 * place, or a directory: then the model is the `model.onnx` with the highest `modelVersion`
 * among `<dir>/model.onnx` and `<dir>/<sub>/model.onnx` (drop a new version in a new directory).
 *
 * Guarantees:
 * - `load` fails with a ConfigError naming the field `model` when no valid model is there.
 * - Files are polled (stat of the candidates every `pollMs`), not watched with fs.watch, which
 *   misses or doubles events for in-place rewrites and renames; a change is acted on only once
 *   it is stable for one poll, so a half-written pair is not read.
 * - A candidate is loaded and validated (metadata schema, feature set, onnxruntime session, one
 *   probe row giving one finite score in [0, 1]) before it replaces the current model; the swap
 *   is a single reference assignment between batches. A bad candidate leaves the current model
 *   in place, is logged and counted by reason, and is not retried until its files change again.
 * - The replaced session is released once no batch uses it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { FEATURE_SET_ID } from '../../models/features.ts';
import { metadataPathFor, readModelMetadata } from '../../models/model-metadata.ts';
import { OnnxModel } from '../../models/onnx-model.ts';
import { FeatureReference } from './feature-reference.ts';

export interface LoadedModel {
  model: OnnxModel;
  version: number;
  threshold: number;
  reference: FeatureReference | undefined;
}

export interface ModelProviderStats {
  modelVersion: number;
  reloads: number;
  reloadFailures: Record<string, number>;
}

interface Holder {
  loaded: LoadedModel;
  users: number;
  retired: boolean;
}

export class ModelProvider {
  private holder: Holder;
  private timer: NodeJS.Timeout | undefined;
  private lastSeen = '';
  private loadedFingerprint: string;
  private failedFingerprint = '';
  private polling = false;
  private reloads = 0;
  private readonly reloadFailures: Record<string, number> = {};

  private constructor(
    readonly path: string,
    loaded: LoadedModel,
    fingerprint: string,
    private readonly log: Logger,
  ) {
    this.holder = { loaded, users: 0, retired: false };
    this.loadedFingerprint = fingerprint;
    this.lastSeen = fingerprint;
  }

  /** Loads the model at `path` (file or directory, see above); a ConfigError on field `model` when there is none. */
  static async load(path: string, logger: Logger = silentLogger): Promise<ModelProvider> {
    const file = resolveModelFile(path);
    if (!file) throw new ConfigError('model', [{ field: 'model', message: `no model at ${path} (expected a .onnx file with its .json metadata, or a directory holding model.onnx)` }]);
    const fingerprint = fingerprintOf(path);
    const loaded = await loadValidated(file);
    logger.info('model loaded', { path: file, version: loaded.version, threshold: loaded.threshold });
    return new ModelProvider(path, loaded, fingerprint, logger);
  }

  get current(): LoadedModel {
    return this.holder.loaded;
  }

  /** Runs `fn` with the current model; a swap during `fn` waits with releasing the old session until it returns. */
  async use<T>(fn: (loaded: LoadedModel) => Promise<T>): Promise<T> {
    const holder = this.holder;
    holder.users += 1;
    try {
      return await fn(holder.loaded);
    } finally {
      holder.users -= 1;
      if (holder.retired && holder.users === 0) void holder.loaded.model.close().catch(() => undefined);
    }
  }

  /** Starts polling for new model files every `pollMs` (0 = never). */
  watch(pollMs: number): void {
    if (pollMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.poll(), pollMs);
    this.timer.unref();
  }

  /** One poll: reloads when the files changed and have been stable since the previous poll. Exposed for tests. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const fingerprint = fingerprintOf(this.path);
      const stable = fingerprint === this.lastSeen;
      this.lastSeen = fingerprint;
      if (!stable || fingerprint === this.loadedFingerprint || fingerprint === this.failedFingerprint) return;
      const file = resolveModelFile(this.path);
      if (!file) return this.fail(fingerprint, 'missing', 'no model file');
      let loaded: LoadedModel;
      try {
        loaded = await loadValidated(file);
      } catch (error) {
        return this.fail(fingerprint, error instanceof ModelRejected ? error.reason : 'invalid_metadata', errorMessage(error));
      }
      const old = this.holder;
      this.holder = { loaded, users: 0, retired: false };
      this.loadedFingerprint = fingerprint;
      this.reloads += 1;
      old.retired = true;
      if (old.users === 0) await old.loaded.model.close().catch(() => undefined);
      this.log.info('model reloaded', { path: file, version: loaded.version, previousVersion: old.loaded.version, threshold: loaded.threshold });
    } finally {
      this.polling = false;
    }
  }

  private fail(fingerprint: string, reason: string, detail: string): void {
    this.failedFingerprint = fingerprint;
    this.reloadFailures[reason] = (this.reloadFailures[reason] ?? 0) + 1;
    this.log.warn('new model rejected; keeping the current one', { path: this.path, reason, detail, version: this.holder.loaded.version });
  }

  stats(): ModelProviderStats {
    return { modelVersion: this.holder.loaded.version, reloads: this.reloads, reloadFailures: { ...this.reloadFailures } };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.holder.retired = true;
    if (this.holder.users === 0) await this.holder.loaded.model.close().catch(() => undefined);
  }
}

/** A model file onnxruntime cannot load or that does not score (the metadata was fine). */
class ModelRejected extends ConfigError {
  constructor(
    readonly reason: 'invalid_model' | 'bad_output',
    message: string,
  ) {
    super('model', [{ field: 'model', message }]);
  }
}

async function loadValidated(file: string): Promise<LoadedModel> {
  let model: OnnxModel;
  try {
    model = await OnnxModel.load(file, FEATURE_SET_ID);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ModelRejected('invalid_model', `${file} is not a loadable ONNX model: ${errorMessage(error)}`);
  }
  try {
    const probe = await model.scoreMatrix(new Float32Array(model.featureCount).fill(Number.NaN), 1);
    const s = probe[0];
    if (probe.length !== 1 || s === undefined || !(s >= 0 && s <= 1)) throw new Error(`probe row scored ${Array.from(probe).join(',')} (expected one value in [0, 1])`);
  } catch (error) {
    await model.close().catch(() => undefined);
    throw new ModelRejected('bad_output', `${file} does not score: ${errorMessage(error)}`);
  }
  const { metadata } = model;
  return { model, version: metadata.modelVersion, threshold: metadata.threshold, reference: FeatureReference.read(join(dirname(file), 'reference.json')) };
}

/** The model file `path` designates now (see the module comment), or undefined. */
export function resolveModelFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (!statSync(path).isDirectory()) return path;
  let best: { file: string; version: number } | undefined;
  for (const file of candidates(path)) {
    let version: number;
    try {
      version = readModelMetadata(metadataPathFor(file)).modelVersion;
    } catch {
      continue;
    }
    if (!best || version > best.version) best = { file, version };
  }
  return best?.file ?? (existsSync(join(path, 'model.onnx')) ? join(path, 'model.onnx') : undefined);
}

function candidates(dir: string): string[] {
  const out: string[] = [];
  const top = join(dir, 'model.onnx');
  if (existsSync(top)) out.push(top);
  let entries: string[] = [];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of entries) {
    const file = join(dir, name, 'model.onnx');
    if (existsSync(file)) out.push(file);
  }
  return out;
}

/** Size and mtime of every candidate model and metadata file: changes when any is written. */
function fingerprintOf(path: string): string {
  const files = existsSync(path) && statSync(path).isDirectory() ? candidates(path) : [path];
  const parts: string[] = [];
  for (const file of files) {
    for (const f of [file, metadataPathFor(file)]) {
      try {
        const s = statSync(f);
        parts.push(`${f}:${s.size}:${s.mtimeMs}`);
      } catch {
        parts.push(`${f}:-`);
      }
    }
  }
  return parts.join('|');
}
