import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', stream) };
}

describe('the logger', () => {
  it("keeps the type our code names for an error (pino's default serializer would log 'Object')", () => {
    const { lines, logger } = capture();
    logger.error({ err: { type: 'SqliteError', message: 'SQLITE_BUSY: database is locked' } }, 'request failed');
    expect(lines[0]!.err).toEqual({ type: 'SqliteError', message: 'SQLITE_BUSY: database is locked' });
  });

  it('still serialises a real Error with its class and stack', () => {
    const { lines, logger } = capture();
    logger.error({ err: new RangeError('out of range') }, 'failed');
    const err = lines[0]!.err as Record<string, unknown>;
    expect(err.type).toBe('RangeError');
    expect(err.message).toBe('out of range');
    expect(String(err.stack)).toContain('RangeError: out of range');
  });
});
