// The example's entry for `npm run examples`: the service itself (service.ts),
// which with MEMLOCK_EXAMPLE_CI=1 scrapes itself once and stops.
import './service';
