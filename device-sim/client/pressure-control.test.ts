import { describe, expect, it } from 'vitest';
import { PressureControl } from './pressure-control.js';

describe('PressureControl (AIMD)', () => {
  const pressure = { decrease: 0.5, increasePerAck: 5, minRatePerSec: 2, repeat: 2, cooldownMs: 1000 };
  it('slow start doubles the window until the first pressure, then grows additively', () => {
    const c = new PressureControl(40, pressure, { initial: 10, max: 100, increase: 10 });
    c.onAccepted();
    c.onAccepted();
    expect(c.window).toBe(40);
    c.onPressure(0);
    expect(c.window).toBe(20);
    c.onAccepted();
    expect(c.window).toBe(30);
  });
  it('cuts the rate only when pressure repeats, once per cooldown, and not below the floor', () => {
    const c = new PressureControl(40, pressure, { initial: 10, max: 100, increase: 10 });
    expect(c.onPressure(0)).toBe(false);
    expect(c.rate).toBe(40);
    expect(c.onPressure(100)).toBe(true);
    expect(c.rate).toBe(20);
    expect(c.onPressure(500)).toBe(false); // same episode
    expect(c.onPressure(1200)).toBe(true);
    expect(c.rate).toBe(10);
    for (let t = 3000; t < 20_000; t += 1100) c.onPressure(t);
    expect(c.rate).toBe(2);
  });
  it('restart (a new connection) goes back to the initial window in slow start, keeping the rate', () => {
    const c = new PressureControl(40, pressure, { initial: 10, max: 100, increase: 10 });
    c.onPressure(0);
    c.onPressure(1);
    for (let i = 0; i < 5; i++) c.onAccepted();
    c.restart();
    expect(c.window).toBe(10);
    expect(c.rate).toBe(40);
    c.onAccepted();
    expect(c.window).toBe(20);
  });
  it('recovers additively up to the configured rate', () => {
    const c = new PressureControl(40, pressure, { initial: 10, max: 100, increase: 10 });
    c.onPressure(0);
    c.onPressure(1);
    expect(c.rate).toBe(20);
    c.onAccepted();
    expect(c.rate).toBe(25);
    for (let i = 0; i < 10; i++) c.onAccepted();
    expect(c.rate).toBe(40);
  });
});
