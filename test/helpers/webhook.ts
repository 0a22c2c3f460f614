import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A webhook on loopback for `dbops backup notify`: it records each request and answers as told. */
export interface Hook {
  /** Carries a credential in its path, as Slack's incoming-webhook URLs do. */
  url: string;
  token: string;
  host: string;
  requests: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: unknown }>;
  close(): Promise<void>;
}

/** Answers with the given statuses in turn, then 200. */
export async function startWebhook(statuses: number[] = []): Promise<Hook> {
  const requests: Hook['requests'] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: raw ? (JSON.parse(raw) as unknown) : undefined });
      const status = statuses.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : status < 500 ? 'invalid_payload' : 'internal_error');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = randomBytes(12).toString('hex');
  return {
    url: `http://${host}/services/T0DBOPS/B0NOTIFY/${token}`,
    token,
    host,
    requests,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
