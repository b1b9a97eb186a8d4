import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrappeError } from '../core/errors.ts';
import { MAX_JSON_DEPTH, parseArgs } from './parse-args.ts';

const nested = (depth: number) => JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`) as unknown;
const nestedText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

function refusedAsTooDeep(run: () => unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof FrappeError, String(error));
    assert.equal(error.excType, 'ValidationError');
    assert.equal(error.status, 417);
    assert.match(error.message, /nested more than 100 levels/);
    return true;
  });
}

describe('parseArgs', () => {
  it('a JSON body is the arguments; otherwise the query with form fields on top; `_` dropped', () => {
    assert.deepEqual(parseArgs({ a: '1' }, { b: 2, _: 'x' }, true), { b: 2 });
    assert.deepEqual(parseArgs({ a: ['1', '2'], b: 'q' }, { b: 'f' }, false), { a: '1', b: 'f' });
    assert.deepEqual(parseArgs({}, [1, 2], true), { data: [1, 2] });
  });

  // Found by fuzzing: arguments nested thousands deep overflowed the stack of whatever walked
  // them (JSON.stringify, String(), document comparisons): a 500 instead of a refusal.
  it('refuses arguments nested deeper than MAX_JSON_DEPTH, as values or as JSON text', () => {
    assert.equal(MAX_JSON_DEPTH, 100);
    assert.doesNotThrow(() => parseArgs({}, { filters: nested(MAX_JSON_DEPTH) }, true));
    refusedAsTooDeep(() => parseArgs({}, { filters: nested(MAX_JSON_DEPTH + 1) }, true));
    refusedAsTooDeep(() => parseArgs({}, nested(20_000), true));
    refusedAsTooDeep(() => parseArgs({}, { doc: { description: JSON.parse(nestedText(5000)) as unknown } }, true));
    // JSON text in an argument, from a query string, a form or a JSON body.
    assert.doesNotThrow(() => parseArgs({ filters: nestedText(MAX_JSON_DEPTH) }, undefined, false));
    refusedAsTooDeep(() => parseArgs({ filters: nestedText(MAX_JSON_DEPTH + 1) }, undefined, false));
    refusedAsTooDeep(() => parseArgs({}, { doc: ` ${nestedText(20_000)}` }, false));
    refusedAsTooDeep(() => parseArgs({}, { docs: `[${'['.repeat(20_000)}` }, true));
  });

  it('brackets inside JSON strings, and strings that are data, are not nesting', () => {
    const inString = JSON.stringify([['description', '=', '['.repeat(500)]]);
    assert.doesNotThrow(() => parseArgs({ filters: inString }, undefined, false));
    assert.doesNotThrow(() => parseArgs({}, { filters: [['description', '=', '['.repeat(500)]] }, true));
    assert.doesNotThrow(() => parseArgs({ description: 'not json: ' + '['.repeat(500) }, undefined, false));
    assert.doesNotThrow(() => parseArgs({ filters: JSON.stringify(['a', '=', 'x\\"[[[[']) }, undefined, false));
  });
});
