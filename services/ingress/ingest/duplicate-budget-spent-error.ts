import { AppError } from '../../shared/errors/app-error.js';

/**
 * What a refused duplicate is, as far as the ingress knows, so the 429 says what happened to the request:
 * - `stored-already`: the webhook is stored already (its body, or the event its signed id names);
 * - `another-body-under-id`: a body stored nowhere, under the unsigned delivery id of an event with another body
 *   (GitHub, `hmac`; PostgreSQL said so): a duplicate by its id only, and this body was not stored;
 * - `event-under-id`: refused before PostgreSQL by an unsigned delivery id this process remembers, its body not
 *   remembered: an event is stored under the id, but whether this body is that event's is not known.
 */
export type DuplicateRefusal = 'stored-already' | 'another-body-under-id' | 'event-under-id';

/**
 * A verified webhook that is a duplicate (stored before), from a client past its duplicate budget (DuplicateBudget):
 * 429 with Retry-After, outcome `duplicate_rate_limited`. Nothing a provider sent is lost: the event is stored
 * already (a provider does not send another body under a delivery id it used).
 */
export class DuplicateBudgetSpentError extends AppError {
  /**
   * @param retryAfterSeconds when the client's budget is renewed (the window's end), at least 1
   * @param refusal what the refused webhook is (see {@link DuplicateRefusal}): the message says it
   */
  constructor(
    readonly retryAfterSeconds: number,
    readonly refusal: DuplicateRefusal = 'stored-already',
  ) {
    super('TOO_MANY_REQUESTS', `Too many duplicate webhooks from this address${WHAT_HAPPENED[refusal]}; try again in ${retryAfterSeconds} s`);
    this.name = 'DuplicateBudgetSpentError';
  }
}

// "This one is stored already" only where it is: said of a body stored nowhere, it told the sender its body was safe.
const WHAT_HAPPENED: Readonly<Record<DuplicateRefusal, string>> = {
  'stored-already': ' (this one is stored already)',
  'another-body-under-id': ': another body is stored under this delivery id, and this one was not stored',
  'event-under-id': ': an event is stored under this delivery id, and this request stored nothing',
};
