import type { PubAck } from '@nats-io/jetstream';

/**
 * Whether the answer to a JetStream publish is a stream's ack: it names the stream (a non-empty string) and the
 * sequence the message was stored at (a number). nats.js's `publish()` takes any JSON answer without an `error` for
 * an ack and refuses only `"stream": ""`, so a service answering requests on the subject (`{}`, `{"ok":true}`), with
 * nothing stored anywhere, made every attempt a success.
 */
export function isJetStreamAck(answer: Partial<PubAck> | null | undefined): answer is PubAck {
  return typeof answer?.stream === 'string' && answer.stream !== '' && typeof answer.seq === 'number' && Number.isFinite(answer.seq);
}
