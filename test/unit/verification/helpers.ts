import { expect } from '@jest/globals';
import type { VerifiedWebhook, WebhookRequest, WebhookVerifier } from '../../../services/ingress/verification/webhook-request.js';
import { WebhookPayloadError, WebhookVerificationError } from '../../../services/ingress/verification/verification-errors.js';

export function webhookRequest(
  body: string | Buffer,
  headers: Record<string, string | string[] | undefined>,
  contentType = 'application/json',
): WebhookRequest {
  return { rawBody: typeof body === 'string' ? Buffer.from(body) : body, headers, contentType };
}

/** Resolves to the thrown error's class name and code (fails the test when verification succeeds). */
export async function rejection(
  verifier: WebhookVerifier,
  request: WebhookRequest,
): Promise<{ kind: 'verification' | 'payload'; code: string; message: string }> {
  let result: VerifiedWebhook | undefined;
  try {
    result = await verifier.verify(request);
  } catch (error) {
    if (error instanceof WebhookVerificationError) return { kind: 'verification', code: error.code, message: error.message };
    if (error instanceof WebhookPayloadError) return { kind: 'payload', code: error.code, message: error.message };
    throw error;
  }
  expect(result).toBeUndefined();
  throw new Error('verification unexpectedly succeeded');
}
