export { BUDDY_MAX_ORDER, BuddyAllocator } from './buddy-allocator.ts';
export { BuddyPlugin, buddy } from './plugin.ts';
