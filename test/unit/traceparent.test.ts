/** One reading of W3C `traceparent` for the request's trace id, the stored traceparent and the worker's lines. */
import { describe, expect, it } from '@jest/globals';
import { requestContextFor } from '../../services/shared/http/request-context-middleware.js';
import { traceIdOf, traceparentWithoutTracing } from '../../services/shared/telemetry/stored-traceparent.js';
import { parseTraceparent } from '../../services/shared/telemetry/traceparent.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const VALID = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('parseTraceparent', () => {
  it('reads a version-00 header and a later version with extra fields', () => {
    expect(parseTraceparent(VALID)).toEqual({ version: '00', traceId: TRACE_ID, parentId: '00f067aa0ba902b7', flags: '01' });
    expect(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-01-future`)?.traceId).toBe(TRACE_ID);
  });

  it.each([
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', `00-${TRACE_ID}-0000000000000000-01`],
    ['version ff', `ff-${TRACE_ID}-00f067aa0ba902b7-01`],
    ['version 00 with a fifth field', `${VALID}-extra`],
    ['upper-case hex', VALID.toUpperCase()],
    ['no header', undefined],
  ])('refuses %s', (_case, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('is the rule of the request context, the stored traceparent and the worker alike', () => {
    const zero = '00-00000000000000000000000000000000-1111111111111111-01';
    const context = requestContextFor({ traceparent: zero });
    expect(context.traceId).toMatch(/^(?!0{32})[\da-f]{32}$/);
    expect(requestContextFor({ traceparent: VALID }).traceId).toBe(TRACE_ID);
    expect(traceIdOf(traceparentWithoutTracing(zero, context.traceId))).toBe(context.traceId);
    expect(traceIdOf(zero)).toBeUndefined();
  });
});
