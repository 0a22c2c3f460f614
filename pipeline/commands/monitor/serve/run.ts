import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepContext } from '../../../cli/contract.ts';
import { parseDuration } from '../../../core/duration.ts';
import { EnvError } from '../../../core/errors.ts';
import type { StepResult } from '../../../core/result.ts';
import { createMonitorMetrics, monitorCheck, throttled } from '../../../operations/monitoring/index.ts';
import { monitorTarget } from '../../flags.ts';
import { LISTEN_PATTERN, type MonitorServeInputs } from './spec.ts';

export interface MonitorServeData {
  /** The metrics URL it served. */
  url: string;
  scrapes: number;
  /** Passes over the checks (at most one per interval). */
  passes: number;
}

/**
 * `dbops monitor serve`: the target resolved once, a first pass before listening (the first scrape is never
 * empty), then GET /metrics and /healthz until ctx.signal (Ctrl-C, SIGTERM): the server stops accepting,
 * open connections are closed, and the command returns.
 */
export async function run(input: MonitorServeInputs, ctx: StepContext): Promise<StepResult<MonitorServeData>> {
  const request = await monitorTarget(input, ctx);
  const { target } = request;
  const metrics = await createMonitorMetrics({ environment: target.environment ?? '', database: target.database.database });
  const pass = throttled(async () => {
    const at = new Date();
    const started = performance.now();
    try {
      const result = await monitorCheck(request, ctx);
      metrics.update({ data: result.data, seconds: (performance.now() - started) / 1000, at });
    } catch (e) {
      // A pass that breaks (not the database being down: that is the availability check) is dbops_up 0.
      ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, 'monitor serve: the pass failed');
      metrics.update({ error: e instanceof Error ? e.message : String(e), seconds: (performance.now() - started) / 1000, at });
    }
  }, parseDuration(input.interval)!);
  await pass.get();

  let scrapes = 0;
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    } else if (path === '/metrics') {
      scrapes += 1;
      await pass.get();
      const body = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('dbops monitor serve: GET /metrics or /healthz\n');
    }
  };
  const server = createServer((req, res) => {
    answer(req, res).catch((e: unknown) => {
      ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, 'monitor serve: a request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  const m = LISTEN_PATTERN.exec(input.listen)!;
  const host = m[1] ?? m[2]!;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new EnvError(`dbops monitor serve cannot listen on ${input.listen}: ${e.code ?? e.message}.`, {
          hint:
            e.code === 'EADDRINUSE' ? 'Another process holds the port: pick another with --listen host:port.' : 'Pick another address with --listen host:port.',
        }),
      ),
    );
    server.listen(Number(m[3]), host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`;
  ctx.progress(`dbops monitor serve: serving ${url} (checks at most every ${input.interval}; Ctrl-C stops)`);

  await new Promise<void>((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', () => resolve(), { once: true })));
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return { verdict: 'pass', findings: [], data: { url, scrapes, passes: pass.passes } };
}

export const render = (result: StepResult<MonitorServeData>): string =>
  `dbops monitor serve: stopped after ${result.data.scrapes} ${result.data.scrapes === 1 ? 'scrape' : 'scrapes'} and ${result.data.passes} ${result.data.passes === 1 ? 'pass' : 'passes'} over the checks\n`;
