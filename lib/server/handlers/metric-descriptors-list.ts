import type { ListMetricDescriptorsResponse } from '../../generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { CallContext } from '../context.js';

export function metricDescriptorsList(_req: unknown, ctx: CallContext): ListMetricDescriptorsResponse {
  return { descriptors: ctx.services.stats.metricDescriptors() };
}
