import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { describeLogStoreConformance } from '../state/log-store-conformance';

const store = new MemoryLogStore();
describeLogStoreConformance('memory', () => store);
