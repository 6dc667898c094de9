/**
 * A manifest's digest: what a history record says its generation must replay to. It depends on
 * content only — not on key order (a decoded checkpoint and an edited draft order keys
 * differently) nor on absent-vs-undefined fields — and costs what changed: a frozen entry's
 * digest is computed once and remembered by identity, so a commit that adds one segment to
 * thousands re-hashes one entry. Not cryptographic: it catches a replay that diverges, not an
 * adversary. Never change it without bumping the history record format.
 */
import { murmur3x86_128 } from '../model/hash.ts';
import type { DeepReadonly, ShardManifest } from './schema.ts';

const enc = new TextEncoder();
/** Digests of frozen objects (committed or replayed entries never change once frozen). */
const remembered = new WeakMap<object, Uint32Array>();

/** JSON with object keys sorted and undefined members left out, as JSON.stringify would. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i === 0 ? '' : ',') + (v[i] === undefined ? 'null' : canonicalJson(v[i]));
    return `${s}]`;
  }
  let s = '{';
  let first = true;
  for (const k of Object.keys(v).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    s += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(x)}`;
    first = false;
  }
  return `${s}}`;
}

function valueDigest(v: unknown): Uint32Array {
  if (v === null || typeof v !== 'object' || !Object.isFrozen(v)) return murmur3x86_128(enc.encode(canonicalJson(v)));
  let d = remembered.get(v);
  if (d === undefined) remembered.set(v, (d = murmur3x86_128(enc.encode(canonicalJson(v)))));
  return d;
}

/**
 * The digest of a manifest, as 32 hex digits: each top-level field by name, and a list field
 * entry by entry (entries' digests remembered while frozen), folded in order.
 */
export function manifestDigest(m: DeepReadonly<ShardManifest>): string {
  const parts: Uint32Array[] = [];
  for (const name of Object.keys(m).sort()) {
    const v = (m as Record<string, unknown>)[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      parts.push(murmur3x86_128(enc.encode(`${JSON.stringify(name)}[${v.length}]`)));
      for (const e of v) parts.push(valueDigest(e));
    } else parts.push(murmur3x86_128(enc.encode(`${JSON.stringify(name)}:${canonicalJson(v)}`)));
  }
  const all = new Uint32Array(parts.length * 4);
  for (let i = 0; i < parts.length; i++) all.set(parts[i]!, i * 4);
  return [...murmur3x86_128(new Uint8Array(all.buffer))].map((w) => w.toString(16).padStart(8, '0')).join('');
}
