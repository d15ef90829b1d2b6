/**
 * Which path segments of a destination URL count as its credential (hidden from logs and from the admin API's
 * `target`). Slack's token is 24 random letters and digits: about 1.5% of them have no digit, and the first rule
 * (letters and a digit) showed those in full.
 */
import { describe, expect, it } from '@jest/globals';
import { isTokenLikePathSegment } from '../../services/shared/destinations/token-like-path-segment.js';

describe('isTokenLikePathSegment', () => {
  it.each([
    ['a Slack token with digits', 'aB3dE5fG7hJ9kL1mN3pQ5rS7'],
    ['a Slack token without a digit (mixed case)', 'QwErTyUiOpAsDfGhJkLzXcVb'],
    ['a Discord token', 'mF7x_Kq2-Vb9Lp0ZrT4yHc6NwE1sJd8Ga3UoYi5XeQ'],
    ['a lower-case id with digits', 'k7r2m9x4q1w8e5t3y6u0p2a9'],
  ])('hides %s', (_what, segment) => {
    expect(isTokenLikePathSegment(segment)).toBe(true);
  });

  it.each([
    ['a readable lower-case name', 'stripe-events-receiver'],
    ['a short segment', 'aB3dE5'],
    ['a version', 'v1'],
    ['a file name', 'hook-handler-2024.json'],
    ['a snake_case name', 'incoming_payment_events'],
  ])('shows %s', (_what, segment) => {
    expect(isTokenLikePathSegment(segment)).toBe(false);
  });
});
