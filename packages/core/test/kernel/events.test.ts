import { KernelEventBus } from '@mmkit/core';
import { describe, expect, it } from 'vitest';

describe('KernelEventBus', () => {
  it('counts listeners per event as they come and go, including with no listener at all', () => {
    const bus = new KernelEventBus();
    const onFault = () => {};
    const onFree = () => {};
    expect(bus.listenerCount('fault')).toBe(0);
    bus.on('fault', onFault);
    expect(bus.listenerCount('fault')).toBe(1);
    expect(bus.listenerCount('frameFree')).toBe(0);
    bus.once('frameFree', onFree);
    bus.on('fault', onFree);
    expect(bus.listenerCount('fault')).toBe(2);
    bus.emit('frameFree', 1, 0);
    expect(bus.listenerCount('frameFree')).toBe(0);
    bus.off('fault', onFault);
    expect(bus.listenerCount('fault')).toBe(1);
    bus.removeAllListeners();
    expect(bus.listenerCount('fault')).toBe(0);
    bus.addListener('cowBreak', onFault);
    expect(bus.listenerCount('cowBreak')).toBe(1);
    expect(bus.listenerCount('fault')).toBe(0);
  });
});
