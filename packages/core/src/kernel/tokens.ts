/**
 * Injection tokens of a kernel's container. Plugins name their constructor parameters with
 * `@inject(KernelToken)` (explicit tokens work in every runner; injection by type does not).
 */
export const KernelToken = Symbol('Kernel');
export const KernelConfigToken = Symbol('KernelConfig');
