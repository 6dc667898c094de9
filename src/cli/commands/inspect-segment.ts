/**
 * `usagedb inspect-segment <id> [--rows N]`: finds a raw or rollup segment in any shard (live,
 * or replaced and still in its grace period), prints its manifest entry, what the object holds
 * and up to N sample rows in segment order. Exit 1 when no shard knows the id.
 */
import { NotFoundError } from '../../errors.ts';
import { rawColumnsToEvents, decodeRawObject, decodeRawSegment, rawDirectoryOf, rawGroupsExtentOf } from '../../segment/raw.ts';
import { decodeRollupObject, rollupColumnsToRows, rollupDirectoryBytesOf } from '../../segment/rollup.ts';
import { splitRawSegmentObject } from '../../objects/segment-objects.ts';
import { intFlag, noMorePositionals, type Command } from '../args.ts';
import { CliUsageError, EXIT, iso, jsonReplacer, type Context } from '../context.ts';

type Found =
  | { kind: 'raw' | 'rollup'; shard: number; generation: number; entry: Record<string, unknown>; key: string; replaced?: undefined }
  | { kind: 'raw' | 'rollup'; shard: number; generation: number; entry: undefined; key: string; replaced: Record<string, unknown> };

export const inspectSegmentCommand: Command = {
  name: 'inspect-segment',
  summary: 'print a raw or rollup segment: manifest entry, contents, sample rows',
  help: `usagedb inspect-segment <id> [--rows N]

  Looks the id up in every shard's manifest (raw segments, rollups, and inputs of replacement
  records still in their grace period), reads the object and prints up to N rows (default 10).`,
  options: { rows: { type: 'string' } },
  async run(ctx: Context, args) {
    const id = args.positionals[0];
    if (id === undefined) throw new CliUsageError('inspect-segment needs a segment id');
    noMorePositionals(args, 1);
    const limit = intFlag(args.values, 'rows', 10, 0, 100_000);
    const db = await ctx.open({ probe: false });
    let found: Found | undefined;
    for (const shard of db.shards) {
      const m = (await shard.revalidate()).manifest;
      const raw = m.segments.find((s) => s.id === id);
      const rollup = m.rollups.find((r) => r.id === id);
      if (raw !== undefined) found = { kind: 'raw', shard: shard.shard, generation: m.generation, entry: { ...raw }, key: raw.key };
      else if (rollup !== undefined) found = { kind: 'rollup', shard: shard.shard, generation: m.generation, entry: { ...rollup }, key: rollup.key };
      else {
        for (const rep of m.replacements) {
          const input = rep.inputs.find((i) => i.id === id);
          if (input !== undefined) {
            found = {
              kind: rep.kind,
              shard: shard.shard,
              generation: m.generation,
              entry: undefined,
              key: input.key,
              replaced: { ...rep, inputs: rep.inputs.length },
            };
          }
        }
      }
      if (found !== undefined) break;
    }
    if (found === undefined) throw new NotFoundError(`no shard lists segment ${id} (live or within a replacement's grace period)`);
    const res = await db.store.get(found.key);
    const body = res === null || res.notModified ? null : res.body;
    let rows: unknown[] = [];
    let stored: Record<string, unknown> = { exists: body !== null };
    if (body !== null) {
      if (found.kind === 'raw') {
        // A segment in row groups (found by walking its groups: a replaced one has no entry), its filter and hashes after the directory if any.
        const extent = rawGroupsExtentOf(body);
        const segment = extent === undefined ? splitRawSegmentObject(body).segment : body.subarray(0, extent.bytes);
        const cols = extent === undefined ? decodeRawSegment(segment) : decodeRawObject(segment, extent.directoryBytes);
        stored = {
          exists: true,
          bytes: segment.length,
          rows: cols.rows,
          ...(extent === undefined ? {} : { row_groups: rawDirectoryOf(segment, extent.directoryBytes).groups.length }),
        };
        rows = rawColumnsToEvents(cols)
          .slice(0, limit)
          .map((e) => ({ ...e, quantity: e.quantity.toString() }));
      } else {
        const groups = decodeRollupObject(body, rollupDirectoryBytesOf(body));
        stored = {
          exists: true,
          bytes: body.length,
          rows: groups.reduce((n, c) => n + c.rows, 0),
          ...(groups.length > 1 ? { row_groups: groups.length } : {}),
        };
        rows = groups
          .flatMap((cols) => rollupColumnsToRows(cols))
          .slice(0, limit)
          .map((r) => ({ ...r, hour: iso(r.hour_ms), quantity_sum: r.quantity_sum.toString() }));
      }
    }
    const out = {
      id,
      kind: found.kind,
      shard: found.shard,
      generation: found.generation,
      key: found.key,
      live: found.entry !== undefined,
      entry: found.entry ?? null,
      replaced_by: found.replaced ?? null,
      object: stored,
      sample_rows: rows,
    };
    ctx.emit(out, () => {
      const lines = [
        `${found.kind} segment ${id} in shard ${found.shard} (manifest generation ${found.generation})${found.entry === undefined ? ' — REPLACED, readable until GC' : ''}`,
        `key: ${found.key}`,
      ];
      const meta = found.entry ?? found.replaced!;
      for (const [k, v] of Object.entries(meta)) {
        if (k === 'id' || k === 'key') continue;
        const text = typeof v === 'number' && k.endsWith('_ms') ? `${v} (${iso(v)})` : JSON.stringify(v, jsonReplacer);
        lines.push(`  ${k}: ${text}`);
      }
      lines.push(body === null ? 'object: MISSING' : `object: ${stored.bytes} bytes, ${stored.rows} rows`);
      if (rows.length > 0) {
        lines.push(`first ${rows.length} row(s):`);
        for (const r of rows) lines.push(`  ${JSON.stringify(r, jsonReplacer)}`);
      }
      return lines.join('\n');
    });
    return body === null ? EXIT.problems : EXIT.ok;
  },
};
