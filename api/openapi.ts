/** The OpenAPI 3.1 description served at GET /openapi.json (kept beside the routes it describes). */
export function openApiDocument(limits: { maxBytes: number; maxPixels: number; maxRegions: number; maxWork: number; deadlineMs: number }): Record<string, unknown> {
  const error = { $ref: '#/components/schemas/Error' };
  const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: error } } });
  const boxes = (what: string) => ({
    in: 'query',
    required: false,
    description: `${what}: boxes \`x,y,width,height\` in pixels of the displayed (EXIF-oriented) image, separated by \`;\` (at most ${limits.maxRegions} in all).`,
    schema: { type: 'string', pattern: '^\\d+,\\d+,\\d+,\\d+(;\\d+,\\d+,\\d+,\\d+)*$' },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'fleetpulse privacy API', version: '1.0.0', description: 'Hides licence plates and other private regions in vehicle photos.' },
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
            requestId: { type: 'string' },
          },
        },
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/v1/blur': {
        post: {
          summary: 'Blur or pixelate regions of a photo',
          description: `The body is the image itself (JPEG or PNG, at most ${limits.maxBytes} bytes and ${limits.maxPixels} pixels). The answer is the same format with the regions hidden, EXIF orientation applied and all metadata removed. The work a request needs (estimated from the image header and the regions, in megapixel passes) may be at most ${limits.maxWork}; a request gets at most ${limits.deadlineMs / 1000} s, waiting included.`,
          parameters: [
            { in: 'query', name: 'mode', schema: { type: 'string', enum: ['regions', 'plates'], default: 'regions' }, description: '`regions`: hide `regions`; `plates`: hide every box in `plates` (typically a plate detector\'s output) and `regions`.' },
            { in: 'query', name: 'method', schema: { type: 'string', enum: ['blur', 'pixelate'], default: 'blur' } },
            { name: 'regions', ...boxes('Regions to hide') },
            { name: 'plates', ...boxes('Licence plate boxes (mode `plates`)') },
            { in: 'header', name: 'X-Request-Id', required: false, schema: { type: 'string' }, description: 'Echoed back; generated when absent (nginx sets it).' },
          ],
          requestBody: { required: true, content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } }, 'image/png': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '200': { description: 'The image with the regions hidden', content: { 'image/jpeg': {}, 'image/png': {} } },
            '400': errorResponse('Malformed parameters'),
            '401': errorResponse('Missing or unknown API key'),
            '403': errorResponse('Client blocked for abuse'),
            '413': errorResponse('Body or pixel count over the limit'),
            '415': errorResponse('Not a JPEG or PNG'),
            '422': errorResponse('Regions outside the image, none given, too many, or more work than the budget (over_budget)'),
            '503': {
              ...errorResponse('busy (queue full), deadline_exceeded or shutting_down; retry after Retry-After seconds'),
              headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Seconds to wait before retrying' } },
            },
          },
        },
      },
      '/healthz': { get: { summary: 'Liveness: status ok, or degraded while the blocklist source (the broker) is not connected', security: [], responses: { '200': { description: 'Serving' } } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  };
}
