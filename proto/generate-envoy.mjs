#!/usr/bin/env node
// Generates TypeScript (protoc-gen-es) for the Envoy API we use, into proto/gen/ (envoy/, google/,
// udpa/, validate/, xds/: every folder there but perimeter/, which is generate.mjs's).
// Envoy's .proto files come from the @grpc/grpc-js-xds package (the only npm package that ships
// them); they are never copied into the repository. Only the import closure of our root files
// is compiled, in a scratch tree, with one fix: the shipped validate.proto predates the Envoy
// protos and lacks StringRules.ignore_empty (field 26 upstream), which protocol.proto uses.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const deps = join(root, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
const includes = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d));

export const ROOTS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/extension/v3/config_discovery.proto',
  'envoy/service/accesslog/v3/als.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto',
  'envoy/extensions/filters/http/wasm/v3/wasm.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
];

function locate(file) {
  for (const inc of includes) if (existsSync(join(inc, file))) return join(inc, file);
  return undefined;
}

/** The import closure of the roots (well-known types come from buf itself). */
function closure(roots) {
  const seen = new Set();
  const stack = [...roots];
  while (stack.length) {
    const f = stack.pop();
    if (seen.has(f) || f.startsWith('google/protobuf/')) continue;
    const src = locate(f);
    if (!src) throw new Error(`cannot find ${f} in @grpc/grpc-js-xds/deps`);
    seen.add(f);
    for (const m of readFileSync(src, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)) stack.push(m[1]);
  }
  return [...seen].sort();
}

// Regenerate only when an input changed: the generator versions, this script, or the roots.
const version = (pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
const stamp = [
  `@grpc/grpc-js-xds ${version('@grpc/grpc-js-xds')}`,
  `@bufbuild/protoc-gen-es ${version('@bufbuild/protoc-gen-es')}`,
  `script ${createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16)}`,
].join('\n');
const gen = join(here, 'gen');
const stampFile = join(gen, 'envoy.stamp');
if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp && !process.argv.includes('--force')) process.exit(0);

const scratch = mkdtempSync(join(tmpdir(), 'perimeter-envoy-protos-'));
try {
  const files = closure(ROOTS);
  for (const f of files) {
    mkdirSync(dirname(join(scratch, f)), { recursive: true });
    cpSync(locate(f), join(scratch, f));
  }
  const validate = join(scratch, 'validate', 'validate.proto');
  const text = readFileSync(validate, 'utf8');
  if (!text.includes('ignore_empty')) {
    const patched = text.replace(
      /(message StringRules \{[\s\S]*?optional bool strict\s*=\s*25[^;]*;)/,
      '$1\n  optional bool ignore_empty = 26;',
    );
    if (patched === text) throw new Error('could not patch validate.proto (StringRules.strict not found)');
    writeFileSync(validate, patched);
  }
  writeFileSync(join(scratch, 'buf.yaml'), 'version: v2\n');
  const out = join(scratch, 'out');
  writeFileSync(
    join(scratch, 'buf.gen.yaml'),
    `version: v2\nplugins:\n  - local: ${join(root, 'node_modules', '.bin', 'protoc-gen-es')}\n    out: ${out}\n    opt: [target=ts, import_extension=js]\n    include_imports: true\n`,
  );
  const buf = join(root, 'node_modules', '.bin', 'buf');
  execFileSync(buf, ['generate', ...ROOTS.flatMap((r) => ['--path', r])], { cwd: scratch, stdio: 'inherit' });
  mkdirSync(gen, { recursive: true });
  for (const e of readdirSync(gen, { withFileTypes: true }))
    if (e.isDirectory() && e.name !== 'perimeter') rmSync(join(gen, e.name), { recursive: true, force: true });
  for (const d of readdirSync(out)) renameSync(join(out, d), join(gen, d));
  writeFileSync(stampFile, `${stamp}\n`);
  process.stderr.write(`envoy protos: ${files.length} files → proto/gen\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
