// The manual pages, made from README.md at build time so their options and commands are README's
// tables: dist/man/pen-edge.1 (bin/pen) and dist/man/pen-edge-penctl.1 (bin/penctl).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

type Row = Record<string, string>;

type Block =
  | { kind: 'paragraph'; text: string }
  | { kind: 'code'; lines: string[] }
  | { kind: 'table'; rows: Row[] }
  | { kind: 'list'; ordered: boolean; items: string[] };

const LIST_ITEM = /^(-|\d+\.) /;

/** The lines under a heading (given whole, `### Options`), up to the next heading of any level. */
function linesUnder(readme: string[], heading: string): string[] {
  const start = readme.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no "${heading}" heading`);
  const end = readme.findIndex((line, i) => i > start && /^#+ /.test(line));
  return readme.slice(start + 1, end < 0 ? undefined : end);
}

/** A table line's cells; `\|` stands for a `|` inside a cell. */
function cells(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

function tableRows(lines: string[]): Row[] {
  const [header, , ...body] = lines.map(cells);
  return body.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i] ?? ''])));
}

/** Markdown as README writes it: paragraphs, ``` blocks, tables, `-` and `1.` lists. */
function blocks(lines: string[]): Block[] {
  const out: Block[] = [];
  let i = 0;
  const takeWhile = (keep: (line: string) => boolean) => {
    const start = i;
    while (i < lines.length && keep(lines[i]!)) i++;
    return lines.slice(start, i);
  };
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
    } else if (line.startsWith('```')) {
      i++;
      out.push({ kind: 'code', lines: takeWhile((l) => !l.startsWith('```')) });
      i++;
    } else if (line.startsWith('|')) {
      out.push({ kind: 'table', rows: tableRows(takeWhile((l) => l.startsWith('|'))) });
    } else if (LIST_ITEM.test(line)) {
      const items = takeWhile((l) => LIST_ITEM.test(l) || /^\s+\S/.test(l))
        .reduce<string[]>((all, l) => (LIST_ITEM.test(l) ? [...all, l.replace(LIST_ITEM, '')] : [...all.slice(0, -1), `${all.at(-1)} ${l.trim()}`]), []);
      out.push({ kind: 'list', ordered: /^\d/.test(line), items });
    } else {
      const text = takeWhile((l) => l.trim() !== '' && !l.startsWith('```') && !l.startsWith('|'));
      out.push({ kind: 'paragraph', text: text.map((l) => l.trim()).join(' ') });
    }
  }
  return out;
}

/**
 * Text for roff: backslashes and hyphens escaped, and characters outside ASCII named by code point
 * (the ellipsis, which no ASCII terminal font can show, as three dots).
 */
function escape(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/\u2026/g, '...')
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** Escaped code or syntax that may break after a `,` or `|` (long JSON, lists of alternatives). */
function breakable(code: string): string {
  return escape(code).replace(/([,|])(?=\S)/g, '$1\\:');
}

/** Inline markdown: `code` in bold, **bold**, *italic*, [text](url) as `text <url>`. */
function inline(markdown: string): string {
  return markdown.split(/(`[^`]*`)/).map((part, i) => {
    if (i % 2 === 1) return `\\fB${breakable(part.slice(1, -1))}\\fR`;
    return escape(part.replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 <$2>'))
      .replace(/\*\*(.+?)\*\*/g, '\\fB$1\\fR')
      .replace(/\*(.+?)\*/g, '\\fI$1\\fR');
  }).join('');
}

/** A line of text that roff must not take for a request (those start with `.` or `'`). */
function textLine(roff: string): string {
  return /^[.']/.test(roff) ? `\\&${roff}` : roff;
}

const MAIN_COLUMNS = ['meaning', 'effect'];
const ARGUMENT_COLUMNS = ['argument', 'arguments'];

/**
 * A table as a tagged list: the first column in bold (and an argument column in italics) is the
 * tag; the meaning or effect follows, then each other column that has a value, labelled.
 */
function taggedList(rows: Row[]): string[] {
  return rows.flatMap((row) => {
    const [first, ...rest] = Object.keys(row);
    const argument = rest.find((name) => ARGUMENT_COLUMNS.includes(name));
    const main = rest.find((name) => MAIN_COLUMNS.includes(name));
    if (main === undefined) throw new Error(`README.md: a table with columns ${Object.keys(row).join(', ')} has no ${MAIN_COLUMNS.join(' or ')}`);
    const tag = `\\fB${escape(row[first!]!)}\\fR${argument && row[argument] ? ` \\fI${breakable(row[argument])}\\fR` : ''}`;
    const labelled = rest.filter((name) => name !== argument && name !== main && row[name] !== '')
      .flatMap((name) => ['.br', textLine(`${escape(name[0]!.toUpperCase() + name.slice(1))}: ${inline(row[name]!)}`)]);
    return ['.TP', textLine(tag), textLine(inline(row[main]!)), ...labelled];
  });
}

function roff(block: Block): string[] {
  switch (block.kind) {
    case 'paragraph': return ['.PP', textLine(inline(block.text))];
    case 'code': return ['.PP', '.RS 4', '.nf', ...block.lines.map((line) => textLine(escape(line))), '.fi', '.RE'];
    case 'table': return taggedList(block.rows);
    case 'list': return block.items.flatMap((item, n) => [block.ordered ? `.IP ${n + 1}. 4` : '.IP \\(bu 2', textLine(inline(item))]);
  }
}

const section = (title: string, body: string[]) => [`.SH "${title}"`, ...body];
const subsection = (title: string, body: string[]) => [`.SS "${escape(title)}"`, ...body];

/**
 * The first lines of a page and its NAME. Lines are neither hyphenated nor stretched to the margin:
 * much of the text is commands, addresses and JSON, which a hyphen would corrupt.
 */
function header(name: string, version: string, summary: string): string[] {
  return [
    `.TH ${escape(name.toUpperCase())} 1 "" "pen\\-edge ${escape(version)}" "User Commands"`,
    '.nh',
    '.ad l',
    ...section('NAME', [`${escape(name)} \\- ${escape(summary)}`]),
  ];
}

/** A synopsis line: the command in bold, its arguments as written. */
function synopsis(line: string): string[] {
  const [command, ...words] = line.trim().split(' ');
  return ['.nf', textLine(`\\fB${escape(command!)}\\fR ${escape(words.join(' '))}`), '.fi'];
}

/** SEE ALSO: pages of section 1, `.BR name (1),` each. */
function seeAlso(...names: string[]): string[] {
  return section('SEE ALSO', names.map((name, i) => `.BR ${escape(name)} (1)${i < names.length - 1 ? ',' : ''}`));
}

function penPage(readme: string[], version: string): string[] {
  const usage = blocks(linesUnder(readme, '## Usage'));
  const code = usage.find((block): block is Extract<Block, { kind: 'code' }> => block.kind === 'code');
  if (code === undefined) throw new Error('README.md: "## Usage" has no usage block');
  return [
    ...header('pen-edge', version, 'the pen load balancer for TCP and UDP, with TLS, HTTP and GeoIP'),
    ...section('SYNOPSIS', synopsis(code.lines[0]!)),
    ...section('DESCRIPTION', [
      ...blocks(linesUnder(readme, '# pen-edge')).flatMap(roff),
      ...usage.filter((block) => block !== code).flatMap(roff),
      '.PP',
      'The commands that \\fB\\-o\\fR, \\fB\\-F\\fR files and the control port take are in',
      '.BR pen\\-edge\\-penctl (1).',
      'TLS, HTTP, region\\-aware routing, workers and the rest are described in README.md of pen\\-edge.',
      ...subsection('Server specification', blocks(linesUnder(readme, '### Server specification')).flatMap(roff)),
      ...subsection('How a server is chosen', blocks(linesUnder(readme, '### How a server is chosen')).flatMap(roff)),
    ]),
    ...section('OPTIONS', blocks(linesUnder(readme, '### Options')).flatMap(roff)),
    ...section('SIGNALS AND FILES', blocks(linesUnder(readme, '### Signals and files')).flatMap(roff)),
    ...seeAlso('pen-edge-penctl', 'pen', 'penctl', 'logger'),
  ];
}

function penctlPage(readme: string[], version: string): string[] {
  const control = blocks(linesUnder(readme, '## Control commands'));
  const usage = control.find((block) => block.kind === 'paragraph' && block.text.startsWith('`penctl '));
  if (usage?.kind !== 'paragraph') throw new Error('README.md: "## Control commands" does not start with `penctl …`');
  return [
    ...header('pen-edge-penctl', version, "send a command to a running pen-edge, as pen's penctl"),
    ...section('SYNOPSIS', synopsis(usage.text.split('`')[1]!)),
    ...section('DESCRIPTION', control.filter((block) => block.kind !== 'table').flatMap(roff)),
    ...section('COMMANDS', control.filter((block) => block.kind === 'table').flatMap(roff)),
    ...seeAlso('pen-edge', 'pen', 'penctl'),
  ];
}

/** The pages, by file name, made from README.md's text. */
export function manPages(readme: string, version: string): Record<string, string> {
  const lines = readme.split('\n');
  return {
    'pen-edge.1': `${penPage(lines, version).join('\n')}\n`,
    'pen-edge-penctl.1': `${penctlPage(lines, version).join('\n')}\n`,
  };
}

function main(): void {
  const root = resolve(__dirname, '..', '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const out = join(root, 'dist', 'man');
  mkdirSync(out, { recursive: true });
  for (const [file, page] of Object.entries(manPages(readFileSync(join(root, 'README.md'), 'utf8'), version))) {
    writeFileSync(join(out, file), page);
  }
}

if (require.main === module) main();
