/**
 * The admin API's answers, as the console reads them: declared once, in services/admin/admin-views.ts, for the
 * services that build them and for the console (type-only imports: nothing of the services is bundled).
 */
export { EVENT_STATUSES as STATUSES, type EventStatus } from '../../services/shared/database/event-status.js';
export type {
  DeliveryView as Delivery,
  DestinationInfo,
  DestinationsOverview as Destinations,
  DestinationState,
  DestinationView as DestinationItem,
  EventDetailView as EventDetail,
  EventPageView as EventPage,
  EventView as EventItem,
  FacetsView as Facets,
  OverviewView as Overview,
  QueueCountsView as QueueCounts,
  RemovedPause,
  StatusCountsView as StatusCounts,
} from '../../services/admin/admin-views.js';
