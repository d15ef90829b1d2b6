/**
 * The event type as an HTTP or NATS header: as it is when a header carries it so, else percent-encoded; a value holding a `%XX`
 * escape is always an encoded one, so consumers know when to decode.
 */
import { describe, expect, it } from '@jest/globals';
import { textHeaderValue } from '../../services/worker/delivery/text-header-value.js';

const readBack = (header: string) => (/%[0-9A-Fa-f]{2}/.test(header) ? decodeURIComponent(header) : header);

describe('textHeaderValue', () => {
  it.each([
    ['invoice.paid', 'invoice.paid'],
    ['orders/create', 'orders/create'],
    ['a b', 'a b'],
    ['100%', '100%'],
    [' invoice.paid ', '%20invoice.paid%20'],
    ['invoice.paid\nx', 'invoice.paid%0Ax'],
    ['a\r\nb', 'a%0D%0Ab'],
    ['\tx\u3000', '%09x%E3%80%80'],
    ['a%20b', 'a%2520b'],
    ['50% off\n', '50%25 off%0A'],
    ['事件.created', '%E4%BA%8B%E4%BB%B6.created'],
    ['café', 'caf%C3%A9'],
    ['a\u0000b', 'a%00b'],
  ])('%j is sent as %j and read back as it was', (value, header) => {
    expect(textHeaderValue(value)).toBe(header);
    expect(readBack(header)).toBe(value);
  });
});
