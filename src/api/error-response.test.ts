import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frappeError, type FrappeError } from '../core/errors.ts';
import { apiVersionOf, renderError, serverMessages, wantsJson } from './error-response.ts';

const JSON_HEADERS = { accept: 'application/json' };

function json(error: FrappeError, path = '/api/resource/ToDo', headers: Record<string, string> = JSON_HEADERS) {
  const answer = renderError(error, { path, headers });
  assert.equal(answer.contentType, 'application/json; charset=utf-8');
  return { answer, body: JSON.parse(answer.body) as Record<string, unknown> };
}

function html(error: FrappeError, path = '/app/todo', headers: Record<string, string> = { accept: 'text/html' }) {
  const answer = renderError(error, { path, headers });
  assert.equal(answer.contentType, 'text/html; charset=utf-8');
  return answer;
}

/** Decodes `_server_messages`: a JSON string holding a list of JSON strings. */
function decodeServerMessages(value: unknown): Record<string, unknown>[] {
  assert.equal(typeof value, 'string', '_server_messages is a string');
  const outer: unknown = JSON.parse(value as string);
  assert.ok(Array.isArray(outer), '_server_messages decodes to a list');
  return outer.map((entry: unknown) => {
    assert.equal(typeof entry, 'string', 'each entry is itself a JSON string');
    return JSON.parse(entry as string) as Record<string, unknown>;
  });
}

describe('v1 error body', () => {
  it('carries exc_type and a doubly encoded _server_messages', () => {
    const { answer, body } = json(frappeError('ValidationError', 'Title is required', { title: 'Missing' }));
    assert.equal(answer.status, 417);
    assert.equal(body.exc_type, 'ValidationError');
    const messages = decodeServerMessages(body._server_messages);
    assert.equal(messages.length, 1);
    const [message] = messages;
    assert.ok(message);
    assert.equal(message.message, 'Title is required');
    assert.equal(message.title, 'Missing');
    assert.equal(message.indicator, 'red');
    assert.equal(message.raise_exception, 1);
    assert.match(String(message.__frappe_exc_id), /^[0-9a-f]{56}$/);
    assert.ok(!('errors' in body));
    assert.ok(!('_error_message' in body));
  });

  it('uses Frappe default title "Message" and a fresh exception id each time', () => {
    const ids = new Set<unknown>();
    for (let i = 0; i < 5; i++) {
      const [message] = decodeServerMessages(json(frappeError('DoesNotExistError', 'ToDo x not found')).body._server_messages);
      assert.equal(message?.title, 'Message');
      ids.add(message?.__frappe_exc_id);
    }
    assert.equal(ids.size, 5);
  });

  it('adds _error_message when the error has one', () => {
    const { answer, body } = json(
      frappeError('PermissionError', 'No permission for ToDo', { title: 'Not Permitted', errorMessage: 'No permission for ToDo' }),
    );
    assert.equal(answer.status, 403);
    assert.equal(body._error_message, 'No permission for ToDo');
  });

  it('merges extra keys, never letting them replace exc_type', () => {
    const { body } = json(frappeError('AuthenticationError', '', { extra: { session_expired: 1, exc_type: 'Spoofed' } }));
    assert.equal(body.session_expired, 1);
    assert.equal(body.exc_type, 'AuthenticationError');
  });

  it('leaves _server_messages out when there is no message (a bare exception)', () => {
    const { answer, body } = json(frappeError('AuthenticationError'));
    assert.equal(answer.status, 401);
    assert.deepEqual(body, { exc_type: 'AuthenticationError' });
  });

  it('keeps the status and headers the error carries', () => {
    const { answer } = json(frappeError('TooManyRequestsError', 'Slow down', { status: 429, headers: { 'Retry-After': '30' } }));
    assert.equal(answer.status, 429);
    assert.deepEqual(answer.headers, { 'Retry-After': '30' });
  });

  it('keeps hostile messages as data inside the JSON strings', () => {
    const nasty = '"]}\\<script>alert(1)</script>\u2028';
    const [message] = decodeServerMessages(json(frappeError('ValidationError', nasty)).body._server_messages);
    assert.equal(message?.message, nasty);
  });

  it('serverMessages encodes any list the same way', () => {
    const encoded = serverMessages([{ message: 'a' }, { message: 'b', indicator: 'green' }]);
    assert.deepEqual(decodeServerMessages(encoded), [{ message: 'a' }, { message: 'b', indicator: 'green' }]);
    assert.equal(serverMessages([]), '[]');
  });
});

describe('v2 error body', () => {
  it('puts type, message, title and indicator in errors[0] and has no exc_type', () => {
    const { answer, body } = json(frappeError('ValidationError', 'Title is required', { title: 'Missing' }), '/api/v2/document/ToDo');
    assert.equal(answer.status, 417);
    assert.deepEqual(body, { errors: [{ type: 'ValidationError', message: 'Title is required', title: 'Missing', indicator: 'red' }] });
    assert.ok(!('exc_type' in body));
    assert.ok(!('_server_messages' in body));
  });

  it('answers a bare exception with just its type', () => {
    const { body } = json(frappeError('PermissionError'), '/api/v2/method/ping');
    assert.deepEqual(body, { errors: [{ type: 'PermissionError' }] });
  });

  it('picks the version from the path', () => {
    assert.equal(apiVersionOf('/api/v2/document/ToDo'), 'v2');
    assert.equal(apiVersionOf('/api/v2'), 'v2');
    assert.equal(apiVersionOf('/api/v1/resource/ToDo'), 'v1');
    assert.equal(apiVersionOf('/api/resource/ToDo'), 'v1');
    assert.equal(apiVersionOf('/api/v2x/thing'), 'v1');
    assert.equal(apiVersionOf('/api/v20/thing'), 'v1');
  });
});

describe('wantsJson (rest-api spec A1, "Error rendering choice")', () => {
  it('answers JSON for /api/ paths unless Accept starts with text', () => {
    assert.equal(wantsJson('/api/resource/ToDo', {}), true);
    assert.equal(wantsJson('/api/resource/ToDo', { accept: '*/*' }), true);
    assert.equal(wantsJson('/api/method/ping', { accept: 'application/xml' }), true);
    assert.equal(wantsJson('/api/resource/ToDo', { accept: 'text/html' }), false);
    assert.equal(wantsJson('/api/resource/ToDo', { accept: 'text/plain, application/xml' }), false);
  });

  it('answers JSON anywhere when Accept contains application/json, even after text', () => {
    assert.equal(wantsJson('/app/todo', { accept: 'application/json' }), true);
    assert.equal(wantsJson('/api/resource/ToDo', { accept: 'text/html, application/json;q=0.9' }), true);
    assert.equal(wantsJson('/login', { accept: 'text/plain, application/json' }), true);
  });

  it('answers JSON for XMLHttpRequest (with an Accept header, as in Frappe)', () => {
    assert.equal(wantsJson('/app/todo', { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' }), true);
    assert.equal(wantsJson('/app/todo', { accept: '*/*', 'x-requested-with': 'XMLHttpRequest' }), true);
    assert.equal(wantsJson('/app/todo', { accept: '*/*', 'x-requested-with': 'fetch' }), false);
    // Frappe's handle_exception tests `Accept and (is_ajax or json in Accept)`: XHR alone is not enough.
    assert.equal(wantsJson('/app/todo', { 'x-requested-with': 'XMLHttpRequest' }), false);
  });

  it('answers HTML for pages outside /api/', () => {
    assert.equal(wantsJson('/app/todo', {}), false);
    assert.equal(wantsJson('/app/todo', { accept: 'text/html' }), false);
    assert.equal(wantsJson('/app/todo', { accept: '*/*' }), false);
    assert.equal(wantsJson('/apix/thing', {}), false);
    assert.equal(wantsJson('/api', {}), false);
  });
});

describe('HTML error page', () => {
  it('is chosen for a browser asking for text on an /api/ path', () => {
    const answer = html(frappeError('PermissionError', 'Nope'), '/api/resource/ToDo', { accept: 'text/html,application/xhtml+xml' });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /^<!doctype html>/);
    assert.match(answer.body, /<h1>Not Permitted<\/h1>/);
  });

  it('uses Frappe page titles for 401, 403, 404, 429', () => {
    assert.match(html(frappeError('AuthenticationError', 'x')).body, /<title>Session Expired<\/title>/);
    assert.match(html(frappeError('PermissionError', 'x')).body, /<title>Not Permitted<\/title>/);
    assert.match(html(frappeError('DoesNotExistError', 'x')).body, /<title>Not Found<\/title>/);
    assert.match(html(frappeError('TooManyRequestsError', 'x')).body, /<title>Too Many Requests<\/title>/);
  });

  it('escapes the message and the title', () => {
    const message = '<script>alert("x")</script> & <img src=x onerror=alert(1)>';
    const body = html(frappeError('ValidationError', message, { title: '<b>T</b>' })).body;
    assert.ok(!body.includes('<script>'), body);
    assert.ok(!body.includes('<img'), body);
    assert.ok(!body.includes('<b>'), body);
    assert.ok(body.includes('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#60;img'), body);
    assert.ok(body.includes('&#60;b&#62;T&#60;/b&#62;'), body);
  });

  it('shows a fallback text when there is no message', () => {
    assert.match(html(frappeError('PermissionError')).body, /You do not have enough permissions/);
  });

  it('never shows the message of a 5xx error', () => {
    for (const error of [
      frappeError('Exception', 'secret stack: /srv/app/db.ts password=hunter2'),
      frappeError('ServiceUnavailable', 'connect ECONNREFUSED 10.0.0.5:5432'),
      frappeError('SessionStopped', 'internal detail', { title: 'Maintenance' }),
    ]) {
      const answer = html(error);
      assert.ok(answer.status >= 500);
      assert.ok(!answer.body.includes(error.message), answer.body);
      assert.ok(!answer.body.includes('password'), answer.body);
    }
    assert.match(html(frappeError('Exception', 'boom')).body, /<h1>Server Error<\/h1><p>There was an error building this page<\/p>/);
  });
});

describe('tracebacks and earlier messages', () => {
  it('v1: exception and exc hold only the type and message; earlier msgprints come first', () => {
    const error = frappeError('ValidationError', 'Title is required');
    const answer = renderError(error, { path: '/api/method/x', headers: JSON_HEADERS }, { traceback: true, messages: [{ message: 'note' }] });
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    assert.equal(body.exception, 'frappe.exceptions.ValidationError: Title is required');
    assert.deepEqual(JSON.parse(String(body.exc)), ['Traceback (most recent call last):\n  <cortado>\nValidationError: Title is required']);
    assert.deepEqual(decodeServerMessages(body._server_messages).map((m) => m.message), ['note', 'Title is required']);
    const plain = JSON.parse(renderError(error, { path: '/api/method/x', headers: JSON_HEADERS }).body) as Record<string, unknown>;
    assert.ok(!('exception' in plain) && !('exc' in plain));
    const crash = JSON.parse(renderError(frappeError('Exception', 'Internal Server Error'), { path: '/api/method/x', headers: JSON_HEADERS }, { traceback: true }).body);
    assert.equal(crash.exception, 'Exception: Internal Server Error');
  });

  it('v2: the traceback text in errors[0].exception, earlier messages in messages', () => {
    const answer = renderError(frappeError('PermissionError', 'Not permitted'), { path: '/api/v2/document/ToDo', headers: JSON_HEADERS }, {
      traceback: true,
      messages: [{ message: 'note', indicator: 'blue' }],
    });
    const body = JSON.parse(answer.body) as { errors: Record<string, unknown>[]; messages: unknown };
    assert.equal(body.errors[0]?.exception, 'Traceback (most recent call last):\n  <cortado>\nPermissionError: Not permitted');
    assert.deepEqual(body.messages, [{ message: 'note', indicator: 'blue' }]);
  });
});
