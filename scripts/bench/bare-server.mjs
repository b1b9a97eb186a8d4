// The bench's baseline: a bare node:http server answering every request with one fixed JSON
// body (the measured document read's, read from the file named by argv[2]) on 127.0.0.1:argv[3].
// It exits when its parent closes its stdin, so it never outlives the bench.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const body = readFileSync(process.argv[2]);
const port = Number(process.argv[3]);
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };

const server = createServer((request, response) => {
  // Drain a request body (none is sent) before answering, as any server must.
  request.resume();
  response.writeHead(200, headers);
  response.end(body);
});
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`bare server listening on ${port}\n`));

const stop = () => server.close(() => process.exit(0)).closeAllConnections();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).on('error', stop).resume();
