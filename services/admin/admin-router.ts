import express, { Router } from 'express';
import { z } from 'zod';
import { isDataException } from '../shared/database/database-errors.js';
import { PauseNotCopiedError } from '../shared/destinations/destination-pauses.js';
import { AppError } from '../shared/errors/app-error.js';
import { ClientFailureLimiter } from '../shared/http/client-failure-limiter.js';
import type { Logger } from '../shared/logging/logger.js';
import { adminAuth } from './admin-auth.js';
import { isUuid } from '../shared/text/uuid.js';
import type { EventAdminService } from './event-admin-service.js';
import { eventFilterQuery, pgText } from './event-filter.js';
import type { DestinationControl } from './destination-control.js';
import type { DestinationSummary } from './destination-summary.js';
import { sendJsonWithEtag } from './json-etag.js';
import { OVERVIEW_MAX_HOURS, type Overview } from './overview.js';
import { presentQueryParameters } from './present-query-parameters.js';

/**
 * A whole number from `min` to `max` in decimal digits, as the configuration takes them: `1e2`, `0x10`, `1.0` or a
 * space (which Number() reads as 100, 16, 1 and 0) are refused, not read as some other number.
 */
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const listQuery = eventFilterQuery.extend({
  limit: wholeNumber(1, 500).default(50),
  cursor: z.string().min(1).max(200).optional(),
});

/** `status` is taken and ignored (the counts are per status), as it was before query parameters were checked. */
const countsQuery = eventFilterQuery.omit({ status: true });
const COUNTS_PARAMETERS = [...Object.keys(countsQuery.shape), 'status'];

const overviewQuery = z.object({ hours: wholeNumber(1, OVERVIEW_MAX_HOURS).default(3) });

/** Most events one request may replay by id. */
export const MAX_REPLAY_IDS = 500;

const bulkReplayBody = z
  .object({
    status: z.enum(['DEAD_LETTER', 'COMPLETED']),
    provider: pgText().min(1).max(64).optional(),
    /** Required for COMPLETED: that sends every event that ever completed to every destination again. */
    confirm: z.unknown().optional(),
  })
  // Strict: a key it does not take (a filter such as eventType, a misspelt provider) would otherwise be dropped and
  // the replay widened to every event in the status.
  .strict()
  .refine((body) => body.status !== 'COMPLETED' || body.confirm === true, {
    path: ['confirm'],
    message: 'replaying every COMPLETED event sends each of them to every destination again; add "confirm": true',
  });

/** A replay round (`replays`), as an int4 column holds it. */
const round = z.number().int().min(0).max(2_147_483_647);

/**
 * Replay by id: the events an operator picked. Strict, so `ids` never travels with a status-wide replay. `replays`:
 * each id's replay round as the caller saw it; an event replayed since is skipped (the same request sent again
 * replays nothing twice).
 */
const replayIdsBody = z
  .object({
    ids: z.array(z.string().refine(isUuid, 'must be an event id (uuid)')).min(1).max(MAX_REPLAY_IDS),
    replays: z.record(z.string(), round).optional(),
  })
  .strict()
  .superRefine((body, context) => {
    if (!body.replays) return;
    const rounds = new Set(Object.keys(body.replays).map((id) => id.toLowerCase()));
    const missing = body.ids.find((id) => !rounds.has(id.toLowerCase()));
    if (missing !== undefined) context.addIssue({ code: 'custom', path: ['replays'], message: `no round for ${missing}: give one for every id, or leave "replays" out` });
  });

/**
 * One event's replay: empty, or `replays`, the round the caller saw it in (replayed only while it is still in it).
 * Other keys are ignored, not refused: before `replays` the endpoint read no body, and a client that sent one (a
 * reason, a ticket number) must keep working.
 */
const replayOneBody = z.object({ replays: round.optional() });

const firstIssue = (error: z.ZodError) => {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
};

/**
 * Runs a statement whose only variable values are the request's validated filter (or replay body): the filters'
 * own checks refuse what PostgreSQL cannot take (NUL in text, year 0000, offsets past ±15:59), and should one slip
 * through them, PostgreSQL's data exception (class 22) is that value's fault, so a 400, not a 500. Scoped to these
 * statements on purpose: a class-22 error anywhere else may be a bug of ours, and stays a logged 500. The 400 keeps
 * the SQLSTATE as its cause, which the error middleware logs.
 */
const withFilterValues = <T>(statement: Promise<T>): Promise<T> =>
  statement.catch((error: unknown) => {
    if (isDataException(error)) throw new AppError('BAD_REQUEST', 'A filter value is one PostgreSQL cannot take (out of range or malformed)', { cause: error });
    throw error;
  });

/** Whether a request carries a body: a length above 0, or chunks (curl -X POST with no -d sends neither). */
const hasBody = (req: express.Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** application/json and every +json type (application/vnd.api+json, application/merge-patch+json …). */
const JSON_TYPES = ['application/json', '+json'];

/**
 * An admin POST's body is JSON or nothing. Anything else is refused with 415 rather than read as `{}`: curl's `-d`
 * sends application/x-www-form-urlencoded, and a replay body read as empty used to come back as a misleading
 * `status: Invalid option`. Routes that take no body (pause, resume, one event's replay) go on taking an empty
 * request, with or without a Content-Type (`curl -X POST`, `curl -d ''`, a browser's fetch).
 */
const jsonOrNoBody: express.RequestHandler = (req, _res, next) => {
  if (hasBody(req) && !req.is(JSON_TYPES)) {
    const given = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase().slice(0, 100);
    const form = given === 'application/x-www-form-urlencoded' ? `, which curl -d sends unless given -H 'content-type: application/json'` : '';
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The request body must be JSON, sent with Content-Type: application/json (got ${given || 'no Content-Type'}${form})`);
  }
  next();
};

/**
 * For routes that read nothing from their body (pause, resume): a JSON body is still parsed, so a malformed one is
 * refused with 400 before the route acts, as on every other admin POST. Left unread, `{bad` paused a destination.
 * Not strict: any JSON value (`null`, `"x"`) was taken before and still is, only bytes that are not JSON are refused.
 */
const ignoredJsonBody = express.json({ limit: '64kb', type: JSON_TYPES, strict: false });

export interface AdminRouterOptions {
  token: string | undefined;
  /** Wrong tokens per client address and minute before 429 (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE; default 20). */
  authFailureLimitPerMinute?: number;
  /** Where the guard says that a client reached that limit. */
  logger?: Logger;
  events: EventAdminService;
  /** GET /admin/overview (absent: 404). */
  overview?: Overview;
  /** GET /admin/destinations (absent: 404). */
  destinations?: DestinationSummary;
  /** POST /admin/destinations/{name}/pause|resume (absent: 404). */
  destinationControl?: DestinationControl;
}

/**
 * Shorter than this, a token is worth a warning at start: 32 random characters are out of reach of any guessing, a
 * shorter (or chosen) one may not be (the chart generates 40).
 */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/**
 * The start-up warning for an ADMIN_API_TOKEN short enough to guess, or undefined. Not a refusal: the README's local
 * example is short, and a deployment that set one must not stop starting after an upgrade. The wrong-token budget
 * bounds guesses per address, not across many.
 */
export function shortTokenWarning(token: string | undefined): string | undefined {
  if (!token || token.length >= MIN_ADMIN_TOKEN_LENGTH) return undefined;
  return (
    `ADMIN_API_TOKEN is ${token.length} characters: the wrong-token budget (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE) bounds ` +
    `guesses per client address, not across many, so a short token can still be guessed; ` +
    `use ${MIN_ADMIN_TOKEN_LENGTH} or more random characters (openssl rand -hex 20)`
  );
}

/** The operators' API under `/admin`: every route needs the bearer token; no answer is cached anywhere. */
export function adminRouter(options: AdminRouterOptions): Router {
  const router = Router();
  router.use('/admin', (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  const failures = new ClientFailureLimiter({ limit: options.authFailureLimitPerMinute ?? 20, windowMs: 60_000 });
  const short = shortTokenWarning(options.token);
  if (short) options.logger?.warn(short);
  router.use('/admin', adminAuth({ token: options.token, failures, logger: options.logger }));

  router.get('/admin/events', async (req, res) => {
    const parsed = listQuery.safeParse(presentQueryParameters(req.query, Object.keys(listQuery.shape)));
    if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
    sendJsonWithEtag(req, res, await withFilterValues(options.events.list(parsed.data)));
  });

  router.get('/admin/events/counts', async (req, res) => {
    const parsed = countsQuery.safeParse(presentQueryParameters(req.query, COUNTS_PARAMETERS));
    if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
    sendJsonWithEtag(req, res, await withFilterValues(options.events.counts(parsed.data)));
  });

  router.get('/admin/events/facets', async (req, res) => {
    sendJsonWithEtag(req, res, await options.events.facets());
  });

  router.get('/admin/events/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!isUuid(id)) throw new AppError('NOT_FOUND', 'Event not found');
    const event = await options.events.get(id);
    if (!event) throw new AppError('NOT_FOUND', 'Event not found');
    sendJsonWithEtag(req, res, event);
  });

  router.post('/admin/events/replay', jsonOrNoBody, express.json({ limit: '64kb', type: JSON_TYPES }), async (req, res) => {
    if (!hasBody(req)) {
      throw new AppError('BAD_REQUEST', 'body: a JSON object is required: {"status":"DEAD_LETTER","provider"?} or {"ids":[…]}');
    }
    const body: unknown = req.body;
    if (typeof body === 'object' && body !== null && 'ids' in body) {
      const byId = replayIdsBody.safeParse(body);
      if (!byId.success) throw new AppError('BAD_REQUEST', firstIssue(byId.error));
      const { replayed, skipped } = await options.events.replayIds(byId.data.ids, byId.data.replays);
      res.status(202).json({ replayed, skipped });
      return;
    }
    const parsed = bulkReplayBody.safeParse(body);
    if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
    const replayed = await withFilterValues(options.events.replayAll(parsed.data.status, parsed.data.provider));
    res.status(202).json({ replayed });
  });

  // 64 kB, as the bulk replay: before `replays` this endpoint read no body, and a client's longer one (a reason, a
  // ticket's text) must still fit.
  router.post('/admin/events/:id/replay', jsonOrNoBody, express.json({ limit: '64kb', type: JSON_TYPES }), async (req, res) => {
    const id = String(req.params.id);
    if (!isUuid(id)) throw new AppError('NOT_FOUND', 'Event not found');
    let round: number | undefined;
    if (hasBody(req)) {
      const parsed = replayOneBody.safeParse(req.body);
      if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
      round = parsed.data.replays;
    }
    const outcome = await options.events.replay(id, round);
    if (outcome === 'not_found') throw new AppError('NOT_FOUND', 'Event not found');
    if (outcome === 'replayed_since') {
      throw new AppError('CONFLICT', `The event was replayed since replay round ${round}: not replayed again (reload it to see where it is)`);
    }
    if (outcome === 'not_replayable') {
      throw new AppError('CONFLICT', 'Only DEAD_LETTER or COMPLETED events can be replayed; this one is still in progress');
    }
    res.status(202).json({ id, status: 'PENDING' });
  });

  const { overview, destinations, destinationControl } = options;
  if (overview) {
    router.get('/admin/overview', async (req, res) => {
      const parsed = overviewQuery.safeParse(presentQueryParameters(req.query, Object.keys(overviewQuery.shape)));
      if (!parsed.success) throw new AppError('BAD_REQUEST', firstIssue(parsed.error));
      sendJsonWithEtag(req, res, await overview.view(parsed.data.hours));
    });
  }
  if (destinations) {
    router.get('/admin/destinations', async (req, res) => {
      sendJsonWithEtag(req, res, await destinations.view());
    });
  }
  if (destinationControl) {
    const configured = (name: string) => {
      if (!destinationControl.has(name)) throw new AppError('NOT_FOUND', `No destination "${name.slice(0, 64)}" in ROUTES_FILE`);
      return name;
    };
    const recordedOnly = (error: unknown): never => {
      // Only a change PostgreSQL recorded: said of one it did not (unreachable, refused), the operator, told not to
      // send it again, waited for a pause that never came. That one is the database's error, as on any other route.
      if (!(error instanceof PauseNotCopiedError)) throw error;
      // PostgreSQL has the change; Redis, which workers read, did not take it. Workers copy it within seconds of
      // Redis answering again; until then the old state holds.
      throw new AppError('SERVICE_UNAVAILABLE', 'Recorded, but not yet in effect: Redis did not answer; the workers apply it within 5 s of Redis answering again (no need to send it again)', { cause: error });
    };
    router.post('/admin/destinations/:name/pause', jsonOrNoBody, ignoredJsonBody, async (req, res) => {
      const name = configured(String(req.params.name));
      const { changed } = await destinationControl.pause(name).catch(recordedOnly);
      res.status(200).json({ name, paused: true, changed });
    });
    router.post('/admin/destinations/:name/resume', jsonOrNoBody, ignoredJsonBody, async (req, res) => {
      // A name ROUTES_FILE no longer has, but whose pause is still recorded, is resumed too: that clears the pause,
      // which would otherwise apply again, unseen, should the destination come back under the same name.
      const name = String(req.params.name);
      if (!(await destinationControl.resumable(name))) throw new AppError('NOT_FOUND', `No destination "${name.slice(0, 64)}" in ROUTES_FILE, nor a pause recorded for it`);
      const { changed, promoted } = await destinationControl.resume(name).catch(recordedOnly);
      res.status(200).json({ name, paused: false, changed, promoted });
    });
  }

  return router;
}
