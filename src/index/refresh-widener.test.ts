import { describe, expect, it } from 'vitest';
import { nextRefreshMode, type RefreshMode } from './refresh-widener.js';

describe('nextRefreshMode (hysteresis: widen above the threshold, restore below half of it)', () => {
  const cases: Array<[number, RefreshMode | null, RefreshMode]> = [
    [0, null, 'normal'],
    [1000, null, 'normal'],
    [1001, null, 'wide'],
    [1001, 'normal', 'wide'],
    [800, 'wide', 'wide'],
    [500, 'wide', 'wide'],
    [499, 'wide', 'normal'],
    [800, 'normal', 'normal'],
    [700, null, 'normal'],
  ];
  it.each(cases)('backlog %i, current %s → %s', (backlog, current, want) => {
    expect(nextRefreshMode(backlog, 1000, current)).toBe(want);
  });
});
