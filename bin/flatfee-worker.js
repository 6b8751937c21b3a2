#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so the bin works right after `npm ci`
// with no build step (SPEC §5).
require('tsx/cjs');
// Every environment variable is checked before any module reads one: all bad ones in one line.
const { loadConfig, ConfigError } = require('../src/config.ts');
const helpOnly = process.argv.slice(2).some((a) => ['-h', '--help', '-V', '--version', 'help'].includes(a));
try {
  if (!helpOnly) loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(2);
}
const { main } = require('../src/cli/main.ts');

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
