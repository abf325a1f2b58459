// One scheduler tick, as `feedproxy serve` runs it (at the app's injected time), then the scheduler stops.
import { startScheduler } from '../../src/refresh/scheduler.js';
import type { TestApp } from './app.js';

export async function tickOnce(t: TestApp): Promise<void> {
  const scheduler = startScheduler(t.deps);
  try {
    await scheduler.tick();
  } finally {
    await scheduler.stop();
  }
}
