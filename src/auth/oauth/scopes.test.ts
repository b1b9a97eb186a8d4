import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileScopes } from './scopes.ts';

test('compileScopes compiles a list once and answers each list by its own scopes', () => {
  const readOnly = ['ToDo:read'];
  const compiled = compileScopes(readOnly);
  assert.equal(compileScopes(readOnly), compiled, 'the same list, the same compiled set');
  const { allowsDoctype } = compiled;
  assert.equal(allowsDoctype('ToDo', 'read'), true);
  assert.equal(allowsDoctype('ToDo', 'write'), false);
  assert.equal(allowsDoctype('Note', 'read'), false);
  // An equal list elsewhere is compiled on its own, to the same answers.
  const equal = compileScopes(['ToDo:read']);
  assert.notEqual(equal, compiled);
  assert.equal(equal.allowsDoctype('ToDo', 'read'), true);
  assert.equal(equal.allowsDoctype('ToDo', 'write'), false);
  const writer = compileScopes(['ToDo:write']);
  assert.notEqual(writer, compiled);
  assert.equal(writer.allowsDoctype('ToDo', 'write'), true);
  assert.equal(compileScopes(['all']).allowsDoctype('Note', 'write'), true);
});
