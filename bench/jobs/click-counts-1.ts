/** click-counts with 1 source shard(s): see click-counts.ts. */
import { clickCounts } from './click-counts';

export default clickCounts(1);
