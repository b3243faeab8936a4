// npm run check:docs: the docs cannot rot. Over README.md and docs/**/*.md
// (or the files named), each check prints `file:line: [check] problem`:
//   table    every table row has the header's number of cells, and starts and ends with |
//   link     every relative link's file exists, and its #anchor is a heading there
//   command  every `memlock <command>` (in code) is a command of src/cli/index.ts
//   script   every `npm run <script>` (and npm test) is a script of package.json
//   error    every ERR_MEMLOCK_* the docs name, and every 'ERR_*' literal src/
//            throws or prints, is in an errors table (a table whose first
//            header cell is "code")
//   example  every code block whose info string is `ts example` or
//            `js example` typechecks against the built package (`import ...
//            from 'memlock'`, npm run build:ts first); `ts example run` is also
//            run (self-contained: it must exit 0 within a minute)
// Exits 1 when any check fails.
//   tsx scripts/check-docs.ts [--only table,link,...] [--src DIR] [--cli FILE] [--package FILE] [FILE.md ...]
// --src, --cli and --package point the source checks elsewhere (the tests' fixtures).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.join(__dirname, '..');
export const CHECKS = ['table', 'link', 'command', 'script', 'error', 'example'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface Problem {
  file: string;
  line: number;
  check: CheckName;
  message: string;
}

interface Doc {
  file: string;
  lines: string[];
  /** Per line: inside a fenced code block (the fence lines included). */
  inFence: boolean[];
}

interface CodeBlock {
  file: string;
  /** The line of the opening fence. */
  line: number;
  info: string;
  body: string;
}

function readDoc(file: string): Doc {
  const lines = readFileSync(file, 'utf8').split('\n');
  const inFence: boolean[] = [];
  let fence: string | null = null;
  for (const line of lines) {
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === null && open) {
      fence = open[1]!;
      inFence.push(true);
    } else if (fence !== null) {
      inFence.push(true);
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = null;
    } else {
      inFence.push(false);
    }
  }
  return { file, lines, inFence };
}

function codeBlocks(doc: Doc): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < doc.lines.length; i += 1) {
    const open = /^\s{0,3}(`{3,}|~{3,})(.*)$/.exec(doc.lines[i]!);
    if (!open) continue;
    const body: string[] = [];
    let j = i + 1;
    while (j < doc.lines.length && !doc.lines[j]!.trim().startsWith(open[1]!)) body.push(doc.lines[j++]!);
    blocks.push({ file: doc.file, line: i + 1, info: open[2]!.trim(), body: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** Inline code spans of a line outside fences. */
function codeSpans(line: string): string[] {
  return [...line.matchAll(/(`+)([^`]|[^`].*?[^`])\1(?!`)/g)].map((m) => m[2]!.trim());
}

// Cells of a table row: split on | outside code spans and not escaped.
function cells(row: string): { count: number; closed: boolean } {
  const text = row.trim();
  let count = 0;
  let inCode = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (c === '\\') i += 1;
    else if (c === '`') inCode = !inCode;
    else if (c === '|' && !inCode) count += 1;
  }
  const closed = text.length > 1 && text.endsWith('|') && !text.endsWith('\\|');
  // Pipes: one before each cell, plus the closing one.
  return { count: closed ? count - 1 : count, closed };
}

export function checkTables(doc: Doc): Problem[] {
  const problems: Problem[] = [];
  const isRow = (i: number): boolean => !doc.inFence[i] && /^\s*\|/.test(doc.lines[i] ?? '');
  for (let i = 0; i < doc.lines.length; i += 1) {
    if (!isRow(i)) continue;
    const start = i;
    while (isRow(i + 1)) i += 1;
    const rows = doc.lines.slice(start, i + 1);
    const delimiter = rows[1] !== undefined && /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(rows[1]);
    if (!delimiter) {
      problems.push({
        file: doc.file,
        line: start + 1,
        check: 'table',
        message: 'rows starting with | without a header and a |---| delimiter row under it (a table cut in two?)',
      });
      continue;
    }
    const width = cells(rows[0]!).count;
    rows.forEach((row, k) => {
      const { count, closed } = cells(row);
      if (count !== width) {
        problems.push({
          file: doc.file,
          line: start + k + 1,
          check: 'table',
          message: `${count} cell(s) where the header has ${width}`,
        });
      } else if (!closed) {
        problems.push({ file: doc.file, line: start + k + 1, check: 'table', message: 'the row does not end with |' });
      }
    });
  }
  return problems;
}

/** GitHub's anchors of a markdown file's headings. */
export function anchors(doc: Doc): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  doc.lines.forEach((line, i) => {
    if (doc.inFence[i]) return;
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) return;
    const slug = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  });
  for (const line of doc.lines) for (const m of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

export function checkLinks(doc: Doc): Problem[] {
  const problems: Problem[] = [];
  const targets: { line: number; target: string }[] = [];
  doc.lines.forEach((line, i) => {
    if (doc.inFence[i]) return;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      targets.push({ line: i + 1, target: m[1]! });
    const reference = /^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(\s|$)/.exec(text);
    if (reference) targets.push({ line: i + 1, target: reference[1]! });
    for (const m of text.matchAll(/<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"/g))
      targets.push({ line: i + 1, target: m[1]! });
  });
  for (const { line, target } of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:, ...
    const [file, anchor] = target.split('#', 2) as [string, string | undefined];
    const resolved = file === '' ? doc.file : path.resolve(path.dirname(doc.file), decodeURIComponent(file));
    if (!existsSync(resolved)) {
      problems.push({ file: doc.file, line, check: 'link', message: `${target}: no such file` });
      continue;
    }
    if (anchor === undefined || anchor === '' || !resolved.endsWith('.md') || statSync(resolved).isDirectory())
      continue;
    if (!anchors(readDoc(resolved)).has(decodeURIComponent(anchor).toLowerCase())) {
      problems.push({ file: doc.file, line, check: 'link', message: `${target}: no heading #${anchor} there` });
    }
  }
  return problems;
}

/** The CLI's commands: the case labels of main()'s switch that are words. */
export function cliCommands(cliFile: string): Set<string> {
  const text = readFileSync(cliFile, 'utf8');
  return new Set([...text.matchAll(/case '([a-z][a-z-]*)':/g)].map((m) => m[1]!));
}

// Code a reader types: inline code spans, and the lines of shell blocks.
function typedCode(doc: Doc): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  doc.lines.forEach((line, i) => {
    if (!doc.inFence[i]) for (const span of codeSpans(line)) out.push({ line: i + 1, text: span });
  });
  for (const block of codeBlocks(doc)) {
    if (!/^(sh|bash|shell|console|text)?(\s|$)/.test(block.info)) continue;
    block.body.split('\n').forEach((text, k) => out.push({ line: block.line + 1 + k, text }));
  }
  return out;
}

export function checkCommands(doc: Doc, commands: Set<string>): Problem[] {
  const problems: Problem[] = [];
  for (const { line, text } of typedCode(doc)) {
    for (const m of text.matchAll(/(?:^|[\s$;&|(]|npx\s+)memlock\s+([a-z][\w-]*)/g)) {
      if (!commands.has(m[1]!)) {
        problems.push({
          file: doc.file,
          line,
          check: 'command',
          message: `memlock ${m[1]}: no such command (commands: ${[...commands].join(', ')})`,
        });
      }
    }
  }
  return problems;
}

export function checkScripts(doc: Doc, scripts: Set<string>): Problem[] {
  const problems: Problem[] = [];
  doc.lines.forEach((line, i) => {
    for (const m of line.matchAll(/\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(test|start|stop|restart)\b)/g)) {
      const name = m[1] ?? m[2]!;
      if (!scripts.has(name)) {
        problems.push({
          file: doc.file,
          line: i + 1,
          check: 'script',
          message: `npm run ${name}: no such script in package.json`,
        });
      }
    }
  });
  return problems;
}

/** The codes in the first column of every errors table (first header cell "code"). */
export function documentedCodes(docs: Doc[]): Set<string> {
  const codes = new Set<string>();
  for (const doc of docs) {
    let inTable = false;
    doc.lines.forEach((line, i) => {
      if (doc.inFence[i] || !/^\s*\|/.test(line)) {
        inTable = false;
        return;
      }
      if (/^\s*\|\s*code\s*\|/i.test(line)) inTable = true;
      else if (inTable) {
        const first = line.split('|')[1] ?? '';
        for (const m of first.matchAll(/`(E[A-Z0-9_]+)`/g)) codes.add(m[1]!);
      }
    });
  }
  return codes;
}

function walk(dir: string, keep: (file: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((entry) => path.join(dir, entry))
    .filter((file) => keep(file) && statSync(file).isFile())
    .sort();
}

export function checkErrors(docs: Doc[], srcDir: string): Problem[] {
  const problems: Problem[] = [];
  const documented = documentedCodes(docs);
  if (documented.size === 0) {
    return [
      { file: docs[0]?.file ?? '(none)', line: 1, check: 'error', message: 'no errors table (| code | ... |) found' },
    ];
  }
  for (const doc of docs) {
    doc.lines.forEach((line, i) => {
      for (const m of line.matchAll(/\bERR_MEMLOCK_[A-Z0-9_]+/g)) {
        if (!documented.has(m[0])) {
          problems.push({ file: doc.file, line: i + 1, check: 'error', message: `${m[0]} is not in the errors table` });
        }
      }
    });
  }
  for (const file of walk(srcDir, (f) => /\.[cm]?ts$/.test(f))) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g)) {
          if (!documented.has(m[1]!)) {
            problems.push({
              file,
              line: i + 1,
              check: 'error',
              message: `${m[1]} is thrown or printed here but not in the docs' errors table`,
            });
          }
        }
      });
  }
  return problems;
}

/** `ts example` / `js example` blocks, and whether they are marked `run`. */
export function examples(doc: Doc): (CodeBlock & { ext: '.mts' | '.mjs'; run: boolean })[] {
  return codeBlocks(doc).flatMap((block) => {
    const words = block.info.split(/\s+/);
    if (!words.includes('example')) return [];
    const lang = words[0];
    const ext =
      lang === 'ts' || lang === 'typescript' ? '.mts' : lang === 'js' || lang === 'javascript' ? '.mjs' : null;
    return ext === null ? [] : [{ ...block, ext, run: words.includes('run') }];
  });
}

export function checkExamples(docs: Doc[], root: string): Problem[] {
  const blocks = docs.flatMap(examples);
  if (blocks.length === 0) return [];
  // Inside the package, so `from 'memlock'` resolves to it by its own name (package.json exports).
  const dir = mkdtempSync(path.join(root, '.docs-examples-'));
  try {
    const files = blocks.map((block, n) => {
      const name = `${path.basename(block.file, '.md')}-${block.line}-${n}${block.ext}`;
      writeFileSync(path.join(dir, name), `${block.body}\n`);
      return { block, name };
    });
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: path.join(root, 'tsconfig.json'),
        compilerOptions: { noEmit: true, allowJs: true, checkJs: true, noUnusedLocals: false, rootDir: '.' },
        include: files.map((f) => f.name),
      }),
    );
    const problems: Problem[] = [];
    const tsc = spawnSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json')],
      {
        encoding: 'utf8',
        cwd: root,
      },
    );
    for (const m of tsc.stdout.matchAll(/^(?:.*[/\\])?([^/\\(]+)\((\d+),\d+\): error (.*)$/gm)) {
      const found = files.find((f) => f.name === m[1]);
      if (!found) continue;
      problems.push({
        file: found.block.file,
        line: found.block.line + Number(m[2]),
        check: 'example',
        message: `does not compile: ${m[3]}`,
      });
    }
    if (tsc.status !== 0 && problems.length === 0) {
      problems.push({
        file: blocks[0]!.file,
        line: 1,
        check: 'example',
        message: `tsc failed: ${tsc.stdout}${tsc.stderr}`,
      });
    }
    for (const { block, name } of files) {
      if (!block.run || problems.some((p) => p.file === block.file && p.line > block.line)) continue;
      const { NODE_OPTIONS: _hooks, ...env } = process.env;
      const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, name)], {
        cwd: root,
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
      if (run.status !== 0) {
        const why = run.error ? run.error.message : run.signal ? `killed by ${run.signal}` : `exit ${run.status}`;
        const output = `${run.stderr}\n${run.stdout}`;
        const lines = output.split('\n').map((l) => l.trim());
        const error = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.filter(Boolean).at(-1) ?? '';
        const code = /code: '([^']+)'/.exec(output)?.[1];
        problems.push({
          file: block.file,
          line: block.line,
          check: 'example',
          message: `runs but fails (${why}): ${error}${code ? ` (${code})` : ''}`,
        });
      }
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Options {
  root?: string;
  files?: string[];
  only?: CheckName[];
  src?: string;
  cli?: string;
  packageJson?: string;
}

export function checkDocs(options: Options = {}): Problem[] {
  const root = options.root ?? ROOT;
  const files =
    options.files && options.files.length > 0
      ? options.files.map((f) => path.resolve(f))
      : [
          path.join(root, 'README.md'),
          ...walk(path.join(root, 'docs'), (f) => f.endsWith('.md') && !f.includes(`${path.sep}api${path.sep}`)),
        ];
  const only = new Set(options.only ?? CHECKS);
  const docs = files.filter((f) => existsSync(f)).map(readDoc);
  const commands = cliCommands(options.cli ?? path.join(root, 'src', 'cli', 'index.ts'));
  const pkg = JSON.parse(readFileSync(options.packageJson ?? path.join(root, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const scripts = new Set(Object.keys(pkg.scripts ?? {}));
  const problems: Problem[] = [];
  for (const doc of docs) {
    if (only.has('table')) problems.push(...checkTables(doc));
    if (only.has('link')) problems.push(...checkLinks(doc));
    if (only.has('command')) problems.push(...checkCommands(doc, commands));
    if (only.has('script')) problems.push(...checkScripts(doc, scripts));
  }
  if (only.has('error')) problems.push(...checkErrors(docs, options.src ?? path.join(root, 'src')));
  if (only.has('example')) problems.push(...checkExamples(docs, root));
  return problems;
}

if (require.main === module) {
  const { values, positionals } = parseArgs({
    options: {
      only: { type: 'string' },
      src: { type: 'string' },
      cli: { type: 'string' },
      package: { type: 'string' },
    },
    allowPositionals: true,
  });
  const only = values.only?.split(',').map((c) => c.trim());
  const unknown = only?.filter((c) => !(CHECKS as readonly string[]).includes(c)) ?? [];
  if (unknown.length > 0) {
    console.error(`check-docs: unknown check(s) ${unknown.join(', ')}; checks: ${CHECKS.join(', ')}`);
    process.exit(2);
  }
  const problems = checkDocs({
    files: positionals,
    ...(only ? { only: only as CheckName[] } : {}),
    ...(values.src ? { src: path.resolve(values.src) } : {}),
    ...(values.cli ? { cli: path.resolve(values.cli) } : {}),
    ...(values.package ? { packageJson: path.resolve(values.package) } : {}),
  });
  for (const p of problems) console.log(`${path.relative(process.cwd(), p.file)}:${p.line}: [${p.check}] ${p.message}`);
  console.log(problems.length === 0 ? 'check-docs: ok' : `check-docs: ${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
