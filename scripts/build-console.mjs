#!/usr/bin/env node
// Builds the event console (console/) into dist/console: type-checks it (console/tsconfig.json; --no-typecheck
// skips that), then bundles one JS and one CSS file with content hashes in their names (served `immutable`), and
// writes index.html referring to them with relative URLs and subresource integrity (served `no-cache`).
// `npm run build` runs this after tsc; `--outdir <dir>` builds elsewhere.
//
// Safe while a service serves the folder and against a second build running at once: assets are written under
// their hashed names first (same content, same name), index.html is replaced by a rename, and assets no index
// refers to are removed only once they are an hour old (a page loaded before the build may still fetch them).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outIndex = process.argv.indexOf('--outdir');
const outdir = path.resolve(outIndex > 0 ? process.argv[outIndex + 1] : path.join(root, 'dist/console'));
const quiet = process.argv.includes('--quiet');
/** The console's whole download (JS + CSS, before compression) may not grow past this. */
const BUDGET_BYTES = 150 * 1024;
const STALE_ASSET_MS = 60 * 60 * 1000;

if (!process.argv.includes('--no-typecheck')) {
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'console/tsconfig.json')], { stdio: 'inherit' });
  } catch {
    console.error('build-console: the console does not type-check (tsc -p console/tsconfig.json)');
    process.exit(1);
  }
}

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'console/src/main.tsx' },
  bundle: true,
  write: false,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(outdir, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const assetsDir = path.join(outdir, 'assets');
mkdirSync(assetsDir, { recursive: true });
const written = [];
for (const file of result.outputFiles) {
  const name = path.basename(file.path);
  const target = path.join(assetsDir, name);
  if (!existsSync(target)) {
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, target);
  }
  written.push({ name, contents: file.contents });
}

const js = written.find((file) => file.name.endsWith('.js'));
const css = written.find((file) => file.name.endsWith('.css'));
if (!js || !css) throw new Error('build-console: expected one .js and one .css output');
const integrity = (contents) => `sha384-${createHash('sha384').update(contents).digest('base64')}`;
const template = readFileSync(path.join(root, 'console/index.template.html'), 'utf8');
const html = template
  .replace('<!-- build: styles -->', `<link rel="stylesheet" href="console/assets/${css.name}" integrity="${integrity(css.contents)}" />`)
  .replace('<!-- build: script -->', `<script type="module" src="console/assets/${js.name}" integrity="${integrity(js.contents)}"></script>`);
const indexTemporary = path.join(outdir, `index.html.${process.pid}.tmp`);
writeFileSync(indexTemporary, html);
renameSync(indexTemporary, path.join(outdir, 'index.html'));

const referenced = new Set(written.map((file) => file.name));
for (const name of readdirSync(assetsDir)) {
  const file = path.join(assetsDir, name);
  if (!referenced.has(name) && Date.now() - statSync(file).mtimeMs > STALE_ASSET_MS) rmSync(file, { force: true });
}

const total = js.contents.length + css.contents.length;
if (!quiet) {
  for (const file of [js, css]) {
    console.log(`console: ${file.name} ${(file.contents.length / 1024).toFixed(1)} KiB (gzip ${(gzipSync(file.contents).length / 1024).toFixed(1)} KiB)`);
  }
}
if (total > BUDGET_BYTES) {
  console.error(`build-console: the console is ${(total / 1024).toFixed(1)} KiB, over its ${BUDGET_BYTES / 1024} KiB budget`);
  process.exit(1);
}
