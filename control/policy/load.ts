/**
 * Loads a policy from files and directories of YAML (several documents per file allowed):
 * parses, reads each document by its apiVersion/kind, then checks the set as a whole.
 * Returns every diagnostic; the policy is usable only when none is an error.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isScalar, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { type Diagnostic, hasErrors, sortDiagnostics } from './diagnostics.js';
import { parseIstioPolicy } from './istio.js';
import type { Mesh, Perimeter, PolicySet, Workload } from './model.js';
import { parseMesh, parsePerimeter, parseWorkload, readName } from './parse-native.js';
import { validateSet } from './validate.js';
import { Cursor, type DocContext, location, type Reference } from './yaml-cursor.js';

export const API_VERSION = 'perimeter.dev/v1';
const ISTIO_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
const NATIVE_KINDS = ['Workload', 'Perimeter', 'Mesh'];

export interface LoadResult {
  policy: PolicySet;
  diagnostics: Diagnostic[];
  ok: boolean;
  files: string[];
  /** The texts read, when loaded from paths (kept with each published version). */
  sources?: SourceFile[];
}

export interface SourceFile {
  /** Name shown in diagnostics (relative to the working directory when possible). */
  name: string;
  text: string;
}

/** A policy file larger than this is refused (a policy of 10,000 perimeters is a few MiB). */
export const MAX_POLICY_FILE = 32 * 1024 * 1024;

/**
 * The text of a regular file, or why it cannot be read. It is opened without blocking and
 * checked on the open descriptor, so a FIFO, socket or device (even one swapped in after the
 * directory was listed) can never wedge the reader.
 */
export function readRegularFile(path: string): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { error: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { error: 'not a regular file (a FIFO, socket or device is never read)' };
    if (st.size > MAX_POLICY_FILE) return { error: `larger than ${MAX_POLICY_FILE / 1024 / 1024} MiB` };
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { text: buf.subarray(0, off).toString('utf8') };
  } catch (e) {
    return { error: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

export interface LoadOptions {
  /** Drop the Istio rules and sources that use fields we cannot honour, where that only narrows them (istio.ts). */
  skipUnsupported?: boolean;
}

export function loadPaths(paths: readonly string[], options: LoadOptions = {}): LoadResult {
  const files: SourceFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const refuse = (file: string, message: string) =>
    diagnostics.push({ severity: 'error', file: displayName(file), line: 1, column: 1, path: '', message });
  for (const p of paths) {
    let found: string[];
    try {
      found = yamlFilesUnder(p);
    } catch (e) {
      refuse(p, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    for (const f of found) {
      const r = readRegularFile(f);
      if ('error' in r) refuse(f, r.error);
      else files.push({ name: displayName(f), text: r.text });
    }
  }
  const result = loadSources(files, options);
  result.diagnostics = sortDiagnostics([...diagnostics, ...result.diagnostics]);
  result.ok = !hasErrors(result.diagnostics);
  result.sources = files;
  return result;
}

function displayName(f: string): string {
  const rel = relative(process.cwd(), f);
  return rel.startsWith('..') ? f : rel;
}

/** YAML files at or under `p`, sorted, so the load order (and the output) is deterministic. */
export function yamlFilesUnder(p: string): string[] {
  if (!statSync(p).isDirectory()) return [p];
  const out: string[] = [];
  for (const entry of readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(p, entry.name);
    if (entry.isDirectory()) out.push(...yamlFilesUnder(full));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

export function loadSources(files: readonly SourceFile[], options: LoadOptions = {}): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const references: Reference[] = [];
  const workloads: Workload[] = [];
  const perimeters: Perimeter[] = [];
  const meshes: Mesh[] = [];

  for (const file of files) {
    const { lines, roots } = yamlDocuments(file, diagnostics);
    for (const node of roots) {
      const ctx: DocContext = {
        file: file.name,
        lines,
        resource: '',
        diagnostics,
        references,
        ...(options.skipUnsupported ? { skipUnsupported: true } : {}),
      };
      readDocument(new Cursor(ctx, node, ''), { workloads, perimeters, meshes });
    }
  }

  const mesh = meshes[0] ?? { trustDomain: '', defaultMode: 'enforce' };
  const policy: PolicySet = { mesh, workloads, perimeters };
  validateSet(policy, meshes, references, diagnostics);
  sortDiagnostics(diagnostics);
  return { policy, diagnostics, ok: !hasErrors(diagnostics), files: files.map((f) => f.name) };
}

/**
 * The documents of a YAML file that have something in them, each document's syntax errors as
 * diagnostics (a document with one is skipped), and the line counter that places the rest. An
 * empty document (a trailing `---`, a file of comments) is skipped, as kubectl skips it.
 */
export function yamlDocuments(file: SourceFile, diagnostics: Diagnostic[]): { lines: LineCounter; roots: Node[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const roots: Node[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    for (const err of doc.errors) {
      const pos = lines.linePos(err.pos[0]);
      diagnostics.push({
        severity: 'error',
        file: file.name,
        line: pos.line,
        column: pos.col,
        path: '',
        message: `YAML syntax: ${err.message.split('\n')[0]}`,
      });
    }
    const empty = doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
    if (doc.errors.length === 0 && !empty && doc.contents) roots.push(doc.contents);
  }
  return { lines, roots };
}

interface Sink {
  workloads: Workload[];
  perimeters: Perimeter[];
  meshes: Mesh[];
}

function readDocument(root: Cursor, sink: Sink): void {
  if (!root.isMap()) {
    root.error('a policy document is a mapping with apiVersion, kind, metadata and spec');
    return;
  }
  const f = root.fields(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (!f) return;
  const apiVersion = f.get('apiVersion')?.string();
  const kind = f.get('kind')?.string();
  if (apiVersion === undefined || kind === undefined) {
    root.error('apiVersion and kind are required', `apiVersion: ${API_VERSION} with kind Workload, Perimeter or Mesh`);
    return;
  }
  const meta = f.get('metadata');
  root.ctx.resource = `${kind}/${meta?.peek('name') ?? '?'}`;
  const spec = f.get('spec') ?? new Cursor(root.ctx, null, 'spec', root.offset);

  if (ISTIO_VERSIONS.includes(apiVersion)) {
    if (kind !== 'AuthorizationPolicy') {
      f.get('kind')?.error(`${apiVersion} ${kind} is not read by perimeter`, 'only AuthorizationPolicy is imported from Istio');
      return;
    }
    const p = parseIstioPolicy(root, meta, spec);
    if (p) sink.perimeters.push(p);
    return;
  }
  if (apiVersion !== API_VERSION) {
    f.get('apiVersion')?.error(
      `unknown apiVersion "${apiVersion}"`,
      `use ${API_VERSION}, or ${ISTIO_VERSIONS.join(' / ')} for Istio AuthorizationPolicy`,
    );
    return;
  }
  if (!NATIVE_KINDS.includes(kind)) {
    f.get('kind')?.error(`unknown kind "${kind}"`, `one of ${NATIVE_KINDS.join(', ')}`);
    return;
  }
  const name = kind === 'Mesh' ? (meta ? readName(meta, root) : 'mesh') : readName(meta, root);
  if (name === undefined) return;
  root.ctx.resource = `${kind}/${name}`;
  const at = meta ?? root;
  if (kind === 'Workload') {
    const w = parseWorkload(spec, name, at);
    if (w) sink.workloads.push(w);
  } else if (kind === 'Perimeter') {
    const p = parsePerimeter(spec, name, at);
    if (p) sink.perimeters.push(p);
  } else {
    const m = parseMesh(spec, at);
    if (m) sink.meshes.push({ ...m, location: location(at) });
  }
}
