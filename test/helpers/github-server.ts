import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the GitHub REST endpoints dbops uses (issue comments of a pull request), on loopback.
 * It keeps comments in memory, paginates like GitHub (Link header with rel="next"), and records every
 * request for assertions.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface StoredComment {
  id: number;
  body: string;
  user: { login: string; type: 'Bot' | 'User' };
  html_url: string;
}

export interface GitHubServer {
  url: string;
  requests: RecordedRequest[];
  comments: Map<number, StoredComment[]>;
  /** Adds `count` comments by people (not the bot) to an issue, to make the listing span pages. */
  seed(issue: number, count: number, body?: (i: number) => string): void;
  /** Answers every request with this status (e.g. 403 for a read-only fork token) until cleared. */
  failWith(status: number | null): void;
  close(): Promise<void>;
}

export async function startGitHubServer(owner = 'acme', repo = 'astro'): Promise<GitHubServer> {
  const requests: RecordedRequest[] = [];
  const comments = new Map<number, StoredComment[]>();
  let nextId = 1000;
  let failure: number | null = null;
  let base = '';
  const list = (issue: number) => comments.get(issue) ?? comments.set(issue, []).get(issue)!;
  const htmlUrl = (issue: number, id: number) => `https://github.example/${owner}/${repo}/pull/${issue}#issuecomment-${id}`;

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const body = raw ? (JSON.parse(raw) as unknown) : undefined;
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body });
      const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(data));
      };
      if (failure) return send(failure, { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' });
      if (!req.headers.authorization) return send(401, { message: 'Requires authentication' });

      const prefix = `/repos/${owner}/${repo}/issues/`;
      const listing = new RegExp(`^${prefix}(\\d+)/comments$`).exec(url.pathname);
      const single = new RegExp(`^${prefix}comments/(\\d+)$`).exec(url.pathname);
      if (listing && req.method === 'GET') {
        const all = list(Number(listing[1]));
        const perPage = Number(url.searchParams.get('per_page') ?? 30);
        const page = Number(url.searchParams.get('page') ?? 1);
        const pages = Math.max(1, Math.ceil(all.length / perPage));
        const headers: Record<string, string> = {};
        if (page < pages) {
          const next = new URL(url);
          next.searchParams.set('page', String(page + 1));
          headers['link'] = `<${next.href}>; rel="next", <${new URL(`?per_page=${perPage}&page=${pages}`, url).href}>; rel="last"`;
        }
        return send(200, all.slice((page - 1) * perPage, page * perPage), headers);
      }
      if (listing && req.method === 'POST') {
        const issue = Number(listing[1]);
        const id = nextId++;
        const comment: StoredComment = { id, body: (body as { body: string }).body, user: { login: 'github-actions[bot]', type: 'Bot' }, html_url: htmlUrl(issue, id) };
        list(issue).push(comment);
        return send(201, comment);
      }
      if (single && req.method === 'PATCH') {
        const id = Number(single[1]);
        for (const all of comments.values()) {
          const found = all.find((c) => c.id === id);
          if (found) {
            found.body = (body as { body: string }).body;
            return send(200, found);
          }
        }
        return send(404, { message: 'Not Found' });
      }
      return send(404, { message: `Not Found: ${req.method} ${url.pathname}` });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    comments,
    seed(issue, count, body = (i) => `LGTM ${i}`) {
      for (let i = 0; i < count; i++) {
        const id = nextId++;
        list(issue).push({ id, body: body(i), user: { login: `reviewer${i % 3}`, type: 'User' }, html_url: htmlUrl(issue, id) });
      }
    },
    failWith(status) {
      failure = status;
    },
    close: () => new Promise((done) => server.close(() => done())),
  };
}
