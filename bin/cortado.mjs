#!/usr/bin/env node
// Entry of the `cortado` command: TypeScript sources (and apps written in TypeScript) run
// through tsx's loader, so nothing needs a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
