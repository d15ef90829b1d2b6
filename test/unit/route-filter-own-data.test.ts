import { describe, expect, it } from '@jest/globals';
import sift from 'sift';
import { compileRouteFilter, type RouteFilterInput } from '../../services/worker/routing/route-filter.js';

const input = (body: unknown, headers: Record<string, string> = { 'user-agent': 'Stripe/1.0' }): RouteFilterInput => ({ body, headers, provider: 'stripe', eventType: 'order.paid' });
const matches = (query: Record<string, unknown>, body: unknown) => compileRouteFilter(query)(input(body));

const order = {
  id: 'ord_1',
  note: 'hello',
  total: 2500,
  items: [
    { sku: 'a', qty: 1, tags: ['new'] },
    { sku: 'b', qty: 3, tags: ['sale', 'vip'] },
  ],
  byIndex: { '0': 'zero' },
  customer: { name: 'Jo', address: { city: 'Lyon' } },
  empty: [],
  nothing: null,
};

describe('filter dot paths reach only the JSON data, as MongoDB sees it', () => {
  it.each<[string, Record<string, unknown>]>([
    ["an object's constructor", { 'body.constructor.name': 'Object' }],
    ["an object's constructor (exists)", { 'body.customer.constructor.name': { $exists: true } }],
    ["an object's prototype", { 'body.__proto__': {} }],
    ["an object's prototype's constructor", { 'body.__proto__.constructor.name': 'Object' }],
    ["an object's methods", { 'body.toString': { $ne: null } }],
    ["the headers' constructor", { 'headers.constructor.name': 'Object' }],
    ["a string's length", { 'body.note.length': 5 }],
    ["an array's constructor", { 'body.items.constructor.name': 'Array' }],
    ["an array's length", { 'body.items.length': 2 }],
    ["an array's length ($gt)", { 'body.items.length': { $gt: 0 } }],
    ["an array's length ($in)", { 'body.items.length': { $in: [2] } }],
    ["an array's length ($exists)", { 'body.items.length': { $exists: true } }],
    ["an empty array's length", { 'body.empty.length': 0 }],
  ])('%s is no field', (_case, query) => {
    expect(matches(query, order)).toBe(false);
  });

  it("an array's length is not a field, so no element having one means $ne holds, as in MongoDB (use $size for the length)", () => {
    expect(matches({ 'body.items.length': { $ne: 2 } }, order)).toBe(true);
    expect(matches({ 'body.items': { $size: 2 } }, order)).toBe(true);
    expect(matches({ 'body.items': { $size: 3 } }, order)).toBe(false);
  });

  it('fields of the data named like built-ins are reached as fields', () => {
    const parcel = { dimensions: { length: 30 }, constructor: 'ACME', parts: [{ length: 3 }, { length: 4 }], ...JSON.parse('{"__proto__": {"x": 1}}') };
    expect(matches({ 'body.dimensions.length': 30 }, parcel)).toBe(true);
    expect(matches({ 'body.constructor': 'ACME' }, parcel)).toBe(true);
    expect(matches({ 'body.parts.length': 4 }, parcel)).toBe(true);
    expect(matches({ 'body.parts.length': { $gt: 10 } }, parcel)).toBe(false);
    expect(matches({ 'body.__proto__.x': 1 }, parcel)).toBe(true);
    expect(matches({ 'headers.user-agent': { $regex: '^Stripe/' } }, parcel)).toBe(true);
  });

  it('array indexes and an object field named "0" are reached by a numeric step', () => {
    expect(matches({ 'body.items.0.sku': 'a' }, order)).toBe(true);
    expect(matches({ 'body.items.1.sku': 'a' }, order)).toBe(false);
    expect(matches({ 'body.byIndex.0': 'zero' }, order)).toBe(true);
  });

  // Everything a filter did before on ordinary data, it does the same: compared with sift run on the input as it is.
  it.each<Record<string, unknown>>([
    { 'body.total': { $gte: 1000 } },
    { 'body.total': { $lt: 1000 } },
    { 'body.items.sku': 'b' },
    { 'body.items.sku': { $in: ['x', 'b'] } },
    { 'body.items.sku': { $nin: ['a'] } },
    { 'body.items.sku': { $ne: 'a' } },
    { 'body.items.tags': 'vip' },
    { 'body.items.tags': { $all: ['sale', 'vip'] } },
    { 'body.items': { $elemMatch: { sku: 'b', qty: { $gt: 2 } } } },
    { 'body.items': { $elemMatch: { sku: 'a', qty: { $gt: 2 } } } },
    { 'body.items': { $size: 2 } },
    { 'body.items.qty': { $mod: [3, 0] } },
    { 'body.customer': { name: 'Jo', address: { city: 'Lyon' } } },
    { 'body.customer': { name: 'Jo' } },
    { 'body.customer.address.city': { $regex: '^ly', $options: 'i' } },
    { 'body.customer.address.zip': { $exists: false } },
    { 'body.nothing': null },
    { 'body.missing': null },
    { 'body.nothing': { $type: 'null' } },
    { 'body.note': { $type: 'string' } },
    { 'body.items.sku': { $not: { $in: ['a', 'b'] } } },
    { $or: [{ 'body.total': { $lt: 10 } }, { 'body.items.qty': 3 }] },
    { $nor: [{ 'body.total': { $lt: 10 } }, { 'body.items.qty': 30 }] },
    { $and: [{ provider: 'stripe' }, { eventType: { $regex: '^order\\.' } }, { 'body.id': 'ord_1' }] },
    { 'body.items': [{ sku: 'a', qty: 1, tags: ['new'] }, { sku: 'b', qty: 3, tags: ['sale', 'vip'] }] },
    { 'body.items': { $in: [[{ sku: 'a', qty: 1, tags: ['new'] }, { sku: 'b', qty: 3, tags: ['sale', 'vip'] }]] } },
    { 'body.items.tags': ['sale', 'vip'] },
    { 'body.empty': [] },
    { 'headers.user-agent': 'Stripe/1.0' },
  ])('%j matches as before', (query) => {
    const before = sift.createOperationTester(sift.createDefaultQueryOperation(query, null))(input(order));
    expect([query, matches(query, order)]).toEqual([query, before]);
  });

  it('still refuses what sift refuses', () => {
    expect(() => compileRouteFilter({ 'body.total': { $in: [{ $gt: 1 }] } })).toThrow('cannot nest $ under $in');
    expect(() => compileRouteFilter({ 'body.total': { $gt: 1, other: 2 } })).toThrow('Property queries must contain only operations, or exact objects.');
  });
});
