/** Request JSON parsing with errors that name the body instead of a parser stack. */
import { ValidationError } from '../errors.ts';

export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === '') throw new ValidationError('body: is empty; send a JSON object', 'body');
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('body: is not valid JSON', 'body');
  }
}
