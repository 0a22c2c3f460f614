/**
 * `fn` over `items`, at most `limit` at a time, results in input order. The first failure is the answer: the
 * other workers stop taking items instead of piling up more requests (S3 reads, GitHub's API), and it is
 * rethrown once the ones in flight settle.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
