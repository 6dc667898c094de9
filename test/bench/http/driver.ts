/**
 * The load driver: N concurrent clients POST pre-serialized batches over keep-alive connections
 * (fetch, i.e. Node's undici with its default keep-alive pool), each taking the next batch as
 * soon as its previous answer arrived; request k goes to server k mod n (round-robin). Every
 * answer is counted — accepted, duplicates, conflicts, rejected, HTTP errors by status, network
 * errors — and the first error body kept, so a failing system is reported, never a crash.
 */

export interface Answer {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
}

export interface DriveResult {
  readonly requests: number;
  readonly seconds: number;
  /** Events in requests answered 200, per second of wall time. */
  readonly events_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** p99 without each client's first request (which meets cold processes, isolates, objects). */
  readonly p99_warm_ms: number;
  readonly max_ms: number;
  readonly answers: Answer;
  readonly ok_requests: number;
  /** Non-200 answers and network failures. */
  readonly http_errors: number;
  readonly status_503: number;
  /** 503s whose error code is manifest_contention. */
  readonly contention_503: number;
  readonly by_status: Record<string, number>;
  readonly first_error?: string;
  /** Indexes of the batches that did not get a 200. */
  readonly failed_batches: readonly number[];
}

export interface Batch {
  readonly body: string;
  readonly events: number;
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export interface PostOutcome {
  readonly status: number;
  readonly answer?: Answer;
  readonly error?: string;
  readonly code?: string;
}

/** One POST /v1/usage/batch; never throws. */
export async function postBatch(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostOutcome> {
  try {
    const res = await fetch(`${url}/v1/usage/batch`, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (res.status === 200) {
      const a = JSON.parse(text) as Partial<Answer>;
      return { status: 200, answer: { accepted: a.accepted ?? 0, duplicates: a.duplicates ?? 0, conflicts: a.conflicts ?? 0, rejected: a.rejected ?? 0 } };
    }
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      // not our JSON error shape
    }
    return { status: res.status, error: `${res.status} ${text.slice(0, 500)}`, ...(code === undefined ? {} : { code }) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { status: 0, error: `network: ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}` };
  }
}

export function addAnswer(into: Answer, a: Answer): void {
  into.accepted += a.accepted;
  into.duplicates += a.duplicates;
  into.conflicts += a.conflicts;
  into.rejected += a.rejected;
}

export async function drive(
  urls: readonly string[],
  headers: Record<string, string>,
  batches: readonly Batch[],
  concurrency: number,
  timeoutMs = 120_000,
): Promise<DriveResult> {
  const allHeaders = { 'content-type': 'application/json', ...headers };
  const answers: Answer = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
  const latencies: number[] = [];
  const warm: number[] = [];
  const byStatus: Record<string, number> = {};
  const failed: number[] = [];
  let okEvents = 0;
  let ok = 0;
  let contention = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let mine = 0; next < batches.length; mine++) {
        const k = next++;
        const b = batches[k]!;
        const t0 = performance.now();
        const out = await postBatch(urls[k % urls.length]!, allHeaders, b.body, timeoutMs);
        latencies.push(performance.now() - t0);
        if (mine > 0) warm.push(performance.now() - t0);
        byStatus[out.status] = (byStatus[out.status] ?? 0) + 1;
        if (out.answer !== undefined) {
          ok++;
          okEvents += b.events;
          addAnswer(answers, out.answer);
        } else {
          failed.push(k);
          if (out.code === 'manifest_contention') contention++;
          firstError ??= out.error;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds: round(seconds, 2),
    events_per_s: Math.round(okEvents / seconds),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    p99_warm_ms: round(percentile(warm, 99)),
    max_ms: round(latencies.at(-1) ?? Number.NaN),
    answers,
    ok_requests: ok,
    http_errors: latencies.length - ok,
    status_503: byStatus['503'] ?? 0,
    contention_503: contention,
    by_status: byStatus,
    ...(firstError === undefined ? {} : { first_error: firstError }),
    failed_batches: failed.sort((a, b) => a - b),
  };
}

export interface RetryResult {
  readonly requests: number;
  readonly answers: Answer;
  /** Batches still not answered 200 after the attempts. */
  readonly still_failed: number;
  /** Batches not re-sent because the pass gave up (several batches in a row failed every attempt). */
  readonly not_retried: number;
  readonly first_error?: string;
}

/**
 * What a client does after an error: re-send each failed batch, one at a time, up to `attempts`
 * times. A server that fails `giveUpAfter` batches in a row on every attempt is not retried further.
 */
export async function retryFailed(
  urls: readonly string[],
  headers: Record<string, string>,
  batches: readonly Batch[],
  failed: readonly number[],
  attempts = 3,
  giveUpAfter = 3,
): Promise<RetryResult> {
  const allHeaders = { 'content-type': 'application/json', ...headers };
  const answers: Answer = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
  let requests = 0;
  let stillFailed = 0;
  let inARow = 0;
  let notRetried = 0;
  let firstError: string | undefined;
  for (const k of failed) {
    if (inARow >= giveUpAfter) {
      notRetried++;
      continue;
    }
    let done = false;
    for (let a = 0; a < attempts && !done; a++) {
      requests++;
      const out = await postBatch(urls[(k + a) % urls.length]!, allHeaders, batches[k]!.body, 120_000);
      if (out.answer !== undefined) {
        addAnswer(answers, out.answer);
        done = true;
      } else {
        firstError ??= out.error;
        await new Promise((r) => setTimeout(r, 200 * (a + 1)));
      }
    }
    if (done) inARow = 0;
    else {
      stillFailed++;
      inARow++;
    }
  }
  return { requests, answers, still_failed: stillFailed, not_retried: notRetried, ...(firstError === undefined ? {} : { first_error: firstError }) };
}
