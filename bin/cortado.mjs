#!/usr/bin/env node
// Entry of the `cortado` command: TypeScript sources (and apps written in TypeScript) run
// through tsx's loader, so nothing needs a build step. Both hooks are needed: an app's
// `index.js` outside any package is loaded through Node's CommonJS path.
import { register as registerCommonJs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCommonJs();
register();
await import('../src/cli/main.ts');
