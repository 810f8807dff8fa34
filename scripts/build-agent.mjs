#!/usr/bin/env node
// Builds the stand-alone agent for a Raspberry Pi: one bundled ES module plus a package.json
// whose dependencies are only the agent's native modules. Fails if anything from the cloud
// side (InfluxDB client, ONNX runtime, image processing, HTTP server, broker) got bundled.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'agent');
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Native modules cannot be bundled; they are installed on the Pi by npm. */
const nativeDependencies = ['serialport', 'better-sqlite3'];
const forbidden = ['influx', 'onnxruntime-node', 'sharp', 'fastify', 'aedes', 'hyparquet-writer', 'maxmind'];

/**
 * mqtt.js requires its WebSocket, TLS and SOCKS transports when the first client connects, whatever
 * the URL. On a Pi each costs RSS (ws ~1 MB of heap; node:tls maps ~2 MB more of the node binary), so
 * these three are swapped for wrappers that require the real module on first use: an mqtt:// agent
 * never loads them, an mqtts:// or wss:// agent loads exactly what it uses. Same exports, same behaviour.
 */
const lazyMqttTransports = {
  name: 'lazy-mqtt-transports',
  setup(b) {
    const wrappers = {
      './ws': ['streamBuilder', 'browserStreamBuilder'],
      './tls': ['default'],
      './socks': ['default'],
    };
    b.onResolve({ filter: /^\.\/(ws|tls|socks)$/ }, (args) => {
      if (!/mqtt[\\/]build[\\/]lib[\\/]connect$/.test(args.resolveDir) || args.namespace === 'lazy') return undefined;
      // The wrapper's own path is only its name in the bundle; the real file goes in pluginData.
      const real = join(args.resolveDir, `${args.path}.js`);
      return { path: `mqtt-transport${args.path.slice(1)}`, namespace: 'lazy', pluginData: { real, exports: wrappers[args.path] } };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: [
        "Object.defineProperty(exports, '__esModule', { value: true });",
        ...args.pluginData.exports.map((name) => `exports.${name} = (...a) => require('./${basename(args.pluginData.real)}').${name}(...a);`),
      ].join('\n'),
      resolveDir: dirname(args.pluginData.real),
      loader: 'js',
    }));
  },
};

mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(root, 'cli', 'agent-main.ts')],
  outfile: join(out, 'fleetpulse-agent.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: nativeDependencies,
  metafile: true,
  // V8 keeps the whole module source in its heap (for lazy compilation), as two bytes a character
  // once a single non-ASCII character appears (in comments). Dropping whitespace and comments
  // leaves an ASCII source a third the size; identifiers are kept, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'linked',
  banner: {
    // CommonJS dependencies inside an ES module bundle still call require() for Node built-ins.
    js: "#!/usr/bin/env node\nimport { createRequire as __fpCreateRequire } from 'node:module';\nconst require = __fpCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [lazyMqttTransports],
});

const inputs = Object.keys(result.metafile.inputs);
const leaked = forbidden.filter((name) => inputs.some((path) => path.includes(`node_modules/${name}/`)));
if (leaked.length > 0) {
  console.error(`build-agent: cloud-side packages ended up in the agent bundle: ${leaked.join(', ')}`);
  process.exit(1);
}

const used = nativeDependencies.filter((name) => rootPackage.dependencies?.[name]);
writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify(
    {
      name: 'fleetpulse-agent',
      version: rootPackage.version,
      description: 'fleetpulse vehicle agent (Raspberry Pi build)',
      type: 'module',
      license: rootPackage.license,
      engines: rootPackage.engines,
      bin: { 'fleetpulse-agent': 'fleetpulse-agent.mjs' },
      files: ['fleetpulse-agent.mjs', 'fleetpulse-agent.mjs.LEGAL.txt'],
      dependencies: Object.fromEntries(used.map((name) => [name, rootPackage.dependencies[name]])),
    },
    null,
    2,
  )}\n`,
);
writeFileSync(join(out, 'metafile.json'), JSON.stringify(result.metafile));
chmodSync(join(out, 'fleetpulse-agent.mjs'), 0o755);
const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith('.mjs'))].bytes;
console.log(`build-agent: dist/agent/fleetpulse-agent.mjs (${(bytes / 1024).toFixed(0)} KiB, ${inputs.length} modules); dependencies: ${used.join(', ') || 'none'}`);
