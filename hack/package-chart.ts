// Packages charts/vnest with `helm package`, versioned with the app: the chart's version and
// appVersion are package.json's version (so the chart's default syncer image is the same release).
//
// Usage: node hack/package-chart.ts [--out DIR]   writes DIR/vnest-<version>.tgz (default dist/charts)
//        node hack/package-chart.ts --sync        writes package.json's version into Chart.yaml
//                                                 (npm's "version" script runs it on `npm version`)
// helm is $VNEST_HELM, else the kit's (hack/build-kit.sh builds the kit when needed).
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadKit } from '../src/local/kit.ts';

const root = resolve(import.meta.dirname, '..');
const chartDir = join(root, 'charts', 'vnest');
const chartFile = join(chartDir, 'Chart.yaml');

const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'dist', 'charts') }, sync: { type: 'boolean', default: false } } });
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };

if (values.sync) {
  // Edits the two lines in place, so Chart.yaml's comments and order stay as they are.
  const text = await readFile(chartFile, 'utf8');
  const synced = text.replace(/^version:.*$/m, `version: ${version}`).replace(/^appVersion:.*$/m, `appVersion: "${version}"`);
  await writeFile(chartFile, synced);
  console.log(`charts/vnest/Chart.yaml: version and appVersion ${version}`);
} else {
  const helm = process.env.VNEST_HELM ?? (await loadKit()).bin.helm;
  const out = resolve(values.out);
  await mkdir(out, { recursive: true });
  await promisify(execFile)(helm, ['lint', '--strict', chartDir]);
  const { stdout } = await promisify(execFile)(helm, ['package', chartDir, '--version', version, '--app-version', version, '--destination', out]);
  // helm says "Successfully packaged chart and saved it to: <path>".
  console.log(stdout.trim().replace(/^.*: /s, ''));
}
