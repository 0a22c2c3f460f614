import { sleep } from '../../core/duration.ts';
import { clip, formatMs } from '../../core/format.ts';
import type { Logger } from '../../core/logger.ts';
import { redact, registerSecret } from '../../core/redact.ts';

/**
 * Posting JSON to a webhook (Slack-compatible or any receiver), the one HTTP client of dbops' notifications.
 * A webhook answers in milliseconds: ten seconds means it is not going to. One retry after a network error,
 * a timeout, 429 or 5xx; a 4xx other than 429 will not change. The URL is a secret: only its host is logged.
 */
const TIMEOUT_MS = 10_000;
const RETRY_DELAY_MS = 1_000;

export interface PostOutcome {
  status: 'sent' | 'failed';
  attempts: number;
  httpStatus: number | null;
  /** Why it failed (redacted), null when sent. */
  reason: string | null;
}

function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${formatMs(TIMEOUT_MS)}`;
  return err.cause?.message ?? err.cause?.code ?? err.message;
}

export async function postJson(
  url: URL,
  body: string,
  { signal, log, userAgent }: { signal: AbortSignal; log: Logger; userAgent: string },
): Promise<PostOutcome> {
  let httpStatus: number | null = null;
  let reason = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    let retryable = true;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': userAgent },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]),
      });
      httpStatus = response.status;
      const answer = (await response.text().catch(() => '')).trim();
      if (response.ok) return { status: 'sent', attempts: attempt, httpStatus, reason: null };
      reason = `HTTP ${response.status}${answer ? `: ${clip(answer.replace(/\s+/g, ' '), 200)}` : ''}`;
      retryable = response.status >= 500 || response.status === 429;
    } catch (e) {
      httpStatus = null;
      reason = signal.aborted ? 'interrupted' : describeFetchError(e);
      retryable = !signal.aborted;
    }
    if (!retryable || attempt === 2) return { status: 'failed', attempts: attempt, httpStatus, reason: redact(reason) };
    log.warn({ host: url.host, attempt, reason: redact(reason) }, 'the webhook did not accept the notification; retrying once');
    await sleep(RETRY_DELAY_MS, signal);
  }
  return { status: 'failed', attempts: 2, httpStatus, reason: redact(reason) };
}

/**
 * The webhook URL an environment variable holds. The URL carries the webhook's credential (Slack's
 * /services/T…/B…/<token>): it is registered as a secret, and so is its path (a server that echoes the request
 * path in an error page must not reveal the token either), before anything can print it.
 */
export function webhookFromEnv(env: NodeJS.ProcessEnv, name: string): { url?: URL; invalid?: string } {
  const raw = env[name]?.trim() || undefined;
  if (!raw) return {};
  registerSecret(raw);
  try {
    const url = new URL(raw);
    const path = `${url.pathname}${url.search}`;
    if (path.length > 8) registerSecret(path);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    return { url };
  } catch {
    return { invalid: `${name} does not hold an http(s) URL` };
  }
}

export interface Announcement {
  status: 'sent' | 'failed' | 'not-configured';
  host: string | null;
  reason: string | null;
}

/** Posts `payload` to the webhook the variable `name` holds; unset is `not-configured`, never an error, and nothing throws. */
export async function announce(
  env: NodeJS.ProcessEnv,
  name: string,
  payload: unknown,
  options: { signal: AbortSignal; log: Logger; userAgent: string },
): Promise<Announcement> {
  const { url, invalid } = webhookFromEnv(env, name);
  if (invalid) return { status: 'failed', host: null, reason: invalid };
  if (!url) return { status: 'not-configured', host: null, reason: `${name} is not set` };
  const out = await postJson(url, JSON.stringify(payload), options);
  return { status: out.status, host: url.host, reason: out.reason };
}

/** An announcement that is only sent when there is news: `not-wanted` (with why) when there is none. */
export interface NewsAnnouncement {
  status: Announcement['status'] | 'not-wanted';
  host: string | null;
  reason: string | null;
}

/**
 * Posts `payload()` when `quiet` is null; otherwise sends nothing and says whether a message would have reached
 * a webhook (`not-wanted` with `quiet` as the reason), so a misconfigured variable shows on quiet days too.
 */
export async function announceNews(
  env: NodeJS.ProcessEnv,
  name: string,
  quiet: string | null,
  payload: () => unknown,
  options: { signal: AbortSignal; log: Logger; userAgent: string },
): Promise<NewsAnnouncement> {
  if (quiet === null) return announce(env, name, payload(), options);
  const { url, invalid } = webhookFromEnv(env, name);
  if (invalid) return { status: 'failed', host: null, reason: invalid };
  return url ? { status: 'not-wanted', host: url.host, reason: quiet } : { status: 'not-configured', host: null, reason: `${name} is not set` };
}
