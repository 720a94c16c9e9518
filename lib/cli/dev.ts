/** `shardflow dev`: the embedded local runtime. Until it lands, say so plainly. */
export async function dev(_args: readonly string[]): Promise<number> {
  console.error('shardflow dev: the embedded local runtime is not built yet (issue: embedded local runtime). Meanwhile: `npm test`, or `npx shardflow plan examples/click-counts.ts`.');
  return 3;
}
