/**
 * The event type as a NATS header: as it is when NATS carries it so, else percent-encoded; a value holding a `%XX`
 * escape is always an encoded one, so consumers know when to decode.
 */
import { describe, expect, it } from '@jest/globals';
import { natsHeaderValue } from '../../services/worker/delivery/nats-header-value.js';

const readBack = (header: string) => (/%[0-9A-Fa-f]{2}/.test(header) ? decodeURIComponent(header) : header);

describe('natsHeaderValue', () => {
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
  ])('%j is sent as %j and read back as it was', (value, header) => {
    expect(natsHeaderValue(value)).toBe(header);
    expect(readBack(header)).toBe(value);
  });
});
