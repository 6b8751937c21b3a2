#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so the bin works right after `npm ci`
// with no build step (SPEC §5).
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
