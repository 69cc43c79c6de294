// gitops.yaml's JSON Schema as Ajv standalone code, written next to the compiled toolkit by
// `node tools/run.mjs --build`: compiling the schema took ~75 ms of every run's start (a fifth of
// a warm validate at 600 overlays). The code carries the schema's hash; config.ts uses it only
// while the hash matches, else compiles as before.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import configSchema from './config.schema.json' with { type: 'json' };

export const PRECOMPILED_FILE = 'config.validate.cjs';

/** The options of both compilations (config.ts's and the standalone one's). */
export const AJV_OPTIONS = { allErrors: true, strict: false } as const;

export function configSchemaHash(): string {
  return createHash('sha256').update(JSON.stringify(configSchema)).digest('hex');
}

/** CommonJS source of the validator, exporting `schemaHash` beside it. */
export function precompiledSource(): string {
  // Loaded here only: config.ts imports this module's constants at every start.
  const require = createRequire(import.meta.url);
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standaloneCode = require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  return `${standaloneCode.default(ajv, ajv.compile(configSchema))}\nmodule.exports.schemaHash = ${JSON.stringify(configSchemaHash())};\n`;
}

export function writePrecompiled(dir: string): string {
  const file = path.join(dir, PRECOMPILED_FILE);
  writeFileSync(file, precompiledSource());
  return file;
}
