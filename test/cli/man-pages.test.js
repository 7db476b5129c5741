'use strict';
// The manual pages the build makes from README.md: every option and control command of README's
// tables is in them, and man renders them without a warning.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT } = require('../support/harness');

const PEN_PAGE = path.join(ROOT, 'dist', 'man', 'pen-edge.1');
const PENCTL_PAGE = path.join(ROOT, 'dist', 'man', 'pen-edge-penctl.1');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
const NO_MAN = ['man', 'groff'].some((tool) => spawnSync(tool, ['--version']).error)
  ? 'man or groff not found: apt-get install -y man-db groff-base'
  : false;

/** The first cell of each row of the table under heading, as README shows it. */
function firstColumn(heading) {
  const start = README.indexOf(heading);
  assert.ok(start >= 0, `README.md has no "${heading}"`);
  const rows = [];
  for (let i = start + 1; i < README.length && !README[i].startsWith('#'); i++) {
    if (README[i].startsWith('|')) rows.push(README[i].split(/(?<!\\)\|/)[1].trim().replace(/\\\|/g, '|'));
  }
  return rows.slice(2); // the header and the line under it
}

/** Roff text as it reads: font changes and break points dropped, escapes undone. */
function plain(roff) {
  return roff
    .replace(/\\f[BIRP]|\\:|\\&/g, '')
    .replace(/\\\[u([0-9A-F]+)\]/g, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\\');
}

/** The bold part of each tag (the line after `.TP`) in a section of a page. */
function tags(page, section) {
  const lines = fs.readFileSync(page, 'utf8').split('\n');
  const start = lines.indexOf(`.SH "${section}"`);
  assert.ok(start >= 0, `${path.basename(page)} has no ${section} section`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('.SH '));
  return lines.slice(start, end).flatMap((line, i, all) =>
    (line === '.TP' ? [plain(/^\\fB(.*?)\\fR/.exec(all[i + 1])[1])] : []));
}

/** README's text with the one character the pages spell in ASCII (the ellipsis) spelt so. */
const asInPage = (text) => text.replace(/\u2026/g, '...');

test('the build writes both pages into dist/man', () => {
  for (const page of [PEN_PAGE, PENCTL_PAGE]) assert.ok(fs.existsSync(page), `${page} missing: run npm run build`);
});

test("pen-edge.1 lists every row of README's option table, in order", () => {
  assert.deepEqual(tags(PEN_PAGE, 'OPTIONS'), firstColumn('### Options').map(asInPage));
});

test("pen-edge-penctl.1 lists every row of README's control command table, in order", () => {
  assert.deepEqual(tags(PENCTL_PAGE, 'COMMANDS'), firstColumn('## Control commands').map(asInPage));
});

test('pen-edge.1 has the sections a manual page has, and names pen(1) and penctl(1)', () => {
  const page = fs.readFileSync(PEN_PAGE, 'utf8');
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SIGNALS AND FILES', 'SEE ALSO']) {
    assert.ok(page.includes(`\n.SH "${section}"\n`), section);
  }
  assert.match(page, /\n\.BR pen \(1\),\n\.BR penctl \(1\)/);
});

test('text roff would read as requests or escapes comes out as written', { skip: NO_MAN }, (t) => {
  const { manPages } = require('../../dist/cli/man-pages.js');
  const awkward = [
    "| -Y | dir\\name | 'none' | .starts with a dot | `-Y C:\\pen\\fB` |",
    "| -V | | | 'starts with an apostrophe, then \\fI and \\- | |",
  ];
  const firstRow = README.findIndex((line, i) => i > README.indexOf('### Options') && line.startsWith('|---')) + 1;
  const readme = [...README.slice(0, firstRow), ...awkward, ...README.slice(firstRow)].join('\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-man-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const page = path.join(dir, 'pen-edge.1');
  fs.writeFileSync(page, manPages(readme, '0.0.0')['pen-edge.1']);
  const run = spawnSync('man', ['--warnings=w', '-l', page], { env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', MANWIDTH: '80' }, encoding: 'utf8' });
  assert.equal(run.stderr, '');
  const text = run.stdout.replace(/\s+/g, ' ');
  for (const written of ['-Y dir\\name', '.starts with a dot', "Default: 'none'", 'Example: -Y C:\\pen\\fB', "-V 'starts with an apostrophe, then \\fI and \\-"]) {
    assert.ok(text.includes(written), `${written} not in ${text.slice(0, 2000)}`);
  }
});

for (const [page, heading] of [[PEN_PAGE, 'OPTIONS'], [PENCTL_PAGE, 'COMMANDS']]) {
  for (const lang of ['C.UTF-8', 'C']) {
    test(`man -l ${path.basename(page)} renders at 80 columns without a warning (LANG=${lang})`, { skip: NO_MAN }, () => {
      const env = { ...process.env, LANG: lang, LC_ALL: lang, MANWIDTH: '80' };
      const run = spawnSync('man', ['--warnings=w', '-l', page], { env, encoding: 'utf8' });
      assert.equal(run.stderr, '');
      assert.equal(run.status, 0);
      assert.match(run.stdout, new RegExp(`^${heading}$`, 'm'));
      assert.ok(run.stdout.split('\n').every((line) => line.length <= 80), 'a line wider than 80 columns');
    });
  }
}
