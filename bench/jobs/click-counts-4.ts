/** click-counts with 4 source shard(s): see click-counts.ts. */
import { clickCounts } from './click-counts';

export default clickCounts(4);
