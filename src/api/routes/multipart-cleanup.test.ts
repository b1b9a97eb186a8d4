import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import Fastify from 'fastify';
import { multipartWithLazyCleanup } from './file-routes.ts';

function form(): { body: string; contentType: string } {
  const boundary = 'cortado-test-boundary';
  const body = [`--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="a.txt"', 'Content-Type: text/plain', '', 'hello', `--${boundary}--`, ''].join('\r\n');
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

test("the multipart plugin's cleanup still deletes the temporary files a request saved", async () => {
  const app = Fastify();
  await app.register(multipartWithLazyCleanup, {});
  let saved: string[] = [];
  app.post('/save', async (request) => {
    const files = await request.saveRequestFiles();
    saved = files.map((file) => file.filepath);
    return { saved: saved.length };
  });
  app.get('/plain', async () => ({ ok: true }));
  try {
    const { body, contentType } = form();
    const response = await app.inject({ method: 'POST', url: '/save', payload: body, headers: { 'content-type': contentType } });
    assert.equal(response.statusCode, 200);
    assert.equal(saved.length, 1);
    // onResponse runs after the answer: wait for the unlink.
    for (let i = 0; i < 50 && saved.some((path) => existsSync(path)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(saved.filter((path) => existsSync(path)), [], 'temporary files removed');
    // A request that saved nothing passes the hook.
    assert.equal((await app.inject({ method: 'GET', url: '/plain' })).statusCode, 200);
  } finally {
    await app.close();
  }
});
