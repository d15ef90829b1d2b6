import { describe, expect, it } from '@jest/globals';
import { describeRouting } from '../../services/admin/routing-view.js';

describe('the admin API view of which routes an event matched', () => {
  it('matches event-type globs as the worker does: "*" and "orders*" take orders/create', () => {
    const config = {
      destinations: { all: { url: 'http://all.internal/' }, orders: { url: 'http://orders.internal/' } },
      routes: [
        { provider: 'shop', events: ['*'], to: ['all'] },
        { provider: 'shop', events: ['orders*'], to: ['orders'] },
      ],
    };
    expect(describeRouting(config, 'shop', 'orders/create').routes.map((route) => route.to)).toEqual([['all'], ['orders']]);
  });
});
