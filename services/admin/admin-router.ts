import express, { Router } from 'express';
import { z } from 'zod';
import { EVENT_STATUSES } from '../shared/database/event-status.js';
import { AppError } from '../shared/errors/app-error.js';
import { adminAuth } from './admin-auth.js';
import { isUuid } from './event-cursor.js';
import type { EventAdminService } from './event-admin-service.js';

const listQuery = z.object({
  status: z.enum(EVENT_STATUSES).optional(),
  provider: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(200).optional(),
});

const bulkReplayBody = z
  .object({
    status: z.enum(['DEAD_LETTER', 'COMPLETED']),
    provider: z.string().min(1).max(64).optional(),
    /** Required for COMPLETED: that sends every event that ever completed to every destination again. */
    confirm: z.unknown().optional(),
  })
  .refine((body) => body.status !== 'COMPLETED' || body.confirm === true, {
    path: ['confirm'],
    message: 'replaying every COMPLETED event sends each of them to every destination again; add "confirm": true',
  });

const firstIssue = (error: z.ZodError) => {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
};

/** The operators' API under `/admin`: every route needs the bearer token. */
export function adminRouter(options: { token: string | undefined; events: EventAdminService }): Router {
  const router = Router();
  router.use('/admin', adminAuth(options.token));

  router.get('/admin/events', async (req, res) => {
    const parsed = listQuery.safeParse(req.query);
    if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
    res.json(await options.events.list(parsed.data));
  });

  router.get('/admin/events/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!isUuid(id)) throw new AppError('NOT_FOUND', 'Event not found');
    const event = await options.events.get(id);
    if (!event) throw new AppError('NOT_FOUND', 'Event not found');
    res.json(event);
  });

  router.post('/admin/events/replay', express.json({ limit: '16kb' }), async (req, res) => {
    const parsed = bulkReplayBody.safeParse(req.body ?? {});
    if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
    const replayed = await options.events.replayAll(parsed.data.status, parsed.data.provider);
    res.status(202).json({ replayed });
  });

  router.post('/admin/events/:id/replay', async (req, res) => {
    const id = String(req.params.id);
    if (!isUuid(id)) throw new AppError('NOT_FOUND', 'Event not found');
    const outcome = await options.events.replay(id);
    if (outcome === 'not_found') throw new AppError('NOT_FOUND', 'Event not found');
    if (outcome === 'not_replayable') {
      throw new AppError('CONFLICT', 'Only DEAD_LETTER or COMPLETED events can be replayed; this one is still in progress');
    }
    res.status(202).json({ id, status: 'PENDING' });
  });

  return router;
}
