/**
 * Child process for the fs multi-process test: tries to create keys `k0..k<count>` with
 * `If-None-Match: *` (and, every third key, also to replace it with `If-Match` on what it read),
 * printing which creates it won.
 */
import { PreconditionFailedError } from '../../src/store/errors.ts';
import { FsStore } from '../../src/store/fs.ts';

const [root, name, count] = process.argv.slice(2) as [string, string, string];
const store = new FsStore({ root });
const enc = new TextEncoder();
const won: number[] = [];
for (let i = 0; i < Number(count); i++) {
  try {
    await store.put(`race/k${i}`, enc.encode(`${name} created ${i}`), { ifNoneMatch: '*' });
    won.push(i);
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  if (i % 3 === 0) {
    const head = await store.head(`race/k${i}`);
    if (head !== null) await store.put(`race/k${i}`, enc.encode(`${name} replaced ${i}`), { ifMatch: head.etag }).catch(() => undefined);
  }
}
process.stdout.write(JSON.stringify({ won }));
