/**
 * Configuration errors never echo a secret, not even in part: malformed USAGEDB_API_KEYS lists
 * (fields out of order, missing, extra, short, spaced, duplicated) and bad S3 credentials are
 * refused with messages that name the variable and the entry's position, and no substring of 4
 * or more characters of the secret appears in them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseApiKeys } from '../../src/api/auth.ts';
import { ValidationError } from '../../src/errors.ts';
import { loadConfig } from '../../src/runtime/config.ts';

/** Every substring of `secret` at least `min` characters long. */
function substrings(secret: string, min = 4): string[] {
  const out: string[] = [];
  for (let i = 0; i + min <= secret.length; i++) for (let j = i + min; j <= secret.length; j++) out.push(secret.slice(i, j));
  return out;
}

function expectNoPartOf(secret: string, message: string, only: (s: string) => boolean = () => true): void {
  for (const part of substrings(secret).filter(only)) expect(message, `"${part}" of the secret is in the message`).not.toContain(part);
}

async function refusal(list: string): Promise<ValidationError> {
  const err = await parseApiKeys(list).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${list} is refused`).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.message).toMatch(/^USAGEDB_API_KEYS: entry \d+/);
  expect(v.field).toBe('USAGEDB_API_KEYS');
  return v;
}

/** Malformed lists around one secret: every order of the fields, and the usual slips. */
function malformed(secret: string): string[] {
  const name = 'ops';
  const orders = [`${name}:admin:${secret}`, `${secret}:${name}:admin`, `${secret}:admin:${name}`, `admin:${secret}:${name}`, `admin:${name}:${secret}`];
  return [
    ...orders,
    `${name}:${secret}`,
    `${secret}`,
    `${name}:${secret}:admin:extra`,
    `${name}:${secret}:admin+${secret}`,
    `${name}:${secret}:root`,
    `${name}:${secret.slice(0, 8)}:admin`,
    `${name}:${secret.slice(0, 8)} ${secret.slice(8)}:admin`,
    `${name} x:${secret}:admin`,
    `good:another-secret-value-1:read,${name}:admin:${secret}`,
  ];
}

describe('USAGEDB_API_KEYS errors never show any part of a secret', () => {
  it('the issue’s example (name:scope:secret) names the entry and the field order, not the secret', async () => {
    const secret = 'admin-secret-0123456789';
    const err = await refusal(`adm:admin:${secret}`);
    expect(err.message).toContain('entry 1');
    expect(err.message).toContain('out of order');
    // "admin" and "secret" are words of the message itself; nothing past them may appear.
    expectNoPartOf(secret, err.message, (part) => /[-0-9]/.test(part));
  });

  it('for secrets in every wrong place, no substring of 4+ characters reaches the message', async () => {
    // Letters and digits no message is made of, so any 4-character match is a leak.
    const secretArb = fc.stringMatching(/^[QXZJqxzj0-9]{16,40}$/);
    await fc.assert(
      fc.asyncProperty(secretArb, async (secret) => {
        for (const list of malformed(secret)) expectNoPartOf(secret, (await refusal(list)).message);
      }),
      { numRuns: 25 },
    );
  });

  it('a hashed secret in the wrong place is not shown either', async () => {
    const hex = '0123456789'.repeat(7).slice(0, 64);
    for (const list of [`ops:admin:sha256=${hex}`, `sha256=${hex}:ops:read`, `ops:sha256=${hex.slice(0, 40)}:read`]) {
      expectNoPartOf(hex, (await refusal(list)).message);
    }
  });

  it('names a repeated key name, the only field value a message shows, once the entry is in order', async () => {
    const err = await refusal('dash:QXZJ0123456789qxzj:read,dash:ZJQX9876543210zjqx:read');
    expect(err.message).toBe('USAGEDB_API_KEYS: entry 2 (dash): the name is used twice (entry 1 has it too)');
  });
});

describe('S3 credential errors never show their values', () => {
  const base = { USAGEDB_S3_BUCKET: 'usage', USAGEDB_S3_ENDPOINT: 'http://127.0.0.1:9000' };

  for (const [name, other] of [
    ['USAGEDB_S3_SECRET_ACCESS_KEY', 'USAGEDB_S3_ACCESS_KEY_ID'],
    ['USAGEDB_S3_ACCESS_KEY_ID', 'USAGEDB_S3_SECRET_ACCESS_KEY'],
  ] as const) {
    it(`${name}: a pasted line break or space is refused without the value`, () => {
      for (const bad of ['QXZJ0123456789qxzjQXZJ\n', 'QXZJ0123 456789qxzj', ' QXZJ0123456789qxzj']) {
        let message = '';
        try {
          loadConfig({ ...base, [name]: bad, [other]: 'JQXZ9876543210jqxz' });
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message).toMatch(new RegExp(`^configuration: ${name}: `));
        expectNoPartOf(bad.trim(), message);
        expectNoPartOf('JQXZ9876543210jqxz', message);
      }
    });
  }

  it('one credential without the other names the missing one, not the value given', () => {
    expect(() => loadConfig({ ...base, USAGEDB_S3_ACCESS_KEY_ID: 'QXZJ0123456789qxzj' })).toThrow(
      /^configuration: USAGEDB_S3_SECRET_ACCESS_KEY: required with the other S3 credential$/,
    );
    expect(() => loadConfig({ ...base, USAGEDB_S3_SECRET_ACCESS_KEY: 'QXZJ0123456789qxzj' })).toThrow(
      /^configuration: USAGEDB_S3_ACCESS_KEY_ID: required with the other S3 credential$/,
    );
  });

  it('still accepts well-formed credentials', () => {
    expect(
      loadConfig({ ...base, USAGEDB_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE', USAGEDB_S3_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY' }).store,
    ).toMatchObject({
      kind: 's3',
      accessKeyId: 'AKIAEXAMPLE',
    });
  });
});
