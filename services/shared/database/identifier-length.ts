/**
 * Longest external id / event type the ingress accepts (it fits a varchar(255) column, should the text columns ever
 * become one). Shared because the admin filters on what the ingress stored: a filter with a lower limit would refuse
 * a value the facets offer.
 */
export const MAX_IDENTIFIER_LENGTH = 255;
