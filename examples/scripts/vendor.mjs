// Copies oauth4webapi's ES module (one file, no dependencies) next to the static pages that
// import it through their import map: the browser loads it as is, with no bundler.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(dirname(createRequire(import.meta.url).resolve('oauth4webapi')), 'index.js');
for (const target of ['spa/vendor', 'spa-serverless/public/vendor']) {
  mkdirSync(join(here, target), { recursive: true });
  copyFileSync(source, join(here, target, 'oauth4webapi.js'));
  console.log(`${target}/oauth4webapi.js`);
}
