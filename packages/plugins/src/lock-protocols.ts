import { type KernelPlugin, type LockProtocolName, lockProtocol, type PluginSpec } from '@mmkit/core';
import { injectable } from 'tsyringe';

/**
 * Plugins that choose the kernel's page-table lock protocol (the `lockProtocol` service):
 * `lock-subtree` (Asterinas HEAD: lock-free walk to the guard node, lock its sub-tree, retry
 * when stray) and `lock-global` (one lock per page table). Without either, cursors lock
 * hand over hand (`hoh`). See `@mmkit/core`'s `lock-protocol.ts`.
 */
@injectable()
export class LockSubtreePlugin implements KernelPlugin {
  readonly name = 'lock-subtree';
}

@injectable()
export class LockGlobalPlugin implements KernelPlugin {
  readonly name = 'lock-global';
}

function spec(name: LockProtocolName, pluginClass: new () => KernelPlugin): PluginSpec {
  return {
    name: `lock-${name}`,
    pluginClass,
    optionNames: [],
    services: { lockProtocol: lockProtocol(name) },
  };
}

/** The `lock-subtree` plugin spec. */
export function lockSubtree(): PluginSpec {
  return spec('subtree', LockSubtreePlugin);
}

/** The `lock-global` plugin spec. */
export function lockGlobal(): PluginSpec {
  return spec('global', LockGlobalPlugin);
}
