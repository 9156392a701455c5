/**
 * Reference-count states of a frame's metadata slot (as in Asterinas `frame/meta.rs`):
 * - `REF_COUNT_UNUSED`: the frame is free (in the allocator);
 * - `0`: the frame is being built (just taken from the allocator) or torn down (its last
 *   reference went and the drop hook runs);
 * - `1 .. REF_COUNT_MAX`: in use;
 * - `REF_COUNT_MAX .. REF_COUNT_UNUSED`: never reached; incrementing at `REF_COUNT_MAX`
 *   throws `RefCountOverflow` instead of wrapping.
 */
export const REF_COUNT_UNUSED = 0xffff_ffff;
/** The ceiling (`i32::MAX` in the seed): a count never goes above it. */
export const REF_COUNT_MAX = 0x7fff_ffff;
