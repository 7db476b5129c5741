// `pen-geo build regions.csv -o out.mmdb`: a CSV of cidr,country[,continent] → a GeoIP2-Country database.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { messageOf } from '../errors';
import { buildCountryDatabase, parseCountryCsv } from '../geo/mmdb-writer';

const USAGE = 'usage: pen-geo build REGIONS.csv -o OUT.mmdb\n';

export function main(argv: string[]): void {
  const [verb, input, flag, output] = argv;
  if (verb !== 'build' || input === undefined || flag !== '-o' || output === undefined) {
    process.stderr.write(USAGE);
    process.exit(1);
  }
  try {
    const networks = parseCountryCsv(readFileSync(input, 'utf8'), input);
    mkdirSync(dirname(output), { recursive: true }); // like `install -D`: a fresh host has no /var/lib/pen yet
    writeFileSync(output, buildCountryDatabase(networks, `pen-edge map from ${input}`));
    process.stdout.write(`${output}: ${networks.length} networks\n`);
  } catch (err) {
    process.stderr.write(`pen-geo: ${messageOf(err)}\n`);
    process.exit(1);
  }
}
